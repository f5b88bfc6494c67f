"""`"logging": {"format": "json"}` makes real worker and scheduler processes write JSON lines, and
`logs` reads a file that holds both formats (the config was switched while the bench ran)."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.conftest import BenchFixture


def _count(path, needle: str) -> int:
    return path.read_text().count(needle) if path.exists() else 0


def _wait_for_line(path, needle: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    """Wait for one more line containing `needle` than the file holds now."""
    deadline, before = time.monotonic() + timeout, _count(path, needle)
    while _count(path, needle) <= before:
        assert proc.poll() is None, f"{proc.args} exited with {proc.returncode}"
        assert time.monotonic() < deadline, f"{needle!r} never appeared in {path}"
        time.sleep(0.1)


def _run_jobs(bench: BenchFixture, *methods: str) -> None:
    for method in methods:
        assert bench.cli("enqueue", method).exit_code == 0
    result = bench.run("--site", bench.site, "worker", "--burst", "--queue", "default")
    assert result.returncode == 0, result.stderr


def _run_scheduler_until_it_leads(bench: BenchFixture) -> None:
    proc = bench.popen("schedule", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_line(bench.path / "logs" / "scheduler.log", "leads", proc)
    finally:
        proc.terminate()
        proc.wait(30)


def _logs(bench: BenchFixture, *args: str) -> list[dict]:
    result = bench.cli("logs", "-n", "1000", "--format", "json", *args, site=None)
    assert result.exit_code == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.slow
def test_json_logging_from_real_processes_and_mixed_files(bench):
    bench.set_config(logging={"format": "json"})
    _run_jobs(bench, "testapp.jobs.noop", "testapp.jobs.fail")
    _run_scheduler_until_it_leads(bench)

    logs = bench.path / "logs"
    for name in ("worker.log", "worker.error.log", "scheduler.log"):
        lines = (logs / name).read_text().splitlines()
        assert lines and all(json.loads(line)["time"] for line in lines), name  # every line one JSON document
    worker = [json.loads(line) for line in (logs / "worker.log").read_text().splitlines()]
    finished = next(e for e in worker if e["event"] == "finished")
    assert finished["method"] == "testapp.jobs.noop" and finished["site"] == bench.site
    assert isinstance(finished["duration"], float)
    failed = json.loads((logs / "worker.error.log").read_text().splitlines()[0])
    assert failed["event"] == "failed" and "ValueError" in failed["traceback"]
    assert any(json.loads(line)["event"] == "leader" for line in (logs / "scheduler.log").read_text().splitlines())

    # Back to text: the same files now hold both formats, and `logs` reads them all.
    bench.set_config(logging={"format": "text"})
    _run_jobs(bench, "testapp.jobs.noop")
    _run_scheduler_until_it_leads(bench)
    assert not (logs / "worker.log").read_text().splitlines()[-1].startswith("{")

    records = _logs(bench, "--worker")
    finishes = [r for r in records if r["event"] == "finished"]
    assert len(finishes) == 2  # one from each format, parsed to the same fields
    assert all(r["method"] == "testapp.jobs.noop" and r["site"] == bench.site for r in finishes)
    assert all(isinstance(r["duration"], float) for r in finishes)
    assert [r["event"] for r in records if r["level"] == "ERROR"] == ["failed"]  # not twice (both files)
    leads = [r for r in _logs(bench, "--scheduler") if r["event"] == "leader"]
    assert len(leads) == 2

    # The text view renders JSON lines as text lines, traceback included.
    text = bench.cli("logs", "--worker", "--level", "ERROR", site=None)
    assert text.exit_code == 0 and "event=failed" in text.stdout and "ValueError: boom" in text.stdout
    assert not any(line.startswith("{") for line in text.stdout.splitlines())
