"""Site settings from the site's own MariaDB, as Frappe keeps them (System Settings in tabSingles, the
installed_apps global), against a real mariadbd the tests start; site_config.json where no database answers."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

from tests.conftest import BenchFixture, assert_clean_error
from tests.sched_helpers import log_entries, make_app
from tests.waiting import wait_for


def site_database(mariadb, bench: BenchFixture, site: str, **settings) -> str:
    name = f"_{uuid.uuid4().hex[:12]}"
    bench.set_config(site, **mariadb.create_site_db(name, "s3cret-pw", **settings))
    return name


def status(bench: BenchFixture, site: str = "all") -> dict[str, dict]:
    result = bench.run("--site", site, "scheduler", "status", "--format", "json")
    assert result.returncode == 0, result.stderr
    return {s["site"]: s for s in json.loads(result.stdout)["states"]}


def test_enable_scheduler_and_time_zone_come_from_the_database(mariadb, bench: BenchFixture) -> None:
    name = site_database(mariadb, bench, "site1.test", enable_scheduler="0", time_zone="Asia/Kolkata")
    bench.set_config("site1.test", time_zone="Europe/Berlin", enable_scheduler=1)  # the database wins
    sites = status(bench)
    assert sites["site1.test"]["state"] == "disabled" and sites["site1.test"]["time_zone"] == "Asia/Kolkata"
    assert sites["site1.test"]["settings_from"] == f"database {name}@127.0.0.1:{mariadb.port}"
    assert sites["site2.test"]["state"] == "active" and sites["site2.test"]["settings_from"].startswith("site_config")
    text = bench.run("--site", "site1.test", "scheduler", "status").stdout
    assert f"database {name}@127.0.0.1" in text


def test_the_database_time_zone_drives_next_runs_and_enqueue_at(mariadb, bench: BenchFixture) -> None:
    site_database(mariadb, bench, "site1.test", enable_scheduler="1", time_zone="Asia/Kolkata")
    events = json.loads(bench.run("--site", "site1.test", "scheduler", "list", "--format", "json").stdout)["events"]
    assert events and all(e["next_run"].endswith("+05:30") for e in events)
    text = bench.run("--site", "site1.test", "scheduler", "status").stdout
    assert "Asia/Kolkata" in text and "all of apps.txt" in text  # no installed_apps stored in this database
    queued = bench.run("--site", "site1.test", "enqueue", "testapp.jobs.noop", "--at", "2099-01-01 10:00")
    assert queued.returncode == 0, queued.stderr
    assert "2099-01-01T10:00:00+05:30" in queued.stderr


def test_enable_and_disable_write_system_settings_as_frappe_does(mariadb, bench: BenchFixture) -> None:
    name = site_database(mariadb, bench, "site1.test", enable_scheduler=None)
    assert status(bench, "site1.test")["site1.test"]["state"] == "disabled"  # unset in Frappe means off
    assert bench.run("--site", "site1.test", "scheduler", "enable").returncode == 0
    assert mariadb.single(name, "enable_scheduler") == "1"
    assert status(bench, "site1.test")["site1.test"]["state"] == "active"
    assert bench.run("--site", "site1.test", "scheduler", "disable").returncode == 0
    assert mariadb.single(name, "enable_scheduler") == "0"
    assert "enable_scheduler" not in json.loads(bench.bench.site_config_file("site1.test").read_text())


def test_an_unreachable_database_falls_back_to_site_config_and_says_why(bench: BenchFixture) -> None:
    from tests.redis_server import free_port

    bench.set_config("site1.test", db_name="nowhere", db_password="x", db_host="127.0.0.1", db_port=free_port(),
                     time_zone="Europe/Berlin")
    site = status(bench, "site1.test")["site1.test"]
    assert site["state"] == "active" and site["time_zone"] == "Europe/Berlin"
    assert site["settings_from"].startswith("site_config.json (database unreachable: ")
    doctor = json.loads(bench.run("doctor", "--format", "json").stdout)
    check = next(c for c in doctor["checks"] if c["name"] == "site-db:site1.test")
    assert check["status"] == "warn" and "database unreachable" in check["detail"]


def test_wrong_password_is_a_fallback_not_a_traceback(mariadb, bench: BenchFixture) -> None:
    site_database(mariadb, bench, "site1.test")
    bench.set_config("site1.test", db_password="wrong")
    result = bench.run("--site", "site1.test", "scheduler", "status", "--format", "json")
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert "Access denied" in json.loads(result.stdout)["states"][0]["settings_from"]


def test_an_apps_events_run_only_on_sites_that_have_it_installed(mariadb, bench: BenchFixture,
                                                                 tmp_path: Path) -> None:
    app = make_app(tmp_path, bench.bench, {})
    package = tmp_path / "sched_apps" / app
    (package / "tasks.py").write_text("def tick():\n    pass\n")
    (package / "hooks.py").write_text(f"scheduler_events = {{'cron': {{'* * * * * */1': ['{app}.tasks.tick']}}}}\n")
    method = f"{app}.tasks.tick"
    site_database(mariadb, bench, "site1.test", installed_apps=["frappe", "testapp"])  # not `app`
    listed = json.loads(bench.run("--site", "all", "scheduler", "list", "--format", "json").stdout)["events"]
    assert {r["site"] for r in listed if r["method"] == method} == {"site2.test"}
    assert {r["site"] for r in listed if r["method"] == "testapp.jobs.noop"} == {"site1.test", "site2.test"}
    sites = status(bench)
    assert sites["site1.test"]["apps"] == ["testapp"]  # frappe is not on this bench
    assert sites["site2.test"]["apps"] is None  # no database: every app of apps.txt

    proc = bench.popen("scheduler", "run", "--quiet", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def entries(site: str, kind: str) -> list[dict]:
            return [e for e in log_entries(bench.client(), bench.bench, site, kind=kind) if e["method"] == method]

        wait_for(lambda: entries("site2.test", "queued"), what=f"{method} queued on site2")
        # no worker runs it, so the next slot is skipped on site2: by then site1 had its chances too
        wait_for(lambda: entries("site2.test", "skipped"), what=f"a later slot of {method} on site2")
        assert entries("site1.test", "queued") == [] and entries("site1.test", "skipped") == []
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_settings_without_db_name_never_import_pymysql(bench: BenchFixture) -> None:
    code = ("import sys; from pathlib import Path; from bench_jobs.bench.layout import Bench; "
            "from bench_jobs.bench import site_db; "
            f"s = site_db.read(Bench(Path({str(bench.path)!r})), 'site1.test'); "
            "print(s.source, 'pymysql' in sys.modules)")
    out = subprocess.run([__import__("sys").executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["site_config", "False"]


def test_a_bad_db_port_is_one_clear_line(bench: BenchFixture) -> None:
    bench.set_config("site1.test", db_name="x", db_port="abc")
    assert_clean_error(bench.run("--site", "site1.test", "scheduler", "status"),
                       "db_port in sites/site1.test/site_config.json is 'abc'")
