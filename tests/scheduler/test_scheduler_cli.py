"""The `scheduler` commands: list, status, enable/disable/pause/resume, trigger, log."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bench_jobs.bench import admin
from bench_jobs.logs import writer as worklog
from bench_jobs.scheduler.loop import Scheduler
from tests.conftest import assert_clean_error, read_json_file
from tests.sched_helpers import FakeClock, make_app

JSON_FIELDS = ["site", "method", "event", "cron", "queue", "last_run", "last_status", "last_duration_seconds",
               "next_run", "error"]


def test_list_for_several_apps_and_sites(bench, tmp_path: Path) -> None:
    admin.add_app(bench.bench, "otherapp")
    admin.create_site(bench.bench, "kolkata.test", "Asia/Kolkata")
    bench.bench.reload()
    start = datetime(2026, 6, 1, 9, 58, tzinfo=UTC).timestamp()
    clock = FakeClock(start)
    sched = Scheduler(bench.bench, bench.client(), worklog.WorkLog(bench.bench.logs_path, "t", name="scheduler"),
                      clock=clock)
    while clock.time() < start + 3 * 60:  # through 10:00 (hourly) and 10:00 (*/5 cron)
        clock.advance(max(sched.step(), 0.001))
    result = bench.cli("scheduler", "list", "--all-sites", "--format", "json", site=None)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["site"] is None and doc["sites"] == ["kolkata.test", "site1.test", "site2.test"]
    rows = doc["events"]
    assert doc["total"] == len(rows) and all(list(r) == JSON_FIELDS for r in rows)
    assert {r["site"] for r in rows} == {"site1.test", "site2.test", "kolkata.test"}
    by = {(r["site"], r["event"], r["method"], r["cron"]): r for r in rows}
    noop = by[("site1.test", "cron", "testapp.jobs.noop", "*/5 * * * *")]
    assert noop["last_run"] == "2026-06-01T10:00:00+00:00" and noop["last_status"] == "queued"
    assert noop["next_run"] == "2026-06-01T10:05:00+00:00"
    hourly = by[("site2.test", "hourly_long", "otherapp.tasks.rebuild_index", "0 * * * *")]
    assert hourly["queue"] == "long" and hourly["last_run"] == "2026-06-01T10:00:00+00:00"
    # Kolkata is UTC+05:30: its hours start at half past in UTC, so 10:00 UTC was no slot there
    hourly = by[("kolkata.test", "hourly_long", "otherapp.tasks.rebuild_index", "0 * * * *")]
    assert hourly["last_run"] is None and hourly["next_run"] == "2026-06-01T16:00:00+05:30"
    daily = by[("kolkata.test", "daily", "testapp.jobs.noop", "0 0 * * *")]
    assert daily["last_run"] is None and daily["next_run"] == "2026-06-02T00:00:00+05:30"
    errors = [r for r in rows if r["error"] and r["site"] == "site1.test"]
    assert len(errors) == 5 and all(r["next_run"] is None for r in errors)
    table = bench.cli("scheduler", "list", site="kolkata.test")
    assert table.exit_code == 0 and "otherapp.tasks.rebuild_index" in table.stdout
    assert "site1.test" not in table.stdout and "invalid cron" in table.stdout


def test_controls_write_frappe_keys_and_keep_others(bench) -> None:
    bench.set_config("site1.test", custom_key="kept", disable_scheduler=1)
    path = bench.bench.site_config_file("site1.test")
    assert bench.cli("scheduler", "pause").exit_code == 0
    assert read_json_file(path) == {"custom_key": "kept", "disable_scheduler": 1, "pause_scheduler": 1}
    result = bench.cli("scheduler", "enable")
    assert result.exit_code == 0 and "paused" in result.stdout
    assert read_json_file(path) == {"custom_key": "kept", "enable_scheduler": 1, "pause_scheduler": 1}
    assert "active" in bench.cli("scheduler", "resume").stdout
    assert bench.cli("scheduler", "disable").exit_code == 0
    assert read_json_file(path) == {"custom_key": "kept", "enable_scheduler": 0, "pause_scheduler": 0}
    doc = json.loads(bench.cli("scheduler", "status", "--format", "json").stdout)
    assert doc["states"][0] | {} == {"site": "site1.test", "enabled": False, "paused": False, "maintenance": False,
                                    "active": False, "state": "disabled", "time_zone": "UTC",
                                    # no db_name: settings from site_config.json, every app of apps.txt
                                    "settings_from": "site_config.json (no db_name)", "apps": None}
    assert doc["alive"] is False and doc["leader"] is None
    text = bench.cli("scheduler", "status").stdout
    assert "No scheduler is running" in text


def test_trigger_enqueues_once_and_runs_now(bench, tmp_path: Path) -> None:
    first = bench.cli("scheduler", "trigger", "daily", "--format", "json")
    assert first.exit_code == 0, first.output
    assert [(r["method"], r["status"]) for r in json.loads(first.stdout)["triggered"]] == [("testapp.jobs.noop",
                                                                                             "queued")]
    again = json.loads(bench.cli("scheduler", "trigger", "testapp.jobs.noop", "--format", "json").stdout)["triggered"]
    # the daily run is still queued, so it is skipped; the */5 cron event of the same method is queued
    assert sorted((r["event"], r["status"]) for r in again) == [("cron", "queued"), ("daily", "skipped")]
    now = json.loads(bench.cli("scheduler", "trigger", "daily", "--now", "--format", "json").stdout)["triggered"]
    assert now[0]["status"] == "finished"
    log = json.loads(bench.cli("scheduler", "log", "--method", "testapp.jobs.noop", "--format", "json").stdout)
    assert [r["kind"] for r in log["entries"]] == ["trigger", "trigger", "trigger", "end"]
    assert len(json.loads(bench.cli("scheduler", "log", "-n", "2", "--format", "json").stdout)["entries"]) == 2


def test_trigger_respects_max_queued_jobs(bench) -> None:
    """`scheduler trigger` goes through the one enqueue path: a full queue refuses it like any enqueue."""
    bench.set_config(max_queued_jobs=1)
    assert bench.cli("enqueue", "testapp.jobs.noop").exit_code == 0  # the default queue is now full
    doc = bench.cli("scheduler", "trigger", "daily", "--format", "json")
    assert doc.exit_code == 0, doc.output
    [row] = json.loads(doc.stdout)["triggered"]
    assert (row["status"], row["job_id"]) == ("skipped", None)
    assert "queue default is full (1 jobs queued, max_queued_jobs reached)" in row["reason"]
    table = bench.cli("scheduler", "trigger", "daily")
    assert "Skipped daily testapp.jobs.noop: queue default is full" in table.stdout
    [entry] = json.loads(bench.cli("scheduler", "log", "--format", "json").stdout)["entries"][-1:]
    assert (entry["kind"], entry["status"]) == ("trigger", "skipped") and "full" in entry["error"]
    bench.set_config(max_queued_jobs=0)
    assert json.loads(bench.cli("scheduler", "trigger", "daily", "--format", "json").stdout)["triggered"][0][
        "status"] == "queued"


def test_trigger_now_of_a_failing_method_exits_1_with_its_traceback(bench, tmp_path: Path) -> None:
    make_app(tmp_path, bench.bench, {"yearly": ["testapp.sched_jobs.boom"]})
    result = bench.cli("scheduler", "trigger", "testapp.sched_jobs.boom", "--now")
    assert result.exit_code == 1 and "failed" in result.stdout
    assert 'raise RuntimeError("scheduled boom")' in result.stderr  # the method's own frames ...
    assert "bench_jobs/" not in result.stderr  # ... not ours
    assert result.stderr.rstrip().endswith("Error: testapp.sched_jobs.boom failed: RuntimeError: scheduled boom")
    doc = bench.cli("scheduler", "trigger", "testapp.sched_jobs.boom", "--now", "--format", "json")
    assert doc.exit_code == 1
    assert [(r["status"], r["error"]) for r in json.loads(doc.stdout)["triggered"]] == [
        ("failed", "RuntimeError: scheduled boom")]
    log = json.loads(bench.cli("scheduler", "log", "--method", "testapp.sched_jobs.boom", "--format", "json").stdout)[
        "entries"]
    assert [(e["kind"], e["status"]) for e in log] == [("end", "failed")] * 2
    assert "scheduled boom" in log[0]["traceback"]


def test_bad_input_is_a_clean_error(bench) -> None:
    assert_clean_error(bench.cli("scheduler", "trigger", "nope.nothing"), "neither a scheduled event", "pick one of")
    assert_clean_error(bench.cli("scheduler", "pause", site="ghost.test"), "site 'ghost.test' does not exist")
    bench.set_config(redis_queue="redis://127.0.0.1:1")
    assert_clean_error(bench.cli("scheduler", "list"), "not reachable")


def test_help_has_examples(bench) -> None:
    for args in (("scheduler",), ("scheduler", "list"), ("scheduler", "trigger"), ("schedule",)):
        result = bench.cli(*args, "--help", site=None)
        assert result.exit_code == 0 and "Example" in result.stdout, args


def test_log_shows_times_in_the_sites_time_zone(bench) -> None:
    """`scheduler log` and `scheduler list` speak of a run in the same (site) time."""
    admin.create_site(bench.bench, "kolkata.test", "Asia/Kolkata")
    bench.bench.reload()
    assert bench.cli("scheduler", "trigger", "daily", site="kolkata.test").exit_code == 0
    entry = json.loads(bench.cli("scheduler", "log", "--format", "json", site="kolkata.test").stdout)["entries"][-1]
    local = datetime.fromtimestamp(float(entry["time"]), ZoneInfo("Asia/Kolkata")).strftime("%Y-%m-%d %H:%M:%S")
    table = bench.cli("scheduler", "log", site="kolkata.test").stdout
    assert local in table and "each site's time zone" in table
