"""What the recovery sweep did, told to the operator: a job taken from a dead worker is logged by
whoever swept it (a worker or the scheduler), and one failed for good also lands in its site's
Error Log, exactly like a job that failed while running."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench_jobs.jobs.keys import FAILED, Keys, job_key

if TYPE_CHECKING:
    import redis

    from bench_jobs.bench.layout import Bench
    from bench_jobs.logs.writer import WorkLog

FIELDS = ("status", "bj_site", "bj_method", "bj_error", "bj_queue")


def report_swept(client: redis.Redis, bench: Bench, log: WorkLog, job_ids: list[str]) -> None:
    """One log line per recovered job; an Error Log entry for each one that ended failed."""
    if not job_ids:
        return
    from bench_jobs.logs.error_log import DEFAULT_LIMIT, add_entry

    with client.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.hmget(job_key(job_id), FIELDS)
        rows = pipe.execute()
    limit = int(bench.number("error_log_limit", DEFAULT_LIMIT) or DEFAULT_LIMIT)
    for job_id, raw in zip(job_ids, rows, strict=True):
        status, site, method, error, queue = (v.decode(errors="replace") if v else "" for v in raw)
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
