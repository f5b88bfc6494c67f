"""The public enqueue API: `enqueue`, `unit_of_work`, `get_job`, `is_job_enqueued` (re-exported by bench_jobs).

Named like Frappe's frappe.utils.background_jobs. Not `bench_jobs/enqueue.py`: a submodule is bound
onto its package when imported, so a module of that name would shadow the `bench_jobs.enqueue` function.

Everything is checked before anything is sent (queue, method, callbacks, JSON payload, site), so a
mistake fails at the call site and nothing is half-enqueued. The Redis side is one Lua script per job
(`bench_jobs.jobs.store`).

A job id given by the caller is scoped to the site, as Frappe does, and to the bench (benches may
share a Redis): `job_id="sync"` on site1 is stored as `{tag}_{site digest}_sync` (docs/storage.md), so two sites or two
benches deduplicating on the same name never block each other. `enqueue` returns the stored id;
`get_job`/`is_job_enqueued` accept either form.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bench_jobs.bench import context
from bench_jobs.bench import settings as S
from bench_jobs.bench.apps import method_path, resolve_method
from bench_jobs.errors import BenchJobsError, PayloadError, QueueOverloaded
from bench_jobs.jobs.keys import ACTIVE_STATES, MAX_JOB_ID, MAX_RETRY, MAX_TIMEOUT, RQ_ID_RE, Keys
from bench_jobs.jobs.store import JobSpec

if TYPE_CHECKING:
    import redis

    from bench_jobs.bench.layout import Bench
    from bench_jobs.jobs.queries import JobDetail
    from bench_jobs.jobs.store import EnqueueResult



class JobIdInUse(BenchJobsError):
    """A queued or running job already has that id (and deduplicate was not asked)."""


@dataclass(kw_only=True)
class JobRequest(JobSpec):
    """A validated job, ready to send: the job as jobstore writes it, and the bench it belongs to."""

    bench: Bench


# -- checks ---------------------------------------------------------------------------------------
def _json_problem(value: Any) -> str | None:
    """None if `value` is plain JSON, else what is wrong with it ("datetime", "float nan")."""
    try:
        json.dumps(value, allow_nan=False)
    except TypeError as exc:
        text = str(exc)
        if text.startswith("Object of type "):
            return text.removeprefix("Object of type ").split(" ")[0]
        return text
    except ValueError as exc:
        return "float nan or inf" if "float" in str(exc) else str(exc)
    except RecursionError:
        return "nested too deeply"
    return None


def check_payload(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Raise PayloadError naming the first argument JSON cannot carry."""
    if _json_problem(kwargs) is None:
        return kwargs
    for name, value in kwargs.items():
        problem = _json_problem(value)
        if problem:
            raise PayloadError(f"argument '{name}' is not JSON-serialisable ({problem})",
                               "pass plain JSON values (str, int, float, bool, None, lists, dicts); "
                               "e.g. a datetime as .isoformat(), a record as its name")
    raise PayloadError(f"the arguments are not JSON-serialisable ({_json_problem(kwargs)})",
                       "pass plain JSON values")


_strict_json = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def encode_payload(kwargs: dict[str, Any]) -> str:
    """The arguments as JSON text, or PayloadError naming the first one JSON cannot carry."""
    if not isinstance(kwargs, dict):  # a worker could not call the method with it: refuse before sending
        raise PayloadError(f"each job's arguments must be a dict of keyword arguments, not {type(kwargs).__name__}",
                           "pass e.g. [{'a': 1}, {'a': 2}]")
    try:
        return _strict_json(kwargs)
    except (TypeError, ValueError, RecursionError):
        check_payload(kwargs)
        raise


def _positive_int(name: str, value: Any, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        shown = repr(value) if not isinstance(value, int) or abs(value) < 10**30 else "a larger number"
        raise BenchJobsError(f"{name} must be a whole number from {minimum} to {maximum}, not {shown}",
                             f"pass e.g. {name}={max(minimum, 1) * 3}")
    return value


def scoped_job_id(bench: Bench, site: str, job_id: str) -> str:
    """The stored id of a caller's job id (`Keys.user_job_id`: `{tag}_{site digest}_{job_id}`), after
    checking it is one RQ's own tools can fetch: letters, digits, '-' and '_'."""
    if not isinstance(job_id, str) or len(job_id) > MAX_JOB_ID or not RQ_ID_RE.match(job_id):
        raise BenchJobsError(f"job_id must be 1 to {MAX_JOB_ID} letters, digits, '-' or '_' (RQ's job id "
                             f"alphabet), not {job_id!r}", "pass e.g. job_id='sync-customer-42'")
    return Keys(bench.bench_id).user_job_id(site, job_id)


def max_queued_for(bench: Bench, site: str, queue: str) -> int | None:
    """workers.{queue}.max_queued_jobs, else the site's or the bench's max_queued_jobs; None = no limit."""
    return S.QUEUE_MAX_QUEUED.read(bench, queue=queue) or S.MAX_QUEUED_JOBS.read(bench, site) or None


def prepare(method: Callable[..., Any] | str, kwargs: dict[str, Any], *, queue: str = "default",
            timeout: int | None = None, job_id: str | None = None, deduplicate: bool = False,
            at_front: bool = False, retry: int = 0, on_success: Callable[..., Any] | str | None = None,
            on_failure: Callable[..., Any] | str | None = None, site: str | None = None,
            run_at: float | None = None) -> JobRequest:
    """Check everything about a job without touching Redis; raise a BenchJobsError on the first problem."""
    current = context.local()
    bench = current.bench
    site = context.require_site(site)
    bench.require_queue(queue)
    if deduplicate and job_id is None:
        raise BenchJobsError("deduplicate needs a job_id", "pass job_id='...' (--job-id ID) with deduplicate")
    if timeout is None:
        timeout = bench.queue_timeouts()[queue]
    resolve_method(bench, method)
    callbacks = [method_path(cb) if cb else None for cb in (on_success, on_failure)]
    for callback in callbacks:
        if callback:
            resolve_method(bench, callback)
    kwargs = dict(kwargs)
    return JobRequest(
        bench=bench, site=site, queue=queue, method=method_path(method), kwargs=kwargs,
        kwargs_json=encode_payload(kwargs),  # checked and encoded once: what is sent is what was checked
        timeout=_positive_int("timeout", timeout, 1, MAX_TIMEOUT), retry=_positive_int("retry", retry, 0, MAX_RETRY),
        job_id=scoped_job_id(bench, site, job_id) if job_id is not None else None, deduplicate=bool(deduplicate),
        at_front=bool(at_front), on_success=callbacks[0], on_failure=callbacks[1], run_at=run_at)


# -- sending --------------------------------------------------------------------------------------
def with_limits(request: JobRequest) -> JobRequest:
    """Fill in what the settings impose on every enqueue: the queue's backpressure limit (max_queued_jobs)
    and the result / failure TTLs of its site (read once per site and queue until the bench's `reload`)."""
    bench, site, queue = request.bench, request.site, request.queue
    request.max_queued, request.result_ttl, request.failure_ttl = bench.derived(
        ("limits", site, queue), lambda: (max_queued_for(bench, site, queue), S.RESULTS_TTL.read(bench, site),
                                         S.FAILURE_TTL.read(bench, site)))
    return request


def submit(request: JobRequest, client: redis.Redis | None = None) -> EnqueueResult:
    """The one write of every enqueue: the API, the CLI, `enqueue_many` (its bulk twin), the scheduler and
    `scheduler trigger` all end here, so backpressure, TTLs and dedupe are the same for each. Returns the
    script's verdict (enqueued | duplicate | conflict | skipped | overloaded) and raises only Redis errors,
    for callers that report a refusal their own way (the scheduler logs it; `send` raises it)."""
    from bench_jobs.jobs import store

    bench = request.bench
    return store.enqueue_spec(client or context.redis_for(bench), _keys(bench.bench_id), with_limits(request))


@functools.lru_cache(maxsize=64)
def _keys(bench_id: str) -> Keys:
    """One Keys per bench (its script keys and prefixes are worked out once, not per enqueue)."""
    return Keys(bench_id)


def send(request: JobRequest) -> EnqueueResult:
    """Enqueue a prepared job. Raises QueueOverloaded, JobIdInUse or RedisUnavailable; a duplicate of
    an active job (with deduplicate) is returned as status "duplicate", nothing written."""
    from bench_jobs.bench.connection import redis_errors
    from bench_jobs.jobs import store

    with redis_errors(request.bench):
        result = submit(request)
    if result.status == store.OVERLOADED:
        raise QueueOverloaded(request.queue, result.count,
                              max_queued_for(request.bench, request.site, request.queue) or 0)
    if result.status == store.CONFLICT:
        raise JobIdInUse(f"job '{result.id}' is already queued or running",
                         "pass deduplicate=True (--deduplicate) to keep the existing job, or use another job_id")
    return result


def run_here(bench: Bench, site: str | None, method: str, kwargs: dict[str, Any]) -> Any:
    """Run a method in this process (enqueue(now=True), `execute`, `scheduler trigger --now`, a worker's
    callbacks): the same allow-list, site context and unit of work as a worker gives a job, so what the
    method enqueues after commit is sent only if it returns. Its exceptions propagate to the caller.

    It lives here, not in the worker, because the enqueue API needs it and jobs never import worker."""
    with context.using(bench, site):
        func = resolve_method(bench, method)
        with unit_of_work():
            return func(**kwargs)


def run_now(request: JobRequest) -> Any:
    """`run_here` for a prepared job."""
    return run_here(request.bench, request.site, request.method, request.kwargs)


# -- unit of work ---------------------------------------------------------------------------------
@dataclass
class UnitOfWork:
    """Jobs enqueued with enqueue_after_commit=True inside a `unit_of_work()` block wait here."""

    pending: list[JobRequest] = field(default_factory=list)
    rolled_back: bool = False

    def rollback(self) -> None:
        """Drop what this unit holds; the block goes on, nothing of it is sent at its end."""
        self.pending.clear()
        self.rolled_back = True


_unit: ContextVar[UnitOfWork | None] = ContextVar("bench_jobs_unit_of_work", default=None)


@contextlib.contextmanager
def unit_of_work() -> Iterator[UnitOfWork]:
    """Hold after-commit jobs until the block ends: sent on success, dropped on an exception or rollback().

    Nested units commit into the outer one; only the outermost sends. The worker runs every job in one,
    so what a failed job enqueued after-commit is never sent. Outside any unit, enqueue_after_commit
    jobs are sent at once (there is nothing to wait for).
    """
    parent = _unit.get()
    unit = UnitOfWork()
    token = _unit.set(unit)
    try:
        yield unit
    finally:
        _unit.reset(token)
    if unit.rolled_back:
        return
    if parent is not None:
        parent.pending.extend(unit.pending)
    else:
        _send_all(unit.pending)


def _send_all(requests: list[JobRequest]) -> None:
    """Send every held job; one that fails (an overloaded queue) does not stop the others."""
    first_error: BenchJobsError | None = None
    for request in requests:
        try:
            send(request)
        except BenchJobsError as exc:
            first_error = first_error or exc
    if first_error is not None:
        raise first_error


# -- the API --------------------------------------------------------------------------------------
def enqueue(method: Callable[..., Any] | str, queue: str = "default", timeout: int | None = None,
            is_async: bool = True, now: bool = False, enqueue_after_commit: bool = False,
            at_front: bool = False, job_id: str | None = None, deduplicate: bool = False,
            on_success: Callable[..., Any] | str | None = None, on_failure: Callable[..., Any] | str | None = None,
            retry: int = 0, site: str | None = None, **kwargs: Any) -> Any:
    """Run `method(**kwargs)` in a worker of `queue` for `site`; returns the job id.

    now=True or is_async=False runs it here and returns its result instead. With deduplicate=True and a
    job_id that a queued or running job holds, nothing is enqueued and that job's id is returned.
    """
    request = prepare(method, kwargs, queue=queue, timeout=timeout, job_id=job_id, deduplicate=deduplicate,
                      at_front=at_front, retry=retry, on_success=on_success, on_failure=on_failure, site=site)
    if now or not is_async:
        return run_now(request)
    unit = _unit.get()
    if enqueue_after_commit and unit is not None:
        if request.job_id is None:
            request.job_id = Keys(request.bench.bench_id).new_job_id()  # the caller gets the job's id now
        unit.pending.append(request)
        return request.job_id
    return send(request).id


def enqueue_many(method: Callable[..., Any] | str, kwargs_list: Iterable[dict[str, Any]], queue: str = "default",
                 timeout: int | None = None, retry: int = 0, at_front: bool = False,
                 site: str | None = None) -> list[str]:
    """Enqueue one job of `method` per kwargs dict, in one go (tens of thousands a second); their ids in order.

    Checked like `enqueue` (method and queue once, each payload as JSON) before anything is sent. Past
    max_queued_jobs the jobs that still fit are enqueued and QueueOverloaded is raised after the batch,
    with `.enqueued` holding their ids.
    """
    from bench_jobs.bench.connection import redis_errors
    from bench_jobs.jobs import store as jobstore

    base = with_limits(prepare(method, {}, queue=queue, timeout=timeout, retry=retry, at_front=at_front, site=site))
    bench, limit = base.bench, base.max_queued
    specs = [JobSpec(base.site, base.queue, base.method, kw, base.timeout, retry=base.retry,
                     at_front=base.at_front, max_queued=limit, result_ttl=base.result_ttl,
                     failure_ttl=base.failure_ttl, kwargs_json=encode_payload(kw))
             for kw in kwargs_list]
    with redis_errors(bench):
        results = jobstore.enqueue_many(context.redis_for(bench), Keys(bench.bench_id), specs)
    ids = [r.id for r in results if r.status == jobstore.ENQUEUED]
    refused = [r for r in results if r.status == jobstore.OVERLOADED]
    if refused:
        error = QueueOverloaded(base.queue, refused[0].count, limit or 0)
        error.enqueued = ids  # type: ignore[attr-defined]
        error.message += f" ({len(ids)} of {len(results)} jobs were enqueued)"
        raise error
    return ids


def _lookup(job_id: str, site: str | None) -> JobDetail | None:
    from bench_jobs.bench.connection import redis_errors
    from bench_jobs.errors import JobNotFound
    from bench_jobs.jobs.queries import job_detail

    bench = context.local().bench
    candidates = [job_id]
    if site:
        candidates.append(Keys(bench.bench_id).user_job_id(site, job_id))
    with redis_errors(bench):
        client = context.redis_for(bench)
        for candidate in candidates:
            try:
                return job_detail(client, bench, candidate)
            except JobNotFound:
                continue
    return None


def get_job(job_id: str, site: str | None = None) -> JobDetail | None:
    """The job as plain data (id, status, queue, method, site, kwargs, timestamps, attempts, result,
    error, ...), or None when no such job exists in this bench (finished ones expire)."""
    return _lookup(job_id, site or context.local().site)


def is_job_enqueued(job_id: str, site: str | None = None) -> bool:
    """True while a job with this id is queued, scheduled or running."""
    job = get_job(job_id, site)
    return job is not None and job["status"] in ACTIVE_STATES
