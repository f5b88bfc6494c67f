"""The Error Log: log_error (library and job code), the capped stream, error-log list|show|clear."""

from __future__ import annotations

import json
import time

from bench_jobs.bench import context
from bench_jobs.jobs.keys import Keys
from bench_jobs.logs import error_log as errorlog
from tests.conftest import BenchFixture, assert_clean_error
from tests.inspect_helpers import snapshot


def log(bench: BenchFixture, title: str = "Job failed", **kw) -> str:
    context.reset_clients()
    with context.using(bench.bench, kw.pop("site", bench.site)):
        return errorlog.log_error(title, **kw)


def test_log_error_uses_the_current_site_and_is_exported(bench: BenchFixture) -> None:
    import bench_jobs

    assert bench_jobs.log_error is errorlog.log_error
    entry_id = log(bench, "Report failed", message="details", method="testapp.jobs.fail", job_id="j1",
                   traceback="Traceback...\nValueError: boom")
    [entry] = bench.client().xrange(Keys(bench.bench.bench_id).error_log("site1.test"))
    assert entry[0].decode() == entry_id
    fields = {k.decode(): v.decode() for k, v in entry[1].items()}
    assert fields["title"] == "Report failed" and fields["method"] == "testapp.jobs.fail"
    assert fields["job_id"] == "j1" and fields["message"] == "details" and "ValueError" in fields["traceback"]
    assert fields["time"].endswith("+00:00")
    log(bench, "other site", site="site2.test")
    assert bench.client().xlen(Keys(bench.bench.bench_id).error_log("site2.test")) == 1


def test_stream_is_capped(bench: BenchFixture) -> None:
    bench.set_config(error_log_limit=100)
    client, keys = bench.client(), Keys(bench.bench.bench_id)
    for n in range(1000):
        errorlog.add_entry(client, keys, "site1.test", 100, title=f"e{n}")
    log(bench, "last")
    assert client.xlen(keys.error_log("site1.test")) < 300  # MAXLEN ~ trims whole nodes


def test_list_show_json_and_table(bench: BenchFixture) -> None:
    first = log(bench, "First", method="testapp.jobs.fail", job_id="job-1", traceback="TB one")
    second = log(bench, "Second")
    result = bench.cli("error-log", "list", "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["site"] == "site1.test" and doc["total"] == 2
    assert [e["id"] for e in doc["errors"]] == [second, first]
    assert doc["errors"][1]["method"] == "testapp.jobs.fail" and doc["errors"][1]["job_id"] == "job-1"
    table = bench.cli("error-log", "list", "--limit", "1")
    assert table.exit_code == 0 and "newest 1 of 2" in table.stdout and second in table.stdout
    assert first not in table.stdout
    shown = json.loads(bench.cli("error-log", "show", first, "--format", "json").stdout)
    assert shown["title"] == "First" and shown["traceback"] == "TB one"
    text = bench.cli("error-log", "show", first)
    assert text.exit_code == 0 and "TB one" in text.stdout and "First" in text.stdout
    assert "is empty" in bench.cli("error-log", "list", site="site2.test").stdout


def test_clear_all_and_older_than(bench: BenchFixture) -> None:
    client, keys = bench.client(), Keys(bench.bench.bench_id)
    old_id = f"{int((time.time() - 10 * 86400) * 1000)}-0"
    client.xadd(keys.error_log("site1.test"), {"title": "old"}, id=old_id)
    log(bench, "new")
    result = bench.cli("error-log", "clear", "--older-than", "7d", "--yes")
    assert result.exit_code == 0 and "Removed 1 entry" in result.stdout
    assert [e["title"] for e in errorlog.list_errors(client, keys, "site1.test")] == ["new"]
    result = bench.cli("error-log", "clear", "--yes")
    assert "Removed 1 entry" in result.stdout and client.xlen(keys.error_log("site1.test")) == 0


def test_bad_input_changes_nothing(bench: BenchFixture, redis_factory) -> None:
    log(bench, "keep me")
    before = snapshot(bench.client(), bench.bench.bench_id)
    assert_clean_error(bench.cli("error-log", "clear"), "refusing without confirmation", "--yes")
    assert_clean_error(bench.cli("error-log", "clear", "--older-than", "soon", "--yes"), "'soon' is not a duration")
    assert_clean_error(bench.cli("error-log", "show", "nope"), "not an Error Log id")
    assert_clean_error(bench.cli("error-log", "show", "123-0"), "no Error Log entry '123-0'")
    assert_clean_error(bench.cli("error-log", "list", site="nosuch.test"), "site 'nosuch.test' does not exist")
    assert snapshot(bench.client(), bench.bench.bench_id) == before
    server = redis_factory()
    bench.set_config(redis_queue=server.url)
    server.kill()
    assert_clean_error(bench.cli("error-log", "list"), "is not reachable")
