"""The worker loop: claim a batch, run it, finish each job without waiting and the batch with a
finish that claims the next (one round trip per batch; see `_loop`), and between batches
promote due retries (once a second). The heartbeat thread runs the recovery sweep (rate-limited
bench-wide in Redis), so it goes on while a long job runs.

Idle, it BLPOPs its queues' wake lists for at most a second, its claim pipelined behind (one wake-up
and no round trip between an enqueue and the job's start). SIGTERM/SIGINT: warm stop (finish the
current job, exit 0); a second one: cold stop (cut the job short; it is re-queued while it has
retries left, else failed "worker stopped" — never silently dropped).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench_jobs.bench import settings as S
from bench_jobs.bench.connection import transient
from bench_jobs.jobs.dispatch import Dispatcher, Ending
from bench_jobs.jobs.keys import Keys
from bench_jobs.jobs.model import Job
from bench_jobs.jobs.workers import new_worker_name, register_worker, unregister_worker
from bench_jobs.logs import writer as worklog
from bench_jobs.worker import spool
from bench_jobs.worker.execution import Executor, Forking, InProcess
from bench_jobs.worker.heartbeat import Heartbeat
from bench_jobs.worker.outage import RedisGone, RedisRetry
from bench_jobs.worker.pool import DEFAULT_MAX_CHILD_MEMORY, DEFAULT_MAX_JOBS_PER_CHILD, Pool
from bench_jobs.worker.prefetch import Prefetch
from bench_jobs.worker.queue_order import QueueOrder
from bench_jobs.worker.recovery import Timings, after_sweep, sweep_options
from bench_jobs.worker.runner import JobLost, Outcome, RetryPolicy, conclude, error_line, settle

if TYPE_CHECKING:
    import redis

    from bench_jobs.bench.layout import Bench

RELEASE_AFTER = 1.0  # seconds a job may run before the heartbeat gives back the jobs waiting behind it
IDLE_WAIT = 1  # seconds of BLPOP on the wake lists; must stay below the connection's socket_timeout
PROMOTE_EVERY = 1.0
LOST_MESSAGE = "lost: the recovery sweep gave this job to another worker"


@dataclass
class WorkerOptions:
    queues: list[str]
    burst: bool = False
    fork: bool = True
    max_jobs: int | None = None
    strategy: str = "default"
    quiet: bool = False
    name: str | None = None
    # Isolated mode (fork=True): a reused pre-forked child (pool) or a fork per job.
    pool: bool = True
    max_jobs_per_child: int = DEFAULT_MAX_JOBS_PER_CHILD
    max_child_memory: int = DEFAULT_MAX_CHILD_MEMORY


class Worker:
    def __init__(self, bench: Bench, options: WorkerOptions, client: redis.Redis | None = None,
                 log: worklog.WorkLog | None = None) -> None:
        from bench_jobs.bench.connection import connect

        self.bench, self.options = bench, options
        self.name = options.name or new_worker_name(Keys(bench.bench_id))
        self.keys = Keys(bench.bench_id)
        self.client = client or connect(bench)
        self.dispatch = Dispatcher(self.client, self.keys, self.name)
        self.log = log or worklog.for_bench(bench, self.name, quiet=options.quiet)
        self.log.buffered = True  # flushed when idle, from the heartbeat thread, by warnings, at exit
        self.executor: Executor = self._executor()
        timings = Timings.of(bench)
        self.alive_ttl, self.beat_every, self.sweep_every = timings.dead_after, timings.beat_every, timings.sweep_every
        self.timeouts = bench.queue_timeouts()
        self.policies: dict[str, RetryPolicy] = {}
        self.stop_requested = self.cold = False
        self.stop_since = 0.0  # time.monotonic() of the first stop request
        self.next_promote = self.next_sweep = 0.0
        self.queue_order = QueueOrder(options.queues, options.strategy)
        self._redis_retry = RedisRetry(self.log, self)  # every Redis call of the loop: see worker/outage.py
        self.done = 0
        # Claimed, not begun (see _loop); the heartbeat thread may give them back, hence the lock.
        self.batch: list[Job] = []
        self.batch_lock = threading.Lock()
        # Held while claimed jobs are given back: a claim waits for that to end, or it would find them
        # still started by this worker and hand them back to it (see lua `claim`) while they are requeued.
        self.releasing = threading.Lock()
        self.batch_claimed = 0.0
        self.batch_size = 0
        self.prefetch = Prefetch(adaptive=not self.queue_order.per_job)
        self.running_since: float | None = None
        self.stop_ids: set[str] = set()

    def _executor(self) -> Executor:
        if not self.options.fork:
            return InProcess(self.bench)
        if self.options.pool:
            return Pool(self.bench, self.options.max_jobs_per_child, self.options.max_child_memory)
        return Forking(self.bench)

    # -- lifecycle ---------------------------------------------------------------------------
    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        niceness = S.NICENESS.read(self.bench)
        if niceness:
            os.nice(niceness)
        # Started beside (or before) Redis by a process manager: wait for it rather than exit.
        def register() -> bool:
            register_worker(self.client, self.keys, self.name, self.options.queues, self.alive_ttl)
            return True

        if self._redis_retry(register) is None:
            self.log.info("worker-stop", "stopped before Redis could be reached")
            self.log.close()
            return 0
        spool.record_left(self.bench, self.client, self.keys, self.log)
        if isinstance(self.executor, Pool):
            self.executor.prefork()  # before the heartbeat thread exists: the first child inherits no thread
        beat = Heartbeat(self.client, self.keys, self.name, self.beat_every, self.alive_ttl, self._on_command,
                         current_job=lambda: self.executor.current, after_beat=self._after_beat,
                         queues=self.options.queues)
        beat.start()
        mode = "no-fork" if not self.options.fork else "pool" if self.options.pool else "fork"
        self.log.info("worker-start", f"queues={','.join(self.options.queues)} mode={mode} pid={os.getpid()}")
        try:
            self._redis_retry(self._warn_foreign)
            self._loop()
        finally:
            self._close_dispatch()
            self.executor.close()
            beat.stop()
            self._unregister()
            self.log.info("worker-stop", f"{self.done} job(s) run")
            self.log.close()
        return 0

    def _unregister(self) -> None:
        import redis

        try:
            unregister_worker(self.client, self.keys, self.name, self.options.queues)
        except redis.RedisError as exc:
            if not transient(exc):
                raise
            self.log.warning("redis-down", f"could not unregister ({error_line(exc)}); the recovery sweep removes "
                             "this worker's entry once Redis is back")

    def _warn_foreign(self) -> None:
        """Say once which queues hold jobs bench-jobs did not write (Frappe's pickled RQ jobs): the
        claim script leaves them in place, so they wait for Frappe's own workers."""
        from bench_jobs.jobs.foreign import foreign_jobs

        for queue in foreign_jobs(self.client, self.bench, self.options.queues, limit=0).queues:
            if queue.queued:
                count = f"{queue.queued}{'' if queue.exact else '+'}"
                self.log.warning("foreign-jobs", f"{count} job(s) on {queue.queue} were not written by bench-jobs "
                                 "(Frappe/RQ pickled jobs): left in place for Frappe's workers (`bench worker`); "
                                 "see `bench-jobs ready-for-migration`")

    def _on_signal(self, signum: int, frame: Any) -> None:
        if not self.stop_requested:
            self._request_stop()
            self.log.info("warm-stop", f"{signal.Signals(signum).name}: finishing the current job, then exiting")
        else:
            self.cold = True
            self.log.warning("cold-stop", f"{signal.Signals(signum).name}: stopping the current job now")
            self.executor.interrupt()

    def _on_command(self, command: dict[str, Any]) -> None:
        """From the heartbeat thread: `jobs stop ID` and friends."""
        if command.get("cmd") == "stop-job":
            job_id = str(command.get("job_id"))
            with self.batch_lock:
                waiting = any(j.id == job_id for j in self.batch)
            if waiting:
                self.stop_ids.add(job_id)  # claimed, waiting in this worker's batch: ends stopped, never run
            elif not self.executor.stop_job(job_id):
                self.log.warning("stop-ignored", "not running here (any more)", job_id=command.get("job_id"))
        elif command.get("cmd") == "shutdown":
            self._request_stop()

    def _request_stop(self) -> None:
        self.stop_since = time.monotonic()
        self.stop_requested = True

    def _after_beat(self, job_id: str | None, owned: bool) -> None:
        """From the heartbeat thread, so a long job delays neither: kill a job the sweep gave away
        (a second copy must not run on beside the new one), and run the recovery sweep."""
        self.log.flush()
        if job_id and not owned and self.executor.stop_job(job_id, JobLost(LOST_MESSAGE)):
            self.log.warning("lost", "this worker lost its alive key; the job was re-queued meanwhile, so this "
                             "copy is killed", job_id=job_id)
        since = self.running_since
        if since is not None and time.monotonic() - since > RELEASE_AFTER and self.batch:
            self._release_batch(from_heartbeat=True)
        if time.monotonic() >= self.next_sweep:
            self.next_sweep = time.monotonic() + self.sweep_every
            self._sweep()

    # -- the loop ----------------------------------------------------------------------------
    # A worker claims jobs in batches (one round trip), runs them in claim order, sends each one's
    # finish without waiting (so Redis knows at once), and ends each batch with a finish that claims
    # the next. The batch size adapts (worker/prefetch.py). Claimed jobs that have not begun go back
    # to the front of their queues (attempt not counted) at a stop, when the batch is older than half
    # the alive TTL (a frozen worker must not run jobs the sweep gave away), and, from the heartbeat
    # thread, when the running job has taken more than RELEASE_AFTER: nobody waits behind a long job.
    def _loop(self) -> None:
        while True:
            self._housekeeping()
            if self.stop_requested:
                self._release_batch()
                return
            job = self._take()
            if job is None:
                claimed = self._claim()
                if not claimed:
                    if self.options.burst:
                        return
                    claimed = self._wait_for_work()
                if claimed:
                    self._start_batch(claimed)
                continue
            self.queue_order.ran(job.queue or "")
            started = time.time()
            ending = self._run(job)
            self.done += 1
            more = not self.stop_requested and (self.options.max_jobs is None or self.done < self.options.max_jobs)
            if more and self.batch:
                self._send_finish(job, ending, started)
                continue
            if not more:
                self._release_batch()
            claimed = self._finish(job, ending, self.queue_order.next() if more else None, started)
            self.prefetch.adapt(self.batch_size, time.monotonic() - self.batch_claimed)
            if not more:
                return
            if claimed:
                self._start_batch(claimed)

    def _take(self) -> Job | None:
        """The next claimed job to run, or None (batch empty, or too old to trust: given back)."""
        if time.monotonic() - self.batch_claimed > self.alive_ttl / 2:
            self._release_batch()
        with self.batch_lock:
            return self.batch.pop(0) if self.batch else None

    def _start_batch(self, jobs: list[Job]) -> None:
        with self.batch_lock:
            self.batch = list(jobs)
        self.batch_claimed, self.batch_size = time.monotonic(), len(jobs)

    def _release_batch(self, from_heartbeat: bool = False) -> None:
        with self.releasing:
            with self.batch_lock:
                jobs, self.batch = self.batch, []
            # Redis gone at a stop: this worker's alive key runs out, and the sweep gives them back (no attempt used).
            if jobs:
                with contextlib.suppress(RedisGone):
                    self._redis_retry(lambda: self.dispatch.release(jobs, collect=not from_heartbeat),
                                      essential=True)

    def _released(self) -> None:
        """Wait until a release the heartbeat thread began has reached Redis (before a claim)."""
        with self.releasing:
            pass

    def _claim_size(self) -> int:
        max_jobs = self.options.max_jobs
        return self.prefetch.take(None if max_jobs is None else max_jobs - self.done)

    def _claim(self) -> list[Job]:
        n = self._claim_size()
        self.batch_claimed = time.monotonic()
        self._released()
        claimed: list[Job] = self._redis_retry(lambda: self.dispatch.claim_batch(self.queue_order.next(), n)) or []
        return claimed

    def _run(self, job: Job) -> Ending:
        self.log.info("started", f"attempt {job.attempts}" if job.attempts > 1 else "", job_id=job.id,
                      site=job.site, method=job.method)
        self.running_since = time.monotonic()
        if job.problem:  # written into Redis by hand, unreadable: fail it, run nothing
            outcome = Outcome("not-allowed", error=f"InvalidJob: {job.problem}")
        elif job.id in self.stop_ids:  # `jobs stop` reached it while it waited in the batch
            self.stop_ids.discard(job.id)
            outcome = Outcome("stopped", error="stopped by request")
        else:
            outcome = self.executor.run(job, job.timeout or self.timeouts.get(job.queue or "", 300))
        self.running_since = None
        ending = settle(job, outcome, self._policy(job.site or ""), time.time())
        conclude(self.bench, job, outcome, ending, self.log)
        return ending

    def _finish(self, job: Job, ending: Ending, next_queues: list[str] | None = None,
                started: float | None = None) -> list[Job]:
        # The batch's log lines are on disk before its last job's state shows in Redis.
        self.log.flush()
        # Retried through Redis outages: losing a finished job's state would run it twice. Only a
        # stopping worker gives up (after STOP_REDIS_WAIT), leaving the ending on disk.
        n = self._claim_size()
        claimed: list[Job]
        if next_queues:
            self._released()
        try:
            applied, claimed = self._redis_retry(
                lambda: self.dispatch.finish_batch(job, ending, next_queues, n, started=started), essential=True)
        except RedisGone as exc:
            spool.keep(self.bench, self.name, job, ending, exc, self.log)
            return []
        self.batch_claimed = time.monotonic()
        if not applied:
            self._lost(job)
        self._report_answered()
        return claimed

    def _send_finish(self, job: Job, ending: Ending, started: float) -> None:
        with self.batch_lock:
            next_id = self.batch[0].id if self.batch else ""
        try:
            self._redis_retry(lambda: self.dispatch.send_finish(job, ending, started, next_id), essential=True)
        except RedisGone as exc:
            spool.keep(self.bench, self.name, job, ending, exc, self.log)

    def _report_answered(self) -> None:
        for earlier, done in self.dispatch.answered:
            if not done:
                self._lost(earlier)
        self.dispatch.answered.clear()

    def _close_dispatch(self) -> None:
        """Read the last replies (a stopping worker does not wait on Redis for long: the finishes are
        already sent, and one that is not answered is sent again by nobody — it reached Redis or the
        connection broke before it did, which the sweep then covers)."""
        with contextlib.suppress(RedisGone):
            self._redis_retry(self.dispatch.close)
            self._report_answered()

    def _lost(self, job: Job) -> None:
        self.log.warning("lost", "the recovery sweep took this job over meanwhile; this run's result is not "
                         "recorded", job_id=job.id, site=job.site, method=job.method)

    def _wait_for_work(self) -> list[Job]:
        """Idle: wait for an enqueue's wake-up and claim in the same round trip (`wait_and_claim`)."""
        self.log.flush()
        self._housekeeping()  # now rather than between a wake-up and its claim (dispatch latency)
        wake = [self.keys.wake(q) for q in self.options.queues]
        n = self._claim_size()
        self._released()
        claimed = self._redis_retry(
            lambda: self.dispatch.wait_and_claim(wake, IDLE_WAIT, self.queue_order.next(), n)) or []
        if claimed:
            self.next_promote = max(self.next_promote, time.monotonic() + 0.05)
        return claimed

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now >= self.next_promote:
            self.next_promote = now + PROMOTE_EVERY
            self._redis_retry(self.dispatch.promote)

    def _sweep(self) -> None:
        """One sweep (a no-op when another process swept less than `sweep_every` ago). A Redis error
        goes to the heartbeat thread, which retries on its next beat."""
        after_sweep(self.client, self.bench, self.log, self.dispatch.sweep(**sweep_options(self.bench)))

    def _policy(self, site: str) -> RetryPolicy:
        if site not in self.policies:
            self.policies[site] = RetryPolicy.for_site(self.bench, site)
        return self.policies[site]
