"""Changing jobs by hand: retry, cancel, stop, delete, purge, and waiting until a site is idle.

Each state change is a Lua script (`lua/manage_*.lua`) applied to a batch of ids, so a crash cannot
leave a half-moved job and bulk work costs one round trip per batch, never one per job. Selections
(all failed of a queue, purge by status/method) walk the per-site indexes page by page.
"""

from __future__ import annotations

import fnmatch
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

from bench_jobs.bench import settings as S
from bench_jobs.errors import BenchJobsError, JobNotFound
from bench_jobs.jobs import indexes, scripts
from bench_jobs.jobs.encoding import rq_time, text
from bench_jobs.jobs.foreign import foreign_jobs
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
from bench_jobs.jobs.queries import INDEX_OF, load_job
from bench_jobs.jobs.running import read_started

if TYPE_CHECKING:
    import redis

    from bench_jobs.bench.layout import Bench

BATCH = 500
# LREM scans the whole list: by id it is worth it, in bulk only on short lists. Ids left behind are
# skipped by workers (claim drops ids whose hash is gone or not queued), so this is about tidiness.
LREM_MAX_BY_ID = 1_000_000
LREM_MAX_BULK = 5_000
PURGEABLE = (QUEUED, SCHEDULED, FAILED, STOPPED, FINISHED, CANCELED)
RETRYABLE = (FAILED, STOPPED, CANCELED, SCHEDULED)
CANCELABLE = (QUEUED, SCHEDULED)

Progress = Callable[[int], None]


@dataclass
class Outcome:
    """What a bulk operation did: ids changed, and ids refused with the reason."""

    done: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    wrong_status: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"done": len(self.done), "ids": self.done[:1000], "missing": self.missing,
                "wrong_status": self.wrong_status}


def _apply(client: redis.Redis, bench: Bench, name: str, head: list[Any], ids: list[str], outcome: Outcome,
           progress: Progress | None = None) -> Outcome:
    """Run manage script `name` on `ids` in batches; its arguments are the bench id, `head`, then the ids."""
    keys = Keys(bench.bench_id)
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        codes = scripts.run(client, keys, name, [], [bench.bench_id, *head, *chunk])
        for job_id, code in zip(chunk, (text(c) or "" for c in codes), strict=True):
            _record(outcome, job_id, code)
        if progress:
            progress(len(chunk))
    return outcome


def _record(outcome: Outcome, job_id: str, code: str) -> None:
    if code == "ok":
        outcome.done.append(job_id)
    elif code == "missing":
        outcome.missing.append(job_id)
    else:
        outcome.wrong_status[job_id] = code.partition(":")[2]


def _now() -> tuple[float, str]:
    now = time.time()
    return now, rq_time(now)


# -- by id ------------------------------------------------------------------------------------------
def retry_jobs(client: redis.Redis, bench: Bench, ids: list[str], progress: Progress | None = None) -> Outcome:
    now, stamp = _now()
    return _apply(client, bench, "manage_retry", [repr(now), stamp], ids, Outcome(), progress)


def cancel_jobs(client: redis.Redis, bench: Bench, ids: list[str], progress: Progress | None = None,
                lrem_max: int = LREM_MAX_BY_ID) -> Outcome:
    now, stamp = _now()
    ttl = S.FAILURE_TTL.read(bench)  # ids of any site: the bench-wide value (a site value applies in workers)
    return _apply(client, bench, "manage_cancel", [repr(now), stamp, ttl, lrem_max], ids, Outcome(), progress)


def delete_jobs(client: redis.Redis, bench: Bench, ids: list[str], progress: Progress | None = None,
                lrem_max: int = LREM_MAX_BY_ID) -> Outcome:
    return _apply(client, bench, "manage_delete", [lrem_max], ids, Outcome(), progress)


FOREIGN_HINT = "manage Frappe's jobs with Frappe (`bench` commands, the RQ Job list); nothing was changed"


def foreign_message(job_id: str, verb: str) -> str:
    return f"job '{job_id}' was not written by bench-jobs (a Frappe/RQ job): it is never {verb} by bench-jobs"


def precheck(client: redis.Redis, bench: Bench, ids: list[str], allowed: tuple[str, ...], verb: str,
             site: str | None = None) -> None:
    """Refuse the whole command before changing anything when one id is unknown, of another site
    than `site` (when one is selected), or in the wrong state.

    The scripts check the state again atomically; this read only makes a typo cost nothing (a job's
    site never changes, so checking it here is enough).
    """
    jobs = Job.fetch_many(client, ids, (*Job.OWNER, "site"))
    outcome = Outcome()
    for job_id in ids:
        job = jobs[job_id]
        if job.foreign:
            raise BenchJobsError(foreign_message(job_id, verb), FOREIGN_HINT)
        check_site(job_id, job.site if job.status else None, site)
        if not job.belongs_to(bench.bench_id):
            outcome.missing.append(job_id)
        elif job.status not in allowed:
            outcome.wrong_status[job_id] = job.status or ""
    check_outcome(outcome, verb, allowed)


def check_site(job_id: str, job_site: str | None, site: str | None) -> None:
    """`--site X` commands act on X's jobs only: another site's id is refused, not acted on."""
    if site and job_site is not None and job_site != site:
        raise BenchJobsError(f"job '{job_id}' belongs to site {job_site}, not {site}",
                             f"run it with --site {job_site}, or see this site's jobs with `bench-jobs jobs list`")


def check_outcome(outcome: Outcome, verb: str, allowed: tuple[str, ...]) -> None:
    """Raise when nothing could be done, naming each refused id and why (the CLI's exit 1)."""
    problems = [f"no job '{i}' in this bench" for i in outcome.missing]
    problems += [f"job '{i}' is {s}; only {', '.join(allowed)} jobs can be {verb}"
                 for i, s in outcome.wrong_status.items()]
    if problems:
        done = f" ({len(outcome.done)} other job(s) were {verb})" if outcome.done else ""
        raise BenchJobsError("; ".join(problems[:5]) + (" ..." if len(problems) > 5 else "") + done,
                             "list jobs and their status with `bench-jobs jobs list`")


class StopRequest(TypedDict):
    """What `jobs stop` did: the command was queued for `worker`; `worker_alive` says whether it will read it."""

    id: str
    worker: str
    worker_alive: bool
    requested: bool


def stop_job(client: redis.Redis, bench: Bench, job_id: str, site: str | None = None) -> StopRequest:
    """Ask the job's worker to stop it: push a command on the worker's control list.

    The worker (bench_jobs.worker.loop) kills the job's work-horse, marks the job `stopped` (kept in the
    failed index) and logs event=stopped. A dead worker's job is handled by the recovery sweep.
    """
    job = load_job(client, bench, job_id)
    check_site(job_id, job.site or "", site)
    status = job.status
    if status != STARTED:
        raise BenchJobsError(f"job '{job_id}' is {status}; only started (running) jobs can be stopped",
                             "cancel a queued job with `bench-jobs jobs cancel ID`")
    worker = job.worker_name
    if not worker:
        raise JobNotFound(f"job '{job_id}' is started but names no worker", "check `bench-jobs workers`")
    keys = Keys(bench.bench_id)
    control = keys.worker_stop(worker)
    pipe = client.pipeline(transaction=False)
    pipe.rpush(control, json.dumps({"cmd": "stop-job", "job_id": job_id}))
    pipe.expire(control, 3600)  # a worker that died never reads it: do not keep it forever
    pipe.exists(keys.worker_alive(worker))
    alive = pipe.execute()[2]
    return StopRequest(id=job_id, worker=worker, worker_alive=bool(alive), requested=True)


# -- selections -------------------------------------------------------------------------------------
def _select(client: redis.Redis, keys: Keys, index_keys: list[str], method: str | None, status: str | None,
            handled: Callable[[list[str]], int]) -> Iterator[list[str]]:
    """Pages of ids from the front of the indexes, filtered by method glob / exact status.

    The caller acts on each page (removing its ids from the index) and `handled` returns how many
    of the page stayed in the indexes, so the next read skips them instead of rereading forever.
    """
    for key in index_keys:
        offset = 0
        while True:
            ids = indexes.ids(client, keys, key, offset, offset + BATCH - 1)
            if not ids:
                break
            chosen = ids
            if method or status:
                jobs = Job.fetch_many(client, ids, ("method", "status"))
                chosen = [i for i in ids if _matches(jobs[i], method, status)]
            offset += len(ids) - len(chosen)
            if chosen:
                offset += handled(chosen)
                yield chosen


def _matches(job: Job, method: str | None, status: str | None) -> bool:
    if method and not fnmatch.fnmatchcase(job.method or "", method):
        return False
    return not status or job.status == status


def count_selection(client: redis.Redis, bench: Bench, index_keys: list[str]) -> int:
    keys = Keys(bench.bench_id)

    def read() -> int:
        pipe = client.pipeline(transaction=False)
        for key in index_keys:
            indexes.count(pipe, keys, key)
        return sum(int(n) for n in pipe.execute())
    return indexes.converting(client, keys, bench.queue_names(), read)


def selection_keys(bench: Bench, status: str, queues: list[str], sites: list[str]) -> list[str]:
    keys = Keys(bench.bench_id)
    state = INDEX_OF.get(status, status)
    return [keys.index(state, q, s) for q in queues for s in sites]


def retry_all_failed(client: redis.Redis, bench: Bench, sites: list[str], queues: list[str],
                     progress: Progress | None = None) -> Outcome:
    """Every failed (and stopped) job of these queues and sites, back to its queue."""
    outcome = Outcome()
    now, stamp = _now()
    index_keys = selection_keys(bench, FAILED, queues, sites)

    def act(ids: list[str]) -> int:
        before = len(outcome.done)
        _apply(client, bench, "manage_retry", [repr(now), stamp], ids, outcome, progress)
        return len(ids) - (len(outcome.done) - before)

    for _ in _select(client, Keys(bench.bench_id), index_keys, None, None, act):
        pass
    return outcome


def purge(client: redis.Redis, bench: Bench, sites: list[str], queues: list[str], status: str = QUEUED,
          method: str | None = None, methods: set[str] | None = None, event: str | None = None,
          progress: Progress | None = None) -> Outcome:
    """Delete the jobs of a status (queued by default) in these queues and sites, optionally by method.

    `methods` (exact dotted paths) and `event` (the job's `bj_event` field) serve `purge-jobs --event`.
    """
    if status not in PURGEABLE:
        raise BenchJobsError(f"cannot purge {status} jobs (purgeable: {', '.join(PURGEABLE)})",
                             "stop running jobs with `bench-jobs jobs stop ID` first")
    outcome = Outcome()
    index_keys = selection_keys(bench, status, queues, sites)
    exact_status = status if status != INDEX_OF.get(status, status) else None

    def act(ids: list[str]) -> int:
        # Ids the event filter leaves out, or the script refuses, stay in the index: report them as kept.
        target = _by_event(client, ids, methods or set(), event) if methods is not None or event else ids
        before = len(outcome.done)
        _apply(client, bench, "manage_delete", [LREM_MAX_BULK], target, outcome, progress)
        return len(ids) - (len(outcome.done) - before)

    keys = Keys(bench.bench_id)

    def run() -> None:
        for _ in _select(client, keys, index_keys, method, exact_status, act):
            pass
    indexes.converting(client, keys, bench.queue_names(), run)
    return outcome


def _by_event(client: redis.Redis, ids: list[str], methods: set[str], event: str | None) -> list[str]:
    jobs = Job.fetch_many(client, ids, ("method", "event"))
    return [i for i in ids if jobs[i].method in methods or (event and jobs[i].event == event)]


def event_methods(bench: Bench, event: str) -> set[str]:
    """Methods the installed apps schedule under `event` (e.g. `daily`), read by bench_jobs.bench.hooks."""
    from bench_jobs.bench import hooks

    return {row.method for row in hooks.load_events(bench) if row.ok and row.event == event}


def known_events() -> tuple[str, ...]:
    from bench_jobs.bench import events

    return tuple(events.KNOWN_EVENTS)


# -- wait -------------------------------------------------------------------------------------------
def busy_counts(client: redis.Redis, bench: Bench, sites: list[str], queues: list[str]) -> dict[str, int]:
    """Queued (the indexes' lengths) and started (jobs/running.py) jobs of these sites and queues."""
    keys = Keys(bench.bench_id)

    def read() -> int:
        pipe = client.pipeline(transaction=False)
        for queue in queues:
            for site in sites:
                indexes.count(pipe, keys, keys.index(QUEUED, queue, site))
        return sum(int(n) for n in pipe.execute())
    queued = indexes.converting(client, keys, queues, read)
    started = read_started(client, keys).total((queue, site) for queue in queues for site in sites)
    # Jobs bench-jobs did not write (Frappe's) hold the bench back as much as ours: "idle" must mean idle.
    foreign = foreign_jobs(client, bench, queues, limit=0, site=sites[0] if len(sites) == 1 else None)
    return {"queued": queued, "started": started, "foreign": foreign.pending}


def wait_idle(client: redis.Redis, bench: Bench, sites: list[str], queues: list[str], timeout: float | None,
              poll: float = 0.2, clock: Callable[[], float] = time.monotonic,
              sleep: Callable[[float], None] = time.sleep) -> tuple[bool, dict[str, int]]:
    """Block until nothing of these sites is queued or started; (idle?, last counts).

    Scheduled jobs (retries waiting for their backoff, --in/--at) are not counted: one due next week
    would block forever. `timeout` None waits without end.
    """
    deadline = None if timeout is None else clock() + timeout
    while True:
        counts = busy_counts(client, bench, sites, queues)
        if not any(counts.values()):
            return True, counts
        if deadline is not None and clock() >= deadline:
            return False, counts
        sleep(poll if deadline is None else max(min(poll, deadline - clock()), 0))
