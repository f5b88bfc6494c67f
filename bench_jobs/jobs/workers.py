"""A worker's registration as RQ's tools and bench-jobs read it: the RQ-compatible worker hash and sets
plus the alive key (register, heartbeat, unregister), the bench's worker list, and the control list
through which `jobs stop` reaches a worker. Claiming and finishing jobs is jobs/dispatch.py's.
"""

from __future__ import annotations

import json
import os
import socket
import time
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from bench_jobs.jobs import scripts
from bench_jobs.jobs.encoding import parse_rq_time, rq_time, text
from bench_jobs.jobs.keys import (
    RQ_QUEUES,
    RQ_WORKERS,
    Keys,
    worker_execution_key,
    worker_executions_key,
    worker_key,
)
from bench_jobs.jobs.model import WorkerRecord

if TYPE_CHECKING:
    import redis


def new_worker_name(keys: Keys) -> str:
    return keys.worker_name(socket.gethostname(), os.getpid(), os.urandom(2).hex())


def register_worker(client: redis.Redis, keys: Keys, name: str, queues: list[str], alive_ttl: float) -> None:
    """The RQ-compatible worker hash and sets, plus our alive key, in one transaction."""
    now = rq_time(time.time())
    mapping: dict[Any, Any] = WorkerRecord(name, hostname=socket.gethostname(), pid=os.getpid(), queues=list(queues),
                           rq_queues=[keys.rq_queue_name(q) for q in queues], state="idle", birth=now,
                           last_heartbeat=now, bench=keys.bench_id).to_hash()
    with client.pipeline(transaction=True) as pipe:
        pipe.delete(worker_key(name))
        pipe.hset(worker_key(name), mapping=mapping)
        pipe.sadd(RQ_WORKERS, worker_key(name))
        for q in queues:
            pipe.sadd(keys.rq_workers_of(q), worker_key(name))
        # RQ's tools (`rq info`, rq-dashboard) list only queues in rq:queues: a served queue shows
        # up there even before anything was enqueued to it.
        if queues:
            pipe.sadd(RQ_QUEUES, *(keys.queue(q) for q in queues))
        pipe.sadd(keys.workers(), name)
        pipe.set(keys.worker_alive(name), "1", px=int(alive_ttl * 1000))
        # A registration is contact too, and must notice an outage like a heartbeat does.
        pipe.eval(scripts.source("contact"), *scripts.call_args(keys, [], [keys.bench_id, int(alive_ttl * 1000)]))
        pipe.execute()


def heartbeat(client: redis.Redis, keys: Keys, name: str, alive_ttl: float, job_id: str | None = None,
              queues: list[str] | None = None) -> bool:
    """Refresh the worker's alive key (lua/beat.lua); with the id of the job it is running, say
    whether that job is still its own (False: the sweep gave it away while this worker was frozen,
    e.g. SIGSTOP or a VM pause longer than the alive TTL, or it ran past its deadline; the caller
    must kill its copy). A Redis outage is not such a case: the sweep holds its verdicts after one.

    With `queues`, a worker whose registration is gone (the sweep removed it while this worker was
    frozen, or Redis restarted empty) registers again.
    """
    registered, status, owner = scripts.run(client, keys, "beat", [], [
        keys.bench_id, name, int(alive_ttl * 1000), rq_time(time.time()), job_id or ""])
    if queues is not None and not int(registered):
        register_worker(client, keys, name, queues, alive_ttl)
        if job_id:
            client.hset(worker_key(name), mapping={"state": "busy", "current_job": job_id})
    if not job_id:
        return True
    return status is not None and text(status) == "started" and owner is not None and text(owner) == name


def unregister_worker(client: redis.Redis, keys: Keys, name: str, queues: list[str]) -> None:
    with client.pipeline(transaction=True) as pipe:
        pipe.srem(RQ_WORKERS, worker_key(name))
        for q in queues:
            pipe.srem(keys.rq_workers_of(q), worker_key(name))
        pipe.srem(keys.workers(), name)
        pipe.delete(worker_key(name), keys.worker_alive(name), keys.worker_stop(name),
                    worker_executions_key(name), worker_execution_key(name))  # [rq-compat] its execution
        pipe.execute()


class WorkerRow(TypedDict):
    """One worker as `workers`, metrics, doctor and the dashboard list it."""

    name: str
    hostname: str | None
    pid: int | None
    queues: list[str]
    state: str | None
    current_job: str | None
    successful: int
    failed: int
    total_working_time: float
    birth: str | None
    last_heartbeat: str | None
    heartbeat_age: float | None
    utilisation: NotRequired[float | None]


def list_workers(client: redis.Redis, keys: Keys) -> list[WorkerRow]:
    """This bench's workers (never another bench's), sorted by name, with their alive flag."""
    names = sorted(text(n) or "" for n in client.smembers(keys.workers()))
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hgetall(worker_key(name))
            pipe.exists(keys.worker_alive(name))
        replies = pipe.execute()
    rows: list[WorkerRow] = []
    for name, data, alive in zip(names, replies[::2], replies[1::2], strict=True):
        if not data:
            continue
        w = WorkerRecord.from_hash(name, data)
        rows.append(WorkerRow(
            name=name, hostname=w.hostname, pid=w.pid, queues=w.queues, state=w.state if alive else "dead",
            current_job=w.current_job, successful=w.successful, failed=w.failed,
            total_working_time=w.total_working_time, birth=w.birth, last_heartbeat=w.last_heartbeat,
            heartbeat_age=_age(w.last_heartbeat)))
    return rows


def _age(stamp: str | None) -> float | None:
    then = parse_rq_time(stamp)
    return None if then is None else max(0.0, round(time.time() - then.timestamp(), 3))


def send_control(client: redis.Redis, keys: Keys, name: str, command: dict[str, Any]) -> None:
    """Push a command (e.g. {"cmd": "stop-job", "job_id": ...}) to one worker's control list."""
    client.rpush(keys.worker_stop(name), json.dumps(command))
