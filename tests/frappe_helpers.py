"""Frappe-style RQ jobs, made with RQ's own API and pickle exactly as `frappe.enqueue` does:
`Queue("{bench_id}:{queue}").enqueue_call("frappe.utils.background_jobs.execute_job", kwargs=...)`.

`booby_trap` replaces a job's pickled fields with pickles that create a file when loaded, so a test
can prove that bench-jobs never unpickles a job it did not write.
"""

from __future__ import annotations

import pickle
import uuid
import zlib
from pathlib import Path
from typing import Any

EXECUTE_JOB = "frappe.utils.background_jobs.execute_job"


def frappe_enqueue(client, bench_id: str, site: str, method: str, queue: str = "default", *,
                   frappe_id: bool = False, timeout: int = 300, **kwargs: Any) -> str:
    """Enqueue as frappe.enqueue does (pickle serializer, execute_job wrapper, site in kwargs).

    frappe_id=True gives the job Frappe's `{site}::{uuid}` id (RQ < 3 accepted it; RQ 3 refuses ':' in
    new ids, so the hash and the queue entry are renamed after RQ wrote them)."""
    from rq import Queue

    q = Queue(f"{bench_id}:{queue}", connection=client)
    queue_args = {"site": site, "user": "Administrator", "method": method, "event": None, "job_name": method,
                  "is_async": True, "kwargs": kwargs}
    job = q.enqueue_call(EXECUTE_JOB, kwargs=queue_args, timeout=timeout, failure_ttl=7 * 24 * 3600,
                         result_ttl=600, job_id=uuid.uuid4().hex)
    if not frappe_id:
        return job.id
    new_id = f"{site}::{uuid.uuid4()}"
    with client.pipeline(transaction=True) as pipe:
        pipe.rename(f"rq:job:{job.id}", f"rq:job:{new_id}")
        pipe.lset(q.key, client.lpos(q.key, job.id), new_id)
        pipe.execute()
    return new_id


class Trap:
    """Unpickling this opens (creates) `path`: evidence that someone loaded the pickle."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def booby_trap(client, job_id: str, marker: Path) -> None:
    """Replace the job's pickled fields (data, meta, result) with pickles that create `marker`."""
    payload = pickle.dumps(Trap(marker))
    client.hset(f"rq:job:{job_id}", mapping={"data": zlib.compress(payload), "meta": payload, "result": payload})


def snapshot(client, job_ids: list[str]) -> dict[str, dict[bytes, bytes]]:
    return {job_id: client.hgetall(f"rq:job:{job_id}") for job_id in job_ids}
