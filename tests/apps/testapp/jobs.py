"""Jobs the tests enqueue."""

from __future__ import annotations

import os
import time

from bench_jobs import get_current_site, get_site_config


def noop() -> None:
    return None


def add(a: int, b: int) -> int:
    return a + b


def fail(message: str = "boom") -> None:
    raise ValueError(message)


def sleep(seconds: float = 1.0) -> str:
    time.sleep(seconds)
    return "slept"


def whoami() -> dict:
    """The site the job ran with, its time zone from the merged config, and the worker's pid.
    (Not the whole config: it holds rq_password, and a job result must not carry secrets.)"""
    config = get_site_config()
    return {"site": get_current_site(), "time_zone": config.get("time_zone"), "pid": os.getpid()}


def append_line(path: str, text: str) -> None:
    """Append `text` to the file at `path` (tests read it to see what ran, and in which order)."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text + "\n")
