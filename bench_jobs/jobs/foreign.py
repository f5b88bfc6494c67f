"""Jobs on the bench's queues that bench-jobs did not write: Frappe's pickled RQ jobs (`frappe.enqueue`)
and anything else without our `bj_method` field.

bench-jobs never runs, fails, moves or deletes them (the claim script leaves them in place, see
lua/dispatch_common.lua); it counts and lists them so that "nothing pending" is never said while
Frappe jobs wait. They are read through RQ's own `Job.restore` from the fields RQ keeps in plain text
(description, origin, status, times) with a serializer that refuses to load anything: a foreign
payload is a pickle, and unpickling runs code.

Queues are looked for under the bench's `bench_id` and under the id Frappe derives from the bench
path (`frappe.utils.get_bench_id`), so a bench that still runs Frappe's own workers is seen too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bench_jobs.jobs import indexes
from bench_jobs.jobs.encoding import text
from bench_jobs.jobs.keys import QUEUED, RQ_QUEUE_PREFIX, RQ_WIP_PREFIX, Keys, job_key

if TYPE_CHECKING:
    import redis

    from bench_jobs.bench.layout import Bench

# How many ids of one queue are read to find and list foreign jobs; beyond it counts are estimates
# (queue length minus our own queued jobs), so a listing never scans a million-job queue.
SCAN_CAP = 5000
BATCH = 1000
# Frappe's RQ description: `frappe.utils.background_jobs.execute_job(site='s', user='u', method='m', ...)`.
_FIELD = r"\b{}=(?:'([^']*)'|\"([^\"]*)\")"


class RefuseToUnpickle:
    """An RQ serializer that never loads: what RQ would unpickle (result, meta) stays unread."""

    @staticmethod
    def loads(data: bytes, /) -> Any:
        raise ValueError("bench-jobs does not unpickle jobs it did not write")

    @staticmethod
    def dumps(obj: Any, /) -> bytes:
        raise ValueError("bench-jobs does not write pickled jobs")


def frappe_bench_id(bench: Bench) -> str:
    """The id Frappe names this bench's queues with (frappe.utils.get_bench_id): bench-jobs derives its
    own default the same way, so it is `bench.bench_id` (one home: Bench.bench_id)."""
    return bench.bench_id


def namespaces(bench: Bench) -> list[str]:
    """Queue-name prefixes that belong to this bench: ours, and Frappe's when it differs."""
    return list(dict.fromkeys([bench.bench_id, frappe_bench_id(bench)]))


@dataclass
class ForeignJob:
    id: str
    queue: str
    rq_queue: str
    status: str
    site: str | None
    method: str | None
    description: str | None
    enqueued_at: str | None
    started_at: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "queue": self.queue, "rq_queue": self.rq_queue, "status": self.status,
                "site": self.site, "method": self.method, "description": self.description,
                "enqueued_at": self.enqueued_at, "started_at": self.started_at, "foreign": True}


@dataclass
class ForeignQueue:
    """Foreign jobs of one bench queue (all namespaces together)."""

    queue: str
    queued: int = 0
    started: int = 0
    exact: bool = True  # False: a queue longer than SCAN_CAP, `queued` is an estimate
    jobs: list[ForeignJob] = field(default_factory=list)

    @property
    def pending(self) -> int:
        return self.queued + self.started

    def as_dict(self) -> dict[str, Any]:
        return {"queue": self.queue, "queued": self.queued, "started": self.started, "exact": self.exact,
                "jobs": [job.as_dict() for job in self.jobs]}


@dataclass
class ForeignReport:
    queues: list[ForeignQueue]

    @property
    def pending(self) -> int:
        return sum(q.pending for q in self.queues)

    def by_queue(self) -> dict[str, ForeignQueue]:
        return {q.queue: q for q in self.queues}

    def as_dict(self) -> dict[str, Any]:
        return {"pending": self.pending, "queues": [q.as_dict() for q in self.queues]}



def _stamp(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds") if moment else None


def _field(description: str, name: str) -> str | None:
    match = re.search(_FIELD.format(name), description)
    return (match.group(1) if match.group(1) is not None else match.group(2)) if match else None


def describe_job(client: redis.Redis, job_id: str, raw: dict[bytes, bytes], queue: str, rq_queue: str) -> ForeignJob:
    """A foreign job from its hash, through RQ's Job.restore; its payload is never loaded."""
    from rq.job import Job

    # No id given to Job: RQ 3 refuses ':' in ids, and Frappe's are `{site}::{uuid}` (RQ < 3 took them).
    job = Job(connection=client, serializer=RefuseToUnpickle)
    description: str
    status: str
    try:
        job.restore(raw)
        description, status = job.description or "", job.get_status(refresh=False)
        enqueued, started = job.enqueued_at, job.started_at
    except Exception:  # a hash RQ itself cannot read (no `data`, bad times): still counted, shown by id
        description, status, enqueued, started = "", "unknown", None, None
    # Frappe names job ids `{site}::{uuid}` and passes site and method as keyword arguments.
    site = job_id.split("::", 1)[0] if "::" in job_id else _field(description, "site")
    method = _field(description, "method") or (description.split("(", 1)[0] or None)
    return ForeignJob(id=job_id, queue=queue, rq_queue=rq_queue, status=text(getattr(status, "value", status)) or "",
                      site=site, method=method, description=description or None, enqueued_at=_stamp(enqueued),
                      started_at=_stamp(started))


def _classify(client: redis.Redis, ids: list[str]) -> dict[str, str]:
    """id -> 'ours' | 'foreign' | 'gone', from HEXISTS/EXISTS only (nothing is loaded)."""
    kinds: dict[str, str] = {}
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        pipe = client.pipeline(transaction=False)
        for job_id in chunk:
            pipe.hexists(job_key(job_id), "bj_method")
            pipe.exists(job_key(job_id))
        replies = pipe.execute()
        for job_id, ours, exists in zip(chunk, replies[::2], replies[1::2], strict=True):
            kinds[job_id] = "ours" if ours else ("foreign" if exists else "gone")
    return kinds


def _started_ids(entries: list[str], exists: list[Any]) -> list[str]:
    """Job ids from RQ's started registry: RQ >= 2 keeps `{job_id}:{execution_id}`, older RQ (and
    bench-jobs) the bare id; `exists` says, per entry, whether a job hash has the entry's full name."""
    return [entry if found or ":" not in entry else entry.rsplit(":", 1)[0] for entry, found in zip(entries, exists,
                                                                                                      strict=True)]


def foreign_jobs(client: redis.Redis, bench: Bench, queues: list[str], limit: int = 20,
                 site: str | None = None) -> ForeignReport:
    """Count the foreign jobs of each queue (queued, and started in RQ's started registry) and list up
    to `limit` of them per queue. With `site`, only that site's (Frappe's job ids and descriptions
    name it).

    Two pipelined round trips when there are none, whatever the backlog: queue lengths and started
    registries, then our own queued counts for the queues whose length exceeds them. Only a queue
    that holds foreign jobs is read further (its first SCAN_CAP ids)."""
    keys = Keys(bench.bench_id)
    places = [(queue, namespace) for queue in queues for namespace in namespaces(bench)]
    pipe = client.pipeline(transaction=False)
    pipe.smembers(keys.sites_seen())
    for queue, namespace in places:
        pipe.llen(f"{RQ_QUEUE_PREFIX}{namespace}:{queue}")
        # RQ's StartedJobRegistry key (`rq:wip:{queue name}`), spelled out: importing rq for a key name
        # cost show-pending-jobs ~50 ms of start-up on every call.
        pipe.zrange(f"{RQ_WIP_PREFIX}{namespace}:{queue}", 0, SCAN_CAP - 1)
    replies = pipe.execute()
    sites = sorted((text(s) or "") for s in replies[0])
    lengths = [int(n) for n in replies[1::2]]
    started_entries = [[(text(e) or "") for e in reply] for reply in replies[2::2]]

    pipe = client.pipeline(transaction=False)
    for (queue, namespace), length in zip(places, lengths, strict=True):
        if length and namespace == bench.bench_id:
            for one in sites:
                indexes.count(pipe, keys, keys.index(QUEUED, queue, one))
    for entries in started_entries:
        for entry in entries:
            pipe.exists(job_key(entry))
    answers = iter(pipe.execute())
    ours_queued = []
    for (_queue, namespace), length in zip(places, lengths, strict=True):
        ours_queued.append(sum(int(next(answers)) for _ in sites) if length and namespace == bench.bench_id else 0)
    started_ids = [_started_ids(entries, [next(answers) for _ in entries]) for entries in started_entries]

    found = {queue: ForeignQueue(queue) for queue in queues}
    for (queue, namespace), length, ours, started in zip(places, lengths, ours_queued, started_ids, strict=True):
        rq_queue, here = f"{namespace}:{queue}", found[queue]
        if length > ours:
            ids = [(text(i) or "") for i in client.lrange(f"{RQ_QUEUE_PREFIX}{rq_queue}", 0, SCAN_CAP - 1)]
            kinds = _classify(client, ids)
            jobs = [j for j in _describe(client, [i for i in ids if kinds[i] == "foreign"], queue, rq_queue)
                    if site is None or j.site == site]
            if length > SCAN_CAP:
                here.exact = False
                here.queued += len(jobs) if site is not None else max(length - ours, len(jobs))
            else:
                here.queued += len(jobs)
            here.jobs.extend(jobs)
        if started:
            kinds = _classify(client, started)
            running = [j for j in _describe(client, [i for i in started if kinds[i] == "foreign"], queue, rq_queue)
                       if site is None or j.site == site]
            here.started += len(running)
            here.jobs.extend(running)
    for here in found.values():
        here.jobs = here.jobs[:limit]
    return ForeignReport(list(found.values()))


def _describe(client: redis.Redis, ids: list[str], queue: str, rq_queue: str) -> list[ForeignJob]:
    jobs: list[ForeignJob] = []
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        pipe = client.pipeline(transaction=False)
        for job_id in chunk:
            pipe.hgetall(job_key(job_id))
        jobs.extend(describe_job(client, job_id, raw, queue, rq_queue)
                    for job_id, raw in zip(chunk, pipe.execute(), strict=True) if raw)
    return jobs


def pending_line(report: ForeignReport) -> str | None:
    """One line for listings: how many foreign jobs wait, or None when there are none."""
    if not report.pending:
        return None
    parts = [f"{q.queue}: {q.queued}{'' if q.exact else '+'} queued, {q.started} running"
             for q in report.queues if q.pending]
    return (f"{report.pending} job(s) not written by bench-jobs (Frappe/RQ) are pending ({'; '.join(parts)}); "
            "bench-jobs leaves them to Frappe's workers (`bench worker`)")
