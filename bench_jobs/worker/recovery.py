"""The recovery sweep's timings, and what it did told to the operator: a job taken from a dead
worker is logged by whoever swept it (a worker or the scheduler), and one failed for good also lands
in its site's Error Log, exactly like a job that failed while running.

When is a worker dead? When its alive key (refreshed every third of `worker_dead_after`) has run
out while the bench was in contact with Redis. Right after an outage — Redis down, restarted or
paused longer than half of `worker_dead_after` — the sweep judges nobody for one `worker_dead_after`,
so live workers beat again first (lua/dispatch_common.lua `contact`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from bench_jobs.bench import settings as S
from bench_jobs.jobs.keys import FAILED, Keys
from bench_jobs.jobs.model import Job

if TYPE_CHECKING:
    import redis

    from bench_jobs.bench.layout import Bench
    from bench_jobs.jobs.dispatch import SweepResult
    from bench_jobs.logs.writer import WorkLog


@dataclass(frozen=True)
class Timings:
    """From `worker_dead_after` (default 15 s): a SIGKILLed worker's job is recovered within about
    dead_after + sweep interval (≤ 20 s); after an outage within twice dead_after + sweep interval."""

    dead_after: float    # alive TTL
    beat_every: float    # heartbeat interval
    sweep_every: float   # bench-wide rate limit of the sweep
    grace: float         # a job is also recovered this long after its timeout

    @classmethod
    def of(cls, bench: Bench) -> Timings:
        dead_after = max(1.0, S.WORKER_DEAD_AFTER.read(bench))
        grace = S.WORKER_TIMEOUT_GRACE.read(bench)
        return cls(dead_after, max(0.3, dead_after / 3), min(5.0, max(0.5, dead_after / 3)),
                   max(30.0, 2 * dead_after) if grace is None else grace)


class SweepOptions(TypedDict):
    """The keyword arguments of `Dispatcher.sweep` that come from the bench's config."""

    grace: float
    interval: float
    dead_after: float
    failure_ttl: int
    failed_limit: int


def sweep_options(bench: Bench) -> SweepOptions:
    """The keyword arguments of `Dispatcher.sweep` from the bench's config (workers and scheduler alike)."""
    from bench_jobs.worker.runner import RetryPolicy

    timings, policy = Timings.of(bench), RetryPolicy.for_site(bench, None)
    return SweepOptions(grace=timings.grace, interval=timings.sweep_every, dead_after=timings.dead_after,
                        failure_ttl=policy.failure_ttl, failed_limit=policy.failed_limit)



def after_sweep(client: redis.Redis, bench: Bench, log: WorkLog, result: SweepResult) -> None:
    """Tell what the sweep recovered; when this process was the one that swept (once per interval,
    bench-wide), also repair indexes another tool left stale (jobs/repair.py)."""
    report_swept(client, bench, log, result.job_ids)
    if not result.swept:
        return
    from bench_jobs.jobs import repair

    removed = repair.quick(client, Keys(bench.bench_id), bench.queue_names())
    if sum(removed.values()):
        log.warning("repaired", "index entries of jobs changed by another tool dropped: "
                    + ", ".join(f"{n} {state}" for state, n in sorted(removed.items()) if n))


def report_swept(client: redis.Redis, bench: Bench, log: WorkLog, job_ids: list[str]) -> None:
    """One log line per recovered job; an Error Log entry for each one that ended failed."""
    if not job_ids:
        return
    from bench_jobs.logs.error_log import add_entry

    jobs = Job.fetch_many(client, job_ids, ("status", "site", "method", "error", "queue"))
    limit = S.ERROR_LOG_LIMIT.read(bench)
    for job_id in job_ids:
        job = jobs[job_id]
        status, site, method, error, queue = (v or "" for v in (job.status, job.site, job.method, job.error,
                                                                 job.queue))
        fields = {"job_id": job_id, "site": site or None, "method": method or None}
        reason = error or "worker died"
        if status == FAILED:
            log.error("died", f"{reason}; failed (no retries left)", **fields)
            if site:
                add_entry(client, Keys(bench.bench_id), site, limit, title=f"{method}: {reason}"[:300],
                          message=f"job {job_id} on queue {queue} was running on a worker that died; "
                                  "`bench-jobs jobs retry ID` runs it again",
                          method=method or None, job_id=job_id)
        else:
            log.warning("died", f"{reason}; re-queued ({status or 'gone'})", **fields)
