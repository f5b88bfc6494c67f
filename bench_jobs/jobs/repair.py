"""Self-healing indexes: the per-site indexes (docs/storage.md; jobs/indexes.py) reconciled with the queues and
job hashes, for ids another tool removed behind bench-jobs' back (rq's `Queue.empty()` and
`Job.delete()`, rq-dashboard's "Empty queue" / "Delete").

Two passes. A quick one after every recovery sweep (once per sweep interval, bench-wide): where a
queue's indexes count more queued jobs than its list holds, or more failed ones than RQ's failed
registry, those indexes are checked through at once; besides, a slice of `SLICE` ids of every
other index is checked in rotation. A full one is `bench-jobs jobs repair`.

Started jobs have no per-site index (jobs/running.py); the sweep itself drops stale entries of the
bench-wide started set, and the full pass checks it too. The per-site started indexes of the layout
before (`bj:{B}:idx:started:{q}:{s}`) are read by nothing and no longer kept: the first quick pass
deletes them (then marks the cursor hash, so later passes skip it), and every full pass does.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from bench_jobs.jobs import indexes, scripts
from bench_jobs.jobs.encoding import text
from bench_jobs.jobs.keys import FAILED, INDEXED_STATES, QUEUED, STARTED, Keys
from bench_jobs.jobs.running import legacy_keys

if TYPE_CHECKING:
    import redis

SLICE = 1000  # ids of the rotating pass per sweep
VISITS = 50   # indexes looked at per sweep (most are small or empty)
CHUNK = 500   # ids per script call (and keys per DEL)
LEGACY_DONE = "legacy-started-dropped"  # field of the cursor hash: the old started indexes are gone


def _check(client: redis.Redis, keys: Keys, key: str, state: str, ids: list[str]) -> int:
    removed = 0
    for start in range(0, len(ids), CHUNK):
        removed += int(scripts.run(client, keys, "reconcile", [key], [keys.bench_id, state, *ids[start:start + CHUNK]]))
    return removed


def _ids(values: list[Any]) -> list[str]:
    return [text(v) or "" for v in values]


def _scan(client: redis.Redis, keys: Keys, key: str, cursor: int, count: int) -> tuple[int, list[str]]:
    """The next ids of one index from `cursor` and the cursor after them (0 at the end): ZSCAN on a ZSET,
    positions on the queued LIST."""
    if indexes.is_list(keys, key):
        found = _ids(client.lrange(key, cursor, cursor + count - 1))
        return (cursor + len(found) if len(found) == count else 0), found
    cursor, pairs = client.zscan(key, cursor, count=count)
    return cursor, _ids([member for member, _ in pairs])


def check_index(client: redis.Redis, keys: Keys, key: str, state: str) -> int:
    """Every id of one index, checked in chunks (ZSCAN or LRANGE: never one huge reply)."""
    removed, cursor = 0, 0
    while True:
        cursor, found = _scan(client, keys, key, cursor, CHUNK)
        gone = _check(client, keys, key, state, found)
        removed += gone
        if indexes.is_list(keys, key) and cursor:
            cursor -= gone  # the ids after the removed ones moved up by as many places
        if not cursor:
            return removed


def drifted(client: redis.Redis, keys: Keys, queues: list[str], sites: list[str]) -> list[tuple[str, str]]:
    """(queue, state) whose indexes count more jobs than the queue list / RQ registry holds: each
    of our writes changes both at once, so only an outside change makes the indexes larger."""
    checks = [(q, QUEUED, keys.queue(q), "llen") for q in queues] + \
             [(q, FAILED, keys.rq_failed(q), "zcard") for q in queues]
    with client.pipeline(transaction=False) as pipe:
        for queue, state, truth, how in checks:
            getattr(pipe, how)(truth)
            for site in sites:
                indexes.count(pipe, keys, keys.index(state, queue, site))
        replies = pipe.execute()
    out, i = [], 0
    for queue, state, _, _ in checks:
        truth, indexed = replies[i], sum(replies[i + 1:i + 1 + len(sites)])
        i += 1 + len(sites)
        if indexed > truth:
            out.append((queue, state))
    return out


def quick(client: redis.Redis, keys: Keys, queues: list[str], sites: list[str] | None = None) -> Counter[str]:
    """The pass after a sweep: drifted indexes in full, and the next slice of the others."""
    sites = sites if sites is not None else sorted(_ids(list(client.smembers(keys.sites_seen()))))
    return indexes.converting(client, keys, queues, lambda: _quick(client, keys, queues, sites))


def _quick(client: redis.Redis, keys: Keys, queues: list[str], sites: list[str]) -> Counter[str]:
    removed: Counter[str] = Counter()
    if not sites or not queues:
        return removed
    cursors = f"{keys.prefix}:repair:cursor"
    legacy_done, last_index = client.hmget(cursors, [LEGACY_DONE, "index"])  # one read for both, every pass
    if not legacy_done:
        drop_legacy_started(client, keys, queues, sites)
        client.hset(cursors, LEGACY_DONE, 1)
    for queue, state in drifted(client, keys, queues, sites):
        for site in sites:
            removed[state] += check_index(client, keys, keys.index(state, queue, site), state)
    # Rotation: about SLICE ids (and at most VISITS indexes) a sweep, from where the last one stopped.
    every = [(keys.index(state, q, s), state) for state in INDEXED_STATES for q in queues for s in sites]
    position = int(last_index or 0) % len(every)
    budget, saved = SLICE, {}
    for _ in range(min(VISITS, len(every))):
        key, state = every[position]
        cursor, found = _scan(client, keys, key, int(client.hget(cursors, key) or 0), budget)
        removed[state] += _check(client, keys, key, state, found)
        saved[key] = cursor
        budget -= max(1, len(found))
        if cursor:  # this index is not through yet: the next sweep goes on from here
            break
        position = (position + 1) % len(every)
        if budget <= 0:
            break
    with client.pipeline(transaction=False) as pipe:
        mapping: dict[Any, Any] = {"index": position, **saved}
        pipe.hset(cursors, mapping=mapping)
        pipe.expire(cursors, 86400)
        pipe.execute()
    return removed


def drop_legacy_started(client: redis.Redis, keys: Keys, queues: list[str], sites: list[str]) -> None:
    """Delete the per-site started indexes of the layout before issue 13 (no reader, no writer now)."""
    stale = legacy_keys(keys, queues, sites)
    for start in range(0, len(stale), CHUNK):
        client.delete(*stale[start:start + CHUNK])


def full(client: redis.Redis, keys: Keys, queues: list[str], sites: list[str]) -> Counter[str]:
    """Every index of these queues and sites checked through (`bench-jobs jobs repair`), and the
    bench-wide started set (its stale entries count as "started", as the per-site ones did); queued
    indexes still of the ZSET layout are turned into LISTs first."""
    indexes.convert(client, keys, queues, sites)
    removed: Counter[str] = Counter()
    drop_legacy_started(client, keys, queues, sites)
    removed[STARTED] += check_index(client, keys, keys.started(), STARTED)
    for state in INDEXED_STATES:
        for queue in queues:
            for site in sites:
                removed[state] += check_index(client, keys, keys.index(state, queue, site), state)
    return removed
