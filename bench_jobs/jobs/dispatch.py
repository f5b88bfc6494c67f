"""The worker side of the storage contract (docs/storage.md): claim, finish, promote, the recovery
sweep, and worker registration / heartbeat.

Every job state change is one Lua script in bench_jobs/lua/, so a crash between two writes cannot
leave a half-moved job. `finish` can claim the next job in the same script: one round trip per job.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bench_jobs.bench import settings as S
from bench_jobs.jobs import scripts
from bench_jobs.jobs.keys import (
    DEFAULT_FAILED_LIMIT,
    DEFAULT_FAILURE_TTL,
    DEFAULT_RESULTS_TTL,
    RQ_QUEUES,
    RQ_WORKERS,
    Keys,
    worker_key,
)
from bench_jobs.jobs.model import Job, WorkerRecord, parse_rq_time, rq_time, text

if TYPE_CHECKING:
    import redis

# Upper bounds (seconds) of the duration histogram in bj:{B}:metrics:durations (Prometheus style).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
DEFAULT_WORKER_DEAD_AFTER = S.WORKER_DEAD_AFTER.default


def bucket(duration: float) -> str:
    """The histogram bucket label of a run that took `duration` seconds."""
    for le in BUCKETS:
        if duration <= le:
            return str(le)
    return "+Inf"


@dataclass
class Ending:
    """How a run ends, as finish.lua takes it. `status` is one of finished, failed, stopped,
    scheduled (retry at `run_at`), queued (retry now) or released (never run, attempt not counted)."""

    status: str
    duration: float = 0.0
    result: str = ""
    error: str = ""
    exc_info: bytes = b""
    ttl: int = DEFAULT_RESULTS_TTL
    failed_limit: int = DEFAULT_FAILED_LIMIT
    run_at: float = 0.0


def rq_value(ending: Ending) -> str:
    """[rq-compat] The value of RQ's results-stream entry for this ending, base64 as RQ stores it: the
    JSON result (read back with rq's JSONSerializer) or the zlib-compressed traceback (`exc_string`)."""
    if ending.status == "finished" and ending.result not in ("", "null"):
        return base64.b64encode(ending.result.encode()).decode()
    if ending.status in ("failed", "stopped") and ending.exc_info:
        return base64.b64encode(ending.exc_info).decode()
    return ""


@dataclass
class SweepResult:
    swept: bool
    requeued: int = 0
    failed: int = 0
    job_ids: list[str] = field(default_factory=list)
    held: bool = False  # just after an outage: nobody was judged (see lua/dispatch_common.lua `contact`)


class Dispatcher:
    """The scripts of one bench on one client, for one worker name (or None for sweep-only users)."""

    def __init__(self, client: redis.Redis, keys: Keys, worker_name: str = "") -> None:
        self.client = client
        self.keys = keys
        self.worker_name = worker_name

    def _run(self, name: str, args: list[Any]) -> Any:
        return scripts.run(self.client, self.keys, name, [], args)

    def claim(self, queues: list[str], now: float | None = None) -> Job | None:
        now = time.time() if now is None else now
        reply = self._run("claim", [self.keys.bench_id, self.worker_name, now, rq_time(now), *queues])
        return Job.from_claim(reply) if reply else None

    def finish(self, job: Job, ending: Ending, next_queues: list[str] | None = None,
               now: float | None = None) -> tuple[bool, Job | None]:
        """End `job`; with `next_queues`, claim the next job in the same script.

        Returns (applied, next job). applied is False when the job was no longer ours (the sweep
        recovered it meanwhile), in which case nothing about it was written.
        """
        now = time.time() if now is None else now
        args = [self.keys.bench_id, job.id, self.worker_name, ending.status, now, rq_time(now), ending.result,
                ending.error, ending.exc_info, ending.duration, ending.ttl, ending.failed_limit, ending.run_at,
                bucket(ending.duration), rq_value(ending), *(next_queues or [])]
        reply = self._run("finish", args)
        claimed = Job.from_claim(reply[1:]) if len(reply) > 1 else None
        return bool(int(reply[0])), claimed

    def promote(self, now: float | None = None, limit: int = 1000) -> int:
        """Move due scheduled jobs (retries, --in/--at) to the tail of their queue."""
        now = time.time() if now is None else now
        return int(self._run("promote", [self.keys.bench_id, now, limit]))

    def sweep(self, *, grace: float = 60.0, interval: float = 2.0, failure_ttl: int = DEFAULT_FAILURE_TTL,
              failed_limit: int = DEFAULT_FAILED_LIMIT, force: bool = False, owner: str | None = None,
              now: float | None = None, dead_after: float = DEFAULT_WORKER_DEAD_AFTER) -> SweepResult:
        """Recover the started jobs of dead workers (see lua/sweep.lua).

        Runs at most once per `interval` for the whole bench unless `force`; callers may call it
        as often as they like. For one `dead_after` after an outage it judges nobody (unless `force`).
        """
        now = time.time() if now is None else now
        reply = self._run("sweep", [self.keys.bench_id, now, rq_time(now), owner or self.worker_name or "sweeper",
                                  int(interval * 1000), grace, failure_ttl, failed_limit, "1" if force else "0",
                                  int(dead_after * 1000)])
        return SweepResult(bool(int(reply[0])), int(reply[1]), int(reply[2]), [text(x) or "" for x in reply[4:]],
                           held=bool(int(reply[3])))


# -- workers ----------------------------------------------------------------------------------

def new_worker_name() -> str:
    return f"{socket.gethostname()}.{os.getpid()}.{os.urandom(2).hex()}"


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
                    f"{worker_key(name)}:executions")  # [rq-compat] RQ's execution index of the worker
        pipe.execute()


def list_workers(client: redis.Redis, keys: Keys) -> list[dict[str, Any]]:
    """This bench's workers (never another bench's), sorted by name, with their alive flag."""
    names = sorted(text(n) or "" for n in client.smembers(keys.workers()))
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hgetall(worker_key(name))
            pipe.exists(keys.worker_alive(name))
        replies = pipe.execute()
    rows = []
    for name, data, alive in zip(names, replies[::2], replies[1::2], strict=True):
        if not data:
            continue
        w = WorkerRecord.from_hash(name, data)
        rows.append({
            "name": name, "hostname": w.hostname, "pid": w.pid, "queues": w.queues,
            "state": w.state if alive else "dead", "current_job": w.current_job,
            "successful": w.successful, "failed": w.failed, "total_working_time": w.total_working_time,
            "birth": w.birth, "last_heartbeat": w.last_heartbeat, "heartbeat_age": _age(w.last_heartbeat),
        })
    return rows


def _age(stamp: str | None) -> float | None:
    then = parse_rq_time(stamp)
    return None if then is None else max(0.0, round(time.time() - then.timestamp(), 3))


def send_control(client: redis.Redis, keys: Keys, name: str, command: dict[str, Any]) -> None:
    """Push a command (e.g. {"cmd": "stop-job", "job_id": ...}) to one worker's control list."""
    client.rpush(keys.worker_stop(name), json.dumps(command))
