"""jobs list|show|retry|cancel|stop|delete|purge|wait and purge-jobs, against a real Redis."""

from __future__ import annotations

import json
import threading
import time

import pytest

from bench_jobs.jobs.keys import Keys, job_key
from tests.conftest import BenchFixture, assert_clean_error
from tests.inspect_helpers import put_jobs, snapshot

TB = "Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: boom\n"


def jobs_json(bench: BenchFixture, *args: str, **kw) -> dict:
    result = bench.cli("jobs", "list", "--format", "json", *args, **kw)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def loaded(bench: BenchFixture) -> dict[str, list[str]]:
    client, bid = bench.client(), bench.bench.bench_id
    return {
        "queued": put_jobs(client, bid, 3, method="testapp.jobs.add", kwargs={"a": 1, "b": 2}),
        "long": put_jobs(client, bid, 2, queue="long", method="testapp.reports.build"),
        "started": put_jobs(client, bid, 1, status="started", worker="w-1"),
        "failed": put_jobs(client, bid, 2, status="failed", error="ValueError: boom", traceback=TB),
        "finished": put_jobs(client, bid, 1, status="finished", extra={"bj_result": "42"}),
        "other_site": put_jobs(client, bid, 2, site="site2.test"),
    }


def test_list_json_and_filters(bench: BenchFixture, loaded) -> None:
    doc = jobs_json(bench)
    assert doc["site"] == "site1.test" and doc["bench_id"] == bench.bench.bench_id
    statuses = [j["status"] for j in doc["jobs"]]
    assert statuses == ["started"] + ["queued"] * 5 + ["failed"] * 2 + ["finished"]
    assert {j["site"] for j in doc["jobs"]} == {"site1.test"}
    assert [j["id"] for j in jobs_json(bench, "--status", "failed")["jobs"]] == loaded["failed"][::-1]
    assert len(jobs_json(bench, "--queue", "long")["jobs"]) == 2
    assert [j["id"] for j in jobs_json(bench, "--method", "testapp.reports.*")["jobs"]] == loaded["long"]
    assert len(jobs_json(bench, "--limit", "2")["jobs"]) == 2
    all_sites = jobs_json(bench, "--all-sites", "--status", "queued")
    assert all_sites["site"] is None and len(all_sites["jobs"]) == 7


def test_list_table(bench: BenchFixture, loaded) -> None:
    result = bench.cli("jobs", "list", "--status", "failed")
    assert result.exit_code == 0, result.output
    assert loaded["failed"][0] in result.stdout and "ValueError: boom" in result.stdout
    assert "No jobs match." in bench.cli("jobs", "list", "--status", "canceled").stdout


def test_show(bench: BenchFixture, loaded) -> None:
    job_id = loaded["failed"][0]
    result = bench.cli("jobs", "show", job_id, "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["status"] == "failed" and doc["queue"] == "default" and doc["site"] == "site1.test"
    assert doc["traceback"] == TB and doc["error"] == "ValueError: boom" and doc["attempts"] == 1
    assert doc["kwargs"] == {"n": 0} and doc["enqueued_at"].endswith("+00:00")
    finished = json.loads(bench.cli("jobs", "show", loaded["finished"][0], "--format", "json").stdout)
    assert finished["result"] == 42
    table = bench.cli("jobs", "show", job_id)
    assert table.exit_code == 0 and "Traceback:" in table.stdout and "ValueError: boom" in table.stdout


def test_retry_by_id_and_all_failed(bench: BenchFixture, loaded) -> None:
    client, keys = bench.client(), Keys(bench.bench.bench_id)
    first = loaded["failed"][0]
    result = bench.cli("jobs", "retry", first)
    assert result.exit_code == 0 and "Re-queued 1 job(s)." in result.stdout
    assert client.hget(job_key(first), "status") == b"queued"
    assert client.lrange(keys.queue("default"), -1, -1) == [first.encode()]
    assert first.encode() in client.lrange(keys.index("queued", "default", "site1.test"), 0, -1)
    assert client.zscore(keys.index("failed", "default", "site1.test"), first) is None
    assert client.ttl(job_key(first)) == -1 and client.hget(job_key(first), "exc_info") is None
    assert client.hget(job_key(first), "bj_attempts") == b"0"  # a dead letter gets its retries back
    assert client.llen(keys.wake("default")) >= 1
    result = bench.cli("jobs", "retry", "--all-failed")
    assert result.exit_code == 0 and "Re-queued 1 job(s)." in result.stdout
    assert client.zcard(keys.index("failed", "default", "site1.test")) == 0


def test_retry_a_scheduled_job_queues_it_now(bench: BenchFixture) -> None:
    client, bid = bench.client(), bench.bench.bench_id
    keys = Keys(bid)
    [job_id] = put_jobs(client, bid, 1, status="scheduled", extra={"bj_attempts": 2, "bj_retry": 3})
    client.zadd(keys.scheduled(), {job_id: time.time() + 3600})
    client.zadd(keys.index("scheduled", "default", "site1.test"), {job_id: time.time() + 3600})
    result = bench.cli("jobs", "retry", job_id)
    assert result.exit_code == 0 and "Re-queued 1 job(s)." in result.stdout, result.output
    assert client.hget(job_key(job_id), "status") == b"queued" and client.zcard(keys.scheduled()) == 0
    assert client.zcard(keys.index("scheduled", "default", "site1.test")) == 0
    assert client.lrange(keys.queue("default"), 0, -1) == [job_id.encode()]
    assert client.hget(job_key(job_id), "bj_attempts") == b"2"  # still the same series of retries


def test_retry_many_failed_in_batches(bench: BenchFixture) -> None:
    client, bid = bench.client(), bench.bench.bench_id
    put_jobs(client, bid, 1200, status="failed", queue="short")
    put_jobs(client, bid, 3, status="failed", queue="long")
    result = bench.cli("jobs", "retry", "--all-failed", "--queue", "short")
    assert result.exit_code == 0 and "Re-queued 1200 job(s)." in result.stdout
    keys = Keys(bid)
    assert client.llen(keys.index("queued", "short", "site1.test")) == 1200
    assert client.zcard(keys.index("failed", "long", "site1.test")) == 3


def test_cancel_and_delete(bench: BenchFixture, loaded) -> None:
    client, keys = bench.client(), Keys(bench.bench.bench_id)
    job_id = loaded["queued"][0]
    result = bench.cli("jobs", "cancel", job_id)
    assert result.exit_code == 0 and "Canceled 1 job(s)." in result.stdout
    assert client.hget(job_key(job_id), "status") == b"canceled"
    assert job_id.encode() not in client.lrange(keys.queue("default"), 0, -1)
    assert job_id.encode() not in client.lrange(keys.index("queued", "default", "site1.test"), 0, -1)
    assert client.zscore(keys.index("canceled", "default", "site1.test"), job_id) is not None
    assert client.ttl(job_key(job_id)) > 0
    result = bench.cli("jobs", "delete", job_id, loaded["failed"][0])
    assert result.exit_code == 0 and "Deleted 2 job(s)." in result.stdout
    assert not client.exists(job_key(job_id), job_key(loaded["failed"][0]))
    assert client.zcard(keys.index("canceled", "default", "site1.test")) == 0
    assert client.zscore(keys.rq_failed("default"), loaded["failed"][0]) is None


def test_stop_pushes_a_control_command(bench: BenchFixture, loaded) -> None:
    client, keys = bench.client(), Keys(bench.bench.bench_id)
    job_id = loaded["started"][0]
    result = bench.cli("jobs", "stop", job_id)
    assert result.exit_code == 0, result.output
    assert "Asked worker w-1 to stop job" in result.stdout and "no heartbeat" in result.stderr
    assert json.loads(client.lpop(keys.worker_stop("w-1"))) == {"cmd": "stop-job", "job_id": job_id}


@pytest.mark.parametrize(("args", "fragments"), [
    (("show", "nope"), ("no job 'nope' in this bench",)),
    (("retry", "nope"), ("no job 'nope' in this bench",)),
    (("retry", "{queued}"), ("is queued; only failed, stopped, canceled, scheduled jobs can be retried",)),
    (("retry", "{failed}", "{queued}"), ("is queued",)),
    (("retry",), ("give job ids or --all-failed",)),
    (("retry", "--all-failed", "--queue", "nope"), ("unknown queue 'nope'",)),
    (("cancel", "{failed}"), ("is failed; only queued, scheduled jobs can be canceled",)),
    (("stop", "{queued}"), ("only started (running) jobs can be stopped",)),
    (("delete", "{started}"), ("is started",)),
    (("purge", "--queue", "nope", "--yes"), ("unknown queue 'nope'",)),
    (("purge",), ("refusing without confirmation (no terminal)", "pass --yes")),
    (("list", "--queue", "nope"), ("unknown queue",)),
])
def test_bad_input_changes_nothing(bench: BenchFixture, loaded, args, fragments) -> None:
    ids = {k: v[0] for k, v in loaded.items()}
    before = snapshot(bench.client(), bench.bench.bench_id)
    result = bench.cli("jobs", *(a.format(**ids) for a in args))
    assert_clean_error(result, *fragments)
    assert snapshot(bench.client(), bench.bench.bench_id) == before


def test_unknown_site_and_redis_down(bench: BenchFixture, redis_factory) -> None:
    assert_clean_error(bench.cli("jobs", "list", site="nosuch.test"), "site 'nosuch.test' does not exist")
    server = redis_factory()
    bench.set_config(redis_queue=server.url)
    server.kill()
    assert_clean_error(bench.cli("jobs", "list"), "is not reachable")
    assert_clean_error(bench.cli("jobs", "purge", "--yes"), "is not reachable")


def test_purge(bench: BenchFixture, loaded) -> None:
    client, keys = bench.client(), Keys(bench.bench.bench_id)
    result = bench.cli("jobs", "purge", "--method", "testapp.jobs.add", "--yes")
    assert result.exit_code == 0 and "Purged 3 job(s)." in result.stdout
    assert all(not client.exists(job_key(i)) for i in loaded["queued"])
    assert client.llen(keys.index("queued", "long", "site1.test")) == 2
    assert client.llen(keys.queue("default")) == 2  # site2's jobs stay
    result = bench.cli("jobs", "purge", "--status", "failed", "--yes")
    assert "Purged 2 job(s)." in result.stdout
    assert bench.cli("jobs", "purge", "--status", "canceled").stdout.strip() == "No canceled jobs to purge."
    assert client.llen(keys.index("queued", "long", "site1.test")) == 2


def test_purge_jobs_by_event(bench: BenchFixture) -> None:
    client, bid = bench.client(), bench.bench.bench_id
    noop = put_jobs(client, bid, 2, method="testapp.jobs.noop")  # testapp schedules it under daily
    tagged = put_jobs(client, bid, 1, method="testapp.jobs.add", extra={"bj_event": "daily"})
    other = put_jobs(client, bid, 2, method="testapp.jobs.add")
    result = bench.cli("purge-jobs", "--event", "daily")
    assert result.exit_code == 0 and "Purged 3 job(s)." in result.stdout, result.output
    assert not any(client.exists(job_key(i)) for i in noop + tagged)
    assert all(client.exists(job_key(i)) for i in other)
    assert_clean_error(bench.cli("purge-jobs", "--event", "fortnightly"), "unknown scheduler event")
    assert "Purged 2 job(s)." in bench.cli("purge-jobs").stdout


def test_wait(bench: BenchFixture) -> None:
    client, bid = bench.client(), bench.bench.bench_id
    assert bench.cli("jobs", "wait", "--timeout", "1").exit_code == 0
    [job_id] = put_jobs(client, bid, 1)
    assert_clean_error(bench.cli("jobs", "wait", "--timeout", "0.5"), "still 1 queued and 0 running")
    timer = threading.Timer(0.5, lambda: bench.client().lrem(Keys(bid).index("queued", "default", "site1.test"),
                                                             0, job_id))
    timer.start()
    result = bench.cli("jobs", "wait", "--timeout", "10")
    assert result.exit_code == 0 and "Idle" in result.stdout


def test_purge_asks_on_a_terminal(bench: BenchFixture, loaded, monkeypatch) -> None:
    from bench_jobs.cli import output as render

    monkeypatch.setattr(render, "stdin_is_terminal", lambda: True)
    client, keys = bench.client(), Keys(bench.bench.bench_id)
    before = snapshot(client, bench.bench.bench_id)
    result = bench.cli("jobs", "purge", "--queue", "long", input="n\n")
    assert_clean_error(result, "aborted, nothing deleted")
    assert "Delete 2 queued job(s) of site site1.test in long?" in result.stdout
    assert snapshot(client, bench.bench.bench_id) == before
    result = bench.cli("jobs", "purge", "--queue", "long", input="y\n")
    assert result.exit_code == 0 and "Purged 2 job(s)." in result.stdout
    assert client.llen(keys.index("queued", "long", "site1.test")) == 0


def _run_on_a_terminal(bench: BenchFixture, *args: str, answer: bytes = b"") -> str:
    """Run bench-jobs with stdin, stdout and stderr on a pseudo-terminal; everything it wrote."""
    import os
    import pty

    leader, follower = pty.openpty()
    proc = bench.popen("--site", "site1.test", *args, stdin=follower, stdout=follower, stderr=follower,
                       env={"COLUMNS": "100", "TERM": "xterm"})
    os.close(follower)
    if answer:
        os.write(leader, answer)
    out = bytearray()
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    assert proc.wait(60) == 0, out.decode(errors="replace")
    return out.decode(errors="replace")


def test_bulk_work_shows_a_progress_bar_on_a_terminal_only(bench: BenchFixture) -> None:
    client, bid = bench.client(), bench.bench.bench_id
    put_jobs(client, bid, 1500, status="failed")
    shown = _run_on_a_terminal(bench, "jobs", "retry", "--all-failed")
    assert "Retrying" in shown and "100%" in shown and "Re-queued 1500 job(s)." in shown
    shown = _run_on_a_terminal(bench, "jobs", "purge", answer=b"y\n")
    assert "Delete 1500 queued job(s)" in shown and "Purging" in shown and "Purged 1500 job(s)." in shown
    put_jobs(client, bid, 1500, status="failed")
    piped = bench.run("--site", "site1.test", "jobs", "retry", "--all-failed")
    assert piped.returncode == 0 and piped.stdout == "Re-queued 1500 job(s).\n" and piped.stderr == ""
