"""show-pending-jobs: counts, next jobs, JSON shape, bounded Redis work, bad input."""

from __future__ import annotations

import json
import time

import pytest

from bench_jobs.jobs.queries import pending_summary
from tests.conftest import BenchFixture, assert_clean_error, make_bench
from tests.inspect_helpers import put_jobs

JOB_KEYS = {"id", "method", "site", "kwargs", "enqueued_at", "timeout"}
QUEUE_KEYS = {"queue", "pending", "started", "scheduled", "failed", "oldest_age_seconds", "jobs",
              "foreign_pending", "foreign_jobs"}


def load(bench: BenchFixture) -> dict[str, list[str]]:
    client, bid = bench.client(), bench.bench.bench_id
    return {
        "s1_default": put_jobs(client, bid, 5, method="testapp.jobs.add", kwargs={"a": 1, "b": 2}),
        "s1_long": put_jobs(client, bid, 2, queue="long", timeout=1500),
        "s2_default": put_jobs(client, bid, 3, site="site2.test", enqueued=1.0),
        "s1_started": put_jobs(client, bid, 1, status="started"),
        "s1_failed": put_jobs(client, bid, 4, status="failed", error="ValueError: boom"),
        "s1_scheduled": put_jobs(client, bid, 2, status="scheduled"),
    }


def test_json_document_for_one_site(bench: BenchFixture) -> None:
    ids = load(bench)
    result = bench.cli("show-pending-jobs", "--limit", "3", "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) == {"bench_id", "site", "sites", "queues", "total", "foreign"}
    assert doc["sites"] == ["site1.test"] and doc["total"] == 3
    assert doc["foreign"] == {"pending": 0, "note": None}
    assert doc["bench_id"] == bench.bench.bench_id and doc["site"] == "site1.test"
    queues = {q["queue"]: q for q in doc["queues"]}
    assert list(queues) == ["short", "default", "long"]
    default = queues["default"]
    assert set(default) == QUEUE_KEYS
    assert (default["pending"], default["started"], default["scheduled"], default["failed"]) == (5, 1, 2, 4)
    assert [j["id"] for j in default["jobs"]] == ids["s1_default"][:3]
    job = default["jobs"][0]
    assert set(job) == JOB_KEYS
    assert job["method"] == "testapp.jobs.add" and job["kwargs"] == {"a": 1, "b": 2}
    assert job["site"] == "site1.test" and job["timeout"] == 300 and job["enqueued_at"].endswith("+00:00")
    assert 59 < default["oldest_age_seconds"] < 120
    assert queues["long"]["pending"] == 2 and queues["long"]["jobs"][0]["timeout"] == 1500
    assert queues["short"] == {"queue": "short", "pending": 0, "started": 0, "scheduled": 0, "failed": 0,
                               "oldest_age_seconds": None, "jobs": [], "foreign_pending": 0, "foreign_jobs": []}


def test_all_sites_sums_counts_and_merges_by_enqueue_time(bench: BenchFixture) -> None:
    ids = load(bench)
    result = bench.cli("show-pending-jobs", "--all-sites", "--queue", "default", "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["site"] is None
    [default] = doc["queues"]
    assert default["pending"] == 8 and default["failed"] == 4
    # site2's jobs were enqueued at epoch 1.0, long before site1's: they come first.
    assert [j["id"] for j in default["jobs"]] == ids["s2_default"] + ids["s1_default"]
    assert default["oldest_age_seconds"] > 1e9


def test_table_output(bench: BenchFixture) -> None:
    ids = load(bench)
    result = bench.cli("show-pending-jobs", "--limit", "2")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Jobs of site site1.test" in out and "pending" in out and "oldest pending" in out
    assert "Next 2 of 5 pending in default" in out and ids["s1_default"][0] in out
    assert ids["s1_default"][2] not in out and "testapp.jobs.add" in out


def test_nothing_pending(bench: BenchFixture) -> None:
    result = bench.cli("show-pending-jobs")
    assert result.exit_code == 0 and "Nothing pending." in result.stdout


@pytest.mark.parametrize(("args", "fragments"), [
    (("show-pending-jobs", "--queue", "nope"), ("unknown queue 'nope'", "known queues: short, default, long")),
    (("show-pending-jobs", "--limit", "-1"), ()),
])
def test_bad_input(bench: BenchFixture, args: tuple[str, ...], fragments: tuple[str, ...]) -> None:
    result = bench.cli(*args)
    if fragments:
        assert_clean_error(result, *fragments)
    else:
        assert result.exit_code == 2 and "Traceback" not in result.output


def test_unknown_site(bench: BenchFixture) -> None:
    assert_clean_error(bench.cli("show-pending-jobs", site="nosuch.site"), "site 'nosuch.site' does not exist")


def test_no_site_points_at_all_sites(bench: BenchFixture) -> None:
    result = bench.cli("show-pending-jobs", site=None, env={"BENCH_SITE": None})
    assert_clean_error(result, "no site selected", "--all-sites")


def test_redis_down(bench: BenchFixture, redis_factory) -> None:
    server = redis_factory()
    bench.set_config(redis_queue=server.url)
    server.kill()
    assert_clean_error(bench.cli("show-pending-jobs"), "is not reachable", "bench-jobs redis start")


def commands_processed(client) -> int:
    return int(client.info("stats")["total_commands_processed"])


def test_redis_work_does_not_grow_with_backlog(tmp_path, redis_factory) -> None:
    server = redis_factory()
    fixture = BenchFixture(make_bench(tmp_path / "b", server), server)
    client, bid = server.client(), fixture.bench.bench_id
    queues = fixture.bench.queue_names()
    measured = []
    for backlog in (100, 10_000):
        put_jobs(client, bid, backlog - (100 if measured else 0), enqueued=1000.0)
        put_jobs(client, bid, 50, site="site2.test")
        before = commands_processed(client)
        doc = pending_summary(client, fixture.bench, ["site1.test"], queues, 20)
        measured.append(commands_processed(client) - before - 1)  # minus the INFO itself
        assert len(doc["queues"][1]["jobs"]) == 20
    assert doc["queues"][1]["pending"] == 10_000
    # 4 commands per (queue, site) + one HMGET per job shown, whatever the backlog; one ZRANGE of the
    # bench's started set (and an HMGET per running job: none here); plus the look for foreign (Frappe)
    # jobs: SMEMBERS, LLEN + ZRANGE per queue (bench-jobs' bench_id is Frappe's, so one set of queues
    # holds both), and an LLEN of the queued index per site seen for the one non-empty queue.
    assert measured[0] == measured[1] == 3 * 4 + 1 + 20 + 1 + 3 * 2 + 2, measured
    # Through the CLI: the same, plus the connection's PING (and the client's handshake).
    before = commands_processed(client)
    result = fixture.cli("show-pending-jobs", "--format", "json")
    assert result.exit_code == 0, result.output
    assert commands_processed(client) - before - 1 <= measured[1] + 4


def test_narrow_terminal_keeps_ids_whole(monkeypatch) -> None:
    """Rich would cut a 32-character id or drop columns to fit 60 columns; ids must stay copyable."""
    import io

    from rich.console import Console

    from bench_jobs.cli import output as render

    out = io.StringIO()
    monkeypatch.setattr(render, "console", lambda: Console(file=out, force_terminal=True, width=60, no_color=True))
    job_id = "b10ce51cdeea681af546468f62118d98"
    rows = [{"id": job_id, "method": "testapp.jobs.add", "kwargs": '{"a": 1, "b": 2, "text": "long words here"}',
             "waiting": "3s", "timeout": 300}]
    table = render.build_table(rows, ["id", "method", "kwargs", "waiting", "timeout"])
    render.print_table(table, no_wrap=("id", "method"))
    text = out.getvalue()
    assert job_id in text and "testapp.jobs.add" in text and "timeout" in text and "…" not in text


def test_failed_count_leaves_out_failed_jobs_past_their_ttl(bench) -> None:
    """A failed job's hash expires after rq_job_failure_ttl; its index entry may linger until the
    next failure trims it, but it is no longer counted."""
    from bench_jobs.jobs.keys import Keys

    keys = Keys(bench.bench.bench_id)
    client = bench.client()
    now = time.time()
    index = keys.index("failed", "default", "site1.test")
    client.zadd(index, {"long-gone": now - 8 * 24 * 3600, "recent": now - 60})
    doc = json.loads(bench.cli("show-pending-jobs", "--format", "json").stdout)
    assert {q["queue"]: q["failed"] for q in doc["queues"]}["default"] == 1
