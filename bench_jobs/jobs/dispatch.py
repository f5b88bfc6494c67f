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
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_jobs.bench import settings as S
from bench_jobs.jobs.keys import (
    DEFAULT_FAILED_LIMIT,
    DEFAULT_FAILURE_TTL,
    DEFAULT_RESULTS_TTL,
    RQ_QUEUES,
    RQ_WORKERS,
    Keys,
    worker_key,
)
from bench_jobs.jobs.store import parse_rq_time, rq_time

if TYPE_CHECKING:
    import redis

LUA_DIR = Path(__file__).parent / "lua"
# Upper bounds (seconds) of the duration histogram in bj:{B}:metrics:durations (Prometheus style).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
DEFAULT_WORKER_DEAD_AFTER = S.WORKER_DEAD_AFTER.default


def bucket(duration: float) -> str:
    """The histogram bucket label of a run that took `duration` seconds."""
    for le in BUCKETS:
        if duration <= le:
            return str(le)
    return "+Inf"


@cache
def _script_text(name: str) -> str:
    common = (LUA_DIR / "dispatch_common.lua").read_text(encoding="utf-8")
    return common + "\n" + (LUA_DIR / f"{name}.lua").read_text(encoding="utf-8")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass
class ClaimedJob:
    """A job this worker has moved to started; the fields the runner needs, nothing decompressed."""

    id: str
    queue: str
    site: str
    method: str
    kwargs: dict[str, Any]
    timeout: int | None
    attempts: int
    retry: int
    on_success: str | None = None
    on_failure: str | None = None
    # Set when a job written by hand has fields that cannot be read: it is failed without running.
    problem: str | None = None

    @classmethod
    def from_reply(cls, reply: list[Any]) -> ClaimedJob:
        v = [_text(x) for x in reply]
        job = cls(id=v[0], queue=v[1], site=v[2], method=v[3], kwargs={}, timeout=None, attempts=int(v[6]),
                  retry=0, on_success=v[8] or None, on_failure=v[9] or None)
        try:  # never raise here: the job is already started, a crash would leave it to the sweep
            job.kwargs, job.timeout, job.retry = _fields(v[4], v[5], v[7])
        except ValueError as exc:
            job.problem = str(exc)
        return job

    @property
    def retries_left(self) -> int:
        return max(0, self.retry - (self.attempts - 1))


def _fields(kwargs: str, timeout: str, retry: str) -> tuple[dict[str, Any], int | None, int]:
    """bj_kwargs, timeout and bj_retry as the runner needs them, or ValueError naming the bad one."""
    try:
        parsed = json.loads(kwargs or "{}")
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise ValueError(f"bj_kwargs is not a JSON object: {kwargs[:80]!r}")
    try:
        seconds = int(float(timeout)) if timeout else None
        if seconds is not None and seconds < 1:
            raise ValueError
    except (ValueError, OverflowError):
        raise ValueError(f"timeout is not a positive number of seconds: {timeout[:80]!r}") from None
    if not retry.isdigit() and retry:
        raise ValueError(f"bj_retry is not a whole number: {retry[:80]!r}")
    return parsed, seconds, int(retry or 0)


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
        self._claim = client.register_script(_script_text("claim"))
        self._finish = client.register_script(_script_text("finish"))
        self._promote = client.register_script(_script_text("promote"))
        self._sweep = client.register_script(_script_text("sweep"))

    def claim(self, queues: list[str], now: float | None = None) -> ClaimedJob | None:
        now = time.time() if now is None else now
        reply = self._claim(args=[self.keys.bench_id, self.worker_name, now, rq_time(now), *queues])
        return ClaimedJob.from_reply(reply) if reply else None

    def finish(self, job: ClaimedJob, ending: Ending, next_queues: list[str] | None = None,
               now: float | None = None) -> tuple[bool, ClaimedJob | None]:
        """End `job`; with `next_queues`, claim the next job in the same script.

        Returns (applied, next job). applied is False when the job was no longer ours (the sweep
        recovered it meanwhile), in which case nothing about it was written.
        """
        now = time.time() if now is None else now
        args = [self.keys.bench_id, job.id, self.worker_name, ending.status, now, rq_time(now), ending.result,
                ending.error, ending.exc_info, ending.duration, ending.ttl, ending.failed_limit, ending.run_at,
                bucket(ending.duration), rq_value(ending), *(next_queues or [])]
        reply = self._finish(args=args)
        claimed = ClaimedJob.from_reply(reply[1:]) if len(reply) > 1 else None
        return bool(int(reply[0])), claimed

    def promote(self, now: float | None = None, limit: int = 1000) -> int:
        """Move due scheduled jobs (retries, --in/--at) to the tail of their queue."""
        now = time.time() if now is None else now
        return int(self._promote(args=[self.keys.bench_id, now, limit]))

    def sweep(self, *, grace: float = 60.0, interval: float = 2.0, failure_ttl: int = DEFAULT_FAILURE_TTL,
              failed_limit: int = DEFAULT_FAILED_LIMIT, force: bool = False, owner: str | None = None,
              now: float | None = None, dead_after: float = DEFAULT_WORKER_DEAD_AFTER) -> SweepResult:
        """Recover the started jobs of dead workers (see lua/sweep.lua).

        Runs at most once per `interval` for the whole bench unless `force`; callers may call it
        as often as they like. For one `dead_after` after an outage it judges nobody (unless `force`).
        """
        now = time.time() if now is None else now
        reply = self._sweep(args=[self.keys.bench_id, now, rq_time(now), owner or self.worker_name or "sweeper",
                                  int(interval * 1000), grace, failure_ttl, failed_limit, "1" if force else "0",
                                  int(dead_after * 1000)])
        return SweepResult(bool(int(reply[0])), int(reply[1]), int(reply[2]), [_text(x) for x in reply[4:]],
                           held=bool(int(reply[3])))


# -- workers ----------------------------------------------------------------------------------

def new_worker_name() -> str:
    return f"{socket.gethostname()}.{os.getpid()}.{os.urandom(2).hex()}"


def register_worker(client: redis.Redis, keys: Keys, name: str, queues: list[str], alive_ttl: float) -> None:
    """The RQ-compatible worker hash and sets, plus our alive key, in one transaction."""
    now = rq_time(time.time())
    rq_queues = [keys.rq_queue_name(q) for q in queues]
    mapping = {"birth": now, "last_heartbeat": now, "queues": ",".join(rq_queues), "pid": os.getpid(),
               "hostname": socket.gethostname(), "state": "idle", "current_job": "", "successful_job_count": 0,
               "failed_job_count": 0, "total_working_time": 0, "bj_bench": keys.bench_id,
               "bj_queues": ",".join(queues)}
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
        pipe.eval(_script_text("contact"), 0, keys.bench_id, int(alive_ttl * 1000))
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
    script = client.register_script(_script_text("beat"))
    registered, status, owner = script(args=[keys.bench_id, name, int(alive_ttl * 1000), rq_time(time.time()),
                                             job_id or ""])
    if queues is not None and not int(registered):
        register_worker(client, keys, name, queues, alive_ttl)
        if job_id:
            client.hset(worker_key(name), mapping={"state": "busy", "current_job": job_id})
    if not job_id:
        return True
    return status is not None and _text(status) == "started" and owner is not None and _text(owner) == name


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
    names = sorted(_text(n) for n in client.smembers(keys.workers()))
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hgetall(worker_key(name))
            pipe.exists(keys.worker_alive(name))
        replies = pipe.execute()
    rows = []
    for name, data, alive in zip(names, replies[::2], replies[1::2], strict=True):
        if not data:
            continue
        row = {_text(k): _text(v) for k, v in data.items()}
        rows.append({
            "name": name, "hostname": row.get("hostname"), "pid": int(row.get("pid") or 0),
            "queues": [q for q in row.get("bj_queues", "").split(",") if q],
            "state": row.get("state") if alive else "dead", "current_job": row.get("current_job") or None,
            "successful": int(row.get("successful_job_count") or 0), "failed": int(row.get("failed_job_count") or 0),
            "total_working_time": float(row.get("total_working_time") or 0), "birth": row.get("birth"),
            "last_heartbeat": row.get("last_heartbeat"), "heartbeat_age": _age(row.get("last_heartbeat")),
        })
    return rows


def _age(stamp: str | None) -> float | None:
    then = parse_rq_time(stamp)
    return None if then is None else max(0.0, round(time.time() - then.timestamp(), 3))


def send_control(client: redis.Redis, keys: Keys, name: str, command: dict[str, Any]) -> None:
    """Push a command (e.g. {"cmd": "stop-job", "job_id": ...}) to one worker's control list."""
    client.rpush(keys.worker_stop(name), json.dumps(command))
