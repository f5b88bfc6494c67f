"""The enqueue side of the storage contract (docs/storage.md): one Lua script per enqueue.

`enqueue_job` writes one job; `enqueue_many` pipelines many EVALSHA calls for bulk loads.
Both build the job hash here (RQ-compatible fields + `bj_*` fields) and let `lua/enqueue.lua`
check and write it in one step, so a crash can never leave half a job or a ghost dedupe entry.
"""

from __future__ import annotations

import json
import os
import struct
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from bench_jobs.jobs.keys import DEFAULT_FAILURE_TTL, DEFAULT_RESULTS_TTL, RQ_QUEUES, Keys, job_key

if TYPE_CHECKING:
    import redis

DESCRIPTION_LIMIT = 200
RQ_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

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


@cache
def script_source(name: str) -> str:
    return resources.files("bench_jobs").joinpath("jobs", "lua", f"{name}.lua").read_text(encoding="utf-8")


@cache
def script_sha(name: str) -> str:
    import hashlib

    return hashlib.sha1(script_source(name).encode()).hexdigest()


def run_script(client: redis.Redis, name: str, keys: list[str], args: list[Any]) -> Any:
    """EVALSHA, loading the script on NOSCRIPT (a restarted or flushed Redis)."""
    from redis.exceptions import NoScriptError

    try:
        return client.evalsha(script_sha(name), len(keys), *keys, *args)
    except NoScriptError:
        client.script_load(script_source(name))
        return client.evalsha(script_sha(name), len(keys), *keys, *args)


def rq_time(epoch: float) -> str:
    """RQ's timestamp format (UTC, microseconds, trailing Z)."""
    return datetime.fromtimestamp(epoch, UTC).strftime(RQ_TIME_FORMAT)


def parse_rq_time(text: str | None) -> datetime | None:
    """`rq_time`'s text back as an aware UTC datetime; None if empty or not in that format."""
    if not text:
        return None
    try:
        return datetime.strptime(text, RQ_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


_to_json = json.JSONEncoder(separators=(",", ":")).encode  # one bound encoder: json.dumps re-checks its options
STORE_BELOW = 1024


def zlib_stream(data: bytes) -> bytes:
    """`data` as a zlib stream, as `zlib.decompress` (and so RQ) reads it.

    Small payloads are framed as one stored (uncompressed) deflate block: deflate would not make
    them smaller, and setting up a compressor costs more than the rest of a bulk enqueue.
    """
    if len(data) >= STORE_BELOW:
        return zlib.compress(data, 1)
    size = len(data)
    return b"\x78\x01\x01" + struct.pack("<HH", size, size ^ 0xFFFF) + data + struct.pack(">I", zlib.adler32(data))


def rq_data(method: str, kwargs: dict[str, Any]) -> bytes:
    """RQ's `data` field for JSONSerializer: zlib(JSON [func_name, instance, args, kwargs])."""
    return zlib_stream(_to_json([method, None, [], kwargs]).encode())


def describe(method: str, kwargs_json: str) -> str:
    """RQ-style description `module.func(a=1, b=2)`, shortened so big payloads stay out of listings."""
    text = f"{method}(**{kwargs_json})" if kwargs_json != "{}" else f"{method}()"
    return text if len(text) <= DESCRIPTION_LIMIT else text[: DESCRIPTION_LIMIT - 3] + "..."


def new_job_id() -> str:
    """32 random hex digits (RQ accepts any id; uuid4 formatting costs more than the rest of a bulk job)."""
    return os.urandom(16).hex()


def _is_scheduled(spec: JobSpec, now: float) -> bool:
    return spec.run_at is not None and spec.run_at > now


def _common_fields(keys: Keys, spec: JobSpec, now: float) -> list[Any]:
    """Hash fields that depend only on the job's options, not on its id or arguments."""
    stamp = rq_time(now)
    fields: list[Any] = [
        "created_at", stamp, "enqueued_at", stamp, "origin", keys.rq_queue_name(spec.queue),
        "timeout", int(spec.timeout), "result_ttl", int(spec.result_ttl), "failure_ttl", int(spec.failure_ttl),
        "retries_left", int(spec.retry), "bj_site", spec.site, "bj_method", spec.method, "bj_queue", spec.queue,
        "bj_enqueued", repr(now), "bj_attempts", 0, "bj_retry", int(spec.retry),
    ]
    if spec.on_success:
        fields += ["bj_on_success", spec.on_success]
    if spec.on_failure:
        fields += ["bj_on_failure", spec.on_failure]
    return fields


def _payload(spec: JobSpec, method_json: str | None = None) -> tuple[str, bytes, str]:
    """(bj_kwargs JSON, RQ data blob, description); one json.dumps serves all three."""
    kwargs_json = spec.kwargs_json or _to_json(spec.kwargs)
    method_json = method_json or _to_json(spec.method)
    data = zlib_stream(f"[{method_json},null,[],{kwargs_json}]".encode())
    return kwargs_json, data, describe(spec.method, kwargs_json)


def _script_call(keys: Keys, spec: JobSpec, now: float) -> tuple[list[str], list[Any]]:
    """KEYS and ARGV of one enqueue.lua call."""
    job_id = spec.job_id or new_job_id()
    scheduled = _is_scheduled(spec, now)
    kwargs_json, data, description = _payload(spec)
    fields = [*_common_fields(keys, spec, now), "bj_kwargs", kwargs_json, "data", data,
              "description", description, "status", "scheduled" if scheduled else "queued"]
    if scheduled:
        fields += ["bj_run_at", repr(float(spec.run_at))]  # type: ignore[arg-type]
    script_keys = [
        job_key(job_id), keys.queue(spec.queue), RQ_QUEUES,
        keys.index("queued", spec.queue, spec.site), keys.index("scheduled", spec.queue, spec.site),
        keys.sites_seen(), keys.wake(spec.queue), keys.scheduled(),
    ]
    if spec.once_key:
        script_keys.append(spec.once_key)
    args = [
        job_id, spec.site, int(spec.at_front), int(spec.deduplicate), int(spec.max_queued or 0), repr(now),
        repr(float(spec.run_at)) if scheduled else "", int(spec.once_ttl or 0), f"{keys.prefix}:idx:",
        "f" if not spec.job_id else "-", *fields,
    ]
    return script_keys, args


def _decode(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


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
    """Jobs with equal keys share every hash field but id, arguments and due time: one script call."""
    return (spec.site, spec.queue, spec.method, spec.timeout, spec.retry, spec.deduplicate, spec.max_queued,
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
    """One packed EVALSHA of enqueue_many.lua for `batch`, and the ids it will use."""
    first = batch[0]
    common = _common_fields(keys, first, now)
    args: list[Any] = [
        "EVALSHA", sha, 7, keys.queue(first.queue), RQ_QUEUES, keys.index("queued", first.queue, first.site),
        keys.index("scheduled", first.queue, first.site), keys.sites_seen(), keys.wake(first.queue),
        keys.scheduled(), first.site, int(first.deduplicate), int(first.max_queued or 0), repr(now),
        f"{keys.prefix}:idx:", len(common), *common,
    ]
    ids = []
    method_json = _to_json(first.method)
    fresh = os.urandom(16 * len(batch)).hex()  # one syscall for the batch's new ids
    for n, spec in enumerate(batch):
        job_id = spec.job_id or fresh[32 * n: 32 * n + 32]
        ids.append(job_id)
        flags = ("f" if not spec.job_id else "") + ("a" if spec.at_front else "")
        run_at = repr(float(spec.run_at)) if _is_scheduled(spec, now) else ""  # type: ignore[arg-type]
        args += [job_id, flags or "-", run_at, *_payload(spec, method_json)]
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
        codes, queued = self.conn.read_response()
        ids = self.waiting.pop(0)
        results.extend(EnqueueResult(job_id, BATCH_CODES[code], int(queued) if code == "o" else 0)
                       for job_id, code in zip(ids, _decode(codes), strict=True))

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
    sha = script_sha("enqueue_many")
    client.script_load(script_source("enqueue_many"))  # so no EVALSHA below can hit NOSCRIPT
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
    script_keys, args = _script_call(keys, spec, time.time())
    status, returned_id, count = run_script(client, "enqueue", script_keys, args)
    return EnqueueResult(_decode(returned_id), _decode(status), int(count))
