"""Jobs bench-jobs did not write (Frappe's pickled RQ jobs) are never run, failed, moved or unpickled,
and are counted wherever bench-jobs says what is pending."""

from __future__ import annotations

import json

import pytest

from bench_jobs.jobs.foreign import foreign_jobs, frappe_bench_id
from bench_jobs.jobs.keys import Keys
from tests.frappe_helpers import booby_trap, frappe_enqueue, snapshot
from tests.worker_helpers import add_job, job


def queue_ids(client, bench_id: str, queue: str = "default") -> list[str]:
    return [i.decode() for i in client.lrange(f"rq:queue:{bench_id}:{queue}", 0, -1)]


def test_worker_runs_its_jobs_and_leaves_frappe_jobs_in_place(bench, tmp_path):
    """bench_id shared with Frappe: a burst worker runs ours, around and behind Frappe's, and leaves
    every Frappe job where it was, byte for byte, unpickled and unfailed."""
    client, bench_id = bench.client(), bench.bench.bench_id
    marker = tmp_path / "unpickled"
    out = tmp_path / "ran.txt"
    frappe_ids = [frappe_enqueue(client, bench_id, bench.site, "erpnext.stock.reorder", frappe_id=True)]
    add_job(client, bench_id, bench.site, "testapp.jobs.append_line", {"path": str(out), "text": "a"})
    frappe_ids.append(frappe_enqueue(client, bench_id, "site2.test", "frappe.email.flush"))
    add_job(client, bench_id, bench.site, "testapp.jobs.append_line", {"path": str(out), "text": "b"})
    frappe_ids.append(frappe_enqueue(client, bench_id, bench.site, "hrms.payroll.run", frappe_id=True))
    for job_id in frappe_ids:
        booby_trap(client, job_id, marker)
    before = snapshot(client, frappe_ids)

    proc = bench.run("worker", "--queue", "default", "--burst", timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    assert out.read_text().split() == ["a", "b"]
    assert queue_ids(client, bench_id) == frappe_ids  # same jobs, same order
    assert snapshot(client, frappe_ids) == before  # not a field touched
    assert not marker.exists(), "a foreign job was unpickled"
    assert not client.keys(f"rq:failed:{bench_id}:"), "malformed failed registry key"
    assert not client.zrange(f"rq:failed:{bench_id}:default", 0, -1)
    # The worker says at start that it leaves them alone, and how many.
    assert "3 job(s) on default were not written by bench-jobs" in proc.stderr + proc.stdout


def test_claim_with_only_foreign_jobs_returns_nothing(bench):
    from bench_jobs.jobs.dispatch import Dispatcher

    client, bench_id = bench.client(), bench.bench.bench_id
    ids = [frappe_enqueue(client, bench_id, bench.site, "app.x") for _ in range(3)]
    assert Dispatcher(client, Keys(bench_id), "w1").claim(["default"]) is None
    assert queue_ids(client, bench_id) == ids
    assert all(job(client, i)["status"] == "queued" for i in ids)


def test_foreign_jobs_are_read_through_rq_without_unpickling(bench, tmp_path):
    client, bench_id = bench.client(), bench.bench.bench_id
    marker = tmp_path / "unpickled"
    job_id = frappe_enqueue(client, bench_id, bench.site, "erpnext.accounts.repost", frappe_id=True, voucher="X-1")
    booby_trap(client, job_id, marker)
    add_job(client, bench_id, bench.site, "testapp.jobs.noop")

    report = foreign_jobs(client, bench.bench, ["default", "long"])
    default = report.by_queue()["default"]
    assert (default.queued, default.started, report.pending) == (1, 0, 1)
    (found,) = default.jobs
    assert (found.id, found.site, found.method, found.status) == (job_id, bench.site, "erpnext.accounts.repost",
                                                                   "queued")
    assert found.enqueued_at and "execute_job(" in found.description
    assert report.by_queue()["long"].pending == 0
    assert not marker.exists()
    # Per site: Frappe's ids name the site.
    assert foreign_jobs(client, bench.bench, ["default"], site="site2.test").pending == 0


def test_frappe_namespace_is_the_default_one(bench):
    """Frappe names its queues after the bench path; bench-jobs' default bench_id is derived the same
    way, so Frappe's jobs are on the bench's own queues and count."""
    client = bench.client()
    frappe_id = frappe_bench_id(bench.bench)
    assert frappe_id == bench.bench.bench_id
    frappe_enqueue(client, frappe_id, bench.site, "frappe.email.flush", queue="short")
    report = foreign_jobs(client, bench.bench, ["short"])
    assert report.by_queue()["short"].queued == 1
    assert report.by_queue()["short"].jobs[0].rq_queue == f"{frappe_id}:short"


@pytest.mark.parametrize("all_sites", [False, True])
def test_listings_count_foreign_jobs(bench, all_sites):
    client, bench_id = bench.client(), bench.bench.bench_id
    frappe_enqueue(client, bench_id, bench.site, "erpnext.stock.reorder", frappe_id=True)
    frappe_enqueue(client, bench_id, bench.site, "frappe.email.flush", queue="long", frappe_id=True)
    add_job(client, bench_id, bench.site, "testapp.jobs.noop")
    extra = ["--all-sites"] if all_sites else []

    doc = json.loads(bench.cli("show-pending-jobs", "--format", "json", *extra).stdout)
    by_queue = {q["queue"]: q for q in doc["queues"]}
    assert by_queue["default"]["pending"] == 1  # ours
    assert by_queue["default"]["foreign_pending"] == 1
    assert by_queue["long"]["foreign_pending"] == 1
    assert doc["foreign"]["pending"] == 2
    table = bench.cli("show-pending-jobs", *extra)
    assert table.exit_code == 0, table.output
    assert "erpnext.stock.reorder" in table.output and "not written by bench-jobs" in table.output

    listed = json.loads(bench.cli("jobs", "list", "--format", "json", *extra).stdout)
    assert {j["method"] for j in listed["foreign"]} == {"erpnext.stock.reorder", "frappe.email.flush"}
    text = bench.cli("jobs", "list", *extra)
    assert "erpnext.stock.reorder" in text.output

    waited = bench.cli("jobs", "wait", "--timeout", "0.5", *extra)
    assert waited.exit_code == 1
    assert "not written by bench-jobs" in waited.stderr


def test_ready_for_migration(bench):
    client, bench_id = bench.client(), bench.bench.bench_id
    ready = bench.cli("ready-for-migration")
    assert ready.exit_code == 0, ready.output
    assert f"READY for migration: site {bench.site}" in ready.stdout
    frappe_enqueue(client, bench_id, bench.site, "erpnext.stock.reorder", frappe_id=True)
    not_ready = bench.cli("ready-for-migration")
    assert not_ready.exit_code == 1
    assert f"NOT READY for migration: site {bench.site} has pending background jobs" in not_ready.stdout
    assert "erpnext.stock.reorder" in not_ready.stdout
    # Another site's jobs do not hold this one back.
    assert bench.cli("ready-for-migration", site="site2.test").exit_code == 0


def test_doctor_and_metrics_count_foreign_jobs(bench):
    client, bench_id = bench.client(), bench.bench.bench_id
    frappe_enqueue(client, bench_id, bench.site, "erpnext.stock.reorder", frappe_id=True)
    frappe_enqueue(client, bench_id, "site2.test", "frappe.email.flush", frappe_id=True)
    doc = json.loads(bench.cli("doctor", "--format", "json", site=None).stdout)
    checks = {c["name"]: c for c in doc["checks"]}
    assert checks["foreign:default"]["status"] == "warn"
    assert "2 job(s) not written by bench-jobs" in checks["foreign:default"]["detail"]
    text = bench.cli("metrics", site=None).stdout
    assert 'bench_jobs_queue_foreign_jobs{queue="default"} 2.0' in text
    assert 'bench_jobs_queue_foreign_jobs{queue="long"} 0.0' in text


@pytest.mark.parametrize("args", [("jobs", "delete"), ("jobs", "cancel"), ("jobs", "retry"), ("jobs", "show"),
                                  ("jobs", "stop")])
def test_job_commands_refuse_foreign_jobs(bench, args, tmp_path):
    client, bench_id = bench.client(), bench.bench.bench_id
    marker = tmp_path / "unpickled"
    job_id = frappe_enqueue(client, bench_id, bench.site, "erpnext.stock.reorder")
    booby_trap(client, job_id, marker)
    before = snapshot(client, [job_id])
    result = bench.cli(*args, job_id)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "not written by bench-jobs" in result.stderr
    assert snapshot(client, [job_id]) == before
    assert queue_ids(client, bench_id) == [job_id]
    assert not marker.exists()


def test_claim_reaches_past_many_foreign_jobs_and_drops_stale_ids(bench):
    """Ours behind 250 Frappe jobs (several scan pages) and behind ids whose hash is gone: claimed;
    the Frappe jobs keep their order, the dead ids are dropped."""
    from bench_jobs.jobs.dispatch import Dispatcher

    client, bench_id = bench.client(), bench.bench.bench_id
    theirs = [frappe_enqueue(client, bench_id, bench.site, "app.x") for _ in range(150)]
    client.rpush(f"rq:queue:{bench_id}:default", "gone-1", "gone-2")
    theirs += [frappe_enqueue(client, bench_id, bench.site, "app.y") for _ in range(100)]
    mine = add_job(client, bench_id, bench.site, "testapp.jobs.noop")
    claimed = Dispatcher(client, Keys(bench_id), "w1").claim(["default"])
    assert claimed is not None and claimed.id == mine
    assert queue_ids(client, bench_id) == theirs


def test_running_frappe_jobs_count_from_rqs_started_registry(bench):
    """RQ >= 2 files a running job as `{job_id}:{execution_id}`; Frappe's ids hold '::' themselves."""
    client, bench_id = bench.client(), bench.bench.bench_id
    job_id = frappe_enqueue(client, bench_id, bench.site, "erpnext.stock.reorder", frappe_id=True)
    client.lrem(f"rq:queue:{bench_id}:default", 0, job_id)
    client.hset(f"rq:job:{job_id}", "status", "started")
    client.zadd(f"rq:wip:{bench_id}:default", {f"{job_id}:0f1e2d3c": 9e9})
    report = foreign_jobs(client, bench.bench, ["default"])
    assert (report.by_queue()["default"].started, report.by_queue()["default"].queued) == (1, 0)
    assert report.by_queue()["default"].jobs[0].id == job_id
    waited = bench.cli("ready-for-migration")
    assert waited.exit_code == 1 and "erpnext.stock.reorder" in waited.stdout


def test_purge_jobs_leaves_frappe_jobs_and_says_so(bench):
    client, bench_id = bench.client(), bench.bench.bench_id
    theirs = frappe_enqueue(client, bench_id, bench.site, "erpnext.stock.reorder")
    add_job(client, bench_id, bench.site, "testapp.jobs.noop")
    before = snapshot(client, [theirs])
    result = bench.cli("purge-jobs")
    assert result.exit_code == 0, result.output
    assert "Purged 1 job(s)." in result.stdout
    assert "1 job(s) not written by bench-jobs (Frappe/RQ) were left as they are" in result.stderr
    assert queue_ids(client, bench_id) == [theirs] and snapshot(client, [theirs]) == before
    purged = bench.cli("jobs", "purge", "--yes")
    assert purged.exit_code == 0 and queue_ids(client, bench_id) == [theirs]
