"""Bounded read-only queries over jobs and workers: show-pending-jobs, jobs list, jobs show, workers.

Every query reads the per-site indexes (docs/storage.md; jobs/indexes.py reads the queued LIST and the
ZSETs alike): counts are LLEN/ZCARD, pages are LRANGE/ZRANGE with a limit, and the page's job hashes
come back in one pipelined HMGET. Started jobs, which have no
per-site index, come from the bench-wide started set (jobs/running.py: as many hashes as jobs run).
So the Redis work is O(queues x sites x limit + running) and does not grow with the backlog; no
listing ever scans a queue.
"""

from __future__ import annotations

import fnmatch
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypedDict

from bench_jobs.bench import settings as S
from bench_jobs.errors import JobNotFound
from bench_jobs.jobs import indexes
from bench_jobs.jobs.encoding import text
from bench_jobs.jobs.foreign import foreign_jobs, pending_line
from bench_jobs.jobs.keys import (
    CANCELED,
    FAILED,
    FINISHED,
    QUEUED,
    SCHEDULED,
    STARTED,
    STOPPED,
    Keys,
)
from bench_jobs.jobs.model import Job
from bench_jobs.jobs.running import Started, read_started

if TYPE_CHECKING:
    import redis

    from bench_jobs.bench.layout import Bench
    from bench_jobs.jobs.workers import WorkerRow

# Order of `jobs list` without --status: what is happening now first, history last.
LIST_STATES = (STARTED, QUEUED, SCHEDULED, FAILED, CANCELED, FINISHED)
# End states list newest first; the others list next-to-run first.
NEWEST_FIRST = {FAILED, FINISHED, CANCELED}
# `stopped` jobs are kept in the failed index (a stop is a failure by the operator's hand).
INDEX_OF = {STOPPED: FAILED}
# `--method GLOB` must look at methods, so it reads pages until it has `limit` matches or this many jobs.
METHOD_SCAN_CAP = 20_000
SCAN_BATCH = 1000


class PendingRow(TypedDict):
    """One of the next jobs of a queue in `show-pending-jobs`."""

    id: str
    method: str | None
    site: str | None
    kwargs: dict[str, Any]
    enqueued_at: str | None
    timeout: int | None


class QueueSummary(TypedDict):
    """One queue of `show-pending-jobs`: counts, the oldest pending job's age, the next jobs."""

    queue: str
    pending: int
    started: int
    scheduled: int
    failed: int
    oldest_age_seconds: float | None
    jobs: list[PendingRow]
    foreign_pending: int
    foreign_jobs: list[dict[str, Any]]


class PendingSummary(TypedDict):
    bench_id: str
    site: str | None
    queues: list[QueueSummary]
    foreign: dict[str, Any]


class ListRow(TypedDict):
    """One row of `jobs list`."""

    id: str
    status: str
    queue: str | None
    site: str | None
    method: str | None
    kwargs: dict[str, Any]
    enqueued_at: str | None
    started_at: str | None
    ended_at: str | None
    attempts: int
    error: str | None


class JobDetail(TypedDict):
    """Everything `jobs show` shows about one job."""

    id: str
    status: str | None
    queue: str | None
    method: str | None
    site: str | None
    kwargs: dict[str, Any]
    timeout: int | None
    created_at: str | None
    enqueued_at: str | None
    started_at: str | None
    ended_at: str | None
    run_at: str | None
    duration_seconds: float | None
    attempts: int
    retry: int
    retries_left: int | None
    worker: str | None
    error: str | None
    traceback: str | None
    result: Any
    on_success: str | None
    on_failure: str | None


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def stamp(value: str | None) -> str | None:
    """RQ's `2026-11-30T04:40:01.123456Z` as ISO 8601 like every other time we print (+00:00, ms)."""
    if not value:
        return None
    moment = Job.moment(value)
    return moment.isoformat(timespec="milliseconds") if moment else value


def known_sites(client: redis.Redis, bench: Bench) -> list[str]:
    """Sites on disk plus sites that ever enqueued (a removed site's jobs still count)."""
    seen = {text(s) for s in client.smembers(Keys(bench.bench_id).sites_seen())}
    return sorted({*bench.sites(), *(s for s in seen if s)})


# -- show-pending-jobs -----------------------------------------------------------------------------
def pending_summary(client: redis.Redis, bench: Bench, sites: list[str], queues: list[str], limit: int = 20,
                    *, all_sites: bool = False, started: Started | None = None) -> PendingSummary:
    """Per queue: pending/started/scheduled/failed counts, oldest age and the next `limit` jobs.

    Three round trips whatever the backlog: the started jobs (running.read_started, unless the caller
    read them: `started`), one pipeline of counts and first pages per (queue, site), then one of HMGET
    for the jobs shown (and, when several sites have jobs queued, one before it of their pages' enqueue
    times, to merge the sites' lists).
    """
    keys = Keys(bench.bench_id)
    return indexes.converting(client, keys, queues, lambda: _pending_summary(client, bench, keys, sites, queues,
                                                                             limit, all_sites, started))


def _pending_summary(client: redis.Redis, bench: Bench, keys: Keys, sites: list[str], queues: list[str], limit: int,
                     all_sites: bool, started: Started | None) -> PendingSummary:
    limit = max(int(limit), 0)
    now = time.time()
    # A failed job's hash expires after rq_job_failure_ttl, but its index entry stays until the next
    # failure in that queue trims it: count only entries young enough to still exist.
    kept_since = {site: now - S.FAILURE_TTL.read(bench, site) for site in sites}
    started = started if started is not None else read_started(client, keys)
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        for site in sites:
            for state in (QUEUED, SCHEDULED):
                indexes.count(pipe, keys, keys.index(state, queue, site))
            pipe.zcount(keys.index(FAILED, queue, site), kept_since[site], "+inf")
            indexes.read(pipe, keys, keys.index(QUEUED, queue, site), max(limit, 1), newest=False)
    replies = iter(pipe.execute())
    summaries: list[QueueSummary] = []
    next_ids: list[list[str]] = []
    for queue in queues:
        counts = {QUEUED: 0, SCHEDULED: 0, FAILED: 0}
        pages = []
        for _site in sites:
            for state in (QUEUED, SCHEDULED, FAILED):
                counts[state] += int(next(replies))
            pages.append(next(replies))
        # The sites' first pages merged by enqueue time: the first job is the oldest (at_front aside).
        page = indexes.merged(client, keys, [keys.index(QUEUED, queue, site) for site in sites], pages, 0,
                              max(limit, 1), newest=False)
        summaries.append(QueueSummary(
            queue=queue, pending=counts[QUEUED], started=started.total((queue, site) for site in sites),
            scheduled=counts[SCHEDULED], failed=counts[FAILED], oldest_age_seconds=None, jobs=[],
            foreign_pending=0, foreign_jobs=[]))
        next_ids.append(page)
    # (with limit 0 the first job is read all the same: its enqueue time is the oldest age)
    jobs = Job.fetch_many(client, [i for ids in next_ids for i in ids], Job.PAGE)
    for summary, ids in zip(summaries, next_ids, strict=True):
        summary["jobs"] = [pending_row(jobs[job_id]) for job_id in ids[:limit]]
        oldest = min((moment for moment in (jobs[job_id].enqueued for job_id in ids) if moment is not None),
                     default=None)
        summary["oldest_age_seconds"] = round(max(now - oldest, 0.0), 3) if oldest is not None else None
    one_site = None if all_sites or len(sites) != 1 else sites[0]
    foreign = foreign_jobs(client, bench, queues, limit, site=one_site)
    for summary in summaries:
        theirs = foreign.by_queue()[summary["queue"]]
        summary["foreign_pending"] = theirs.pending
        summary["foreign_jobs"] = [job.as_dict() for job in theirs.jobs]
    return PendingSummary(bench_id=bench.bench_id, site=one_site, queues=summaries,
                          foreign={"pending": foreign.pending, "note": pending_line(foreign)})


def pending_row(job: Job) -> PendingRow:
    return PendingRow(id=job.id, method=job.method, site=job.site, kwargs=job.kwargs, enqueued_at=iso(job.enqueued),
                      timeout=job.timeout)


# -- workers ---------------------------------------------------------------------------------------
def worker_rows(client: redis.Redis, keys: Keys, now: float | None = None) -> list[WorkerRow]:
    """The bench's workers (workers.list_workers) plus `utilisation`: the share of its life spent
    running jobs (0..1), as Sidekiq and rq-dashboard show it; None before its first second."""
    from bench_jobs.jobs.workers import list_workers

    now = time.time() if now is None else now
    rows = list_workers(client, keys)
    for row in rows:
        born = Job.moment(row.get("birth"))
        lived = now - born.timestamp() if born is not None else 0.0
        row["utilisation"] = round(min(row["total_working_time"] / lived, 1.0), 3) if lived >= 1 else None
    return rows


# -- jobs list -------------------------------------------------------------------------------------
def list_jobs(client: redis.Redis, bench: Bench, sites: list[str], queues: list[str],
              statuses: list[str] | None = None, method: str | None = None, limit: int = 20) -> list[ListRow]:
    """Jobs by status (all indexed states by default), queue and method glob; at most `limit` rows."""
    keys = Keys(bench.bench_id)
    return indexes.converting(client, keys, queues, lambda: _list_jobs(client, keys, sites, queues, statuses, method,
                                                                       limit))


def _list_jobs(client: redis.Redis, keys: Keys, sites: list[str], queues: list[str], statuses: list[str] | None,
               method: str | None, limit: int) -> list[ListRow]:
    rows: list[ListRow] = []
    for status in statuses or LIST_STATES:
        if len(rows) >= limit:
            break
        want = limit - len(rows)
        rows.extend(_list_state(client, keys, sites, queues, status, method, want))
    return rows[:limit]


def _list_state(client: redis.Redis, keys: Keys, sites: list[str], queues: list[str], status: str,
                method: str | None, want: int) -> list[ListRow]:
    index_state = INDEX_OF.get(status, status)
    if index_state not in LIST_STATES:
        return []  # `deferred` jobs have no index: bench-jobs never defers (no dependencies yet)
    index_keys = [keys.index(index_state, q, s) for q in queues for s in sites]
    # Started jobs have no per-site index: all of them, read once (they are few), paged in memory.
    running = read_started(client, keys).ids((q, s) for q in queues for s in sites) if index_state == STARTED else []
    rows: list[ListRow] = []
    start, scanned = 0, 0
    # Without filters one page is enough; a filter reads further pages until the page is full.
    filtered = bool(method) or status != index_state
    batch = max(want, 1) if not filtered else SCAN_BATCH
    while len(rows) < want and scanned < METHOD_SCAN_CAP:
        if index_state == STARTED:
            ids = running[start:start + batch]
        else:
            ids = indexes.window(client, keys, index_keys, start, batch, newest=index_state in NEWEST_FIRST)
        if not ids:
            break
        jobs = Job.fetch_many(client, ids, Job.PAGE)
        for job_id in ids:
            if not jobs[job_id].exists:
                continue  # the hash expired (result/failure TTL); its id leaves the index when a later job ends
            row = list_row(jobs[job_id], index_state)
            if method and not fnmatch.fnmatchcase(row["method"] or "", method):
                continue
            if status != index_state and row["status"] != status:
                continue
            rows.append(row)
        scanned += len(ids)
        start += batch
        if len(ids) < batch:  # (a full page that came out short: filtered or expired ids, read on)
            break
    return rows[:want]


def list_row(job: Job, index_state: str) -> ListRow:
    return ListRow(id=job.id, status=job.status or index_state, queue=job.queue, site=job.site, method=job.method,
                   kwargs=job.kwargs, enqueued_at=iso(job.enqueued), started_at=stamp(job.started_at),
                   ended_at=stamp(job.ended_at), attempts=job.attempts, error=job.error)


# -- jobs show -------------------------------------------------------------------------------------
def load_job(client: redis.Redis, bench: Bench, job_id: str) -> Job:
    """The whole job, or JobNotFound (also for a job of another bench sharing this Redis)."""
    from bench_jobs.bench.read_client import redis_py_error

    try:
        job = Job.fetch(client, job_id)
    except Exception as error:
        if not redis_py_error(error, "NoPermissionError"):
            raise
        # Under the bench's own ACL user (`setup redis`) a job hash it may not read is another bench's or
        # a bare id such as a caller's "sync-stock" (stored as `{tag}_{site digest}_sync-stock`).
        raise JobNotFound(f"no job '{job_id}' in this bench",
                          "list jobs with `bench-jobs jobs list`") from None
    if job.foreign:
        raise JobNotFound(f"job '{job_id}' was not written by bench-jobs (a Frappe/RQ job): bench-jobs does not "
                          "read its payload or manage it", "`bench-jobs jobs list` shows it from RQ's plain-text "
                          "fields; manage it with Frappe (`bench`, the RQ Job list)")
    if not job.exists or not (job.origin or "").startswith(f"{bench.bench_id}:"):
        raise JobNotFound(f"no job '{job_id}' in this bench",
                          "list jobs with `bench-jobs jobs list --status failed` (finished jobs expire after "
                          "rq_results_ttl, failed ones after rq_job_failure_ttl)")
    return job


def job_detail(client: redis.Redis, bench: Bench, job_id: str) -> JobDetail:
    job = load_job(client, bench, job_id)
    return JobDetail(
        id=job.id, status=job.status, queue=job.queue, method=job.method, site=job.site, kwargs=job.kwargs,
        timeout=job.timeout, created_at=stamp(job.created_at), enqueued_at=stamp(job.enqueued_at) or iso(job.enqueued),
        started_at=stamp(job.started_at), ended_at=stamp(job.ended_at), run_at=iso(job.run_at),
        duration_seconds=job.duration, attempts=job.attempts, retry=job.retry, retries_left=job.retries_left,
        worker=job.worker_name, error=job.error, traceback=job.traceback, result=job.result,
        on_success=job.on_success, on_failure=job.on_failure)
