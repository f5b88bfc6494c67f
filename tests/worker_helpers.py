"""Helpers for the worker tests: put jobs into Redis, wait for states, read jobs back."""

from __future__ import annotations

import json
import time
import uuid
import zlib
from collections.abc import Callable
from typing import Any

from bench_jobs.dispatch import rq_time
from bench_jobs.keys import Keys, job_key


def put_job(client, bench_id: str, site: str, method: str, kwargs: dict | None = None, *, queue: str = "default",
            timeout: int | None = None, retry: int = 0, job_id: str | None = None, on_success: str | None = None,
            on_failure: str | None = None) -> str:
    """Write one queued job exactly as docs/storage.md describes, bypassing enqueue's checks
    (so tests can also write what enqueue would refuse, e.g. a job naming os.system)."""
    keys = Keys(bench_id)
    job_id = job_id or uuid.uuid4().hex
    kwargs = kwargs or {}
    now = time.time()
    fields: dict[str, Any] = {
        "data": zlib.compress(json.dumps([method, None, [], kwargs]).encode()),
        "created_at": rq_time(now), "enqueued_at": rq_time(now), "origin": keys.rq_queue_name(queue),
        "description": method, "timeout": timeout or 300, "status": "queued",
        "bj_site": site, "bj_method": method, "bj_queue": queue, "bj_kwargs": json.dumps(kwargs),
        "bj_enqueued": now, "bj_attempts": 0, "bj_retry": retry,
    }
    if on_success:
        fields["bj_on_success"] = on_success
    if on_failure:
        fields["bj_on_failure"] = on_failure
    with client.pipeline(transaction=True) as pipe:
        pipe.hset(job_key(job_id), mapping=fields)
        pipe.rpush(keys.queue(queue), job_id)
        pipe.sadd("rq:queues", keys.queue(queue))
        pipe.zadd(keys.index("queued", queue, site), {job_id: now})
        pipe.sadd(keys.sites_seen(), site)
        pipe.lpush(keys.wake(queue), "1")
        pipe.execute()
    return job_id


def job(client, job_id: str) -> dict[str, str]:
    return {k.decode(): v.decode(errors="replace") for k, v in client.hgetall(job_key(job_id)).items()}


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, step: float = 0.05, what: str = "condition"):
    """Poll until `predicate()` is truthy (generous deadlines; tests never assert wall-clock times)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


def wait_status(client, job_id: str, *statuses: str, timeout: float = 30.0) -> dict[str, str]:
    return wait_for(lambda: (j := job(client, job_id)) and j.get("status") in statuses and j,
                    timeout, what=f"job {job_id} to be {'/'.join(statuses)}")
