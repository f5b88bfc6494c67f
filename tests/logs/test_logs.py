"""logs: last N records, filters, text and JSON line formats, follow across rotation (real files)."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
from pathlib import Path

from bench_jobs.logs import reader as core
from tests.conftest import BenchFixture, assert_clean_error

TEXT_LINES = [
    "2026-11-30T04:40:01.100+00:00 INFO    [w1] event=worker-start worker started on default",
    "2026-11-30T04:40:01.200+00:00 INFO    [w1] job=J1 site=site1.test method=testapp.jobs.add event=started",
    "2026-11-30T04:40:01.300+00:00 INFO    [w1] job=J1 site=site1.test method=testapp.jobs.add event=finished "
    "duration=0.012s done",
    "2026-11-30T04:40:02.000+00:00 ERROR   [w1] job=J2 site=site1.test method=testapp.jobs.fail event=failed "
    "duration=0.003s ValueError: boom",
    "Traceback (most recent call last):",
    '  File "jobs.py", line 20, in fail',
    "ValueError: boom",
    "2026-11-30T04:40:03.000+00:00 WARNING [w1] job=J3 site=site2.test method=testapp.jobs.sleep event=retry "
    "attempt 1 of 3",
]


def write(path: Path, lines: list[str], mode: str = "a") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open(mode, encoding="utf-8") as handle:
        handle.write("".join(line + "\n" for line in lines))


def json_line(**fields) -> str:
    base = {"time": "2026-11-30T04:40:05.000+00:00", "level": "INFO", "process": "w2", "job_id": None,
            "site": None, "method": None, "event": None, "duration": None, "message": ""}
    return json.dumps({**base, **fields})


def test_last_lines_and_filters(bench: BenchFixture) -> None:
    write(bench.path / "logs" / "worker.log", TEXT_LINES)
    result = bench.cli("logs", "--worker", "-n", "2")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == TEXT_LINES[3:]  # the error record keeps its traceback
    errors = bench.cli("logs", "--worker", "--level", "warning").stdout.splitlines()
    assert errors == TEXT_LINES[3:]
    assert bench.cli("logs", "--job", "J1").stdout.splitlines() == TEXT_LINES[1:3]
    assert bench.cli("logs", "--grep", r"line \d+, in fail").stdout.splitlines() == TEXT_LINES[3:7]
    doc = [json.loads(line) for line in bench.cli("logs", "--job", "J2", "--format", "json").stdout.splitlines()]
    assert len(doc) == 1 and doc[0]["job_id"] == "J2" and doc[0]["level"] == "ERROR"
    assert doc[0]["event"] == "failed" and doc[0]["duration"] == 0.003 and doc[0]["message"] == "ValueError: boom"
    assert doc[0]["traceback"].endswith("ValueError: boom")


def test_error_log_file_is_merged_by_time(bench: BenchFixture) -> None:
    write(bench.path / "logs" / "worker.log", TEXT_LINES[:3])
    write(bench.path / "logs" / "worker.error.log", TEXT_LINES[3:7])
    write(bench.path / "logs" / "worker.log", TEXT_LINES[7:])
    assert bench.cli("logs", "--worker").stdout.splitlines() == TEXT_LINES


def test_json_log_format(bench: BenchFixture) -> None:
    lines = [json_line(event="worker-start", message="up"),
             json_line(level="ERROR", job_id="J9", site="site1.test", method="testapp.jobs.fail", event="failed",
                       duration=0.25, message="ValueError: x", traceback="Traceback...\nValueError: x")]
    write(bench.path / "logs" / "worker.log", lines)
    text = bench.cli("logs", "--level", "error").stdout
    assert text.startswith("2026-11-30T04:40:05.000+00:00 ERROR   [w2] job=J9 site=site1.test "
                           "method=testapp.jobs.fail event=failed duration=0.250s ValueError: x\nTraceback...")
    out = bench.cli("logs", "--job", "J9", "--format", "json").stdout.splitlines()
    assert [json.loads(line)["traceback"] for line in out] == ["Traceback...\nValueError: x"]


def test_scheduler_and_redis_logs(bench: BenchFixture) -> None:
    write(bench.path / "logs" / "scheduler.log",
          ["2026-11-30T04:40:00.000+00:00 INFO    [scheduler] site=site1.test event=enqueued daily"])
    write(bench.path / "logs" / "redis_queue.log",
          ["123:M 30 Nov 2026 04:40:01.123 * Ready to accept connections tcp",
           "123:M 30 Nov 2026 04:41:01.123 # WARNING overcommit_memory is set to 0"])
    assert "event=enqueued daily" in bench.cli("logs", "--scheduler").stdout
    warnings = bench.cli("logs", "--redis", "--level", "warning").stdout.splitlines()
    assert warnings == ["123:M 30 Nov 2026 04:41:01.123 # WARNING overcommit_memory is set to 0"]


def test_rotated_file_fills_the_last_lines(bench: BenchFixture) -> None:
    logs = bench.path / "logs"
    write(logs / "worker.log.1", TEXT_LINES[:3])
    write(logs / "worker.log", TEXT_LINES[3:])
    assert bench.cli("logs", "-n", "3").stdout.splitlines() == TEXT_LINES[2:]


def test_bad_input(bench: BenchFixture) -> None:
    assert_clean_error(bench.cli("logs", "--worker"), "no worker log yet", "bench-jobs worker")
    write(bench.path / "logs" / "worker.log", TEXT_LINES)
    assert_clean_error(bench.cli("logs", "--grep", "ValueError("), "is not a valid regular expression")
    assert_clean_error(bench.cli("logs", "--level", "loud"), "unknown log level 'loud'")
    assert bench.cli("logs", "-n", "-1").exit_code == 2
    both = bench.cli("logs", "--worker", "--scheduler")
    assert both.exit_code == 2 and "pass one of --worker, --scheduler, --redis" in both.stderr


def collect(paths: list[Path], keep=lambda r: True) -> tuple[queue.Queue, threading.Event, threading.Thread]:
    lines: queue.Queue = queue.Queue()
    stop = threading.Event()

    def run() -> None:
        for record in core.follow(paths, keep, interval=0.02, should_stop=stop.is_set):
            for line in record.lines:
                lines.put(line)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    time.sleep(0.1)
    return lines, stop, thread


def take(lines: queue.Queue, count: int, timeout: float = 5.0) -> list[str]:
    return [lines.get(timeout=timeout) for _ in range(count)]


def test_follow_across_rename_rotation_and_truncation(tmp_path: Path) -> None:
    path = tmp_path / "worker.log"
    write(path, ["old line, printed by tail not follow"])
    lines, stop, thread = collect([path])
    write(path, TEXT_LINES[:2])
    assert take(lines, 2) == TEXT_LINES[:2]
    # Rotation as the writer does it: rename, then new lines go to a new file. A line written to the
    # old file just before the rename must not be lost.
    write(path, TEXT_LINES[2:3])
    os.rename(path, tmp_path / "worker.log.1")
    time.sleep(0.1)
    write(path, TEXT_LINES[3:7])
    assert take(lines, 5) == TEXT_LINES[2:7]
    # copytruncate-style: the same inode shrinks.
    with path.open("w"):
        pass
    write(path, TEXT_LINES[7:])
    assert take(lines, 1) == TEXT_LINES[7:]
    stop.set()
    thread.join(2)
    assert lines.empty()


def test_follow_waits_for_a_missing_file_and_filters(tmp_path: Path) -> None:
    path = tmp_path / "worker.log"
    lines, stop, thread = collect([path], core.Filter.build(job_id="J2"))
    write(path, TEXT_LINES)
    assert take(lines, 4) == TEXT_LINES[3:7]
    stop.set()
    thread.join(2)
    assert lines.empty()


def test_cli_follow_subprocess(bench: BenchFixture) -> None:
    path = bench.path / "logs" / "worker.log"
    write(path, TEXT_LINES[:1])
    proc = bench.popen("logs", "--worker", "-f", "-n", "1", "--level", "info", stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().rstrip("\n") == TEXT_LINES[0]
        time.sleep(0.5)
        write(path, TEXT_LINES[1:2])
        os.rename(path, path.with_name("worker.log.1"))
        write(path, TEXT_LINES[2:3])
        assert [proc.stdout.readline().rstrip("\n") for _ in range(2)] == TEXT_LINES[1:3]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
    assert "Traceback" not in proc.stderr.read()


def test_failure_in_both_files_shows_once_with_traceback(bench: BenchFixture, tmp_path: Path) -> None:
    """The worker writes a failure to worker.log (line) and worker.error.log (line + traceback)."""
    logs = bench.path / "logs"
    write(logs / "worker.log", TEXT_LINES[:4] + TEXT_LINES[7:])
    write(logs / "worker.error.log", [TEXT_LINES[3], *("  " + t for t in TEXT_LINES[4:7])])
    out = bench.cli("logs", "--worker").stdout.splitlines()
    assert out == TEXT_LINES[:4] + ["  " + t for t in TEXT_LINES[4:7]] + TEXT_LINES[7:]
    paths = [tmp_path / "worker.log", tmp_path / "worker.error.log"]
    for path in paths:
        path.touch()
    lines, stop, thread = collect(paths)
    write(paths[0], TEXT_LINES[3:4])
    time.sleep(0.1)
    write(paths[1], [TEXT_LINES[3], "  Traceback: boom"])
    assert take(lines, 2) == [TEXT_LINES[3], "  Traceback: boom"]
    stop.set()
    thread.join(2)
    assert lines.empty()
