"""Bad input and unreachable servers: exit status 1, one or two lines naming the problem and the fix,
no traceback, no secret printed, and no file rewritten (usage errors stay Click's exit status 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench_jobs.bench.admin import create_bench, create_site
from bench_jobs.bench.config import update_json
from bench_jobs.bench.layout import Bench
from bench_jobs.cli import cli
from bench_jobs.cli.context import Context
from bench_jobs.errors import ConfigError, RedisUnavailable, SiteNotFound
from tests.bench_redis import cleanup, new_bench, ok, run
from tests.conftest import assert_clean_error
from tests.redis_server import RedisProcess, free_port

SECRET = "not-the-right-password-4711"


def make(tmp_path: Path, url: str | None = None) -> Bench:
    bench = create_bench(tmp_path / "bench", free_port())
    create_site(bench, "site1.local")
    if url:
        update_json(bench.common_config_file, {"redis_queue": url})
    bench.reload()
    return bench


def invoke(bench: Bench | Path, *args: str):
    path = bench.path if isinstance(bench, Bench) else bench
    return CliRunner().invoke(cli, ["--bench", str(path), *args], env={"BENCH_SITE": None})


def one_or_two_lines(stderr: str) -> None:
    assert 1 <= len(stderr.strip().splitlines()) <= 2, stderr


def test_unreachable_redis(tmp_path: Path) -> None:
    port = free_port()
    bench = make(tmp_path, f"redis://127.0.0.1:{port}")
    result = invoke(bench, "redis", "status")
    assert_clean_error(result, f"Redis at redis://127.0.0.1:{port} is not reachable — "
                               "start it with `bench-jobs redis start`")
    one_or_two_lines(result.stderr)
    # Any command that needs Redis goes through Context.redis and says the same.
    with pytest.raises(RedisUnavailable) as caught:
        _ = Context(bench_option=str(bench.path)).redis
    assert f"redis://127.0.0.1:{port} is not reachable" in caught.value.message
    assert "bench-jobs redis start" in caught.value.hint
    # In a real process too.
    assert_clean_error(run("redis", "status", cwd=bench.path), "is not reachable")


def test_wrong_password_with_requirepass(tmp_path: Path, redis_factory) -> None:
    server: RedisProcess = redis_factory("--requirepass", "the-right-one")
    bench = make(tmp_path, server.url)
    result = invoke(bench, "redis", "status")
    assert_clean_error(result, "requires a password and none is configured", "rq_password")
    update_json(bench.common_config_file, {"use_rq_auth": True, "rq_username": "default", "rq_password": SECRET})
    result = invoke(bench, "redis", "status")
    assert_clean_error(result, f"Redis at {server.url} refused our credentials", "rq_password")
    one_or_two_lines(result.stderr)
    assert SECRET not in result.stderr + result.stdout
    update_json(bench.common_config_file, {"rq_password": "the-right-one"})
    assert invoke(bench, "redis", "status").exit_code == 0


def test_wrong_password_against_the_benchs_acl(tmp_path: Path) -> None:
    bench_dir, port = new_bench(tmp_path)
    with cleanup(bench_dir):
        ok(run("redis", "start", cwd=bench_dir))
        config = bench_dir / "sites" / "common_site_config.json"
        update_json(config, {"rq_password": SECRET})
        result = run("redis", "status", cwd=bench_dir)
        assert_clean_error(result, f"Redis at redis://127.0.0.1:{port} refused our credentials")
        assert SECRET not in result.stderr + result.stdout
        # stop needs no password: it signals the pid in the bench's pid file.
        ok(run("redis", "stop", cwd=bench_dir))


def test_missing_bench(tmp_path: Path) -> None:
    result = run("redis", "status", cwd=tmp_path)
    assert_clean_error(result, "no bench found", "bench-jobs init")
    one_or_two_lines(result.stderr)
    assert_clean_error(invoke(tmp_path / "nowhere", "setup", "redis"), "is not a bench")
    assert not (tmp_path / "nowhere").exists()


def test_unknown_site(tmp_path: Path) -> None:
    bench = make(tmp_path)
    result = run("use", "nosuch.site", cwd=bench.path)
    assert_clean_error(result, "site 'nosuch.site' does not exist", "site1.local")
    one_or_two_lines(result.stderr)
    assert not (bench.sites_path / "currentsite.txt").exists()
    # A default site that was deleted since `use`: reported when a command needs the site.
    (bench.sites_path / "currentsite.txt").write_text("gone.site\n")
    with pytest.raises(SiteNotFound, match=r"'gone\.site' does not exist"):
        Context(bench_option=str(bench.path)).require_site()


@pytest.mark.parametrize("command", [("redis", "status"), ("setup", "redis"), ("redis", "start")])
def test_malformed_common_site_config(tmp_path: Path, command: tuple[str, ...]) -> None:
    bench = make(tmp_path)
    broken = '{"redis_queue": "redis://127.0.0.1:1",\n  "background_workers": }\n'
    bench.common_config_file.write_text(broken)
    result = invoke(bench, *command)
    assert_clean_error(result, "common_site_config.json is not valid JSON (line 2, column", "fix the file")
    one_or_two_lines(result.stderr)
    assert bench.common_config_file.read_text() == broken
    assert not (bench.config_path / "redis_queue.conf").exists()
    assert not (bench.config_path / "redis_queue.acl").exists()


def test_malformed_site_config(tmp_path: Path) -> None:
    bench = make(tmp_path)
    site_file = bench.site_config_file("site1.local")
    site_file.write_text('{"time_zone": "Asia/Kolkata"')
    result = run("use", "site1.local", cwd=bench.path)
    assert_clean_error(result, "site1.local/site_config.json is not valid JSON", "fix the file")
    one_or_two_lines(result.stderr)
    assert site_file.read_text() == '{"time_zone": "Asia/Kolkata"'
    assert not (bench.sites_path / "currentsite.txt").exists()
    # The merged config a job gets is refused the same way.
    with pytest.raises(Exception, match="is not valid JSON"):
        bench.merged_config("site1.local")


def test_a_bad_redis_url_and_usage_errors(tmp_path: Path) -> None:
    bench = make(tmp_path, "http://example.com")
    assert_clean_error(invoke(bench, "setup", "redis"), "is not a Redis URL with a port")
    assert json.loads(bench.common_config_file.read_text())["redis_queue"] == "http://example.com"
    assert invoke(bench, "setup", "redis", "--no-such-flag").exit_code == 2
    assert invoke(bench, "redis", "status", "--format", "yaml").exit_code == 2


@pytest.mark.parametrize(("content", "message"), [
    (b"\xff\xfe{", "common_site_config.json is not UTF-8 text"),
    (b'{"workers": {"reports": {"timeout": "ten"}}}',
     "workers.reports.timeout in sites/common_site_config.json is 'ten'"),
])
def test_config_values_of_the_wrong_kind(tmp_path: Path, content: bytes, message: str) -> None:
    bench = make(tmp_path)
    bench.common_config_file.write_bytes(content)
    result = invoke(bench, "--site", "site1.local", "show-pending-jobs")
    assert_clean_error(result, message)
    one_or_two_lines(result.stderr)
    assert bench.common_config_file.read_bytes() == content


def test_a_worker_count_must_be_a_whole_number(tmp_path: Path) -> None:
    bench = make(tmp_path)
    update_json(bench.common_config_file, {"background_workers": "two"})
    bench.reload()
    with pytest.raises(ConfigError, match=r"background_workers in sites/common_site_config\.json is 'two'"):
        bench.workers_for("default")
    update_json(bench.common_config_file, {"background_workers": "2", "workers": {"long": {"background_workers": 3}}})
    bench.reload()
    assert bench.workers_for("default") == 2 and bench.workers_for("long") == 3


def test_a_config_path_that_is_a_directory(tmp_path: Path) -> None:
    bench = make(tmp_path)
    bench.common_config_file.unlink()
    bench.common_config_file.mkdir()
    assert_clean_error(invoke(bench, "redis", "status"), "cannot read", "common_site_config.json")


def test_table_cells_are_text_not_markup(capsys: pytest.CaptureFixture[str]) -> None:
    """A job argument like "[/x]" is shown as it is; as Rich markup it would raise (a traceback) or vanish."""
    from bench_jobs.cli import output as render

    render.table([{"method": "app.jobs.run", "kwargs": {"note": "[/oops] [bold]b[/bold] :smile:"}}],
                 ["method", "kwargs"])
    assert '{"note": "[/oops] [bold]b[/bold] :smile:"}' in capsys.readouterr().out
