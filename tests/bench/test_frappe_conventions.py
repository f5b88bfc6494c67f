"""Frappe's conventions: bench_id derived from the bench path, default_site, `--site all`, per-site
scheduler_interval."""

from __future__ import annotations

import json
import os
from pathlib import Path

from bench_jobs.bench import admin
from bench_jobs.bench.config import update_json
from bench_jobs.bench.layout import Bench
from tests.conftest import BenchFixture, assert_clean_error, read_json_file


def test_default_bench_id_is_frappes_path_derived_id(tmp_path: Path) -> None:
    bench = admin.create_bench(tmp_path / "frappe-bench")
    expected = os.path.realpath(tmp_path / "frappe-bench").strip("/").replace("/", "-")
    assert bench.bench_id == expected  # /home/frappe/frappe-bench -> home-frappe-frappe-bench
    (tmp_path / "link").symlink_to(tmp_path / "frappe-bench")
    assert Bench(tmp_path / "link").bench_id == expected  # realpath, as Frappe's get_bench_path
    update_json(bench.common_config_file, {"bench_id": "shared"})
    bench.reload()
    assert bench.bench_id == "shared"


def test_jobs_land_on_the_queue_frappe_would_name(bench: BenchFixture) -> None:
    expected = os.path.realpath(bench.path).strip("/").replace("/", "-")
    result = bench.run("--site", bench.site, "enqueue", "testapp.jobs.noop")
    assert result.returncode == 0, result.stderr
    assert bench.client().llen(f"rq:queue:{expected}:default") == 1


def test_default_site_from_common_config_wins_over_currentsite(bench: BenchFixture) -> None:
    (bench.bench.sites_path / "currentsite.txt").write_text("site1.test\n")
    bench.set_config(default_site="site2.test")
    doc = json.loads(bench.cli("scheduler", "status", "--format", "json", site=None).stdout)
    assert [s["site"] for s in doc["states"]] == ["site2.test"]
    assert bench.cli("use", "site1.test", site=None).exit_code == 0
    assert read_json_file(bench.bench.common_config_file)["default_site"] == "site1.test"
    assert (bench.bench.sites_path / "currentsite.txt").read_text().strip() == "site1.test"
    result = bench.run("scheduler", "status", "--format", "json")
    assert [s["site"] for s in json.loads(result.stdout)["states"]] == ["site1.test"]


def test_site_all_acts_on_every_site(bench: BenchFixture) -> None:
    assert bench.cli("scheduler", "pause", site="all").exit_code == 0
    for site in ("site1.test", "site2.test"):
        assert read_json_file(bench.bench.site_config_file(site))["pause_scheduler"] == 1
    doc = json.loads(bench.run("--site", "all", "scheduler", "status", "--format", "json").stdout)
    assert {(s["site"], s["state"]) for s in doc["states"]} == {("site1.test", "paused"), ("site2.test", "paused")}
    listed = json.loads(bench.run("--site", "all", "scheduler", "list", "--format", "json").stdout)["events"]
    assert {r["site"] for r in listed} == {"site1.test", "site2.test"}
    pending = bench.run("--site", "all", "show-pending-jobs", "--format", "json")
    assert pending.returncode == 0, pending.stderr


def test_site_all_on_a_one_site_command_is_a_clean_error(bench: BenchFixture) -> None:
    assert_clean_error(bench.cli("error-log", "show", "1-0", site="all"), "acts on one site", "--site SITE")


def test_site_all_enqueues_one_job_per_site_and_reads_every_error_log(bench: BenchFixture) -> None:
    result = bench.run("--site", "all", "enqueue", "testapp.jobs.noop")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.split()) == 2
    assert bench.client().llen(f"rq:queue:{bench.bench.bench_id}:default") == 2
    for site in ("site1.test", "site2.test"):
        failed = bench.run("--site", site, "execute", "testapp.jobs.fail")
        assert failed.returncode == 1
    listed = json.loads(bench.run("--site", "all", "error-log", "list", "--format", "json").stdout)
    assert listed["sites"] == ["site1.test", "site2.test"]
    cleared = bench.run("--site", "all", "error-log", "clear", "--yes")
    assert cleared.returncode == 0 and cleared.stdout.count("from the Error Log of") == 2


def test_scheduler_interval_per_site(bench: BenchFixture, tmp_path: Path) -> None:
    from tests.sched_helpers import make_app

    app = make_app(tmp_path, bench.bench, {"all": ["testapp.jobs.noop"]})
    bench.set_config(scheduler_interval=120)
    bench.set_config("site1.test", scheduler_interval=60)
    rows = json.loads(bench.run("--site", "all", "scheduler", "list", "--format", "json").stdout)["events"]
    crons = {r["site"]: r["cron"] for r in rows if r["event"] == "all"}
    assert crons == {"site1.test": "* * * * *", "site2.test": "*/2 * * * *"}, app


def test_a_running_scheduler_follows_each_sites_interval(bench: BenchFixture, tmp_path: Path) -> None:
    import subprocess

    from tests.sched_helpers import log_entries, make_app
    from tests.waiting import wait_for

    make_app(tmp_path, bench.bench, {"all": ["testapp.jobs.sleep"]})
    bench.set_config("site1.test", scheduler_interval=1)  # every second
    bench.set_config("site2.test", scheduler_interval=86400)  # daily
    proc = bench.popen("scheduler", "run", "--quiet", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def entries(site: str, kind: str) -> list[dict]:
            return [e for e in log_entries(bench.client(), bench.bench, site, kind=kind)
                    if e.get("method") == "testapp.jobs.sleep"]

        wait_for(lambda: entries("site1.test", "queued"), what="site1's `all` queued within seconds")
        wait_for(lambda: entries("site1.test", "skipped"), what="site1's next second (still queued: skipped)")
        assert entries("site2.test", "queued") == []
    finally:
        proc.terminate()
        proc.wait(timeout=30)
