"""Which scheduler process leads: a Redis lease with an owner token, and a roll of live members.

The leader holds `bj:{B}:scheduler:lease` (SET NX PX) and renews it with a compare-and-extend script,
so only the owner can extend or drop it. It trusts its lease only until `valid_until`, measured on its
own monotonic clock from the moment it sent the request, minus a margin: a leader that cannot renew
(Redis gone, paused process, lease stolen) stops enqueuing at once, before anyone else may take over.
Standbys try to take the lease every `retry` seconds, so one leads again within ttl + retry seconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from bench_jobs.bench.connection import transient
from bench_jobs.jobs.encoding import text

if TYPE_CHECKING:
    import redis

from bench_jobs.jobs.keys import Keys

LEASE_TTL = 10.0  # a dead leader's lease lapses after this; standbys then take over within RETRY
RENEW_EVERY = 2.0
RETRY = 2.0
SAFETY = 0.8  # trust a lease for this fraction of its ttl after the request was sent
MEMBER_STALE = 15.0  # a member not seen for this long (three missed beats) is dropped from the roll

RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def new_token() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class Lease:
    client: redis.Redis
    key: str
    token: str = field(default_factory=new_token)
    ttl: float = LEASE_TTL
    renew_every: float = RENEW_EVERY
    retry: float = RETRY
    monotonic: Callable[[], float] = time.monotonic
    valid_until: float = 0.0
    next_attempt: float = 0.0
    leading: bool = False
    unreachable: Exception | None = None  # the error of the last attempt when Redis could not be reached

    def valid(self) -> bool:
        """True while this process may enqueue: it leads and its lease cannot have lapsed yet."""
        return self.leading and self.monotonic() < self.valid_until

    def hold(self) -> bool:
        """Acquire or renew when due; returns whether we lead now. Redis errors mean we do not."""
        import redis as redis_mod

        sent = self.monotonic()
        if sent < self.next_attempt and (self.valid() or not self.leading):
            return self.valid()
        px = int(self.ttl * 1000)
        try:
            if self.leading:
                ok = bool(self.client.eval(RENEW, 1, self.key, self.token, px))
            else:
                ok = bool(self.client.set(self.key, self.token, nx=True, px=px))
            self.unreachable = None
        except redis_mod.RedisError as exc:
            if not transient(exc):
                raise
            ok, self.unreachable = False, exc
        self.leading = ok
        self.valid_until = sent + self.ttl * SAFETY if ok else 0.0
        self.next_attempt = sent + (self.renew_every if ok else self.retry)
        return ok

    def release(self) -> None:
        """Give the lease up so a standby takes over at once (on a clean stop)."""
        if self.leading:
            with contextlib.suppress(Exception):  # best effort on the way out; the lease lapses anyway
                self.client.eval(RELEASE, 1, self.key, self.token)
        self.leading = False
        self.valid_until = 0.0

    def seconds_to_next_attempt(self) -> float:
        return max(0.0, self.next_attempt - self.monotonic())


@dataclass
class Members:
    """The roll `bj:{B}:scheduler:members`: token -> {host, pid, started, seen}."""

    client: redis.Redis
    keys: Keys
    token: str
    started: float = field(default_factory=time.time)

    def beat(self, now: float, leading: bool) -> None:
        entry = {"host": socket.gethostname(), "pid": os.getpid(), "started": self.started, "seen": now,
                 "leading": leading}
        self.client.hset(self.keys.scheduler_members(), self.token, json.dumps(entry))
        stale = [token for token, value in _entries(self.client, self.keys).items()
                 if now - float(value.get("seen") or 0) > MEMBER_STALE]
        if stale:
            self.client.hdel(self.keys.scheduler_members(), *stale)

    def leave(self) -> None:
        with contextlib.suppress(Exception):  # best effort on the way out; the entry goes stale anyway
            self.client.hdel(self.keys.scheduler_members(), self.token)


def _entries(client: redis.Redis, keys: Keys) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for token, value in client.hgetall(keys.scheduler_members()).items():
        try:
            out[(text(token) or "")] = json.loads(value)
        except (ValueError, UnicodeDecodeError):
            continue
    return out


class SchedulerMember(TypedDict):
    """A live scheduler process, as `scheduler status`, doctor and the dashboard show it."""

    host: str | None
    pid: int | None
    started: float | None
    last_seen: float
    seen_seconds_ago: float
    leader: bool
    token: NotRequired[str]


def members(client: redis.Redis, keys: Keys, now: float | None = None) -> list[SchedulerMember]:
    """Live scheduler processes, the leader first: host, pid, started, last_seen, leader."""
    now = time.time() if now is None else now
    lease = client.get(keys.scheduler_lease())
    leader = text(lease)
    rows: list[SchedulerMember] = []
    for token, entry in _entries(client, keys).items():
        seen = float(entry.get("seen") or 0)
        if now - seen > MEMBER_STALE:
            continue
        rows.append(SchedulerMember(host=entry.get("host"), pid=entry.get("pid"), started=entry.get("started"),
                                    last_seen=seen, seen_seconds_ago=round(now - seen, 1), leader=token == leader,
                                    token=token))
    rows.sort(key=lambda r: (not r["leader"], r["host"] or "", r["pid"] or 0))
    return rows
