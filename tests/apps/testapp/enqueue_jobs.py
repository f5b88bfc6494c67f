"""Jobs the enqueue tests use (kept apart from jobs.py, which other tests share)."""

from __future__ import annotations

from bench_jobs import enqueue
from bench_jobs.bench.apps import whitelist

NOT_CALLABLE = 42


@whitelist()
def echo(**kwargs):
    """Return its arguments (so `execute` and now=True have something to print)."""
    return kwargs


def on_done(*args, **kwargs) -> None:
    """A callback target."""
    return None


def enqueue_after_commit_then_fail(path: str) -> None:
    """Enqueue an after-commit job, then fail: the job must never be sent."""
    enqueue("testapp.jobs.append_line", enqueue_after_commit=True, path=path, text="should not run")
    raise RuntimeError("failed after enqueueing")


def enqueue_after_commit_then_succeed(path: str) -> str:
    """Enqueue an after-commit job and succeed: the job is sent when the run commits."""
    return enqueue("testapp.jobs.append_line", enqueue_after_commit=True, path=path, text="sent")
