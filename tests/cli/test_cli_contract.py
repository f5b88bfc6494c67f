"""The CLI contract (docs/cli.md): one rule for sites, one error path, one JSON envelope, one emitter."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import BenchFixture, assert_clean_error
from tests.redis_server import free_port
from tests.sched_helpers import make_app

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / "bench_jobs" / "cli"

# Every listing: (argv, items key, site-scoped?)
LISTINGS = [
    (("show-pending-jobs",), "queues", True),
    (("jobs", "list"), "jobs", True),
    (("workers",), "workers", False),
    (("error-log", "list"), "errors", True),
    (("scheduler", "status"), "states", True),
    (("scheduler", "list"), "events", True),
    (("scheduler", "log"), "entries", True),
    (("doctor",), "checks", False),
    (("api-key", "list"), "keys", True),
]


@pytest.mark.parametrize(("args", "items", "scoped"), LISTINGS)
def test_every_listing_has_one_envelope(bench: BenchFixture, args: tuple[str, ...], items: str, scoped: bool) -> None:
    result = bench.cli(*args, "--format", "json")
    assert result.exit_code in (0, 1), result.output  # doctor exits 1 when unhealthy (no worker here)
    doc = json.loads(result.stdout)
    assert doc["bench_id"] == bench.bench.bench_id
    assert isinstance(doc[items], list) and doc["total"] >= len(doc[items])
    if scoped:
        assert doc["site"] == bench.site and doc["sites"] == [bench.site]
    else:
        assert "site" not in doc


@pytest.mark.parametrize("args", [("show-pending-jobs",), ("jobs", "list"), ("scheduler", "status"),
                                  ("scheduler", "list"), ("scheduler", "log")])
def test_one_rule_for_which_sites(bench: BenchFixture, args: tuple[str, ...]) -> None:
    """No site selected: the same error everywhere, naming --site and --all-sites; --all-sites: every site."""
    result = bench.cli(*args, site=None, env={"BENCH_SITE": None})
    assert_clean_error(result, "no site selected", "--site SITE", "--all-sites")
    doc = json.loads(bench.cli(*args, "--all-sites", "--format", "json", site=None).stdout)
    assert doc["site"] is None and set(doc["sites"]) >= {"site1.test", "site2.test"}


@pytest.mark.parametrize("args", [args for args, _, _ in LISTINGS if args not in (("api-key", "list"), ("doctor",))]
                         + [("jobs", "show", "x"), ("enqueue", "testapp.jobs.noop"), ("scheduler", "trigger", "daily")])
def test_a_down_redis_is_one_line_for_every_command(bench: BenchFixture, args: tuple[str, ...]) -> None:
    port = free_port()
    bench.set_config(redis_queue=f"redis://127.0.0.1:{port}")
    result = bench.cli(*args)
    assert_clean_error(result, f"Redis at redis://127.0.0.1:{port} is not reachable")
    assert len(result.stderr.strip().splitlines()) <= 2


def test_errors_are_translated_in_one_place_and_commands_do_not_import_each_other() -> None:
    sources = {path.name: path.read_text(encoding="utf-8") for path in CLI.glob("*.py")}
    assert not [name for name, text in sources.items() if "redis_errors" in text]
    shared = {"context", "output", "options"}
    commands = {path.stem for path in CLI.glob("*.py")} - shared - {"__init__"}
    crossing = [(name, other) for name, text in sources.items()
                for found in re.findall(r"from bench_jobs\.cli\.(\w+) import|from bench_jobs\.cli import (\w+)", text)
                for other in found if other in commands]
    assert not crossing, crossing


def test_tables_have_no_trailing_blanks(bench: BenchFixture) -> None:
    job_id = bench.cli("enqueue", "testapp.jobs.add", "--kwargs", '{"a": 1, "b": 2}').stdout.strip()
    for args in (("show-pending-jobs",), ("jobs", "list"), ("scheduler", "list"), ("jobs", "show", job_id),
                 ("doctor",), ("redis", "status")):
        text = bench.cli(*args).stdout
        assert text.strip() and not [line for line in text.splitlines() if line != line.rstrip()], (args, text)


def test_scheduler_list_shows_a_seconds_interval_as_every(bench: BenchFixture, tmp_path: Path) -> None:
    make_app(tmp_path, bench.bench, {"all": ["testapp.jobs.noop"]})
    bench.set_config(scheduler_interval=10)
    table = bench.cli("scheduler", "list").stdout
    assert "every 10s" in table and "*/10" not in table
    events = json.loads(bench.cli("scheduler", "list", "--format", "json").stdout)["events"]
    assert [e["cron"] for e in events if e["event"] == "all"] == ["* * * * * */10"]  # JSON keeps the cron


def test_a_skipped_trigger_says_why(bench: BenchFixture) -> None:
    first = bench.cli("scheduler", "trigger", "daily")
    assert first.exit_code == 0 and "Skipped" not in first.stdout
    again = bench.cli("scheduler", "trigger", "daily")
    assert again.exit_code == 0, again.output
    assert "skipped" in again.stdout and "previous run still queued or running (job " in again.stdout
    doc = json.loads(bench.cli("scheduler", "trigger", "daily", "--format", "json").stdout)
    assert doc["triggered"][0]["reason"].startswith("previous run still queued or running")
