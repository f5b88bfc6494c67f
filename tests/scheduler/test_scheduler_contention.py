"""The scheduler beside a CPU hog: two busy processes on the two cores, two schedulers and a worker;
every slot is still enqueued once, within 2 s of its time (measured by the Redis server's clock:
the Scheduled Job Log entry's stream id against the slot, not the test's wall clock)."""

from __future__ import annotations

import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pytest

from tests.sched_helpers import make_app
from tests.scheduler.test_scheduler_procs import TICK, Procs, enqueue_delay, queued, slot_epoch
from tests.waiting import wait_for

HOG = "import os\nwhile True:\n    pass\n"


@pytest.fixture
def hogs():
    started = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(2)]
    yield started
    for proc in started:
        proc.kill()
        proc.wait(10)


@pytest.mark.slow
def test_every_slot_within_two_seconds_beside_a_cpu_hog(bench, tmp_path: Path, hogs) -> None:
    make_app(tmp_path, bench.bench, {"cron": {"* * * * * */2": [TICK]}})
    procs = Procs(bench)
    try:
        for _ in range(2):
            procs.start("schedule", "--quiet")
        procs.start("worker", "--quiet")
        wait_for(lambda: len(queued(bench)) >= 12, timeout=90, step=0.5)
    finally:
        procs.stop()
    entries = queued(bench)
    slots = [slot_epoch(e["slot"]) for e in entries]
    assert len(slots) == len(set(slots)), entries  # no slot twice
    assert all(b - a == 2 for a, b in pairwise(slots)), slots  # none missed
    delays = [round(enqueue_delay(e), 3) for e in entries]
    assert max(delays) < 2.0, delays
