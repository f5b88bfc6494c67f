"""Isolated mode without a fork per job: a pre-forked child runs jobs one after another.

The worker keeps one child process (forked from itself, so every import is already done) and hands
it jobs over a pipe; the child runs each with `execute` and writes the outcome back. The child is
replaced after `max_jobs` jobs, when its resident memory ends a job above `max_memory` bytes, and
whenever it dies. Isolation holds as with a fork per job: a job that segfaults, calls `os._exit`,
hangs past its timeout (SIGKILL) or grows past the memory limit while running (SIGKILL, polled)
takes only that child down; the job fails with the reason and the worker goes on with a fresh child.
A child dies with its worker (PR_SET_PDEATHSIG), so after a SIGKILL of the worker the recovery
sweep's copy never runs beside an orphan.

What it saves: a fork, the child's start and its exit per job (3 to 8 ms here); what it gives up is
only that a job sees what an earlier job of the same child left in module globals — as in RQ's and
Celery's prefork pools, and bounded by `max_jobs`.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import sys
import time
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from bench_jobs.worker.execution import _die_with_parent, describe_status
from bench_jobs.worker.runner import Interrupt, JobStopped, JobTimeout, Outcome, WorkerStopped, execute

if TYPE_CHECKING:
    from bench_jobs.bench.layout import Bench

DEFAULT_MAX_JOBS_PER_CHILD = 1000
DEFAULT_MAX_CHILD_MEMORY = 1024 * 1024 * 1024  # bytes of RSS
MEMORY_POLL = 0.2  # seconds between RSS checks of a running job
PAGE = os.sysconf("SC_PAGE_SIZE")


class JobOverMemory(Interrupt):
    kind = "memory"


def rss(pid: int) -> int:
    """Resident set size of `pid` in bytes (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as handle:
            return int(handle.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


class _Child:
    """One pre-forked child: its pid, the pipe it reads jobs from and the one it answers on."""

    def __init__(self, bench: Bench) -> None:
        job_r, self.job_w = os.pipe()
        self.result_r, result_w = os.pipe()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            os.close(self.job_w)
            os.close(self.result_r)
            _serve(bench, job_r, result_w, parent)
        os.close(job_r)
        os.close(result_w)
        self.pid, self.jobs, self.buffer = pid, 0, bytearray()
        self.status: int | None = None  # wait status, once reaped

    def close(self, wait: float = 5.0) -> None:
        """Let the child exit (EOF on its job pipe), SIGKILL it if it does not, and reap it."""
        with contextlib.suppress(OSError):
            os.close(self.job_w)
        deadline = time.monotonic() + wait
        while True:
            with contextlib.suppress(ChildProcessError):
                done, _ = os.waitpid(self.pid, os.WNOHANG)
                if not done and time.monotonic() < deadline:
                    time.sleep(0.005)
                    continue
                if not done:
                    os.kill(self.pid, signal.SIGKILL)
                    os.waitpid(self.pid, 0)
            break
        with contextlib.suppress(OSError):
            os.close(self.result_r)


def _serve(bench: Bench, job_fd: int, result_fd: int, parent: int) -> None:
    """The child's loop: one JSON line in (a job), one JSON line out (the outcome's fields and the
    child's RSS). Never returns; exits when the worker closes the job pipe."""
    code = 0
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):  # the worker's business: a warm stop lets the job end
            signal.signal(sig, signal.SIG_IGN)
        for sig in (signal.SIGALRM, signal.SIGUSR1, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        _die_with_parent(parent)
        from bench_jobs.bench.context import reset_clients

        reset_clients()
        jobs = os.fdopen(job_fd, "rb", buffering=65536)
        for line in jobs:
            fields = json.loads(line)
            outcome = execute(bench, SimpleNamespace(**fields))  # type: ignore[arg-type]
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            reply = json.dumps([outcome.kind, outcome.duration, outcome.result, outcome.error, outcome.traceback,
                                rss(os.getpid())]).encode() + b"\n"
            view = memoryview(reply)
            while view:
                view = view[os.write(result_fd, view):]
    except BaseException:  # anything here must end the child, never return to the worker's loop
        code = 1
    finally:
        os._exit(code)


class Pool:
    """The default isolated executor: jobs run in a reused, pre-forked child (see the module doc)."""

    def __init__(self, bench: Bench, max_jobs: int = DEFAULT_MAX_JOBS_PER_CHILD,
                 max_memory: int = DEFAULT_MAX_CHILD_MEMORY) -> None:
        self.bench = bench
        self.max_jobs, self.max_memory = max_jobs, max_memory
        self.child: _Child | None = None
        self.current: str | None = None
        self.kill_reason: Interrupt | None = None
        self.recycled = 0  # children replaced so far (for the worker's log and the tests)

    def prefork(self) -> None:
        """Fork the next child now, outside any job's dispatch path."""
        if self.child is None:
            self.child = _Child(self.bench)

    def run(self, job: Any, timeout: int) -> Outcome:
        start = time.perf_counter()
        self.prefork()
        child = self.child
        assert child is not None
        self.current, self.kill_reason = job.id, None
        line = json.dumps({"id": job.id, "site": job.site, "method": job.method, "kwargs": job.kwargs}).encode()
        try:
            try:
                os.write(child.job_w, line + b"\n")  # a job line is far below the pipe's atomic size
                reply = self._wait(child, time.monotonic() + timeout, timeout)
            except BrokenPipeError:  # the child died between jobs
                reply = None
        finally:
            self.current = None
        if reply is not None:
            child.jobs += 1
            with contextlib.suppress(ValueError, TypeError, IndexError):
                kind, duration, result, error, traceback, used = reply
                if child.jobs >= self.max_jobs or used > self.max_memory:
                    self._retire()
                return Outcome(str(kind), float(duration), str(result), str(error), str(traceback))
            self._retire()
            return Outcome("died", time.perf_counter() - start, error="job process sent an unreadable report")
        status = self._bury()
        duration = time.perf_counter() - start
        if self.kill_reason is not None:
            return Outcome(self.kill_reason.kind, duration, error=self.kill_reason.message)
        return Outcome("died", duration, error=f"job process died ({describe_status(status)})")

    def _wait(self, child: _Child, deadline: float, timeout: int) -> list[Any] | None:
        """The child's reply line, or None once it has died (killed or crashed)."""
        next_poll = time.monotonic() + MEMORY_POLL
        while True:
            newline = child.buffer.find(b"\n")
            if newline >= 0:
                line = bytes(child.buffer[:newline])
                del child.buffer[:newline + 1]
                reply: list[Any] | None = json.loads(line)
                return reply
            now = time.monotonic()
            if now >= deadline and self.kill_reason is None:
                self._kill(JobTimeout(f"timeout after {timeout}s"))
            if now >= next_poll:
                next_poll = now + MEMORY_POLL
                # Ended, but a process it started still holds the pipe open: its exit ends the wait.
                with contextlib.suppress(ChildProcessError):
                    done, status = os.waitpid(child.pid, os.WNOHANG)
                    if done:
                        child.status = status
                        return None
                used = rss(child.pid)
                if used > self.max_memory and self.kill_reason is None:
                    self._kill(JobOverMemory(f"memory limit: the job process reached {used // 2**20} MiB "
                                             f"(limit {self.max_memory // 2**20} MiB)"))
            wait = max(0.0, min(deadline - now if self.kill_reason is None else 1.0, next_poll - now))
            ready, _, _ = select.select([child.result_r], [], [], wait)
            if ready:
                chunk = os.read(child.result_r, 65536)
                if not chunk:
                    return None
                child.buffer += chunk

    def _bury(self) -> int:
        """Reap a dead (or killed) child; the next job gets a fresh one. Its wait status."""
        child, self.child = self.child, None
        if child is None:
            return 0
        status = child.status
        if status is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGKILL)  # closed its pipe but lingers: no job may run on in it
            status = 0
            with contextlib.suppress(ChildProcessError):
                status = os.waitpid(child.pid, 0)[1]
        with contextlib.suppress(OSError):
            os.close(child.job_w)
        with contextlib.suppress(OSError):
            os.close(child.result_r)
        self.recycled += 1
        return status

    def _retire(self) -> None:
        child, self.child = self.child, None
        if child is not None:
            child.close()
            self.recycled += 1

    def _kill(self, reason: Interrupt) -> None:
        self.kill_reason = reason
        if self.child is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.child.pid, signal.SIGKILL)

    def stop_job(self, job_id: str, reason: Interrupt | None = None) -> bool:
        if self.current != job_id or self.child is None:
            return False
        self._kill(reason or JobStopped("stopped by request"))
        return True

    def interrupt(self) -> None:
        if self.current is not None:
            self._kill(WorkerStopped("worker stopped"))

    def close(self) -> None:
        self._retire()
