"""The one loader of the Lua scripts in `lua/`: every state change of a job is one of them.

A script's text is `lua/keys.lua` (the key names, see `Keys.script_keys` / `Keys.script_prefixes`),
then each file its `-- include: NAME` lines name (shared Lua such as `dispatch_common.lua`), then the
script itself. `run` passes the bench's keys and prefixes in front of the script's own KEYS and ARGV,
so the scripts read them as `K[i]` / `ARG[i]` and never spell a key name.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from bench_jobs.bench.connection import stale_connection

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


def _bulk(value: Any) -> bytes:
    data = value if isinstance(value, bytes) else str(value).encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


@cache
def _packed_constants(bench_keys: tuple[str, ...], prefixes: tuple[str, ...]) -> tuple[bytes, bytes]:
    """The RESP of the bench-wide keys and of the prefixes every call carries, built once per bench:
    28 arguments that redis-py would otherwise encode again on every call (most of a single
    enqueue's client time)."""
    return b"".join(map(_bulk, bench_keys)), b"".join(map(_bulk, prefixes))


@dataclass(frozen=True)
class Packed:
    """Arguments that come back call after call (a job's fields that depend only on its options), with
    their RESP built once: `run` appends them to a call's own arguments."""

    values: tuple[Any, ...]
    resp: bytes

    @classmethod
    def of(cls, values: list[Any]) -> Packed:
        return cls(tuple(values), b"".join(map(_bulk, values)))


NOTHING = Packed((), b"")


def packed(keys: Keys, name: str, own_keys: list[str], args: list[Any], tail: Packed = NOTHING) -> bytes:
    """One EVALSHA of script `name` as RESP, the same command `call_args` describes (`tail` after `args`)."""
    bench_keys, prefixes = _packed_constants(keys.script_keys, keys.script_prefixes)
    count = 3 + len(keys.script_keys) + len(own_keys) + len(keys.script_prefixes) + len(args) + len(tail.values)
    return b"".join((b"*%d\r\n$7\r\nEVALSHA\r\n" % count, _bulk(sha(name)),
                     _bulk(len(keys.script_keys) + len(own_keys)), bench_keys, *map(_bulk, own_keys), prefixes,
                     *map(_bulk, args), tail.resp))


class _Held:
    """One connection a pool lends to `run` for good: redis-py's get/release around each call (its
    fork check, lock and observability counters) cost about as much as Redis running a small script.
    One caller at a time (`lock`); a process that forked takes a new one."""

    __slots__ = ("conn", "lock", "pid")

    def __init__(self, conn: Any) -> None:
        self.conn, self.lock, self.pid = conn, threading.Lock(), os.getpid()


_HELD_ATTR = "_bench_jobs_held"  # on the pool, so the connection lives and dies with it
_taking = threading.Lock()


def _held(client: redis.Redis) -> _Held | None:
    """The pool's held connection if no other thread is using it, else None (that call takes one from
    the pool as usual). Under Sentinel it is closed when the master moved, as the pool would not hand
    it out (it reconnects to the new master on its next command)."""
    pool = client.connection_pool
    held: _Held | None = getattr(pool, _HELD_ATTR, None)
    if held is None or held.pid != os.getpid():
        with _taking:
            held = getattr(pool, _HELD_ATTR, None)
            if held is None or held.pid != os.getpid():
                held = _Held(pool.get_connection())
                setattr(pool, _HELD_ATTR, held)
    if not held.lock.acquire(blocking=False):
        return None
    try:
        if stale_connection(client, held.conn):
            held.conn.disconnect()
    except BaseException:
        held.lock.release()
        raise
    return held


def run(client: redis.Redis, keys: Keys, name: str, own_keys: list[str], args: list[Any],
        tail: Packed = NOTHING) -> Any:
    """EVALSHA, loading the script on NOSCRIPT (a restarted or flushed Redis).

    Sent pre-packed (see `packed`) on the pool's held connection (or a pooled one while another thread
    holds it); a connection that fails is dropped and the call goes through redis-py's own path, with
    its retry policy, as it always did (the held one reconnects on its next use)."""
    from redis.exceptions import ConnectionError, NoScriptError, TimeoutError

    command = packed(keys, name, own_keys, args, tail)
    pool = client.connection_pool
    held = _held(client)
    conn = held.conn if held is not None else pool.get_connection()
    try:
        conn.send_packed_command([command])
        try:
            return conn.read_response()
        except NoScriptError:  # loaded on this connection: another may be open to another node (a failover)
            conn.send_command("SCRIPT", "LOAD", source(name))
            conn.read_response()
            conn.send_packed_command([command])
            return conn.read_response()
    except (ConnectionError, TimeoutError, OSError):
        conn.disconnect()
        return _run_slow(client, keys, name, own_keys, [*args, *tail.values])
    finally:
        if held is not None:
            held.lock.release()
        else:
            pool.release(conn)


def _run_slow(client: redis.Redis, keys: Keys, name: str, own_keys: list[str], args: list[Any]) -> Any:
    from redis.exceptions import NoScriptError

    call = call_args(keys, own_keys, args)
    try:
        return client.evalsha(sha(name), *call)
    except NoScriptError:
        client.script_load(source(name))
        return client.evalsha(sha(name), *call)
