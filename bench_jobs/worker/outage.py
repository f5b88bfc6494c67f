"""Riding out a Redis outage: every Redis call of the worker loop goes through `RedisRetry`.

While Redis is unreachable the call is retried (backing off to 5 s, logged once and then every
30 s) instead of the worker dying with a claimed job in hand. A stop request ends the wait: calls
that are not essential return None at once; an essential one (a finish: losing a finished job's
state would run it twice) raises RedisGone once the worker has been stopping for
`spool.STOP_REDIS_WAIT` seconds (at once on a cold stop), so a stop never waits on Redis for long.
Its own module because this rule is the same for every call, whatever the call does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, overload

from bench_jobs.bench.connection import transient
from bench_jobs.worker import spool
from bench_jobs.worker.runner import error_line

if TYPE_CHECKING:
    from bench_jobs.logs.writer import WorkLog

T = TypeVar("T")


class Stopping(Protocol):
    """The worker's stop state, set by signal handlers and the heartbeat thread: read anew on each failure."""

    stop_requested: bool
    cold: bool
    stop_since: float  # time.monotonic() of the first stop request


class RedisGone(Exception):
    """A stopping worker gave up waiting for Redis."""


class RedisRetry:
    def __init__(self, log: WorkLog, stop: Stopping) -> None:
        self.log, self.stop = log, stop

    @overload
    def __call__(self, call: Callable[[], T], essential: Literal[True]) -> T: ...

    @overload
    def __call__(self, call: Callable[[], T], essential: bool = False) -> T | None: ...

    def __call__(self, call: Callable[[], Any], essential: bool = False) -> Any:
        """Run `call`, retrying while Redis is unreachable (see the module's docstring)."""
        import redis

        delay, logged = 0.2, 0.0
        while True:
            try:
                return call()
            except redis.RedisError as exc:
                if not transient(exc):
                    raise
                if self.stop.stop_requested:
                    if not essential:
                        return None
                    left = spool.STOP_REDIS_WAIT - (time.monotonic() - self.stop.stop_since)
                    if self.stop.cold or left <= 0:
                        raise RedisGone(error_line(exc)) from None
                    delay = min(delay, left)
                if time.monotonic() - logged >= 30:  # once, then every 30 s: an outage is not a flood
                    logged = time.monotonic()
                    self.log.error("redis-down", f"Redis unreachable ({error_line(exc)}); retrying")
                time.sleep(delay)
                delay = min(5.0, delay * 2)
