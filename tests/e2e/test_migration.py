"""The migration guide (README, "Moving a Frappe bench to bench-jobs"), end to end: Frappe-style RQ jobs
are queued (RQ's own API and pickle, as frappe.enqueue does) -> `ready-for-migration` says what is left
-> they drain (a plain RQ SimpleWorker stands in for Frappe's worker) -> switch -> nothing lost. bench-jobs
derives its bench_id as Frappe does, so both share the queues; the second run starts a bench-jobs worker
before the drain, among Frappe's jobs: none of them is touched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rq.registry import FailedJobRegistry

from bench_jobs.jobs.foreign import frappe_bench_id
from tests.frappe_helpers import frappe_enqueue, snapshot
from tests.worker_helpers import add_job

STUB = Path(__file__).parent.parent / "frappe_stub"
DRAIN = ("import sys; from redis import Redis; from rq import Queue, SimpleWorker; "
         "c = Redis(port=int(sys.argv[1])); "
         "SimpleWorker([Queue(n, connection=c) for n in sys.argv[2:]], connection=c).work(burst=True)")


def frappe_worker_drains(bench, namespace: str, queues: list[str]) -> None:
    """Frappe's `bench worker --burst`, played by RQ's own SimpleWorker with the stand-in frappe."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(STUB), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", DRAIN, str(bench.redis.port), *(f"{namespace}:{q}" for q in queues)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def lines(path: Path) -> list[str]:
    return sorted(path.read_text().splitlines()) if path.exists() else []


@pytest.mark.slow
@pytest.mark.parametrize("shared", [False, True], ids=["guide-order", "bench-jobs-worker-before-drain"])
def test_migration_guide_end_to_end(bench, tmp_path, shared):
    client = bench.client()
    namespace = frappe_bench_id(bench.bench)
    assert namespace == bench.bench.bench_id  # Frappe's queues are bench-jobs' queues
    out = tmp_path / "ran.txt"
    frappe_ids = [frappe_enqueue(client, namespace, bench.site, "erpnext.stock.reorder", path=str(out), text="f1"),
                  frappe_enqueue(client, namespace, bench.site, "frappe.email.flush", path=str(out), text="f2"),
                  frappe_enqueue(client, namespace, "site2.test", "hrms.payroll.run", path=str(out), text="f3"),
                  frappe_enqueue(client, namespace, bench.site, "insights.refresh", queue="long", path=str(out),
                                 text="f4")]
    untouched = 0
    if shared:
        # Switched too early: bench-jobs' jobs sit among Frappe's; its worker runs its own, leaves theirs.
        for text in ("b0", "b00"):
            add_job(client, namespace, bench.site, "testapp.jobs.append_line", {"path": str(out), "text": text})
        before = snapshot(client, frappe_ids)
        burst = bench.run("worker", "--burst")
        assert burst.returncode == 0, burst.stderr
        assert snapshot(client, frappe_ids) == before
        untouched = len(frappe_ids)

    # 1. What is left: Frappe's jobs count, for the site asked about.
    left = bench.run("--site", bench.site, "ready-for-migration")
    assert left.returncode == 1
    assert f"NOT READY for migration: site {bench.site} has pending background jobs" in left.stdout
    assert "not written by bench-jobs (Frappe/RQ): 3 queued or running" in left.stdout
    for method in ("erpnext.stock.reorder", "frappe.email.flush", "insights.refresh"):
        assert method in left.stdout
    rows = [line for line in left.stdout.splitlines() if line.startswith("    ")]
    assert len(rows) == 3 and len({row.index(" queued ") for row in rows}) == 1, rows  # default and long line up
    other = bench.run("--site", "site2.test", "ready-for-migration")
    assert other.returncode == 1 and "hrms.payroll.run" in other.stdout
    pending = bench.run("--site", bench.site, "show-pending-jobs", "--all-sites")
    assert "not written by bench-jobs" in pending.stdout + pending.stderr

    # 2. Drain with Frappe's worker; 3. ready.
    frappe_worker_drains(bench, namespace, ["default", "long"])
    for site in (bench.site, "site2.test"):
        ready = bench.run("--site", site, "ready-for-migration")
        assert ready.returncode == 0, ready.stdout + ready.stderr
        assert f"READY for migration: site {site} does not have any background jobs" in ready.stdout

    # 4. Switch: jobs now go through bench-jobs and its workers run them.
    for text in ("b1", "b2"):
        enq = bench.run("--site", bench.site, "enqueue", "testapp.jobs.append_line", "--kwargs",
                        f'{{"path": "{out}", "text": "{text}"}}')
        assert enq.returncode == 0, enq.stderr
    assert bench.run("worker", "--burst").returncode == 0
    assert bench.run("--site", bench.site, "ready-for-migration").returncode == 0

    # Nothing lost, nothing failed, on either side.
    frappe_lines = [f"frappe {bench.site} erpnext.stock.reorder f1", f"frappe {bench.site} frappe.email.flush f2",
                    "frappe site2.test hrms.payroll.run f3", f"frappe {bench.site} insights.refresh f4"]
    ours = ["b1", "b2", *(["b0", "b00"] if shared else [])]
    assert lines(out) == sorted(frappe_lines + ours)
    for queue in ("default", "long"):
        assert FailedJobRegistry(f"{namespace}:{queue}", connection=client).count == 0
        assert FailedJobRegistry(f"{bench.bench.bench_id}:{queue}", connection=client).count == 0
    label = "worker-before-drain" if shared else "guide-order"
    print(f"migration[{label}]: {len(frappe_ids)} Frappe jobs drained by RQ, "
          f"{untouched} left untouched by a bench-jobs worker, {len(ours)} bench-jobs jobs run, 0 lost")
