"""Reading scheduler_events from apps' hooks.py: imported, or read from the AST when the import fails."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bench_jobs.bench import admin, events, hooks
from bench_jobs.bench.config import update_json
from bench_jobs.bench.layout import Bench
from bench_jobs.errors import CronError


def make_bench(tmp_path: Path, *apps: str) -> Bench:
    bench = admin.create_bench(tmp_path / "bench")
    for app in apps:
        admin.add_app(bench, app)
    bench.reload()
    return bench


def by_method(rows: list[events.ScheduledEvent]) -> dict[tuple[str, str], events.ScheduledEvent]:
    return {(r.event, r.method): r for r in rows}


def test_imported_hooks(tmp_path: Path) -> None:
    rows = hooks.load_events(make_bench(tmp_path, "testapp"))
    got = by_method(rows)
    assert got[("cron", "testapp.jobs.noop")].cron == "*/5 * * * *"
    assert got[("daily", "testapp.jobs.noop")].cron == "0 0 * * *"
    assert all(r.ok and r.queue == "default" and r.app == "testapp" for r in rows)


def test_hooks_that_import_a_missing_module_still_yield_their_events(tmp_path: Path) -> None:
    rows = hooks.load_events(make_bench(tmp_path, "testapp", "otherapp"))
    got = by_method([r for r in rows if r.app == "otherapp" and r.ok])
    assert got[("hourly_long", "otherapp.tasks.rebuild_index")].queue == "long"
    assert got[("hourly_long", "otherapp.tasks.rebuild_index")].ok
    assert got[("cron", "otherapp.tasks.nightly_report")].cron == "15 3 * * *"
    assert got[("cron_long", "otherapp.tasks.rebuild_index")].queue == "long"


def test_bad_entries_are_reported_and_the_rest_kept(tmp_path: Path) -> None:
    rows = [r for r in hooks.load_events(make_bench(tmp_path, "testapp", "otherapp")) if r.app == "otherapp"]
    errors = {(r.event, r.method, r.cron): r.error for r in rows if not r.ok}
    assert "invalid cron" in errors[("cron", "otherapp.tasks.nightly_report", "99 * * * *")]
    assert "has no function or module 'does_not_exist'" in \
        errors[("weekly", "otherapp.tasks.does_not_exist", "0 0 * * 0")]
    assert "not in an installed app" in errors[("weekly", "nowhere.module.function", "0 0 * * 0")]
    # the worker's allow-list decides: bench_jobs internals are not jobs, so not scheduled events either
    assert "internal to bench_jobs" in errors[("weekly", "bench_jobs.bench.config.write_atomic", "0 0 * * 0")]
    assert "unknown scheduler event 'fortnightly'" in errors[("fortnightly", "otherapp.tasks.nightly_report", "")]
    assert sum(r.ok for r in rows) == 3


def test_read_literal_handles_plain_and_annotated_assignments() -> None:
    assert hooks.read_literal("x = 1\nscheduler_events = {'daily': ['a.b']}\n") == {"daily": ["a.b"]}
    assert hooks.read_literal("scheduler_events: dict = {'cron': {'* * * * *': ['a.b']}}") == \
        {"cron": {"* * * * *": ["a.b"]}}
    assert hooks.read_literal("app_name = 'x'") is None


def test_hooks_that_are_neither_importable_nor_literal_are_one_error(tmp_path: Path, monkeypatch) -> None:
    app = tmp_path / "apps" / "weirdapp"
    app.mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "hooks.py").write_text("import frappe\nscheduler_events = frappe.get_events()\n")
    monkeypatch.syspath_prepend(str(tmp_path / "apps"))
    rows = hooks.load_events(make_bench(tmp_path, "weirdapp"))
    assert len(rows) == 1 and "is not a literal" in rows[0].error


def test_all_uses_scheduler_interval_and_edits_are_seen(tmp_path: Path, monkeypatch) -> None:
    app = tmp_path / "apps" / "editapp"
    app.mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "jobs.py").write_text("def run():\n    pass\n")
    hooks_py = app / "hooks.py"
    hooks_py.write_text("scheduler_events = {'all': ['editapp.jobs.run']}\n")
    monkeypatch.syspath_prepend(str(tmp_path / "apps"))
    bench = make_bench(tmp_path, "editapp")
    update_json(bench.common_config_file, {"scheduler_interval": 120})
    bench.reload()
    assert [(r.event, r.cron) for r in hooks.load_events(bench)] == [("all", "*/2 * * * *")]
    hooks_py.write_text("scheduler_events = {'hourly': ['editapp.jobs.run'], 'daily_long': ['editapp.jobs.run']}\n")
    later = time.time() + 5
    os.utime(hooks_py, (later, later))
    assert [(r.event, r.queue) for r in hooks.load_events(bench)] == [("hourly", "default"), ("daily_long", "long")]


def test_event_keys_are_stable_and_distinct() -> None:
    a = events.ScheduledEvent("a", "cron", "a.b.c", "* * * * *", "default")
    b = events.ScheduledEvent("a", "cron_long", "a.b.c", "* * * * *", "long")
    c = events.ScheduledEvent("a", "daily", "a.b.c", "0 0 * * *", "default")
    assert len({a.key, b.key, c.key}) == 3
    assert a.digest == events.ScheduledEvent("a", "cron", "a.b.c", "* * * * *", "default").digest


@pytest.mark.parametrize(("event", "expected"), [
    ("hourly", "0 * * * *"), ("daily", "0 0 * * *"), ("weekly", "0 0 * * 0"), ("monthly", "0 0 1 * *"),
    ("yearly", "0 0 1 1 *"), ("annual", "0 0 1 1 *"), ("daily_long", "0 0 * * *"),
    ("hourly_maintenance", "0 * * * *"), ("all", "*/4 * * * *"),
])
def test_named_events(event: str, expected: str) -> None:
    assert events.event_cron(event) == expected


def test_all_follows_scheduler_interval() -> None:
    assert events.event_cron("all", 60) == "* * * * *"
    assert events.event_cron("all", 600) == "*/10 * * * *"
    assert events.event_cron("all", 5) == "* * * * * */5"
    # an hour or more goes to the hour field (`*/120` minutes would mean "minute 0 of every hour")
    assert events.event_cron("all", 3600) == "0 * * * *"
    assert events.event_cron("all", 3 * 3600) == "0 */3 * * *"
    assert events.event_cron("all", 2 * 86400) == "0 0 * * *"


def test_unknown_event_and_bad_cron_are_errors() -> None:
    with pytest.raises(CronError, match="not a scheduler event"):
        events.event_cron("fortnightly")
    with pytest.raises(CronError, match="invalid cron"):
        events.validate("61 * * * *")
    with pytest.raises(CronError, match="expected 5 fields"):
        events.validate("* * *")
