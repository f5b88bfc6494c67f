"""Reading the per-site indexes (docs/storage.md, "Queues and indexes") whatever their kind: the queued
index is a LIST of ids in queue order (~39 B a job where a ZSET cost ~136 B: issue 13), every other one a
ZSET scored by a time. Readers count, page and merge them through here.

Benches written before the LIST layout hold ZSETs there; the first script that writes one converts it
(lua/keys.lua `qidx_call`: enqueue, claim, requeue, cancel, delete, retry, repair), `jobs repair`
converts every one, and a reader that meets one first (WRONGTYPE) converts the bench's and reads again
(`converting`). So no process has to run first, and nothing is checked once a bench is converted.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING, Any, TypeVar

from bench_jobs.jobs import scripts
from bench_jobs.jobs.encoding import text
from bench_jobs.jobs.keys import QUEUED, STARTED, Keys
from bench_jobs.jobs.model import Job
from bench_jobs.jobs.running import Started, read_started

if TYPE_CHECKING:
    from collections.abc import Callable

    import redis
    from redis.client import Pipeline

T = TypeVar("T")


def is_list(keys: Keys, key: str) -> bool:
    """Whether `key` is a queued index (a LIST); every other per-site index is a ZSET."""
    return key.startswith(keys.index(QUEUED, "", "").removesuffix(":"))


def count(pipe: Pipeline, keys: Keys, key: str) -> None:
    """Queue the number of ids of one index on `pipe`."""
    if is_list(keys, key):
        pipe.llen(key)
    else:
        pipe.zcard(key)


def state_counts(client: redis.Redis, keys: Keys, states: list[str], places: list[tuple[str, str]],
                 started: Started | None = None) -> dict[str, int]:
    """How many jobs each state holds over these (queue, site) places: the indexes' lengths in one
    pipeline, and started jobs (no per-site index) from the started set (`started`, if the caller has
    read it already)."""
    indexed = [state for state in states if state != STARTED]
    pipe = client.pipeline(transaction=False)
    for state in indexed:
        for queue, site in places:
            count(pipe, keys, keys.index(state, queue, site))
    replies = iter(pipe.execute())
    totals = {state: sum(int(next(replies)) for _ in places) for state in indexed}
    if STARTED in states:
        totals[STARTED] = (started or read_started(client, keys)).total(places)
    return totals


def ids(client: redis.Redis, keys: Keys, key: str, start: int, stop: int, newest: bool = False) -> list[str]:
    """Ids at positions start..stop (inclusive) of one index: in queue order (a LIST) or by score, or
    from the other end with `newest`."""
    if is_list(keys, key):
        if not newest:
            return [text(i) or "" for i in client.lrange(key, start, stop)]
        return [text(i) or "" for i in reversed(client.lrange(key, -stop - 1, -start - 1))]
    read = client.zrevrange if newest else client.zrange
    return [text(i) or "" for i in read(key, start, stop)]


def read(pipe: Pipeline, keys: Keys, key: str, size: int, newest: bool) -> None:
    """Queue on `pipe` the first `size` entries of one index for `merged` (from the other end with
    `newest`): ids of a queued LIST, (id, score) of a ZSET."""
    if is_list(keys, key):
        pipe.lrange(key, -size, -1) if newest else pipe.lrange(key, 0, size - 1)
    else:
        (pipe.zrevrange if newest else pipe.zrange)(key, 0, size - 1, withscores=True)


def merged(client: redis.Redis, keys: Keys, index_keys: list[str], replies: list[Any], start: int, size: int,
           newest: bool) -> list[str]:
    """Ids start..start+size of the union of the indexes whose `read` replies these are, oldest first
    (newest first with `newest`). A ZSET's order is its score; a queued LIST's, each job's enqueue time
    read from its hash (only when two or more indexes have ids), and the merge keeps every list's own
    (queue) order, so an `at_front` job stays first."""
    runs: list[list[tuple[float, str]]] = []
    listed: list[list[str]] = []
    for key, reply in zip(index_keys, replies, strict=True):
        if not reply:
            continue
        if is_list(keys, key):
            ids_read = [text(i) or "" for i in reply]
            listed.append(ids_read[::-1] if newest else ids_read)
        else:
            runs.append([(float(score), text(job_id) or "") for job_id, score in reply])
    if len(runs) + len(listed) == 1:
        return (listed[0] if listed else [job_id for _, job_id in runs[0]])[start:start + size]
    jobs = Job.fetch_many(client, [job_id for run in listed for job_id in run], ("enqueued",))
    runs += [[(jobs[job_id].enqueued or 0.0, job_id) for job_id in run] for run in listed]
    return [job_id for _, job_id in heapq.merge(*runs, key=lambda pair: pair[0], reverse=newest)][start:start + size]


def window(client: redis.Redis, keys: Keys, index_keys: list[str], start: int, size: int,
           newest: bool) -> list[str]:
    """Ids start..start+size of the union of the indexes in order; one index is read directly at its
    offset, several are merged (each contributes at most start+size ids: the window can hold no more)."""
    if len(index_keys) == 1:
        return ids(client, keys, index_keys[0], start, start + size - 1, newest)
    pipe = client.pipeline(transaction=False)
    for key in index_keys:
        read(pipe, keys, key, start + size, newest)
    return merged(client, keys, index_keys, pipe.execute(), start, size, newest)


# -- the ZSET layout -------------------------------------------------------------------------------
def convert(client: redis.Redis, keys: Keys, queues: list[str], sites: list[str] | None = None) -> int:
    """Turn the queued indexes of these queues (and of `sites`, by default every site that enqueued)
    that are still ZSETs into LISTs of their ids in score order; how many were converted."""
    if sites is None:
        sites = sorted(text(s) or "" for s in client.smembers(keys.sites_seen()))
    names = [keys.index(QUEUED, queue, site) for queue in queues for site in sites]
    pipe = client.pipeline(transaction=False)
    for key in names:
        pipe.type(key)
    old = [key for key, kind in zip(names, pipe.execute(), strict=True) if text(kind) == "zset"]
    for key in old:
        scripts.run(client, keys, "convert_queued", [key], [keys.bench_id])
    return len(old)


def converting(client: redis.Redis, keys: Keys, queues: list[str], read: Callable[[], T]) -> T:
    """`read()`; if it met a queued index of the ZSET layout (WRONGTYPE), the bench's are converted and
    it reads again."""
    try:
        return read()
    except Exception as error:
        from bench_jobs.bench.read_client import redis_py_error

        if not redis_py_error(error, "ResponseError") or "WRONGTYPE" not in str(error):  # (a pipeline
            raise                                                           # prefixes the command that met it)
    convert(client, keys, queues)
    return read()
