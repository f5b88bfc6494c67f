"""Running one job: its site as context, the method through the allow-list, a unit of work around it.

`execute()` only runs the job and reports an `Outcome` (it is what a fork child does); `settle()`
decides what happens next (finished, retry later, failed for good) as a pure function; `conclude()`
does the side effects of that decision (callbacks, Error Log, worker log). The worker glues them.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
import traceback as tb
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from bench_jobs.bench import settings as S
from bench_jobs.bench.context import using
from bench_jobs.jobs.dispatch import Ending
from bench_jobs.jobs.enqueue import run_here, unit_of_work
from bench_jobs.jobs.keys import DEFAULT_FAILED_LIMIT, DEFAULT_FAILURE_TTL, DEFAULT_RESULTS_TTL
from bench_jobs.jobs.model import Job

if TYPE_CHECKING:
    from bench_jobs.bench.layout import Bench
    from bench_jobs.logs.writer import WorkLog

DEFAULT_BACKOFF_BASE = S.BACKOFF_BASE.default
DEFAULT_BACKOFF_MAX = S.BACKOFF_MAX.default


class Interrupt(BaseException):
    """Raised inside a running job to cut it short. BaseException, so `except Exception` in job
    code cannot swallow it."""

    kind = "interrupted"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class JobTimeout(Interrupt):
    kind = "timeout"


class JobStopped(Interrupt):
    kind = "stopped"


class WorkerStopped(Interrupt):
    kind = "worker-stopped"


class JobLost(Interrupt):
    """The sweep gave the job to another worker (this one was frozen past its alive TTL, or the job
    ran past its deadline): this copy is killed and nothing it did is recorded."""

    kind = "lost"


@dataclass
class Outcome:
    """What a run did. kind: finished, error, not-allowed, timeout, stopped, worker-stopped, died,
    memory (the job's process went over the memory limit of isolated mode)."""

    kind: str
    duration: float = 0.0
    result: str = ""
    error: str = ""
    traceback: str = ""

    @property
    def ok(self) -> bool:
        return self.kind == "finished"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Outcome:
        return cls(**json.loads(text))


# -- collaborators -------------------------------------------------------------------------
def resolve(bench: Bench, dotted: str) -> Callable[..., Any]:
    """The job's function, only if it is defined in an installed app (or bench_jobs): a job written
    into Redis by hand that names os.system, or reaches it through an app's attribute, runs nothing.

    What passed the allow-list is kept until the bench's `reload` (`resolve_method`): the check and the
    import walk run once per method, not once per job. Refusals are not kept (an app installed later
    makes the method runnable).
    """
    from bench_jobs.bench.apps import resolve_method

    return resolve_method(bench, dotted)


def error_line(exc: BaseException) -> str:
    """'ValueError: boom' (first line only: bj_error is one line)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# -- running --------------------------------------------------------------------------------
def execute(bench: Bench, job: Job) -> Outcome:
    """Run `job` here and now with its site in context. Never raises for the job's own failures;
    an `Interrupt` raised into it (timeout, stop) becomes the outcome of that kind."""
    from bench_jobs.errors import BenchJobsError

    start = time.perf_counter()
    with using(bench, job.site):
        try:
            func = resolve(bench, job.method or "")
        except BenchJobsError as exc:  # MethodNotAllowed and friends: nothing ran, nothing will
            return Outcome("not-allowed", time.perf_counter() - start, error=f"{type(exc).__name__}: {exc.message}",
                           traceback=tb.format_exc())
        try:
            with unit_of_work():
                value = func(**job.kwargs)
            return Outcome("finished", time.perf_counter() - start, result=json.dumps(value, default=str))
        except Interrupt as exc:
            return Outcome(exc.kind, time.perf_counter() - start, error=exc.message, traceback=job_traceback(exc))
        except Exception as exc:
            return Outcome("error", time.perf_counter() - start, error=error_line(exc), traceback=job_traceback(exc))


def job_traceback(exc: BaseException) -> str:
    """The traceback from the job's own frames down: the frame of `execute` says nothing to its author."""
    frames = exc.__traceback__
    if frames is not None and frames.tb_next is not None:
        frames = frames.tb_next
    return "".join(tb.format_exception(type(exc), exc, frames))


# -- deciding --------------------------------------------------------------------------------
def retry_delay(attempt: int, base: float = DEFAULT_BACKOFF_BASE, cap: float = DEFAULT_BACKOFF_MAX,
                rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry number `attempt` (1, 2, ...): exponential, capped, with "equal
    jitter" (half fixed, half random) so a burst of failures does not retry in lockstep."""
    ceiling = min(cap, base * 2.0 ** max(0, attempt - 1))
    return ceiling / 2 + rand() * ceiling / 2


@dataclass
class RetryPolicy:
    base: float = DEFAULT_BACKOFF_BASE
    cap: float = DEFAULT_BACKOFF_MAX
    results_ttl: int = DEFAULT_RESULTS_TTL
    failure_ttl: int = DEFAULT_FAILURE_TTL
    failed_limit: int = DEFAULT_FAILED_LIMIT

    @classmethod
    def for_site(cls, bench: Bench, site: str | None) -> RetryPolicy:
        site = site if site and bench.site_config_file(site).is_file() else None
        return cls(base=S.BACKOFF_BASE.read(bench), cap=S.BACKOFF_MAX.read(bench),
                   results_ttl=S.RESULTS_TTL.read(bench, site), failure_ttl=S.FAILURE_TTL.read(bench, site),
                   failed_limit=S.FAILED_JOBS_LIMIT.read(bench))


def compress(text: str) -> bytes:
    return zlib.compress(text.encode()) if text else b""


def settle(job: Job, outcome: Outcome, policy: RetryPolicy, now: float,
           rand: Callable[[], float] = random.random) -> Ending:
    """The job's next state. Failures retry while retries are left; a method outside the allow-list
    and an explicit stop never do; a worker stop retries at once (it was not the job's fault).
    A lost job is no longer this worker's: finish.lua will not apply whatever is returned for it."""
    if outcome.kind == "lost":
        return Ending("released", outcome.duration)
    if outcome.ok:
        return Ending("finished", outcome.duration, result=outcome.result, ttl=policy.results_ttl)
    if outcome.kind == "stopped":
        return Ending("stopped", outcome.duration, error=outcome.error or "stopped by request",
                      exc_info=compress(outcome.traceback), ttl=policy.failure_ttl, failed_limit=policy.failed_limit)
    retryable = outcome.kind != "not-allowed" and job.attempts <= job.retry
    if retryable and outcome.kind == "worker-stopped":
        return Ending("queued", outcome.duration, error=outcome.error, exc_info=compress(outcome.traceback))
    if retryable:
        return Ending("scheduled", outcome.duration, error=outcome.error, exc_info=compress(outcome.traceback),
                      run_at=now + retry_delay(job.attempts, policy.base, policy.cap, rand))
    return Ending("failed", outcome.duration, error=outcome.error, exc_info=compress(outcome.traceback),
                  ttl=policy.failure_ttl, failed_limit=policy.failed_limit)


# -- side effects ----------------------------------------------------------------------------
EVENTS = {"finished": "finished", "error": "failed", "not-allowed": "failed", "timeout": "timeout",
          "stopped": "stopped", "worker-stopped": "stopped", "died": "died", "lost": "lost",
          "memory": "memory"}


def attempt_label(attempts: int, retry: int) -> str:
    """`attempt 2/3`; never `attempt 3/2`: runs past the planned retry + 1 come from a recovery that
    re-queued a run it could not count as done, or a scheduled retry queued at once by `jobs retry`."""
    planned = retry + 1
    if attempts <= planned:
        return f"attempt {attempts}/{planned}"
    return f"attempt {attempts} (retry={retry} planned {planned}; the extra runs were recovered or retried)"


def conclude(bench: Bench, job: Job, outcome: Outcome, ending: Ending, log: WorkLog) -> None:
    """Log the run, record a final failure in the site's Error Log, run the job's callback."""
    fields = {"job_id": job.id, "site": job.site, "method": job.method, "duration": outcome.duration}
    attempt = attempt_label(job.attempts, job.retry)
    if outcome.kind == "lost":  # its state and callbacks belong to the run that took over
        log.warning("lost", f"{attempt}: {outcome.error}", **fields)
        return
    if outcome.ok:
        log.info("finished", attempt if job.attempts > 1 else "", **fields)
    elif ending.status in ("scheduled", "queued"):
        wait = f"retry in {max(0.0, ending.run_at - time.time()):.1f}s" if ending.status == "scheduled" else "re-queued"
        log.warning("retry", f"{attempt} {EVENTS[outcome.kind]}: {outcome.error}; {wait}", **fields)
    else:
        log.error(EVENTS[outcome.kind], f"{attempt}: {outcome.error}", traceback=outcome.traceback or None, **fields)
        with using(bench, job.site):
            _error_log(job, outcome, log)
    callback = job.on_success if outcome.ok else job.on_failure if ending.status in ("failed", "stopped") else None
    if callback:
        _callback(bench, job, callback, outcome, log)


def _error_log(job: Job, outcome: Outcome, log: WorkLog) -> None:
    try:
        from bench_jobs.logs.error_log import log_error

        log_error(f"{job.method}: {outcome.error}"[:300], outcome.error, method=job.method, job_id=job.id,
                  traceback=outcome.traceback or outcome.error, site=job.site)
    except Exception as exc:  # the Error Log is best effort; the job's state is what must not be lost
        log.warning("error-log", f"could not write the Error Log: {error_line(exc)}", job_id=job.id)


def _callback(bench: Bench, job: Job, dotted: str, outcome: Outcome, log: WorkLog) -> None:
    """on_success(job_id=, result=) / on_failure(job_id=, error=, traceback=), through the allow-list
    and inside their own unit of work; a failing callback is logged, the job's state stands."""
    kwargs: dict[str, Any] = {"job_id": job.id}
    if outcome.ok:
        kwargs["result"] = json.loads(outcome.result) if outcome.result else None
    else:
        kwargs.update(error=outcome.error, traceback=outcome.traceback)
    try:
        run_here(bench, job.site, dotted, kwargs)
    except Exception as exc:
        log.error("callback-failed", f"{dotted}: {error_line(exc)}", job_id=job.id, site=job.site,
                  method=job.method, traceback=tb.format_exc())
        with using(bench, job.site), contextlib.suppress(Exception):
            from bench_jobs.logs.error_log import log_error

            log_error(f"callback {dotted} failed: {error_line(exc)}", method=dotted, job_id=job.id,
                      traceback=tb.format_exc(), site=job.site)

