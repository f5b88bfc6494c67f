"""How the bench's queue Redis runs, asked of the server itself (INFO): running, loading or stopped,
its version and persistence, whether it was started from this bench's config (`redis status`, doctor).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from bench_jobs.bench import settings as S
from bench_jobs.bench.layout import Bench
from bench_jobs.errors import RedisUnavailable
from bench_jobs.ops.redis_config import RedisFiles, queue_port
from bench_jobs.ops.redis_server import START_HINT, running_pid


@dataclass(frozen=True)
class RedisStatus:
    state: str  # running | loading (reading its AOF back) | stopped
    url: str
    port: int
    pid: int | None = None
    version: str | None = None
    persistence: str | None = None
    managed: bool = False  # started from this bench's config/redis_queue.conf
    config_file: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def status(bench: Bench) -> RedisStatus:
    """Ask the server itself (INFO) how it runs; `stopped` when nothing answers.

    A server that answers but refuses our credentials raises RedisUnavailable: it runs, but the
    bench cannot use it, and that is what the operator has to fix.
    """
    from bench_jobs.bench.connection import connect, display_url

    files = RedisFiles.of(bench)
    url, port = display_url(bench), queue_port(bench)
    client = connect(bench, socket_timeout=5.0)
    try:
        server, persistence = _info(client, bench)
    except _NotServing as exc:
        return RedisStatus(exc.state, url, port, pid=running_pid(files), config_file=str(files.conf))
    finally:
        client.close()
    config_file = server.get("config_file") or None
    version = server.get("valkey_version") or server.get("redis_version")
    return RedisStatus(
        state="running", url=url, port=int(server.get("tcp_port") or port), pid=server.get("process_id"),
        version=f"{server.get('server_name') or 'redis'} {version}",
        persistence=persistence, managed=config_file == str(files.conf), config_file=config_file,
    )


class _NotServing(Exception):
    def __init__(self, state: str) -> None:
        super().__init__(state)
        self.state = state


def _info(client: Any, bench: Bench) -> tuple[dict[str, Any], str]:
    import redis

    from bench_jobs.bench.connection import translate

    try:
        server = client.info("server")
        aof = bool(client.info("persistence").get("aof_enabled"))
    except redis.AuthenticationError as exc:  # a subclass of ConnectionError: check it first
        raise translate(exc, bench) from None
    except redis.BusyLoadingError:
        raise _NotServing("loading") from None
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        if S.SENTINEL_ENABLED.read(bench):
            # Not ours to start: say which Sentinel setting to check instead of "stopped".
            raise translate(exc, bench) from None
        raise _NotServing("stopped") from None
    except redis.ResponseError as exc:
        raise translate(exc, bench) from None
    return server, _persistence(client, aof)


def _persistence(client: Any, aof: bool) -> str:
    """'AOF (appendfsync everysec)', 'RDB' or 'none'; CONFIG GET may be denied on a foreign server."""
    import redis

    try:
        config = client.config_get("appendfsync") | client.config_get("save")
    except redis.ResponseError:
        return "AOF" if aof else "RDB"
    if aof:
        return f"AOF (appendfsync {config.get('appendfsync', '?')})"
    return "RDB" if config.get("save") else "none"


def unreachable_error(state: RedisStatus) -> RedisUnavailable:
    """What `redis status` reports (exit 1) when the server does not serve."""
    if state.state == "loading":
        return RedisUnavailable(f"Redis at {state.url} is still loading its data",
                                "wait, then run `bench-jobs redis status` again")
    return RedisUnavailable(f"Redis at {state.url} is not reachable — {START_HINT}",
                            "or point redis_queue in sites/common_site_config.json at a running Redis")
