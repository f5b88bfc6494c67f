"""A job and a worker as they are stored in Redis: the one place that knows their hash format.

`Job` reads and writes `rq:job:{id}` (RQ's fields, encoded by jobs/encoding.py, the `data`
and `exc_info`, and our `bj_*` fields); `WorkerRecord` does the same for `rq:worker:{name}`. Every
listing, `jobs show`, the scheduler log, the recovery report, the worker's claim and the tests go
through them, so a field is renamed or re-encoded here and nowhere else (the Lua scripts, which
must name fields, are listed in docs/storage.md).
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from bench_jobs.bench.layout import SITE_NAME_RE
from bench_jobs.jobs.encoding import (
    describe,
    parse_rq_time,
    payload_kwargs,
    queue_of,
    rq_data,
    rq_time,
    text,
    to_json,
    unzip_text,
)
from bench_jobs.jobs.keys import (
    DEFAULT_FAILURE_TTL,
    DEFAULT_RESULTS_TTL,
    MAX_RETRY,
    MAX_TIMEOUT,
    job_key,
    worker_key,
)

if TYPE_CHECKING:
    import redis

def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


CLAIM_FIELDS = ("id", "bj_queue", "bj_site", "bj_method", "bj_kwargs", "timeout", "bj_attempts", "bj_retry",
                "bj_on_success", "bj_on_failure")


def _utf8(raw: Any) -> bool:
    try:
        if isinstance(raw, bytes):
            raw.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _int(value: str | None) -> int | None:
    number = _float(value)
    try:
        return None if number is None else int(number)
    except (ValueError, OverflowError):  # nan, inf
        return None


def _json(value: str | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


def _num(value: float | None) -> str | None:
    return None if value is None else repr(float(value))


# -- a job ------------------------------------------------------------------------------------------
@dataclass
class Job:
    """One job hash, typed. Times RQ writes (`created_at`, `enqueued_at`, `started_at`, `ended_at`) are
    kept as the stored text (`moment()` parses them); our own times are epoch floats."""

    id: str
    status: str | None = None
    queue: str | None = None  # bj_queue: the short queue name
    origin: str | None = None  # RQ's queue name, `{bench_id}:{queue}`
    site: str | None = None
    method: str | None = None
    kwargs: Any = field(default_factory=dict)  # bj_kwargs parsed (its text if it is not JSON)
    timeout: int | None = None
    description: str | None = None
    created_at: str | None = None
    enqueued_at: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    enqueued: float | None = None  # enqueued_at as epoch seconds (bj_enqueued in hashes of the old layout)
    run_at: float | None = None  # bj_run_at
    duration: float | None = None  # bj_duration
    attempts: int = 0
    retry: int = 0
    retries_left: int | None = None
    result_ttl: int | None = None
    failure_ttl: int | None = None
    worker_name: str | None = None
    error: str | None = None  # bj_error
    traceback: str | None = None  # exc_info, decompressed
    result: Any = None  # bj_result parsed
    on_success: str | None = None
    on_failure: str | None = None
    event: str | None = None  # bj_event (scheduled jobs)
    payload: Any = None  # RQ's `data`, raw: read only for the kwargs of a hash without `bj_kwargs`
    # Set when a hand-written hash holds fields the worker cannot use: the job fails without running.
    problem: str | None = None
    exists: bool = True

    # attribute -> hash field, for the fields read as plain text
    FIELD: ClassVar[dict[str, str]] = {
        "status": "status", "queue": "bj_queue", "origin": "origin", "site": "bj_site", "method": "bj_method",
        "kwargs": "bj_kwargs", "timeout": "timeout", "description": "description",
        "created_at": "created_at", "enqueued_at": "enqueued_at", "started_at": "started_at",
        "ended_at": "ended_at", "enqueued": "bj_enqueued", "run_at": "bj_run_at", "duration": "bj_duration",
        "attempts": "bj_attempts", "retry": "bj_retry", "retries_left": "retries_left",
        "result_ttl": "result_ttl", "failure_ttl": "failure_ttl", "worker_name": "worker_name",
        "error": "bj_error", "traceback": "exc_info", "result": "bj_result",
        "on_success": "bj_on_success", "on_failure": "bj_on_failure", "event": "bj_event", "payload": "data",
    }
    # Fields a reader of an attribute also needs: a hash of the current layout has no `bj_queue` (the
    # queue is in `origin`) nor `bj_kwargs` (the kwargs are in `data`); older hashes have both.
    FALLBACK: ClassVar[dict[str, str]] = {"queue": "origin", "kwargs": "payload", "enqueued": "enqueued_at"}
    # Field groups that readers ask for (one HMGET each; `data` only where `bj_kwargs` is missing).
    PAGE: ClassVar[tuple[str, ...]] = ("method", "site", "kwargs", "enqueued_at", "enqueued", "timeout", "status",
                                       "queue", "started_at", "ended_at", "attempts", "error")
    RUN_END: ClassVar[tuple[str, ...]] = ("status", "duration", "error", "traceback", "started_at", "ended_at")
    OWNER: ClassVar[tuple[str, ...]] = ("status", "origin", "method")
    ALL: ClassVar[tuple[str, ...]] = tuple(FIELD)
    # The order claim.lua / finish.lua reply with the fields of a claimed job.

    # -- reading --------------------------------------------------------------------------------------
    @classmethod
    def from_values(cls, job_id: str, attrs: tuple[str, ...], values: list[Any]) -> Job:
        """A job from the values of `attrs`' hash fields, in that order (an HMGET reply)."""
        job = cls(job_id, exists=any(v is not None for v in values))
        kwargs_read = False
        for attr, raw in zip(attrs, values, strict=True):
            job._set(attr, raw)
            kwargs_read = kwargs_read or (attr == "kwargs" and raw is not None)
        if job.queue is None:
            job.queue = queue_of(job.origin)
        if not kwargs_read and job.payload is not None:
            parsed = payload_kwargs(job.payload)
            job.kwargs = parsed if parsed is not None else {}
        job.payload = None  # read for the kwargs only: listings never carry the blob around
        # The enqueue time is `enqueued_at` (RQ's text); hashes written before the storage diet also
        # hold `bj_enqueued`, which `jobs retry` no longer refreshes: the text wins when both are read.
        moment = parse_rq_time(job.enqueued_at)
        if moment is not None:
            job.enqueued = moment.timestamp()
        if "retries_left" in attrs and job.retries_left is None and job.exists:
            job.retries_left = job.retry  # written only once a retry is allowed or used: none left of none
        return job

    @classmethod
    def from_hash(cls, job_id: str, mapping: dict[Any, Any]) -> Job:
        """A job from an HGETALL reply (fields we do not know are ignored)."""
        by_field = {text(k): v for k, v in mapping.items()}
        attrs = tuple(a for a, f in cls.FIELD.items() if f in by_field)
        if not mapping:
            return cls(job_id, exists=False)
        job = cls.from_values(job_id, attrs, [by_field[cls.FIELD[a]] for a in attrs])
        if job.retries_left is None and not job.foreign:
            job.retries_left = job.retry  # see from_values
        return job

    def _set(self, attr: str, raw: Any) -> None:
        if attr == "traceback":
            self.traceback = unzip_text(raw)
            return
        if attr == "payload":
            self.payload = raw
            return
        value = text(raw)
        if attr in ("kwargs", "result"):
            parsed = _json(value)
            setattr(self, attr, (parsed or {}) if attr == "kwargs" else parsed)
        elif attr in ("enqueued", "run_at", "duration"):
            setattr(self, attr, _float(value))
        elif attr in ("attempts", "retry"):
            setattr(self, attr, _int(value) or 0)
        elif attr in ("timeout", "retries_left", "result_ttl", "failure_ttl"):
            setattr(self, attr, _int(value))
        else:
            setattr(self, attr, value)

    @classmethod
    def fetch(cls, client: redis.Redis, job_id: str) -> Job:
        """The whole job (`exists` False when there is no hash)."""
        return cls.from_hash(job_id, client.hgetall(job_key(job_id)))

    @classmethod
    def fetch_many(cls, client: redis.Redis, ids: list[str], attrs: tuple[str, ...]) -> dict[str, Job]:
        """`attrs` of each job in one pipelined round trip."""
        if not ids:
            return {}
        attrs = (*attrs, *(extra for a, extra in cls.FALLBACK.items() if a in attrs and extra not in attrs))
        names = [cls.FIELD[a] for a in attrs]
        pipe = client.pipeline(transaction=False)
        for job_id in ids:
            pipe.hmget(job_key(job_id), names)
        return {job_id: cls.from_values(job_id, attrs, values)
                for job_id, values in zip(ids, pipe.execute(), strict=True)}

    @classmethod
    def from_claim(cls, reply: list[Any]) -> Job:
        """The job claim.lua handed over; `problem` says why it cannot run (what a hand-written hash
        got wrong: the job is then failed InvalidJob unrun). Never raises: the job is already
        started, a crash here would leave it to the sweep."""
        # The kwargs slot holds `bj_kwargs` (hashes of the old layout) or, after a NUL, RQ's `data`.
        raw_kwargs = reply[4] if len(reply) > 4 else None
        from_data = isinstance(raw_kwargs, bytes) and raw_kwargs[:1] == b"\0"
        values = [text(x) or "" for x in reply]
        job_id, queue, site, method, kwargs, timeout, attempts, retry, on_success, on_failure = values[:10]
        job = cls(job_id, status="started", queue=queue, site=site, method=method, kwargs={},
                  attempts=_int(attempts) or 0, on_success=on_success or None, on_failure=on_failure or None)
        unreadable = [name for name, raw in zip(CLAIM_FIELDS, reply[:10], strict=False)
                      if not _utf8(raw) and not (from_data and name == "bj_kwargs")]
        if from_data:
            parsed = payload_kwargs(raw_kwargs[1:])  # type: ignore[index]
        else:
            try:
                parsed = json.loads(kwargs or "{}")
            except (ValueError, RecursionError):  # also 5,000-digit numbers and nesting 20,000 deep
                parsed = None
        seconds = _int(timeout) if timeout else None
        if unreadable:
            job.problem = f"{', '.join(unreadable)} not UTF-8 text"
        elif not isinstance(parsed, dict):
            job.problem = (f"data is not RQ's JSON [func, null, args, kwargs]: {kwargs[1:81]!r}" if from_data
                           else f"bj_kwargs is not a JSON object: {kwargs[:80]!r}")
        elif timeout and (seconds is None or not 1 <= seconds <= MAX_TIMEOUT):
            job.problem = f"timeout is not a number of seconds from 1 to {MAX_TIMEOUT}: {timeout[:80]!r}"
        elif retry and (not retry.isdigit() or int(retry) > MAX_RETRY):
            job.problem = f"bj_retry is not a whole number up to {MAX_RETRY}: {retry[:80]!r}"
        elif not SITE_NAME_RE.match(site):
            job.problem = f"bj_site is not a site name: {site[:80]!r}"
        else:
            job.kwargs, job.timeout, job.retry = parsed, seconds, int(retry or 0)
        return job

    # -- derived values -------------------------------------------------------------------------------
    @staticmethod
    def moment(value: str | None) -> datetime | None:
        """One of RQ's time fields as a datetime (None if absent or unreadable)."""
        return parse_rq_time(value)

    @property
    def foreign(self) -> bool:
        """A hash bench-jobs did not write (no `bj_method`: a Frappe/RQ job, pickled): never read or changed."""
        return self.exists and self.method is None

    def belongs_to(self, bench_id: str) -> bool:
        """The job exists and lives on one of this bench's queues (benches may share a Redis)."""
        return self.exists and bool(self.status) and (self.origin or "").startswith(f"{bench_id}:")

    # -- writing --------------------------------------------------------------------------------------
    def to_hash(self) -> dict[str, Any]:
        """The hash as enqueue writes it (RQ's `data` and `description` derived from method and kwargs),
        with whatever end-state fields are set. For writers outside the enqueue script: tests, repair."""
        kwargs_json = to_json(self.kwargs)
        method = self.method or ""
        kwargs = self.kwargs if isinstance(self.kwargs, dict) else {}
        out: dict[str, Any] = {"data": rq_data(method, kwargs_json),
                               "description": self.description or describe(method, kwargs)}
        for attr, name in self.FIELD.items():
            value = getattr(self, attr)
            if attr in ("description", "payload") or value is None:
                continue
            if attr == "traceback":
                out[name] = zlib.compress(value.encode())
            elif attr in ("kwargs", "result"):
                out[name] = to_json(value)
            elif attr in ("enqueued", "run_at", "duration"):
                out[name] = _num(value)
            else:
                out[name] = value
        return out


def enqueue_fields(*, site: str, queue: str, rq_queue: str, method: str, timeout: int, retry: int,
                   result_ttl: int = DEFAULT_RESULTS_TTL, failure_ttl: int = DEFAULT_FAILURE_TTL,
                   on_success: str | None = None, on_failure: str | None = None, now: float) -> list[Any]:
    """Hash fields of a new job that depend only on its options and enqueue time, not on its id or
    arguments, as a flat field/value list (enqueue.lua and enqueue_many.lua take them so; the bulk path
    shares one list)."""
    stamp = rq_time(now)
    return ["created_at", stamp, "enqueued_at", stamp, *option_fields(
        site=site, queue=queue, rq_queue=rq_queue, method=method, timeout=timeout, retry=retry, result_ttl=result_ttl,
        failure_ttl=failure_ttl, on_success=on_success, on_failure=on_failure)]


def option_fields(*, site: str, queue: str, rq_queue: str, method: str, timeout: int, retry: int,
                  result_ttl: int = DEFAULT_RESULTS_TTL, failure_ttl: int = DEFAULT_FAILURE_TTL,
                  on_success: str | None = None, on_failure: str | None = None) -> list[Any]:
    """`enqueue_fields` without the enqueue time: what follows from the job's options alone."""
    out: list[Any] = ["origin", rq_queue, "timeout", int(timeout), "bj_site", site, "bj_method", method]
    # Fields whose value is the default or a copy are left out (docs/storage.md, "Fields left out"): each
    # costs a queued job 12-30 bytes of Redis memory, and every reader defaults them (RQ's Job.restore
    # included): `bj_queue` is in `origin`, `bj_kwargs` in `data`. (`queue` stays a parameter: callers
    # name it, and the bulk path's batch key has it.)
    if result_ttl != DEFAULT_RESULTS_TTL:
        out += ["result_ttl", int(result_ttl)]
    if failure_ttl != DEFAULT_FAILURE_TTL:
        out += ["failure_ttl", int(failure_ttl)]
    if retry:
        out += ["retries_left", int(retry), "bj_retry", int(retry)]
    if on_success:
        out += ["bj_on_success", on_success]
    if on_failure:
        out += ["bj_on_failure", on_failure]
    return out


# -- a worker ---------------------------------------------------------------------------------------
@dataclass
class WorkerRecord:
    """`rq:worker:{name}`: RQ's worker fields plus `bj_bench` and `bj_queues` (short queue names)."""

    name: str
    hostname: str | None = None
    pid: int = 0
    queues: list[str] = field(default_factory=list)  # bj_queues
    rq_queues: list[str] = field(default_factory=list)  # RQ's `queues`
    state: str | None = None
    current_job: str | None = None
    successful: int = 0
    failed: int = 0
    total_working_time: float = 0.0
    birth: str | None = None  # RQ time text
    last_heartbeat: str | None = None
    bench: str | None = None

    def to_hash(self) -> dict[str, Any]:
        return {"birth": self.birth or "", "last_heartbeat": self.last_heartbeat or "",
                "queues": ",".join(self.rq_queues), "pid": self.pid, "hostname": self.hostname or "",
                "state": self.state or "idle", "current_job": self.current_job or "",
                "successful_job_count": self.successful, "failed_job_count": self.failed,
                "total_working_time": self.total_working_time, "bj_bench": self.bench or "",
                "bj_queues": ",".join(self.queues)}

    @classmethod
    def from_hash(cls, name: str, mapping: dict[Any, Any]) -> WorkerRecord:
        row = {text(k): text(v) for k, v in mapping.items()}
        return cls(name=name, hostname=row.get("hostname"), pid=_int(row.get("pid")) or 0,
                   queues=[q for q in (row.get("bj_queues") or "").split(",") if q],
                   rq_queues=[q for q in (row.get("queues") or "").split(",") if q],
                   state=row.get("state"), current_job=row.get("current_job") or None,
                   successful=_int(row.get("successful_job_count")) or 0,
                   failed=_int(row.get("failed_job_count")) or 0,
                   total_working_time=_float(row.get("total_working_time")) or 0.0,
                   birth=row.get("birth"), last_heartbeat=row.get("last_heartbeat"), bench=row.get("bj_bench"))

    @classmethod
    def fetch(cls, client: redis.Redis, name: str) -> WorkerRecord | None:
        mapping = client.hgetall(worker_key(name))
        return cls.from_hash(name, mapping) if mapping else None

