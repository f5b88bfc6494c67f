"""Scheduler processes for real: several `bench-jobs schedule` on one Redis, a worker, SIGKILL, restarts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import pytest

from tests.sched_helpers import log_entries, make_app
from tests.waiting import wait_for


def slot_epoch(slot: str) -> float:
    return datetime.strptime(slot, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def enqueue_delay(entry: dict[str, str]) -> float:
    """Seconds from the slot to the log entry, by the Redis server's clock (the stream id)."""
    return int(entry["id"].split("-")[0]) / 1000 - slot_epoch(entry["slot"])


class Procs:
    def __init__(self, fx) -> None:
        self.fx = fx
        self.procs: list[subprocess.Popen] = []

    def start(self, *args: str) -> subprocess.Popen:
        proc = self.fx.popen(*args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@pytest.fixture
def procs(bench):
    started = Procs(bench)
    yield started
    started.stop()


# testapp's own hooks also fire testapp.jobs.noop (every 5 minutes): these tests schedule and count
# a method nobody else schedules, so a shared slot never looks like a double enqueue.
TICK = "testapp.sched_jobs.tick"


def queued(fx, site: str = "site1.test") -> list[dict[str, str]]:
    return [e for e in log_entries(fx.client(), fx.bench, site, "queued") if e.get("method") == TICK]


def test_three_schedulers_enqueue_each_slot_exactly_once_on_time(bench, tmp_path: Path, procs) -> None:
    make_app(tmp_path, bench.bench, {"cron": {"* * * * * */2": [TICK]}})
    for _ in range(3):
        procs.start("schedule", "--quiet")
    procs.start("worker", "--no-fork", "--quiet")
    wait_for(lambda: len(queued(bench)) >= 5, timeout=30)
    entries = queued(bench)
    slots = [slot_epoch(e["slot"]) for e in entries]
    assert len(slots) == len(set(slots)), entries  # no slot twice
    assert all(b - a == 2 for a, b in pairwise(slots)), slots  # and none missed
    assert all(enqueue_delay(e) < 1.0 for e in entries), [enqueue_delay(e) for e in entries]
    doc = json.loads(bench.cli("scheduler", "status", "--format", "json").stdout)
    assert len(doc["schedulers"]) == 3 and sum(s["leader"] for s in doc["schedulers"]) == 1
    # every run ended and was logged
    wait_for(lambda: len(log_entries(bench.client(), bench.bench, "site1.test", "end")) >= 3, timeout=10)
    ends = log_entries(bench.client(), bench.bench, "site1.test", "end")
    assert {e["status"] for e in ends} == {"finished"}


@pytest.mark.slow
def test_sigkill_of_the_leader_another_enqueues_the_next_slot_on_time(bench, tmp_path: Path, procs) -> None:
    make_app(tmp_path, bench.bench, {"cron": {"* * * * * */20": [TICK]}})
    for _ in range(3):
        procs.start("schedule", "--quiet")
    procs.start("worker", "--no-fork", "--quiet")
    first = wait_for(lambda: queued(bench), timeout=45, step=0.1)[-1]
    leader_pid = int(first["by"].split(":")[1])  # the token of the leader that enqueued it: host:pid:nonce
    os.kill(leader_pid, signal.SIGKILL)  # at once: a standby leads within 12 s, well before the next slot
    killed_at = time.time()
    assert killed_at < slot_epoch(first["slot"]) + 8, "the leader was killed too late to test the next slot"
    after = wait_for(lambda: [e for e in queued(bench) if slot_epoch(e["slot"]) > killed_at], timeout=45)[0]
    assert slot_epoch(after["slot"]) == slot_epoch(first["slot"]) + 20  # the very next slot, not a later one
    assert enqueue_delay(after) < 1.0
    assert int(after["by"].split(":")[1]) != leader_pid
    doc = json.loads(bench.cli("scheduler", "status", "--format", "json").stdout)
    assert doc["leader"]["pid"] == int(after["by"].split(":")[1])


@pytest.mark.slow
def test_a_scheduler_down_for_several_slots_runs_the_event_once_on_return(bench, tmp_path: Path, procs) -> None:
    period = 4
    make_app(tmp_path, bench.bench, {"cron": {f"* * * * * */{period}": [TICK]}})
    procs.start("worker", "--no-fork", "--quiet")
    sched = procs.start("schedule", "--quiet")
    wait_for(lambda: queued(bench), timeout=20)
    sched.send_signal(signal.SIGTERM)
    sched.wait(15)
    stopped = queued(bench)
    last = slot_epoch(stopped[-1]["slot"])
    # Come back just after the third missed slot, so the new process starts well before the next one
    # and its first run can only be the catch-up run (whatever the machine's load).
    time.sleep(max(0.0, last + 3 * period + 0.1 - time.time()))
    procs.start("schedule", "--quiet")
    wait_for(lambda: len(queued(bench)) >= len(stopped) + 3, timeout=30)
    back = json.loads(bench.cli("scheduler", "status", "--format", "json").stdout)["leader"]["started"]
    new = [slot_epoch(e["slot"]) for e in queued(bench)[len(stopped):]]
    # one run for all the missed slots: the latest of them, at once when the scheduler is back ...
    assert last + 2 * period <= new[0] <= back + 0.5, (stopped[-1], new, back)
    assert float(queued(bench)[len(stopped)]["lag"]) < period
    assert all(b - a == period for a, b in pairwise(new))  # ... then the schedule goes on


@pytest.mark.slow
def test_a_minute_event_fires_once_per_minute_within_a_second(bench, tmp_path: Path, procs) -> None:
    make_app(tmp_path, bench.bench, {"cron": {"* * * * *": [TICK]}})
    procs.start("schedule", "--quiet")
    procs.start("worker", "--no-fork", "--quiet")
    entries = wait_for(lambda: len(queued(bench)) >= 2 and queued(bench), timeout=130, step=1)
    slots = [slot_epoch(e["slot"]) for e in entries]
    assert slots[1] - slots[0] == 60 and slots[0] % 60 == 0
    assert all(enqueue_delay(e) < 1.0 for e in entries)
