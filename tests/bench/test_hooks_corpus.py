"""hooks.py as Frappe runs it: each shape in tests/hooks_corpus lists exactly the events it declares.

Frappe is not installed here, so every shape that imports it runs against bench-jobs' stand-in; the
stand-in must be gone from sys.modules afterwards.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench_jobs.bench import admin, events, hooks

CORPUS = Path(__file__).parent.parent / "hooks_corpus"
TASKS = ("every_tick", "sync", "cleanup", "report", "rebuild", "poll")

D, H, W, M = "0 0 * * *", "0 * * * *", "0 0 * * 0", "0 0 1 * *"
ALL = "*/4 * * * *"
# shape -> the (event, cron, task) Frappe would schedule for it
DECLARED: dict[str, set[tuple[str, str, str]]] = {
    "literal": {("all", ALL, "every_tick"), ("hourly", H, "sync"), ("daily", D, "cleanup"), ("daily", D, "report"),
                ("weekly_long", W, "rebuild"), ("cron", "0/15 * * * *", "poll")},
    "subscript": {("cron", "0 1 * * *", "cleanup"), ("cron", "30 2 * * *", "report"), ("daily", D, "sync"),
                  ("hourly_long", H, "rebuild")},
    "update": {("daily", D, "cleanup"), ("hourly", H, "sync"), ("cron", "*/10 * * * *", "poll")},
    "conditional": {("daily", D, "cleanup"), ("hourly", H, "sync"), ("weekly", W, "report")},
    "helper_function": {("daily_long", D, "rebuild"), ("hourly", H, "sync"), ("cron", "0 6 * * 1-5", "report")},
    "globals_dict": {("daily", D, "cleanup"), ("monthly", M, "report")},
    "list_concat": {("daily", D, "cleanup"), ("daily", D, "report"), ("hourly", H, "sync"),
                    ("cron", "0 3 * * *", "rebuild")},
    "name_ref": {("daily", D, "cleanup"), ("daily", D, "report"), ("cron", "0 2 * * *", "rebuild")},
    "splat": {("daily", D, "cleanup"), ("hourly", H, "sync"), ("hourly", H, "poll"), ("monthly_long", M, "rebuild")},
    "title_case": {("hourly", H, "sync"), ("daily_long", D, "rebuild"), ("weekly", W, "report"),
                   ("cron", "0 4 * * *", "cleanup")},
    "not_frappe_events": {("daily", D, "cleanup"), ("cron_long", "0 5 * * 0", "rebuild")},
    "erpnext_like": {("cron", "0/15 * * * *", "poll"), ("cron", "0/15 * * * *", "sync"),
                     ("cron", "0/30 * * * *", "every_tick"), ("cron", "45 0 * * *", "report"), ("hourly", H, "sync"),
                     ("hourly_long", H, "rebuild"), ("daily", D, "cleanup"), ("daily_long", D, "rebuild"),
                     ("weekly", W, "report"), ("monthly_long", M, "rebuild")},
    "unreadable": set(),
    "empty_without_site": set(),  # computed, empty outside a site: listed as nothing, but flagged
}
# shape -> hooks keys Frappe does not know: listed as errors, never run
REFUSED = {"not_frappe_events": {"all_long", "yearly_long"}}


def install_shape(tmp_path: Path, shape: str) -> tuple[admin.Bench, str]:
    app = f"corpus_{shape}"
    package = tmp_path / "apps" / app
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "tasks.py").write_text("".join(f"def {name}():\n    pass\n\n\n" for name in TASKS))
    (package / "hooks.py").write_text((CORPUS / f"{shape}.py").read_text().replace("corpusapp", app))
    bench = admin.create_bench(tmp_path / "bench")
    (bench.sites_path / "apps.txt").write_text(f"{app}\n")
    bench.reload()
    return bench, app


@pytest.fixture
def apps_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path / "apps"))
    return tmp_path


def test_the_corpus_has_a_declaration_for_every_shape() -> None:
    assert {p.stem for p in CORPUS.glob("*.py")} == set(DECLARED)


@pytest.mark.parametrize("shape", sorted(DECLARED))
def test_events_listed_are_the_events_declared(apps_path: Path, shape: str) -> None:
    bench, app = install_shape(apps_path, shape)
    rows = hooks.load_events(bench)
    listed = {(r.event, r.cron, r.method.rpartition(".")[2]) for r in rows if r.ok}
    assert listed == DECLARED[shape], [r for r in rows if not r.ok]
    refused = {r.event for r in rows if not r.ok and r.event}
    assert refused == REFUSED.get(shape, set())
    assert all(r.method.startswith(f"{app}.tasks.") for r in rows if r.ok)
    # the stand-in for frappe was there only while hooks.py ran
    assert "frappe" not in sys.modules and not any(name.startswith("frappe.") for name in sys.modules)
    problems = dict(hooks.problems(bench))
    if shape == "unreadable":
        assert len(rows) == 1 and rows[0].error and "no event of" in problems[app]
    elif shape == "empty_without_site":
        assert rows == [] and "comes out empty outside a Frappe site" in problems[app]
    else:
        assert app not in problems


def test_all_long_and_yearly_long_are_refused_with_frappes_events_named(apps_path: Path) -> None:
    bench, _ = install_shape(apps_path, "not_frappe_events")
    errors = {r.event: r.error for r in hooks.load_events(bench) if not r.ok}
    assert "unknown scheduler event 'all_long'" in errors["all_long"]
    assert "hourly_maintenance" in errors["yearly_long"] and "cron_long" in errors["yearly_long"]


def test_event_keys_are_normalised_as_frappe_title_cases_them() -> None:
    assert events.normalise_event("Hourly") == "hourly"
    assert events.normalise_event("Daily_Long") == "daily_long"
    assert events.normalise_event("hourly long") == "hourly_long"
    assert events.normalise_event("CRON") == "cron"
    assert events.normalise_event("all_long") == "all_long"  # unknown: left as written, then refused


def test_a_hooks_file_that_only_parses_is_read_from_the_syntax_tree_and_flagged(apps_path: Path) -> None:
    package = apps_path / "apps" / "astonly"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "tasks.py").write_text("def cleanup():\n    pass\n")
    (package / "hooks.py").write_text("scheduler_events = {'daily': ['astonly.tasks.cleanup']}\n"
                                      "raise SystemError('needs a site')\n")
    bench = admin.create_bench(apps_path / "bench")
    (bench.sites_path / "apps.txt").write_text("astonly\n")
    bench.reload()
    assert [(r.event, r.method) for r in hooks.load_events(bench) if r.ok] == [("daily", "astonly.tasks.cleanup")]
    assert "only the literal scheduler_events was read" in dict(hooks.problems(bench))["astonly"]


def test_a_real_frappe_already_imported_is_left_alone(apps_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    real = types.ModuleType("frappe")
    real._ = lambda text: f"translated {text}"  # type: ignore[attr-defined]
    real.conf = {}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "frappe", real)
    bench, _ = install_shape(apps_path, "literal")
    assert len([r for r in hooks.load_events(bench) if r.ok]) == len(DECLARED["literal"])
    assert sys.modules["frappe"] is real


def test_the_syntax_tree_reader_applies_literal_changes_too() -> None:
    """When hooks.py cannot run at all, the fallback still follows literal subscript assignments,
    .update, .append and .extend after the literal, in order."""
    subscript = hooks.read_literal((CORPUS / "subscript.py").read_text())
    assert subscript == {"cron": {"0 1 * * *": ["corpusapp.tasks.cleanup"], "30 2 * * *": ["corpusapp.tasks.report"]},
                         "daily": ["corpusapp.tasks.sync"], "hourly_long": ["corpusapp.tasks.rebuild"]}
    update = hooks.read_literal((CORPUS / "update.py").read_text())
    assert set(update) == {"daily", "hourly", "cron"}
    assert hooks.read_literal("scheduler_events = {'daily': []}\nscheduler_events['daily'].extend(['a.b', 'c.d'])\n"
                              "scheduler_events[compute()] = ['x.y']\n") == {"daily": ["a.b", "c.d"]}
