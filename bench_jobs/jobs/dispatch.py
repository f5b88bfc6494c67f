"""The worker side of the storage contract (docs/storage.md): claim, finish, promote and the recovery
sweep (a worker's registration and heartbeat are jobs/workers.py's).

Every job state change is one Lua script in bench_jobs/lua/, so a crash between two writes cannot
leave a half-moved job. A worker claims a batch of jobs in one script, sends each job's finish as soon
as the job ends without waiting for the reply (`send_finish`), and ends the batch with a finish that
also claims the next batch (`finish_batch`): one round trip per batch, and Redis' state is as exact
as with one round trip per job (a finish is on the wire before the next job begins).
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bench_jobs.bench import settings as S
from bench_jobs.bench.connection import stale_connection
from bench_jobs.jobs import scripts
from bench_jobs.jobs.encoding import rq_time, text
from bench_jobs.jobs.keys import (
    DEFAULT_FAILED_LIMIT,
    DEFAULT_FAILURE_TTL,
    DEFAULT_RESULTS_TTL,
    Keys,
)
from bench_jobs.jobs.model import Job

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


@dataclass
class RunStats:
    """Counters of ended runs, gathered by a worker over a batch and written with the call that ends
    it (finish.lua `record`): the duration histogram, the dashboard's throughput, the worker's RQ counters."""

    durations: dict[tuple[str, str], list[float]] = field(default_factory=dict)  # (base, bucket) -> [n, sum]
    throughput: dict[tuple[int, str], int] = field(default_factory=dict)  # (minute, site|queue|outcome) -> n
    ok: int = 0
    failed: int = 0
    seconds: float = 0.0

    def add(self, job: Job, ending: Ending, now: float) -> None:
        if ending.status == "released":  # never ran: nothing to count
            return
        entry = self.durations.setdefault((f"{job.queue}|{job.method}|", bucket(ending.duration)), [0, 0.0])
        entry[0] += 1
        entry[1] += ending.duration
        outcome = ("ok" if ending.status == "finished" else "failed" if ending.status in ("failed", "stopped")
                   else "retried")
        key = (int(now // 60), f"{job.site}|{job.queue}|{outcome}")
        self.throughput[key] = self.throughput.get(key, 0) + 1
        if ending.status == "finished":
            self.ok += 1
        else:
            self.failed += 1
        self.seconds += ending.duration

    def dump(self) -> str:
        """The JSON record.lua reads ('' when there is nothing)."""
        if not self.durations and not self.throughput:
            return ""
        sums: dict[str, list[float]] = {}
        for (base, _), (n, total) in self.durations.items():
            acc = sums.setdefault(base, [0.0, 0])
            acc[0] += total
            acc[1] += int(n)
        return json.dumps({"b": [[base + label, int(n)] for (base, label), (n, _) in self.durations.items()],
                           "s": [[base, total, n] for base, (total, n) in sums.items()],
                           "t": [[m, f, n] for (m, f), n in self.throughput.items()],
                           "w": [self.ok, self.failed, self.seconds]}, separators=(",", ":"))

    def clear(self) -> None:
        self.durations, self.throughput = {}, {}
        self.ok = self.failed = 0
        self.seconds = 0.0


class Dispatcher:
    """The scripts of one bench on one client, for one worker name (or None for sweep-only users)."""

    def __init__(self, client: redis.Redis, keys: Keys, worker_name: str = "") -> None:
        self.client = client
        self.keys = keys
        self.worker_name = worker_name
        self.stats = RunStats()
        self._counted: Job | None = None
        self._retrying: float | None = None
        # Finishes sent and not yet answered, in order, on `self._conn` (a connection of its own, so
        # nothing else can slip in between them and the call that reads their replies).
        self._conn: Any = None
        self.unanswered: list[tuple[Job, list[Any]]] = []
        self.answered: list[tuple[Job, bool]] = []  # (job, applied) read back; the worker empties it

    def _run(self, name: str, args: list[Any]) -> Any:
        return scripts.run(self.client, self.keys, name, [], args)

    def claim(self, queues: list[str], now: float | None = None) -> Job | None:
        jobs = self.claim_batch(queues, 1, now)
        return jobs[0] if jobs else None

    def claim_batch(self, queues: list[str], n: int, now: float | None = None) -> list[Job]:
        """Up to `n` queued jobs in priority order, moved to started for this worker (see lua `claim`)."""
        self.collect()
        now = self._claim_time(now)
        reply = self._run("claim", [self.keys.bench_id, self.worker_name, now, rq_time(now), n, *queues])
        self._retrying = None
        return _jobs(reply) if reply else []

    def wait_and_claim(self, wake: list[str], timeout: int, queues: list[str], n: int) -> list[Job]:
        """Block on the wake lists for up to `timeout` seconds, then claim up to `n` jobs: one round trip.

        The claim is pipelined behind the BLPOP, and Redis runs a blocked client's next command as soon
        as its BLPOP returns, so a worker woken by an enqueue gets its job already claimed, in the same
        reply: one wake-up of an idle process instead of a wake-up and then a claim's round trip (about
        a quarter of the idle dispatch latency here). After a timeout the claim finds the queues empty and writes
        nothing. Returns the jobs claimed (a Redis that lost its scripts gets the claim again, loaded).
        A reply lost to a broken connection is handed back by the next claim."""
        from redis.exceptions import NoScriptError

        self.collect()
        # No time stamp of ours: the claim runs when the wait ends, and takes Redis' clock then.
        claim = scripts.packed(self.keys, "claim", [], [self.keys.bench_id, self.worker_name, "", "", n, *queues])
        pool = self.client.connection_pool
        conn = pool.get_connection()
        lost_script = False
        try:
            conn.send_packed_command([*conn.pack_command("BLPOP", *wake, timeout), claim])
            conn.read_response()
            try:
                reply = conn.read_response()
            except NoScriptError:  # a restarted or flushed Redis: the wait is over, claim the usual way
                reply = None
                lost_script = True
        except BaseException:
            conn.disconnect()  # a reply may still be in flight: never hand this socket back as clean
            raise
        finally:
            pool.release(conn)
        if lost_script:
            return self.claim_batch(queues, n)
        return _jobs(reply) if reply else []

    def _claim_time(self, now: float | None) -> float:
        """The claim's time stamp, the same again when the caller retries a call that failed: the
        claim script knows a repeated claim by it and hands back what the first one took."""
        if now is not None:
            return now
        if self._retrying is None:
            self._retrying = time.time()
        return self._retrying

    def _finish_args(self, job: Job, ending: Ending, now: float, started: float | None,
                     next_id: str = "") -> list[Any]:
        return [self.keys.bench_id, job.id, self.worker_name, ending.status, now, rq_time(now), ending.result,
                ending.error, ending.exc_info, ending.duration, ending.ttl, ending.failed_limit, ending.run_at,
                rq_time(started) if started else "", rq_value(ending), next_id]

    def finish(self, job: Job, ending: Ending, next_queues: list[str] | None = None,
               now: float | None = None, started: float | None = None) -> tuple[bool, Job | None]:
        """End `job`; with `next_queues`, claim the next job in the same script.

        Returns (applied, next job). applied is False when the job was no longer ours (the sweep
        recovered it meanwhile), in which case nothing about it was written.
        """
        applied, jobs = self.finish_batch(job, ending, next_queues, 1, now, started)
        return applied, (jobs[0] if jobs else None)

    def finish_batch(self, job: Job, ending: Ending, next_queues: list[str] | None = None, n: int = 1,
                     now: float | None = None, started: float | None = None) -> tuple[bool, list[Job]]:
        """End `job` and the batch (the counters gathered since the last such call go with it); with
        `next_queues`, claim up to `n` jobs in the same script. Reads the replies of every finish sent before."""
        self.collect()
        now = self._claim_time(now)
        if self._counted is not job:  # once, however often the caller retries this call
            self._counted = job
            self.stats.add(job, ending, now)
        queues = [n, *next_queues] if next_queues else []
        reply = self._run("finish", [*self._finish_args(job, ending, now, started), self.stats.dump(), *queues])
        self.stats.clear()
        self._retrying = None
        return bool(int(reply[0])), _jobs(reply[1:])

    def send_finish(self, job: Job, ending: Ending, started: float | None = None, next_id: str = "") -> None:
        """End `job` without waiting for the reply (read by `collect`, or by the next claim or
        finish_batch). The command is on its way to Redis before this returns: a worker killed
        right after still had this job's end recorded. `next_id`: the job of the batch this worker
        runs next (RQ's view of the worker's execution moves on to it)."""
        now = time.time()
        self.stats.add(job, ending, now)
        args = self._finish_args(job, ending, now, started, next_id)
        call = scripts.call_args(self.keys, [], args)
        self._follow_master()
        if self._conn is None:
            self._resend()  # what an earlier connection left unanswered goes first, in order
            scripts.load(self.client, "finish")  # so the EVALSHAs below do not meet NOSCRIPT
            self._conn = self.client.connection_pool.get_connection()
        self.unanswered.append((job, call))
        try:
            self._conn.send_packed_command([scripts.packed(self.keys, "finish", [], args)])
        except BaseException:
            self.unanswered.pop()  # the caller sends it again (a finish applies once)
            self._drop_connection()
            raise

    def collect(self) -> list[tuple[Job, bool]]:
        """Read the replies of the finishes sent: (job, applied) for each, in order (also kept in
        `answered`). On a connection error the unanswered ones are sent again, synchronously (a
        finish applies once: a second one finds the job no longer started and changes nothing)."""
        from redis.exceptions import NoScriptError

        done: list[tuple[Job, bool]] = []
        self._follow_master()
        if self._conn is None:
            self._resend()
            return done
        while self.unanswered:
            job, call = self.unanswered[0]
            try:
                reply = self._conn.read_response()
            except NoScriptError:  # Redis lost its scripts (SCRIPT FLUSH): load and send again
                reply = self._evalsha(call)
            except BaseException:
                self._drop_connection()
                self._resend()
                return done
            self.unanswered.pop(0)
            done.append((job, bool(int(reply[0]))))
        self.answered += done
        return done

    def _follow_master(self) -> None:
        """Under Sentinel, the connection kept for pipelined finishes must move with the master: left on
        a demoted master that still takes writes, it would record there the ends of jobs claimed on the
        new one (lost with the old master's data, the jobs stuck `started`). Unanswered finishes are sent
        again to the new master (a finish applies once)."""
        if self._conn is not None and stale_connection(self.client, self._conn):
            self._drop_connection()

    def _resend(self) -> None:
        while self.unanswered:
            self._evalsha(self.unanswered[0][1])
            self.unanswered.pop(0)

    def _evalsha(self, call: list[Any]) -> Any:
        from redis.exceptions import NoScriptError

        try:
            return self.client.evalsha(scripts.sha("finish"), *call)
        except NoScriptError:
            scripts.load(self.client, "finish")
            return self.client.evalsha(scripts.sha("finish"), *call)

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.disconnect()
            self.client.connection_pool.release(self._conn)
            self._conn = None

    def close(self) -> None:
        self.collect()
        if self._conn is not None:
            self.client.connection_pool.release(self._conn)
            self._conn = None

    def release(self, jobs: list[Job], collect: bool = True) -> None:
        """Give back claimed jobs that never began: to the front of their queues in their order,
        the attempt not counted. (collect=False from another thread: the replies are the owner's.)"""
        if collect:
            self.collect()
        # Without the batch-end argument (stats): a release does not end the worker's batch, so its hash keeps
        # `current_job` and `bj_batch` (the heartbeat releases while the batch's running job goes on, and the
        # next claim reads `bj_batch` to hand back jobs whose ends were lost).
        for job in reversed(jobs):
            self._run("finish", self._finish_args(job, Ending("released"), time.time(), None))

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


def _jobs(reply: list[Any]) -> list[Job]:
    """The jobs of a claim reply, 10 fields each, in claim (= run) order."""
    return [Job.from_claim(reply[i:i + 10]) for i in range(0, len(reply), 10)]
