"""Helpers of the scheduler tests: throwaway apps with given scheduler_events, a test clock, log readers."""

from __future__ import annotations

import os
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

from bench_jobs.bench import admin
from bench_jobs.bench.layout import Bench
from bench_jobs.jobs.keys import Keys
from bench_jobs.scheduler.loop import Clock


def make_app(tmp_path: Path, bench: Bench, events: dict[str, Any]) -> str:
    """A new app whose hooks.py holds `events`, installed in `bench`, importable here and in children."""
    name = f"schedapp_{uuid.uuid4().hex[:8]}"
    apps = tmp_path / "sched_apps"
    (apps / name).mkdir(parents=True)
    (apps / name / "__init__.py").write_text("")
    (apps / name / "hooks.py").write_text(f"scheduler_events = {events!r}\n")
    if str(apps) not in sys.path:
        sys.path.insert(0, str(apps))
        os.environ["PYTHONPATH"] = os.pathsep.join([str(apps), os.environ.get("PYTHONPATH", "")])
    admin.add_app(bench, name)
    bench.reload()
    return name


class FakeClock(Clock):
    """Time that moves only when the scheduler sleeps (or the test says so)."""

    def __init__(self, start: float) -> None:
        self.now = start
        self.mono = 1000.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.mono += seconds

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        self.advance(max(seconds, 0.001))
        return stop.is_set()


def log_entries(client, bench: Bench, site: str, kind: str | None = None) -> list[dict[str, str]]:
    rows = []
    for entry_id, fields in client.xrange(Keys(bench.bench_id).scheduled_job_log(site)):
        row = {k.decode(): v.decode() for k, v in fields.items()}
        row["id"] = entry_id.decode()
        if kind is None or row.get("kind") == kind:
            rows.append(row)
    return rows


def scheduler_log_lines(bench: Bench, needle: str) -> list[str]:
    path = bench.logs_path / "scheduler.log"
    if not path.exists():
        return []
    return [line for line in path.read_text().splitlines() if needle in line]
