"""The one loader of the Lua scripts in `lua/`: every state change of a job is one of them.

A script's text is `lua/keys.lua` (the key names, see `Keys.script_keys` / `Keys.script_prefixes`),
then each file its `-- include: NAME` lines name (shared Lua such as `dispatch_common.lua`), then the
script itself. `run` passes the bench's keys and prefixes in front of the script's own KEYS and ARGV,
so the scripts read them as `K[i]` / `ARG[i]` and never spell a key name.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import redis

    from bench_jobs.jobs.keys import Keys

INCLUDE = "-- include: "


def _file(name: str) -> str:
    return resources.files("bench_jobs").joinpath("jobs", "lua", f"{name}.lua").read_text(encoding="utf-8")


@cache
def source(name: str) -> str:
    """The full text Redis runs for script `name`."""
    body = _file(name)
    parts = [_file("keys")]
    parts += [_file(line.removeprefix(INCLUDE).strip()) for line in body.splitlines() if line.startswith(INCLUDE)]
    return "\n".join([*parts, body])


@cache
def sha(name: str) -> str:
    return hashlib.sha1(source(name).encode()).hexdigest()


def load(client: redis.Redis, name: str) -> str:
    """SCRIPT LOAD, for callers that send EVALSHA themselves (pipelines, packed bulk commands)."""
    client.script_load(source(name))
    return sha(name)


def call_args(keys: Keys, own_keys: list[str], args: list[Any]) -> list[Any]:
    """numkeys, KEYS and ARGV of one call, as EVALSHA takes them after the sha."""
    return [len(keys.script_keys) + len(own_keys), *keys.script_keys, *own_keys, *keys.script_prefixes, *args]


def run(client: redis.Redis, keys: Keys, name: str, own_keys: list[str], args: list[Any]) -> Any:
    """EVALSHA, loading the script on NOSCRIPT (a restarted or flushed Redis)."""
    from redis.exceptions import NoScriptError

    call = call_args(keys, own_keys, args)
    try:
        return client.evalsha(sha(name), *call)
    except NoScriptError:
        client.script_load(source(name))
        return client.evalsha(sha(name), *call)
