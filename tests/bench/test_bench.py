"""The bench: init, new-site, add-app, use, discovery and config errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench_jobs.bench import settings as S
from bench_jobs.bench.admin import create_bench, create_site, use_site
from bench_jobs.bench.config import read_json, update_json
from bench_jobs.bench.layout import Bench
from bench_jobs.cli import cli
from bench_jobs.cli.context import Context
from bench_jobs.errors import ConfigError, SiteNotFound
from tests.conftest import assert_clean_error


def invoke(*args: str, cwd: Path | None = None, env: dict | None = None):
    runner = CliRunner()
    old = os.getcwd()
    try:
        if cwd:
            os.chdir(cwd)
        return runner.invoke(cli, list(args), env={"BENCH_PATH": None, "BENCH_SITE": None, **(env or {})})
    finally:
        os.chdir(old)


def test_init_new_site_use_and_discovery(tmp_path: Path) -> None:
    result = invoke("init", str(tmp_path / "b"), "--redis-port", "11500")
    assert result.exit_code == 0, result.output
    bench_dir = tmp_path / "b"
    common = json.loads((bench_dir / "sites" / "common_site_config.json").read_text())
    assert common["redis_queue"] == "redis://127.0.0.1:11500"
    assert (bench_dir / "sites" / "apps.txt").read_text() == ""

    result = invoke("new-site", "site1.local", "--time-zone", "Asia/Kolkata", cwd=bench_dir / "logs")
    assert result.exit_code == 0, result.output
    assert json.loads((bench_dir / "sites" / "site1.local" / "site_config.json").read_text()) == {
        "time_zone": "Asia/Kolkata"}

    assert invoke("use", "site1.local", env={"BENCH_PATH": str(bench_dir)}).exit_code == 0
    assert (bench_dir / "sites" / "currentsite.txt").read_text().strip() == "site1.local"
    assert Bench.find(bench_dir).default_site() == "site1.local"


def test_add_app_requires_an_importable_package(tmp_path: Path) -> None:
    invoke("init", str(tmp_path / "b"))
    bench_dir = tmp_path / "b"
    result = invoke("--bench", str(bench_dir), "add-app", "no_such_app_here")
    assert_clean_error(result, "not importable")
    assert (bench_dir / "sites" / "apps.txt").read_text() == ""
    assert invoke("--bench", str(bench_dir), "add-app", "testapp").exit_code == 0
    assert invoke("--bench", str(bench_dir), "add-app", "testapp").output.strip() == "testapp is already installed"
    assert (bench_dir / "sites" / "apps.txt").read_text() == "testapp\n"


def test_bad_inputs_are_one_clean_message(tmp_path: Path) -> None:
    assert_clean_error(invoke("new-site", "x", cwd=tmp_path), "no bench found", "bench-jobs init")
    invoke("init", str(tmp_path / "b"))
    bench_dir = tmp_path / "b"
    assert_clean_error(invoke("init", str(bench_dir)), "already a bench")
    assert_clean_error(invoke("--bench", str(bench_dir), "new-site", "s", "--time-zone", "Mars/Base"),
                       "unknown time zone")
    assert not (bench_dir / "sites" / "s").exists()
    assert_clean_error(invoke("--bench", str(bench_dir), "new-site", "../evil"), "not a valid site name")
    assert_clean_error(invoke("--bench", str(bench_dir), "use", "nosite"), "site 'nosite' does not exist")
    assert_clean_error(invoke("--bench", str(tmp_path / "nothing"), "use", "x"), "is not a bench")
    # A usage error stays Click's exit status 2.
    assert invoke("--bench", str(bench_dir), "new-site").exit_code == 2


def test_malformed_config_is_reported_not_rewritten(tmp_path: Path) -> None:
    invoke("init", str(tmp_path / "b"))
    bench_dir = tmp_path / "b"
    config = bench_dir / "sites" / "common_site_config.json"
    config.write_text('{"redis_queue": ')
    invoke("--bench", str(bench_dir), "new-site", "s1")
    result = invoke("--bench", str(bench_dir), "--site", "s1", "add-app", "testapp")
    # add-app does not read common config; a command that needs it reports the file and the line.
    assert result.exit_code == 0
    with pytest.raises(ConfigError, match=r"common_site_config.json is not valid JSON \(line 1, column 17"):
        Bench.find(bench_dir).queue_names()
    assert config.read_text() == '{"redis_queue": '


def test_discovery_order_for_bench_and_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--bench, else $BENCH_PATH, else the working directory upwards; --site, else $BENCH_SITE, else currentsite.txt."""
    one, two = create_bench(tmp_path / "one"), create_bench(tmp_path / "two")
    for bench in (one, two):
        for site in ("a.local", "b.local", "c.local"):
            create_site(bench, site)
    monkeypatch.delenv("BENCH_PATH", raising=False)
    monkeypatch.delenv("BENCH_SITE", raising=False)
    monkeypatch.chdir(one.logs_path)
    assert Context().bench.path == one.path
    monkeypatch.setenv("BENCH_PATH", str(two.path))
    assert Context().bench.path == two.path
    assert Context(bench_option=str(one.path)).bench.path == one.path

    assert Context().site is None
    use_site(two, "a.local")
    assert Context().site == "a.local"
    monkeypatch.setenv("BENCH_SITE", "b.local")
    assert Context().site == "b.local"
    assert Context(site_option="c.local").site == "c.local"
    with pytest.raises(SiteNotFound, match=r"'nope' does not exist in .*two"):
        _ = Context(site_option="nope").site


def test_config_merge_and_writes_keep_unknown_keys(tmp_path: Path) -> None:
    bench = create_bench(tmp_path / "b")
    create_site(bench, "s1", time_zone="Asia/Kolkata")
    update_json(bench.common_config_file, {"time_zone": "UTC", "max_queued_jobs": 10, "frappe_key": [1, 2]})
    update_json(bench.site_config_file("s1"), {"max_queued_jobs": 5, "db_name": "_abc", "redis_queue": "x"})
    bench.reload()
    merged = bench.merged_config("s1")
    assert merged["time_zone"] == "Asia/Kolkata" and merged["max_queued_jobs"] == 5
    assert merged["frappe_key"] == [1, 2] and merged["db_name"] == "_abc"
    assert S.MAX_QUEUED_JOBS.read(bench, "s1") == 5 and S.MAX_QUEUED_JOBS.read(bench) == 10
    # Bench-wide keys are not taken from a site: one Redis for the whole bench.
    assert bench.redis_url == "redis://127.0.0.1:11000"
    # Our writes (use, add-app, setup redis ...) change their own keys and keep the rest as they were.
    update_json(bench.common_config_file, {"use_rq_auth": True})
    assert read_json(bench.common_config_file) == {"redis_queue": "redis://127.0.0.1:11000", "background_workers": 1,
                                                   "time_zone": "UTC", "max_queued_jobs": 10, "frappe_key": [1, 2],
                                                   "use_rq_auth": True}


def test_a_write_that_fails_midway_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bench = create_bench(tmp_path / "b")
    before = bench.common_config_file.read_bytes()

    def full_disk(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError):
        update_json(bench.common_config_file, {"rq_password": "x" * 40})
    assert bench.common_config_file.read_bytes() == before
    assert sorted(p.name for p in bench.sites_path.iterdir()) == ["apps.txt", "common_site_config.json"]


def test_packaging_console_script_and_module(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "bench-jobs"
    for command in ([str(script)], [sys.executable, "-m", "bench_jobs"]):
        done = subprocess.run([*command, "--version"], capture_output=True, text=True, cwd=tmp_path, check=False)
        assert done.returncode == 0 and done.stdout.startswith("bench-jobs, version "), done.stdout + done.stderr


HEAVY = ("redis", "rq", "rich", "croniter", "prometheus_client", "bench_jobs.bench.layout", "bench_jobs.cli.worker")


def test_help_imports_no_heavy_module(tmp_path: Path) -> None:
    """`bench-jobs --help` stays fast: no Redis client, RQ, rich or command module is imported for it."""
    code = ("import sys\nfrom bench_jobs.cli import cli\n"
            "try:\n    cli.main(['--help'], prog_name='bench-jobs')\nexcept SystemExit:\n    pass\n"
            f"print('HEAVY', sorted(m for m in {HEAVY!r} if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert "Usage: bench-jobs" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "HEAVY []", done.stdout


@pytest.mark.parametrize(("key", "value", "args", "kind"), [
    ("worker_dead_after", "soon", ("worker", "--burst", "--no-fork"), "a number >= 0"),
    ("max_queued_jobs", "lots", ("enqueue", "testapp.jobs.noop"), "a whole number >= 0"),
    ("rq_results_ttl", -5, ("enqueue", "testapp.jobs.noop"), "a whole number >= 0"),
])
def test_a_non_numeric_setting_is_one_clean_error(bench, key: str, value, args: tuple[str, ...], kind: str) -> None:
    bench.set_config(**{key: value})
    result = bench.cli(*args)
    assert_clean_error(result, f"{key} in sites/common_site_config.json is {value!r}; it must be {kind}")
    client = bench.client()
    assert client.llen(f"rq:queue:{bench.bench.bench_id}:default") == 0
