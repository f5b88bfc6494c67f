"""The enqueue side of the storage contract (docs/storage.md): one Lua script per enqueue.

`enqueue_job` writes one job; `enqueue_many` pipelines many EVALSHA calls for bulk loads.
Both build the job hash here (RQ-compatible fields + `bj_*` fields) and let `lua/enqueue.lua`
check and write it in one step, so a crash can never leave half a job or a ghost dedupe entry.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench_jobs.jobs import scripts
from bench_jobs.jobs.encoding import payload_fields, rq_time, text, to_json
from bench_jobs.jobs.keys import DEFAULT_FAILURE_TTL, DEFAULT_RESULTS_TTL, Keys, job_key
from bench_jobs.jobs.model import enqueue_fields, option_fields

if TYPE_CHECKING:
    import redis

ENQUEUED, DUPLICATE, CONFLICT, SKIPPED, OVERLOADED = "enqueued", "duplicate", "conflict", "skipped", "overloaded"
BATCH_CODES = {"e": ENQUEUED, "d": DUPLICATE, "c": CONFLICT, "o": OVERLOADED}


@dataclass(frozen=True)
class EnqueueResult:
    """What the script did. status: enqueued | duplicate (an active job with the id exists and
    deduplicate was asked) | conflict (same, without deduplicate: nothing written) | skipped (once_key
    existed) | overloaded (`count` jobs queued, at or past max_queued)."""

    id: str
    status: str
    count: int = 0


@dataclass
class JobSpec:
    """One job for `enqueue_many` (same meaning as `enqueue_job`'s keyword arguments)."""

    site: str
    queue: str
    method: str
    kwargs: dict[str, Any]
    timeout: int
    job_id: str | None = None
    retry: int = 0
    at_front: bool = False
    deduplicate: bool = False
    max_queued: int | None = None
    on_success: str | None = None
    on_failure: str | None = None
    run_at: float | None = None
    once_key: str | None = None
    once_ttl: int | None = None
    result_ttl: int = DEFAULT_RESULTS_TTL
    failure_ttl: int = DEFAULT_FAILURE_TTL
    kwargs_json: str | None = None  # `kwargs` already encoded by a caller that checked it (saves a second pass)




def _is_scheduled(spec: JobSpec, now: float) -> bool:
    return spec.run_at is not None and spec.run_at > now


def _common_fields(keys: Keys, spec: JobSpec, now: float) -> list[Any]:
    """Hash fields that depend only on the job's options, not on its id or arguments."""
    return enqueue_fields(site=spec.site, queue=spec.queue, rq_queue=keys.rq_queue_name(spec.queue),
                          method=spec.method, timeout=spec.timeout, retry=spec.retry, result_ttl=spec.result_ttl,
                          failure_ttl=spec.failure_ttl, on_success=spec.on_success, on_failure=spec.on_failure,
                          now=now)


def _payload(spec: JobSpec, method_json: str | None = None) -> tuple[bytes, str]:
    """(RQ data blob, description); one json.dumps serves both (the kwargs live in `data` only)."""
    kwargs_json = spec.kwargs_json or to_json(spec.kwargs)
    return payload_fields(spec.method, spec.kwargs, kwargs_json, method_json)


def _script_call(keys: Keys, spec: JobSpec, now: float) -> tuple[list[str], list[Any], scripts.Packed]:
    """KEYS and ARGV of one enqueue.lua call: ARGV's last part, the hash fields that depend only on the
    job's options, comes packed once per set of options (`_option_fields`)."""
    job_id = spec.job_id or keys.new_job_id()
    scheduled = _is_scheduled(spec, now)
    data, description = _payload(spec)
    stamp = rq_time(now)
    fields = ["created_at", stamp, "enqueued_at", stamp, "data", data, "description", description,
              "status", "scheduled" if scheduled else "queued"]
    if scheduled:
        fields += ["bj_run_at", repr(float(spec.run_at))]  # type: ignore[arg-type]
    script_keys = [job_key(job_id), *_own_keys(keys, spec.queue, spec.site)]
    if spec.once_key:
        script_keys.append(spec.once_key)
    args = [
        job_id, spec.site, int(spec.at_front), int(spec.deduplicate), int(spec.max_queued or 0), repr(now),
        repr(float(spec.run_at or 0)) if scheduled else "", int(spec.once_ttl or 0),
        "f" if not spec.job_id else "-", *fields,
    ]
    return script_keys, args, _option_fields(keys, spec.site, spec.queue, spec.method, spec.timeout, spec.retry,
                                             spec.result_ttl, spec.failure_ttl, spec.on_success, spec.on_failure)


@functools.lru_cache(maxsize=256)
def _own_keys(keys: Keys, queue: str, site: str) -> tuple[str, ...]:
    """enqueue.lua's keys after the job's own: the queue, the site's queued and scheduled indexes, the wake list."""
    return keys.queue(queue), keys.index("queued", queue, site), keys.index("scheduled", queue, site), keys.wake(queue)


@functools.lru_cache(maxsize=1024)
def _option_fields(keys: Keys, site: str, queue: str, method: str, timeout: int, retry: int, result_ttl: int,
                   failure_ttl: int, on_success: str | None, on_failure: str | None) -> scripts.Packed:
    """The job's hash fields that follow from its options alone (`enqueue_fields` without the enqueue
    time), packed once: an app enqueuing one method again and again sends the same ones every time."""
    return scripts.Packed.of(option_fields(site=site, queue=queue, rq_queue=keys.rq_queue_name(queue), method=method,
                                           timeout=timeout, retry=retry, result_ttl=result_ttl,
                                           failure_ttl=failure_ttl, on_success=on_success, on_failure=on_failure))


def enqueue_job(client: redis.Redis, keys: Keys, *, job_id: str | None, site: str, queue: str, method: str,
                kwargs: dict[str, Any], timeout: int, retry: int = 0, at_front: bool = False,
                deduplicate: bool = False, max_queued: int | None = None, on_success: str | None = None,
                on_failure: str | None = None, run_at: float | None = None, once_key: str | None = None,
                once_ttl: int | None = None, result_ttl: int = DEFAULT_RESULTS_TTL,
                failure_ttl: int = DEFAULT_FAILURE_TTL) -> EnqueueResult:
    """Enqueue one job in one script. Inputs are trusted: callers validate method, queue and kwargs."""
    spec = JobSpec(site=site, queue=queue, method=method, kwargs=kwargs, timeout=timeout, job_id=job_id,
                   retry=retry, at_front=at_front, deduplicate=deduplicate, max_queued=max_queued,
                   on_success=on_success, on_failure=on_failure, run_at=run_at, once_key=once_key,
                   once_ttl=once_ttl, result_ttl=result_ttl, failure_ttl=failure_ttl)
    return enqueue_spec(client, keys, spec)


# -- bulk ---------------------------------------------------------------------------------------------

def _batch_key(spec: JobSpec) -> tuple[Any, ...]:
    """Jobs with equal keys share every hash field but id, site, arguments and due time: one script call.
    (result_ttl and failure_ttl are per site, so sites with their own TTLs still split a run.)"""
    return (spec.queue, spec.method, spec.timeout, spec.retry, spec.deduplicate, spec.max_queued,
            spec.on_success, spec.on_failure, spec.result_ttl, spec.failure_ttl)


def _batches(specs: Iterable[JobSpec], size: int) -> Iterator[list[JobSpec]]:
    """Runs of consecutive jobs with the same batch key, at most `size` long (order is kept)."""
    batch: list[JobSpec] = []
    for spec in specs:
        if batch and (len(batch) >= size or _batch_key(spec) != _batch_key(batch[0])):
            yield batch
            batch = []
        batch.append(spec)
    if batch:
        yield batch


def pack_command(args: list[Any]) -> bytes:
    """RESP for one command; redis-py's generic packer would cost more than the script at bulk rates."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _batch_command(keys: Keys, sha: str, batch: list[JobSpec], now: float) -> tuple[bytes, list[str]]:
    """One packed EVALSHA of enqueue_many.lua for `batch`, and the ids it will use. The jobs may be
    of different sites (each carries its own): 1,000 sites interleaved cost no more calls than one."""
    first = batch[0]
    common = _common_fields(keys, first, now)
    at = common.index("bj_site")
    del common[at:at + 2]  # per job, below
    own_keys = [keys.queue(first.queue), keys.wake(first.queue)]
    args: list[Any] = ["EVALSHA", sha, *scripts.call_args(keys, own_keys, [
        int(first.deduplicate), int(first.max_queued or 0), repr(now), first.queue, "", len(common), *common])]
    ids = []
    method_json = to_json(first.method)
    fresh = keys.new_job_ids(len(batch))  # one read of the OS's randomness for the batch's new ids
    for n, spec in enumerate(batch):
        job_id = spec.job_id or fresh[n]
        ids.append(job_id)
        flags = ("f" if not spec.job_id else "") + ("a" if spec.at_front else "")
        run_at = repr(float(spec.run_at)) if _is_scheduled(spec, now) else ""  # type: ignore[arg-type]
        args += [job_id, flags or "-", run_at, spec.site, *_payload(spec, method_json)]
    return pack_command(args), ids


class _Stream:
    """Packed commands written as soon as they are ready, replies read later, on one pooled connection.

    While Redis runs one batch script the client builds the next one: the two cores overlap instead of
    taking turns, which is what lifts bulk enqueue past plain pipelining.
    """

    def __init__(self, client: redis.Redis, window: int) -> None:
        self.pool = client.connection_pool
        self.conn = self.pool.get_connection()
        self.window = window
        self.waiting: list[list[str]] = []

    def send(self, command: bytes, ids: list[str], results: list[EnqueueResult]) -> None:
        self.conn.send_packed_command([command])
        self.waiting.append(ids)
        while len(self.waiting) > self.window:
            self._read_one(results)

    def drain(self, results: list[EnqueueResult]) -> None:
        while self.waiting:
            self._read_one(results)

    def _read_one(self, results: list[EnqueueResult]) -> None:
        codes, queued, renamed = self.conn.read_response()
        ids = self.waiting.pop(0)
        for at in range(0, len(renamed), 2):  # fresh ids the script lengthened (they named a hash)
            ids[int(renamed[at]) - 1] = text(renamed[at + 1]) or ""
        results.extend(EnqueueResult(job_id, BATCH_CODES[code], int(queued) if code == "o" else 0)
                       for job_id, code in zip(ids, text(codes) or "", strict=True))

    def close(self, clean: bool) -> None:
        if not clean:
            self.conn.disconnect()  # replies may still be in flight: never hand this socket back as clean
        self.pool.release(self.conn)


def enqueue_many(client: redis.Redis, keys: Keys, specs: Iterable[JobSpec], batch_size: int = 500,
                 window: int = 4) -> list[EnqueueResult]:
    """Enqueue many jobs, in order; returns one EnqueueResult per spec.

    Runs of jobs sharing their options go as one enqueue_many.lua call (each job checked for dedupe
    and backpressure as enqueue.lua does), with up to `window` calls in flight. Each call is atomic,
    the whole is not: on a connection error the batches Redis already ran stay enqueued. A job with
    a `once_key` goes through `enqueue_job` on its own.
    """
    sha = scripts.load(client, "enqueue_many")  # so no EVALSHA below can hit NOSCRIPT
    results: list[EnqueueResult] = []
    stream = _Stream(client, window)
    clean = False
    try:
        for batch in _batches(specs, batch_size):
            if batch[0].once_key:
                stream.drain(results)
                results.extend(enqueue_spec(client, keys, spec) for spec in batch)
                continue
            stream.send(*_batch_command(keys, sha, batch, time.time()), results)
        stream.drain(results)
        clean = True
    finally:
        stream.close(clean)
    return results


def enqueue_spec(client: redis.Redis, keys: Keys, spec: JobSpec) -> EnqueueResult:
    """`enqueue_job` for a ready JobSpec."""
    script_keys, args, tail = _script_call(keys, spec, time.time())
    status, returned_id, count = scripts.run(client, keys, "enqueue", script_keys, args, tail)
    return EnqueueResult(text(returned_id) or "", text(status) or "", int(count))
