"""The bench: init, new-site, add-app, use, discovery and config errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

from click.testing import CliRunner

from bench_jobs.bench import Bench
from bench_jobs.cli import cli
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
    bench = Bench.find(bench_dir)
    try:
        bench.queue_names()
    except Exception as exc:  # asserting the message
        assert "is not valid JSON" in str(exc)
    assert config.read_text() == '{"redis_queue": '
    assert result.exit_code == 0
