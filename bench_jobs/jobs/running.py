"""Started (running) jobs per queue and site, read from the bench-wide started ZSET.

There is no per-(queue, site) index of started jobs (issue 13): it cost a ZREM in every finish and a
ZADD per claimed batch and site, for sets that hold few ids at any time. Started jobs are bounded by
the workers' batches, and `bj:{B}:started` (score = start time, claim order) holds every one of them,
so one ZRANGE and one pipelined HMGET of their hashes give each (queue, site) its count and its list.
Ids whose hash is gone count nowhere (the sweep drops them from the set).

Benches that ran before this layout may still hold `bj:{B}:idx:started:{q}:{s}` sets: nothing reads
them, and `legacy_keys` names them for the repair passes (jobs/repair.py) to delete.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bench_jobs.jobs.encoding import text
from bench_jobs.jobs.keys import STARTED, Keys
from bench_jobs.jobs.model import Job

if TYPE_CHECKING:
    import redis


@dataclass(frozen=True)
class Started:
    """The bench's started jobs as (start time, id) pairs per (queue, site), each list in start order."""

    by_place: dict[tuple[str, str], list[tuple[float, str]]] = field(default_factory=dict)

    def count(self, queue: str, site: str) -> int:
        return len(self.by_place.get((queue, site), ()))

    def total(self, places: Iterable[tuple[str, str]]) -> int:
        return sum(self.count(queue, site) for queue, site in set(places))

    def ids(self, places: Iterable[tuple[str, str]], newest: bool = False) -> list[str]:
        """Ids of these places merged in start order (newest first if asked), as a union of indexes reads."""
        merged = [pair for place in set(places) for pair in self.by_place.get(place, ())]
        merged.sort(reverse=newest)
        return [job_id for _, job_id in merged]


def read_started(client: redis.Redis, keys: Keys) -> Started:
    """Every started job of the bench by place: two round trips, sized by the running jobs only."""
    reply: Any = client.zrange(keys.started(), 0, -1, withscores=True)  # (redis-py types it loosely)
    pairs = [(float(score), text(member) or "") for member, score in reply]
    jobs = Job.fetch_many(client, [job_id for _, job_id in pairs], ("queue", "site"))
    by_place: dict[tuple[str, str], list[tuple[float, str]]] = {}
    for score, job_id in pairs:
        job = jobs[job_id]
        if job.exists and job.queue is not None and job.site is not None:
            by_place.setdefault((job.queue, job.site), []).append((score, job_id))
    return Started(by_place)


def legacy_keys(keys: Keys, queues: Iterable[str], sites: Iterable[str]) -> list[str]:
    """The per-site started indexes of the layout before issue 13 (`keys.index("started", ...)`)."""
    sites = list(sites)
    return [keys.index(STARTED, queue, site) for queue in queues for site in sites]
