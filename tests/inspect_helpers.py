"""Write jobs straight into Redis as docs/storage.md describes, for the inspection tests.

The inspection side must not depend on how jobs got there; this helper writes exactly the
documented keys (job hash, queue list, per-site indexes, registries) with pipelines, so tests can
set up thousands of jobs in any state quickly.
"""

from __future__ import annotations

import time
from typing import Any

from bench_jobs.jobs.encoding import rq_time
from bench_jobs.jobs.keys import RQ_QUEUES, Keys, job_key
from bench_jobs.jobs.model import Job


def put_jobs(client, bench_id: str, count: int = 1, *, site: str = "site1.test", queue: str = "default",
             method: str = "testapp.jobs.noop", kwargs: dict | None = None, status: str = "queued",
             enqueued: float | None = None, step: float = 0.001, timeout: int = 300, error: str | None = None,
             traceback: str | None = None, worker: str | None = None, extra: dict | None = None,
             batch: int = 5000) -> list[str]:
    """Write `count` jobs of one site/queue/status; enqueue times start at `enqueued` and rise by `step`."""
    keys = Keys(bench_id)
    base = time.time() - 60 if enqueued is None else enqueued
    ids: list[str] = []
    pipe = client.pipeline(transaction=False)
    for n in range(count):
        job_id = keys.new_job_id()
        ids.append(job_id)
        _put_one(pipe, keys, job_id, base + n * step, site=site, queue=queue, method=method,
                 kwargs=kwargs if kwargs is not None else {"n": n}, status=status, timeout=timeout,
                 error=error, traceback=traceback, worker=worker, extra=extra or {})
        if len(pipe) >= batch:
            pipe.execute()
    pipe.execute()
    return ids


def _put_one(pipe, keys: Keys, job_id: str, at: float, *, site: str, queue: str, method: str, kwargs: dict,
             status: str, timeout: int, error: str | None, traceback: str | None, worker: str | None,
             extra: dict[str, Any]) -> None:
    job = Job(job_id, status=status, queue=queue, origin=keys.rq_queue_name(queue), site=site, method=method,
              kwargs=kwargs, timeout=timeout, created_at=rq_time(at), enqueued_at=rq_time(at), enqueued=at,
              result_ttl=600, failure_ttl=604800, retries_left=0,
              attempts=0 if status in ("queued", "scheduled") else 1, retry=0, error=error, traceback=traceback)
    if status in ("started", "failed", "finished", "stopped"):
        job.started_at, job.worker_name = rq_time(at + 1), worker or "w1"
    if status in ("failed", "finished", "stopped", "canceled"):
        job.ended_at = rq_time(at + 2)
    fields = {**job.to_hash(), **extra}
    pipe.hset(job_key(job_id), mapping=fields)
    pipe.sadd(keys.sites_seen(), site)
    if status == "queued":
        pipe.rpush(keys.queue(queue), job_id)
        pipe.sadd(RQ_QUEUES, keys.queue(queue))
        pipe.rpush(keys.index("queued", queue, site), job_id)
    elif status == "started":
        pipe.zadd(keys.started(), {job_id: at + 1})
        pipe.zadd(keys.rq_wip(queue), {job_id: at + 1})
    elif status == "scheduled":
        pipe.zadd(keys.index("scheduled", queue, site), {job_id: at + 3600})
        pipe.zadd(keys.scheduled(), {job_id: at + 3600})
    elif status in ("failed", "stopped"):
        pipe.zadd(keys.index("failed", queue, site), {job_id: at + 2})
        pipe.zadd(keys.rq_failed(queue), {job_id: at + 2})
    else:
        pipe.zadd(keys.index(status, queue, site), {job_id: at + 2})


def snapshot(client, bench_id: str) -> dict[str, Any]:
    """Every key of the bench and its value, to assert that a refused command changed nothing."""
    keys = sorted(k.decode() for k in client.scan_iter(match=f"*{bench_id}*", count=1000))
    # This bench's job hashes only: the server is shared with other tests, whose finished jobs expire
    # meanwhile (a bench id with '_' or '.' has a hashed tag, not found by the pattern above).
    keys += sorted(k.decode() for k in client.scan_iter(match=f"rq:job:{Keys(bench_id).tag}_*", count=1000))
    state = {}
    for key in keys:
        kind = client.type(key).decode()
        if kind == "hash":
            state[key] = client.hgetall(key)
        elif kind == "list":
            state[key] = client.lrange(key, 0, -1)
        elif kind == "zset":
            state[key] = client.zrange(key, 0, -1, withscores=True)
        elif kind == "set":
            state[key] = client.smembers(key)
        elif kind == "stream":
            state[key] = client.xrange(key)
        else:
            state[key] = client.get(key)
    return state
