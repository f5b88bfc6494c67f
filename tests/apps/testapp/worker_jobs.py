"""Jobs the worker tests run: they leave traces in files so tests see what ran, where and in which order."""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench_jobs import enqueue, get_current_site, get_site_config


def mark(path: str, text: str = "ran") -> str:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(f"{text}\n")
    return text


def sleep_then_mark(path: str, seconds: float, text: str = "done") -> str:
    mark(path, f"start {text} {os.getpid()}")
    time.sleep(seconds)
    return mark(path, text)


def steps_then_mark(path: str, steps: int, step: float = 0.1) -> int:
    """Sleeps in small steps, so a process frozen and resumed still has work left; marks its start
    and its end with its pid."""
    mark(path, f"start {os.getpid()}")
    for _ in range(steps):
        time.sleep(step)
    mark(path, f"done {os.getpid()}")
    return os.getpid()


def flaky(path: str, failures: int) -> int:
    """Fails the first `failures` runs (counted in the file), then returns the run number."""
    runs = len(Path(path).read_text().splitlines()) + 1 if Path(path).exists() else 1
    mark(path, f"run {runs}")
    if runs <= failures:
        raise RuntimeError(f"flaky failure {runs}")
    return runs


def site_info() -> dict:
    return {"site": get_current_site(), "marker": get_site_config().get("marker"), "pid": os.getpid()}


def enqueue_then_fail(path: str) -> None:
    """What this job enqueues after commit must never be sent: the job fails, its unit rolls back."""
    enqueue("testapp.worker_jobs.mark", path=path, text="after-commit", enqueue_after_commit=True)
    raise RuntimeError("fails after enqueueing")


def enqueue_then_succeed(path: str) -> None:
    enqueue("testapp.worker_jobs.mark", path=path, text="after-commit", enqueue_after_commit=True)


def spin(seconds: float) -> None:
    """Busy loop (no sleep): a timeout must cut CPU-bound work too."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def record_callback(job_id: str, **details) -> None:
    """on_success/on_failure callback: writes what it got to the file named in the site config."""
    outcome = "ok" if "result" in details else "failed"
    mark(get_site_config()["callback_log"], f"{outcome} {job_id} {details.get('result', details.get('error'))}")


def fault_job(n: int, fail: bool = False, path: str | None = None) -> int:
    """For the fault-injection test: a short sleep (so kills land mid-job); every tenth job fails.
    With `path`, each run appends `n` there first (one small O_APPEND write), so runs are counted."""
    if path:
        mark(path, str(n))
    time.sleep(0.05)
    if fail:
        raise RuntimeError(f"job {n} fails on purpose")
    return n


def leave_background_process(seconds: float) -> int:
    """Starts a process that outlives the job and inherits its descriptors (as multiprocessing does)."""
    import multiprocessing

    proc = multiprocessing.get_context("fork").Process(target=time.sleep, args=(seconds,))
    proc.start()
    return proc.pid


def pid_and_mark(path: str) -> int:
    """Marks the file with the pid of the process running the job (the pool's reuse shows in it)."""
    mark(path, str(os.getpid()))
    return os.getpid()


def segfault() -> None:
    """Crashes the process running it (SIGSEGV), as a broken C extension would."""
    import ctypes

    ctypes.string_at(0)


def hard_exit(code: int = 3) -> None:
    os._exit(code)


def grow(megabytes: int, hold: float = 5.0) -> int:
    """Allocates and touches `megabytes` MiB, then holds it (a leak the memory limit must catch)."""
    block = bytearray(megabytes * 1024 * 1024)
    for i in range(0, len(block), 4096):
        block[i] = 1
    time.sleep(hold)
    return len(block)
