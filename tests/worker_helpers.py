"""Helpers for the worker tests: put jobs into Redis, wait for states, read jobs back."""

from __future__ import annotations

import time
from typing import Any

from bench_jobs.jobs.encoding import rq_time, text
from bench_jobs.jobs.keys import Keys, job_key
from bench_jobs.jobs.model import Job
from tests.waiting import wait_for


def put_job(client, bench_id: str, site: str, method: str, kwargs: dict | None = None, *, queue: str = "default",
            timeout: int | None = None, retry: int = 0, job_id: str | None = None, on_success: str | None = None,
            on_failure: str | None = None) -> str:
    """Write one queued job exactly as docs/storage.md describes, bypassing enqueue's checks
    (so tests can also write what enqueue would refuse, e.g. a job naming os.system)."""
    keys = Keys(bench_id)
    job_id = job_id or keys.new_job_id()
    now = time.time()
    fields = Job(job_id, status="queued", queue=queue, origin=keys.rq_queue_name(queue), site=site, method=method,
                 kwargs=kwargs or {}, timeout=timeout or 300, description=method, created_at=rq_time(now),
                 enqueued_at=rq_time(now), enqueued=now, retry=retry, on_success=on_success,
                 on_failure=on_failure).to_hash()
    with client.pipeline(transaction=True) as pipe:
        pipe.hset(job_key(job_id), mapping=fields)
        pipe.rpush(keys.queue(queue), job_id)
        pipe.sadd("rq:queues", keys.queue(queue))
        pipe.rpush(keys.index("queued", queue, site), job_id)
        pipe.sadd(keys.sites_seen(), site)
        pipe.lpush(keys.wake(queue), "1")
        pipe.execute()
    return job_id


def add_job(client, bench_id: str, site: str, method: str, kwargs: dict | None = None, *, queue: str = "default",
            timeout: int = 300, retry: int = 0, job_id: str | None = None, **options: Any) -> str:
    """Enqueue through the real enqueue side (bench_jobs.jobs.store), as an app would."""
    from bench_jobs.jobs.store import enqueue_job

    result = enqueue_job(client, Keys(bench_id), job_id=job_id, site=site, queue=queue, method=method,
                         kwargs=kwargs or {}, timeout=timeout, retry=retry, **options)
    assert result.status == "enqueued", result
    return result.id


def job(client, job_id: str) -> dict[str, str]:
    """The raw hash as text: these tests check fields by their stored names."""
    return {text(k) or "": text(v) or "" for k, v in client.hgetall(job_key(job_id)).items()}


def wait_status(client, job_id: str, *statuses: str, timeout: float = 30.0) -> dict[str, str]:
    return wait_for(lambda: (j := job(client, job_id)) and j.get("status") in statuses and j,
                    timeout, what=f"job {job_id} to be {'/'.join(statuses)}")


class WorkerProcs:
    """Worker subprocesses of one test, killed at teardown whatever happened."""

    def __init__(self, bench, log_dir) -> None:
        self.bench = bench
        self.log_dir = log_dir
        self.procs: list = []

    def start(self, *args: str, quiet: bool = True):
        import subprocess

        out = open(self.log_dir / f"worker-{len(self.procs)}.out", "wb")  # noqa: SIM115 - lives with the process
        proc = self.bench.popen("worker", *(["--quiet"] if quiet else []), *args, stdout=out,
                                stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def output(self, index: int = 0) -> str:
        return (self.log_dir / f"worker-{index}.out").read_text(errors="replace")

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


def workers_of(client, bench_id: str) -> list[dict]:
    from bench_jobs.jobs.workers import list_workers

    return list_workers(client, Keys(bench_id))


def wait_busy(client, bench_id: str, job_id: str, timeout: float = 30.0) -> dict:
    """Wait until a worker reports `job_id` as its current job (so it is really running)."""
    return wait_for(lambda: next((w for w in workers_of(client, bench_id) if w["current_job"] == job_id), None),
                    timeout, what=f"a worker running {job_id}")
