"""Jobs the scheduler tests run: each appends a line to a file named in the environment."""

from __future__ import annotations

import os
import time

from bench_jobs import get_current_site


def _record(tag: str) -> None:
    path = os.environ.get("BJ_SCHED_OUT")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(f"{tag} {get_current_site()} {time.time():.3f}\n")


def tick() -> None:
    _record("tick")


def slow() -> None:
    _record("slow")
    time.sleep(float(os.environ.get("BJ_SCHED_SLOW", "30")))


def boom() -> None:
    raise RuntimeError("scheduled boom")
