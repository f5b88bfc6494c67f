"""An app whose scheduler_events cannot be read is a visible warning, never a silent 0: in
`scheduler list`, in `doctor`, and in the scheduler's log (scheduler.log and `scheduler log`)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from tests.conftest import BenchFixture
from tests.sched_helpers import log_entries, scheduler_log_lines
from tests.waiting import wait_for

UNREADABLE = "import frappe\nscheduler_events = frappe.get_events_of_site()\nraise RuntimeError('needs a site')\n"


def add_unreadable_app(bench: BenchFixture, tmp_path: Path) -> dict[str, str]:
    apps = tmp_path / "broken_apps"
    (apps / "brokenapp").mkdir(parents=True)
    (apps / "brokenapp" / "__init__.py").write_text("")
    (apps / "brokenapp" / "hooks.py").write_text(UNREADABLE)
    with (bench.bench.sites_path / "apps.txt").open("a") as handle:
        handle.write("brokenapp\n")
    bench.bench.reload()
    return {"PYTHONPATH": os.pathsep.join([str(apps), os.environ.get("PYTHONPATH", "")])}


def test_unreadable_hooks_warn_in_list_doctor_and_scheduler_log(bench: BenchFixture, tmp_path: Path) -> None:
    env = add_unreadable_app(bench, tmp_path)

    listed = bench.run("--site", bench.site, "scheduler", "list", "--format", "json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "Warning: scheduler_events of brokenapp: no event of brokenapp can run" in listed.stderr
    assert "testapp.jobs.noop" in listed.stdout  # the other app's events are still listed

    doctor = bench.run("doctor", "--format", "json", env=env)
    assert "hooks:brokenapp" in doctor.stdout and "no event of brokenapp can run" in doctor.stdout

    proc = bench.popen("scheduler", "run", "--quiet", env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: scheduler_log_lines(bench.bench, "hooks-unreadable"), what="warning in scheduler.log")
        entry = wait_for(lambda: log_entries(bench.client(), bench.bench, bench.site, kind="warning"),
                         what="warning in the Scheduled Job Log")[0]
        assert entry["method"] == "brokenapp" and entry["status"] == "unreadable"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    shown = bench.run("--site", bench.site, "scheduler", "log", env=env)
    assert "brokenapp" in shown.stdout and "unreadable" in shown.stdout
