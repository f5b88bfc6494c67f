"""Which bench and site the code is working for: set by `init()`, by the CLI, or by the worker per job.

Outside a job, the default comes from `init(site, bench_path)` or from the CLI's discovery
($BENCH_PATH / working directory, $BENCH_SITE / sites/currentsite.txt). Inside a job the runner
sets the job's site, so `get_current_site()` and `get_site_config()` answer for that job.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from bench_jobs.bench.layout import Bench
from bench_jobs.errors import SiteNotFound

if TYPE_CHECKING:
    import redis


@dataclass
class Local:
    bench: Bench
    site: str | None


_current: ContextVar[Local | None] = ContextVar("bench_jobs_local", default=None)
_default: Local | None = None
_clients: dict[str, redis.Redis] = {}


def init(site: str | None = None, bench_path: str | None = None) -> Local:
    """Point this process at a bench and site (discovered like the CLI when not given)."""
    global _default
    bench = Bench.find(bench_path)
    site = site or bench.default_site()
    if site:
        bench.require_site(site)
    _default = Local(bench, site)
    return _default


def local() -> Local:
    """The bench and site in effect: the job's, else init()'s, else discovered."""
    current = _current.get() or _default
    if current is None:
        current = init()
    return current


@contextlib.contextmanager
def using(bench: Bench, site: str | None) -> Iterator[None]:
    """Run a block (a job, a CLI command) for `site` of `bench`."""
    token = _current.set(Local(bench, site))
    try:
        yield
    finally:
        _current.reset(token)


def get_current_site() -> str | None:
    return local().site


def require_site(site: str | None = None) -> str:
    current = local()
    site = site or current.site
    if not site:
        raise SiteNotFound("no site selected",
                           "pass --site SITE, set BENCH_SITE, run `bench-jobs use SITE`, or call bench_jobs.init(site)")
    current.bench.require_site(site)
    return site


def get_site_config(site: str | None = None) -> dict[str, Any]:
    """The merged config (common + site) of the current site or of `site`."""
    current = local()
    return current.bench.merged_config(site or current.site)


def redis_for(bench: Bench) -> redis.Redis:
    """One shared client per bench per process (connection pool inside)."""
    client = _clients.get(str(bench.path))
    if client is None:
        from bench_jobs.bench.connection import connect

        client = _clients[str(bench.path)] = connect(bench)
    return client


def reader_for(bench: Bench) -> redis.Redis:
    """A client for commands that only read: bench/read_client.py's, which answers the listing commands'
    reads without importing redis-py (~100 ms) and hands anything else to `redis_for(bench)`; that client
    itself where the light one cannot go (Sentinel, TLS, URL options)."""
    from bench_jobs.bench import settings as S
    from bench_jobs.bench.connection import CONNECT_TIMEOUT, SOCKET_TIMEOUT, credentials
    from bench_jobs.bench.read_client import light_client

    if S.SENTINEL_ENABLED.read(bench):
        return redis_for(bench)
    client = light_client(bench.redis_url, *credentials(bench), lambda: redis_for(bench), CONNECT_TIMEOUT,
                          SOCKET_TIMEOUT)
    # It answers every redis.Redis method: the ones it knows itself, the rest through redis_for's client.
    return redis_for(bench) if client is None else cast("redis.Redis", client)


def reset_clients() -> None:
    """Drop cached clients (after fork, or when a test restarts Redis)."""
    _clients.clear()
