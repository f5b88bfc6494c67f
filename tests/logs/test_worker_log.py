"""logs/worker.log: the documented line format, JSON form, many writers, rotation without loss."""

from __future__ import annotations

import json
import multiprocessing
import re
from pathlib import Path

from bench_jobs.logs.writer import LogSettings, WorkLog

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00 (INFO   |WARNING|ERROR  ) \[w1\] ")


def test_text_format_matches_the_contract(tmp_path) -> None:
    log = WorkLog(tmp_path, "w1")
    log.info("finished", "all good", job_id="J1", site="s1", method="app.m", duration=0.0123)
    log.error("failed", "ValueError: x", job_id="J2", traceback="Traceback (most recent call last):\n  boom\n")
    lines = (tmp_path / "worker.log").read_text().splitlines()
    assert LINE.match(lines[0]) and lines[0].endswith(
        "INFO    [w1] job=J1 site=s1 method=app.m event=finished duration=0.012s all good")
    assert lines[1].endswith("ERROR   [w1] job=J2 event=failed ValueError: x") and len(lines) == 2
    errors = (tmp_path / "worker.error.log").read_text().splitlines()
    assert errors[0] == lines[1] and errors[1:] == ["  Traceback (most recent call last):", "    boom"]


def test_json_format(tmp_path) -> None:
    log = WorkLog(tmp_path, "w1", LogSettings(fmt="json"))
    log.error("failed", "boom", job_id="J", site="s", method="m", duration=1.5, traceback="TB")
    entry = json.loads((tmp_path / "worker.log").read_text())
    assert set(entry) == {"time", "level", "process", "job_id", "site", "method", "event", "duration", "message"}
    assert (entry["level"], entry["event"], entry["duration"]) == ("ERROR", "failed", 1.5)
    assert json.loads((tmp_path / "worker.error.log").read_text())["traceback"] == "TB"


def _writer(directory: str, name: str, count: int) -> None:
    log = WorkLog(Path(directory), name, LogSettings(max_bytes=20_000, backup_count=50))
    for i in range(count):
        log.info("finished", f"line {i} " + "x" * 40, job_id=f"{name}-{i}")


def test_many_processes_rotate_without_losing_or_mixing_lines(tmp_path) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), f"p{n}", 1500)) for n in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    files = sorted(tmp_path.glob("worker.log*"))
    assert len(files) > 5  # it did rotate, several times
    lines = [line for f in files for line in f.read_text().splitlines()]
    assert len(lines) == 6000
    assert all(re.search(r"job=p\d-\d+ event=finished line \d+ x{40}$", line) for line in lines)
    assert {re.search(r"job=(\S+)", line).group(1) for line in lines} == {f"p{n}-{i}" for n in range(4)
                                                                          for i in range(1500)}
