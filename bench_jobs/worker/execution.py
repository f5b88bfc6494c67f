"""How a worker runs a claimed job: in-process (`--no-fork`) or in a child forked for it (`--fork-per-job`);
the default, a pre-forked child reused for many jobs, is worker/pool.py.

Both enforce the job's timeout and can cut a job short on request (`jobs stop`, a cold stop):
in-process by raising an `Interrupt` into the main thread (SIGALRM for the timeout, SIGUSR1 for
a stop asked from the heartbeat thread); forking by SIGKILL of the child, which the parent watches.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Protocol

from bench_jobs.worker.runner import Interrupt, JobStopped, JobTimeout, Outcome, WorkerStopped, execute

if TYPE_CHECKING:
    from bench_jobs.bench.layout import Bench
    from bench_jobs.jobs.model import Job

PR_SET_PDEATHSIG = 1


class Executor(Protocol):
    current: str | None  # id of the job running now

    def run(self, job: Job, timeout: int) -> Outcome: ...

    def stop_job(self, job_id: str, reason: Interrupt | None = None) -> bool:
        """Cut the job short if it is the one running (called from another thread); `reason`
        defaults to a stop by request."""

    def interrupt(self) -> None:
        """Cold stop: cut the running job short now (called from the signal handler)."""

    def close(self) -> None:
        """The worker is exiting: end whatever process this executor keeps."""


class InProcess:
    """--no-fork: the job runs in this process's main thread."""

    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.current: str | None = None
        self.armed = False
        self.pending: Interrupt | None = None
        self.main_thread = threading.main_thread().ident
        signal.signal(signal.SIGALRM, self._on_alarm)
        signal.signal(signal.SIGUSR1, self._on_request)

    def run(self, job: Job, timeout: int) -> Outcome:
        start = time.perf_counter()
        self.current, self.pending, self.timeout = job.id, None, timeout
        try:
            try:
                self.armed = True
                signal.setitimer(signal.ITIMER_REAL, timeout)
                outcome = execute(self.bench, job)
            finally:
                self._disarm()
        except Interrupt as exc:  # it arrived outside the job's own call (resolving, committing)
            self._disarm()
            outcome = Outcome(exc.kind, time.perf_counter() - start, error=exc.message)
        self.current = None
        return outcome

    def _disarm(self) -> None:
        self.armed = False  # first: from here on no handler raises
        signal.setitimer(signal.ITIMER_REAL, 0)

    def _on_alarm(self, signum: int, frame: object) -> None:
        if self.armed:
            raise JobTimeout(f"timeout after {self.timeout}s")

    def _on_request(self, signum: int, frame: object) -> None:
        if self.armed and self.pending is not None:
            raise self.pending

    def stop_job(self, job_id: str, reason: Interrupt | None = None) -> bool:
        if self.current != job_id or not self.armed:
            return False
        self.pending = reason or JobStopped("stopped by request")
        signal.pthread_kill(self.main_thread, signal.SIGUSR1)  # type: ignore[arg-type]
        return True

    def interrupt(self) -> None:
        if self.armed:
            raise WorkerStopped("worker stopped")

    def close(self) -> None:
        pass


class Forking:
    """`--fork-per-job`: each job runs in a child forked for it; the parent enforces the timeout."""

    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.child: int | None = None
        self.current: str | None = None
        self.kill_reason: Interrupt | None = None

    def run(self, job: Job, timeout: int) -> Outcome:
        start = time.perf_counter()
        read_end, write_end = os.pipe()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            self._child(job, write_end, parent)
        os.close(write_end)
        self.child, self.current, self.kill_reason = pid, job.id, None
        try:
            data, status = self._collect(read_end, pid, time.monotonic() + timeout, timeout)
        finally:
            os.close(read_end)
        self.child = self.current = None
        if data:
            with contextlib.suppress(ValueError, TypeError):
                return Outcome.from_json(data.decode())
        duration = time.perf_counter() - start
        if self.kill_reason is not None:
            return Outcome(self.kill_reason.kind, duration, error=self.kill_reason.message)
        return Outcome("died", duration, error=f"job process died ({describe_status(status)})")

    def _collect(self, fd: int, pid: int, deadline: float, timeout: int) -> tuple[bytes, int]:
        """Read the child's report until EOF and reap it; kill it when the deadline passes.

        A process the job started (multiprocessing, a fork) inherits the pipe and may keep it open
        after the job's own process has ended: then its exit ends the wait, not EOF.
        """
        data = bytearray()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 and self.kill_reason is None:
                self._kill(JobTimeout(f"timeout after {timeout}s"))
            ready, _, _ = select.select([fd], [], [], min(max(remaining, 0.05), 1.0))
            if ready:
                chunk = os.read(fd, 65536)
                if chunk:
                    data += chunk
                    continue
                return bytes(data), os.waitpid(pid, 0)[1]
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return bytes(data) + _read_available(fd), status

    def _child(self, job: Job, fd: int, parent: int) -> None:
        """In the child: never returns. SIGTERM/SIGINT are the parent's business (a warm stop must
        let the job finish); the child dies with its parent so no orphan keeps running the job."""
        code = 0
        try:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, signal.SIG_IGN)
            for sig in (signal.SIGALRM, signal.SIGUSR1):
                signal.signal(sig, signal.SIG_DFL)
            _die_with_parent(parent)
            from bench_jobs.bench.context import reset_clients

            reset_clients()
            report = execute(self.bench, job).to_json().encode()
            view = memoryview(report)
            while view:
                view = view[os.write(fd, view):]
        except BaseException:  # anything here must end the child, never return to the loop
            code = 1
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)

    def _kill(self, reason: Interrupt) -> None:
        self.kill_reason = reason
        if self.child:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.child, signal.SIGKILL)

    def stop_job(self, job_id: str, reason: Interrupt | None = None) -> bool:
        if self.current != job_id or not self.child:
            return False
        self._kill(reason or JobStopped("stopped by request"))
        return True

    def interrupt(self) -> None:
        if self.child:
            self._kill(WorkerStopped("worker stopped"))

    def close(self) -> None:
        pass


def _read_available(fd: int) -> bytes:
    """What is left in the pipe now, without waiting for an EOF that may never come."""
    os.set_blocking(fd, False)
    data = bytearray()
    with contextlib.suppress(BlockingIOError):
        while chunk := os.read(fd, 65536):
            data += chunk
    return bytes(data)


def _die_with_parent(parent: int) -> None:
    """Linux: SIGKILL this child when the worker dies (a SIGKILLed worker must not leave its job
    running here while the recovery sweep hands it to another worker)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit code {os.WEXITSTATUS(status)}"
