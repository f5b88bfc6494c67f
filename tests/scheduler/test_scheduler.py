"""The real scheduler loop against a real Redis, driven by a test clock (no sleeping)."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench_jobs.jobs.keys import Keys
from bench_jobs.logs import writer as worklog
from bench_jobs.scheduler.loop import Scheduler
from tests.sched_helpers import FakeClock, log_entries, make_app, scheduler_log_lines

START = datetime(2026, 6, 1, 10, 0, 30, tzinfo=UTC).timestamp()  # 30 s past a minute


def scheduler(fx, clock: FakeClock, **kwargs) -> Scheduler:
    log = worklog.WorkLog(fx.bench.logs_path, "scheduler-test", name="scheduler")
    return Scheduler(fx.bench, fx.client(), log, clock=clock, **kwargs)


def run_until(sched: Scheduler, clock: FakeClock, until: float) -> None:
    """Run the loop's steps, sleeping (on the test clock) as long as the loop asks, until `until`."""
    while clock.time() < until:
        delay = sched.step()
        clock.advance(max(delay, 0.001))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


def test_minute_event_fires_at_each_slot(bench, tmp_path: Path, clock: FakeClock) -> None:
    make_app(tmp_path, bench.bench, {"cron": {"* * * * *": ["testapp.jobs.noop"]}})
    sched = scheduler(bench, clock)
    client = bench.client()
    run_until(sched, clock, START + 30.5)  # through 10:01:00
    queued = log_entries(client, bench.bench, "site1.test", "queued")
    assert [q["slot"] for q in queued] == ["2026-06-01T10:01:00Z"]
    assert float(queued[0]["lag"]) < 1.0
    # the run ends (as a worker would end it); the next minute fires again, once
    client.hset(f"rq:job:{queued[0]['job_id']}", mapping={"status": "finished", "bj_duration": "0.25"})
    run_until(sched, clock, START + 90.5)
    queued = log_entries(client, bench.bench, "site1.test", "queued")
    assert [q["slot"] for q in queued] == ["2026-06-01T10:01:00Z", "2026-06-01T10:02:00Z"]
    ends = log_entries(client, bench.bench, "site1.test", "end")
    assert [(e["status"], e["duration"]) for e in ends] == [("finished", "0.25")]
    lag = client.hgetall(Keys(bench.bench.bench_id).scheduler_lag())
    assert all(float(v) < 1.0 for v in lag.values()) and len(lag) == 2  # two sites


def test_missed_slots_run_once_on_return(bench, tmp_path: Path, clock: FakeClock) -> None:
    make_app(tmp_path, bench.bench, {"cron": {"*/5 * * * *": ["testapp.jobs.noop"]}})
    first = scheduler(bench, clock)
    run_until(first, clock, START + 1)  # first sight: baseline, nothing due
    first.lease.release()  # it stops
    clock.advance(3600 * 3)  # down for three hours: 36 slots missed
    client = bench.client()
    sched = scheduler(bench, clock)
    sched.step()
    queued = log_entries(client, bench.bench, "site1.test", "queued")
    assert [q["slot"] for q in queued] == ["2026-06-01T13:00:00Z"]  # the most recent missed slot only
    client.hset(f"rq:job:{queued[0]['job_id']}", "status", "finished")
    run_until(sched, clock, clock.time() + 301)  # then it keeps its schedule
    assert [q["slot"] for q in log_entries(client, bench.bench, "site1.test", "queued")] == \
        ["2026-06-01T13:00:00Z", "2026-06-01T13:05:00Z"]


def test_still_active_run_is_skipped_counted_and_logged_once(bench, tmp_path: Path, clock: FakeClock) -> None:
    make_app(tmp_path, bench.bench, {"cron": {"* * * * *": ["testapp.sched_jobs.slow"]}})
    run_until(scheduler(bench, clock), clock, START + 240)  # slots 10:01..10:04; nothing drains the queue
    client = bench.client()
    assert len(log_entries(client, bench.bench, "site1.test", "queued")) == 1
    skipped = log_entries(client, bench.bench, "site1.test", "skipped")
    assert len(skipped) == 1 and "still queued or running" in skipped[0]["error"]
    lines = scheduler_log_lines(bench.bench, "site=site1.test method=testapp.sched_jobs.slow event=skipped")
    assert len(lines) == 1
    rows = json.loads(bench.cli("scheduler", "list", "--format", "json").stdout)["events"]
    assert [r["last_status"] for r in rows if r["method"] == "testapp.sched_jobs.slow"] == ["queued"]
    table = bench.cli("--site", "site1.test", "scheduler", "list", site=None).stdout
    assert "queued, 3 skipped" in table  # 10:02, 10:03 and 10:04 were skipped: the 10:01 run never started


def test_a_previous_run_that_is_gone_or_held_by_a_dead_worker_does_not_block_the_event(
        bench, tmp_path: Path, clock: FakeClock) -> None:
    """Deduplicate skips a slot only while the last run is really queued or running: a job hash that is
    gone (lost in a failover, deleted) blocks nothing, and one left `started` by a dead worker is ended by
    the scheduler's own recovery sweep, so the next slot runs (issue 11, Sentinel failover)."""
    from bench_jobs.jobs.dispatch import Dispatcher
    from bench_jobs.jobs.workers import register_worker

    make_app(tmp_path, bench.bench, {"cron": {"* * * * *": ["testapp.sched_jobs.slow"]}})
    sched, client, keys = scheduler(bench, clock), bench.client(), Keys(bench.bench.bench_id)
    run_until(sched, clock, START + 30.5)  # 10:01 queued
    [first] = log_entries(client, bench.bench, "site1.test", "queued")
    client.delete(f"rq:job:{first['job_id']}")  # gone
    run_until(sched, clock, START + 90.5)  # 10:02 queued again under the same id
    assert [q["slot"] for q in log_entries(client, bench.bench, "site1.test", "queued")][-1] == "2026-06-01T10:02:00Z"
    register_worker(client, keys, "w-gone", ["default"], alive_ttl=60)
    claimed = Dispatcher(client, keys, "w-gone").claim_batch(["default"], 5)
    assert first["job_id"] in [j.id for j in claimed]
    # SIGKILLed, and worker_dead_after has passed since the scheduler's first contact (which holds every
    # verdict that long): the next sweep may judge it
    client.delete(keys.worker_alive("w-gone"), keys.sweep_lock(), keys.outage())
    run_until(sched, clock, START + 150.5)  # the sweep fails the run ("worker died"); 10:03 is queued
    assert [q["slot"] for q in log_entries(client, bench.bench, "site1.test", "queued")][-1] == "2026-06-01T10:03:00Z"
    ends = log_entries(client, bench.bench, "site1.test", "end")
    assert [e["status"] for e in ends] == ["unknown", "failed"]
    assert log_entries(client, bench.bench, "site1.test", "skipped") == []


def test_paused_disabled_and_maintenance_sites_get_nothing(bench, tmp_path: Path, clock: FakeClock) -> None:
    make_app(tmp_path, bench.bench, {"cron": {"* * * * *": ["testapp.jobs.noop"]}})
    bench.set_config("site2.test", pause_scheduler=1)
    sched = scheduler(bench, clock)
    run_until(sched, clock, START + 60)
    client = bench.client()
    assert len(log_entries(client, bench.bench, "site1.test", "queued")) == 1
    assert log_entries(client, bench.bench, "site2.test") == []
    for key in ("maintenance_mode", "disable_scheduler"):
        bench.set_config("site1.test", **{key: 1})
        sched.reload()
        run_until(sched, clock, clock.time() + 120)
        assert len(log_entries(client, bench.bench, "site1.test", "queued")) == 1, key
        bench.set_config("site1.test", **{key: 0})


def test_config_changes_are_seen_without_restart(bench, tmp_path: Path, clock: FakeClock) -> None:
    make_app(tmp_path, bench.bench, {"cron": {"* * * * *": ["testapp.jobs.noop"]}})
    sched = scheduler(bench, clock)
    bench.set_config("site1.test", pause_scheduler=1)
    run_until(sched, clock, START + 60)
    client = bench.client()
    assert log_entries(client, bench.bench, "site1.test") == []
    assert bench.cli("scheduler", "resume", site="site1.test").exit_code == 0
    run_until(sched, clock, START + 125)  # resumed within the reload interval: 10:02 fires
    assert [q["slot"] for q in log_entries(client, bench.bench, "site1.test", "queued")] == ["2026-06-01T10:02:00Z"]


def test_a_leader_that_loses_its_lease_stops_at_once(bench, tmp_path: Path, clock: FakeClock) -> None:
    make_app(tmp_path, bench.bench, {"cron": {"* * * * *": ["testapp.jobs.noop"]}})
    sched = scheduler(bench, clock)
    sched.step()
    assert sched.lease.leading
    client = bench.client()
    client.set(Keys(bench.bench.bench_id).scheduler_lease(), "someone-else", px=60_000)  # stolen
    clock.advance(29.5)  # the slot at 10:01 is due; the renew on this step fails
    run_until(sched, clock, START + 40)
    assert not sched.lease.leading
    assert log_entries(client, bench.bench, "site1.test") == []


def test_lease_is_trusted_only_while_it_cannot_have_lapsed(bench, clock: FakeClock) -> None:
    sched = scheduler(bench, clock)
    assert sched.lease.hold() and sched.lease.valid()
    clock.mono += sched.lease.ttl  # a frozen process wakes after its lease could have lapsed
    assert not sched.lease.valid()


def test_status_shows_the_leader(bench) -> None:
    scheduler(bench, FakeClock(time.time())).step()
    doc = json.loads(bench.cli("scheduler", "status", "--format", "json").stdout)
    assert doc["alive"] and doc["leader"]["pid"] > 0 and len(doc["schedulers"]) == 1
    assert [s["site"] for s in doc["states"]] == ["site1.test"] and doc["sites"] == ["site1.test"]


def test_a_config_file_broken_mid_edit_is_logged_not_fatal(bench, tmp_path: Path, clock: FakeClock) -> None:
    make_app(tmp_path, bench.bench, {"cron": {"* * * * *": ["testapp.jobs.noop"]}})
    sched = scheduler(bench, clock)
    sched.step()
    bench.bench.site_config_file("site1.test").write_text("{broken")
    stop = threading.Event()
    waits: list[float] = []

    def wait(seconds: float, stop_event: threading.Event) -> bool:
        waits.append(seconds)
        clock.advance(max(seconds, 0.001))
        if len(waits) > 40:
            stop_event.set()
        return stop_event.is_set()

    clock.wait = wait  # type: ignore[method-assign]
    sched.run(stop)
    errors = scheduler_log_lines(bench.bench, "event=config")
    assert len(errors) == 1 and "is not valid JSON" in errors[0]  # once, though retried every 5 s
    assert not scheduler_log_lines(bench.bench, "event=recovered")
    assert scheduler_log_lines(bench.bench, "event=scheduler-stop")


def test_bad_entries_are_logged_once_and_skipped_the_rest_run(bench, tmp_path: Path, clock: FakeClock) -> None:
    from bench_jobs.bench import admin

    admin.add_app(bench.bench, "otherapp")  # its hooks.py imports frappe: read from the AST, five bad entries
    make_app(tmp_path, bench.bench, {"cron": {"* * * * *": ["testapp.sched_jobs.tick"], "bad": ["x.y"]}})
    sched = scheduler(bench, clock)
    run_until(sched, clock, START + 90)  # through 10:01 and several reloads
    bad = scheduler_log_lines(bench.bench, "event=bad-entry")
    assert len(bad) == 6, bad  # each once, not once per reload
    assert any("method=otherapp.tasks.does_not_exist" in line and "has no function" in line for line in bad)
    assert any("invalid cron 'bad'" in line for line in bad)
    queued = {q["method"] for q in log_entries(bench.client(), bench.bench, "site1.test", "queued")}
    assert queued == {"testapp.sched_jobs.tick"}  # the good entries of the same hooks still run


def test_a_hooks_edit_is_picked_up_by_the_running_loop(bench, tmp_path: Path, clock: FakeClock) -> None:
    import os

    app = make_app(tmp_path, bench.bench, {"cron": {"0 0 1 1 *": ["testapp.sched_jobs.tick"]}})
    sched = scheduler(bench, clock)
    run_until(sched, clock, START + 5)
    hooks_py = tmp_path / "sched_apps" / app / "hooks.py"
    hooks_py.write_text("scheduler_events = {'cron_long': {'* * * * *': ['testapp.sched_jobs.slow']}}\n")
    os.utime(hooks_py, (START + 10, START + 10))  # a new mtime, whatever the file system's granularity
    run_until(sched, clock, START + 30.5)  # the reload within 10 s sees it; 10:01 is its first slot
    queued = log_entries(bench.client(), bench.bench, "site1.test", "queued")
    assert [(q["method"], q["event"], q["slot"]) for q in queued] == \
        [("testapp.sched_jobs.slow", "cron_long", "2026-06-01T10:01:00Z")]
    origin = bench.client().hget(f"rq:job:{queued[0]['job_id']}", "origin")
    assert origin == f"{bench.bench.bench_id}:long".encode()


@pytest.mark.parametrize(("start", "expr", "slots"), [
    # Berlin springs forward at 02:00 CET on 2026-03-29: 02:30 does not exist, the run is at 03:00 CEST
    ("2026-03-29T00:59:30Z", "30 2 * * *", ["2026-03-29T01:00:00Z"]),
    # and falls back at 03:00 CEST on 2026-10-25: 02:00-03:00 comes twice; an hourly job runs each real hour
    ("2026-10-24T23:59:30Z", "0 * * * *", ["2026-10-25T00:00:00Z", "2026-10-25T01:00:00Z"]),
])
def test_a_berlin_site_fires_at_its_local_time_across_dst(bench, tmp_path: Path, start: str, expr: str,
                                                         slots: list[str]) -> None:
    make_app(tmp_path, bench.bench, {"cron": {expr: ["testapp.sched_jobs.tick"]}})
    bench.set_config("site1.test", time_zone="Europe/Berlin")
    clock = FakeClock(datetime.fromisoformat(start).timestamp())
    sched = scheduler(bench, clock)
    client = bench.client()

    def fired() -> list[str]:
        return [q["slot"] for q in log_entries(client, bench.bench, "site1.test", "queued")
                if q["method"] == "testapp.sched_jobs.tick"]

    for slot in slots:  # jump close to each slot (the loop wakes every second), then run through it
        at = datetime.fromisoformat(slot).timestamp()
        clock.advance(max(0.0, at - 20 - clock.time()))
        run_until(sched, clock, at + 1)
        for q in log_entries(client, bench.bench, "site1.test", "queued"):  # a worker ran them
            client.hset(f"rq:job:{q['job_id']}", "status", "finished")
    assert fired() == slots
    run_until(sched, clock, clock.time() + 90)  # nothing in between or right after
    assert fired() == slots


def test_a_standby_says_who_leads(bench, clock: FakeClock) -> None:
    leader, standby = scheduler(bench, clock), scheduler(bench, clock)
    leader.step()
    standby.step()
    standby.step()
    assert leader.lease.leading and not standby.lease.leading
    lines = scheduler_log_lines(bench.bench, "event=standby")
    assert len(lines) == 1 and f"{leader.lease.token} leads" in lines[0]


def test_the_scheduled_job_log_is_capped(bench) -> None:
    from bench_jobs.scheduler import run_log as schedlog

    client, keys = bench.client(), Keys(bench.bench.bench_id)
    for i in range(schedlog.LOG_MAXLEN + 600):
        schedlog.append(client, keys, "site1.test", kind="queued", method="m", job_id=str(i))
    # MAXLEN ~ trims whole stream nodes (100 entries), so "about" the cap
    assert schedlog.LOG_MAXLEN <= client.xlen(keys.scheduled_job_log("site1.test")) < schedlog.LOG_MAXLEN + 200
    newest = schedlog.read_log(client, keys, "site1.test", limit=3)
    assert [e["job_id"] for e in newest] == [str(schedlog.LOG_MAXLEN + 600 - n) for n in (3, 2, 1)]


def test_redis_down_is_logged_once_and_the_leader_comes_back(tmp_path: Path, redis_factory) -> None:
    from bench_jobs.bench.connection import connect
    from tests.conftest import make_bench

    server = redis_factory()
    bench = make_bench(tmp_path / "own", server)
    clock = FakeClock(START)
    sched = Scheduler(bench, connect(bench, socket_timeout=2.0),
                      worklog.WorkLog(bench.logs_path, "scheduler-test", name="scheduler"), clock=clock)
    stop = threading.Event()
    passes: list[float] = []

    def wait(seconds: float, stop_event: threading.Event) -> bool:
        passes.append(seconds)
        clock.advance(max(seconds, 0.001))
        if len(passes) == 3:
            server.kill()
        if len(passes) == 9:
            server.restart()
        if len(passes) > 16:
            stop_event.set()
        return stop_event.is_set()

    clock.wait = wait  # type: ignore[method-assign]
    sched.run(stop)
    assert len(scheduler_log_lines(bench, "Redis unreachable")) == 1  # not once per retry
    assert len(scheduler_log_lines(bench, "event=recovered")) == 1
    assert len(scheduler_log_lines(bench, "now leads")) == 2  # it led, stood by, and leads again
