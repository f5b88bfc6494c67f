"""logs/worker.log and logs/worker.error.log in the format of docs/storage.md.

Several worker processes append to the same files: each entry is ONE write() on an O_APPEND
descriptor, so lines never interleave. Rotation by size happens under an flock on a side file,
and a writer whose path now names another inode reopens it, so no line is ever lost: a line
written to the old descriptor just lands in the rotated file.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bench_jobs.bench import settings as S

if TYPE_CHECKING:
    from bench_jobs.bench.layout import Bench

DEFAULT_MAX_BYTES = S.LOG_MAX_BYTES.default
DEFAULT_BACKUP_COUNT = S.LOG_BACKUP_COUNT.default
LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}
REOPEN_CHECK_SECONDS = 1.0
# A buffered WorkLog (a worker's) writes its INFO lines at most this late; warnings and errors at once.
FLUSH_AFTER = 0.5
# Set by a supervisor (`start`, `worker --num-workers`) that prefixes each child line with the time:
# the child's echo then leaves its own timestamp out (the log files keep it).
SUPERVISED_ENV = "BENCH_JOBS_SUPERVISED"


_second: list[Any] = [None, ""]  # the last whole second formatted, and its text: a worker logs thousands a second


def log_time(ts: float | None = None) -> str:
    """2026-11-30T04:40:01.123+00:00"""
    ts = time.time() if ts is None else ts
    whole = int(ts // 1)
    if whole != _second[0]:
        _second[0], _second[1] = whole, datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{_second[1]}.{min(999, int((ts - whole) * 1000)):03d}+00:00"


def format_text(entry: dict[str, Any], with_time: bool = True) -> str:
    """One text line: time, level padded, [process], then the fields that apply, then the message."""
    parts = [entry["time"]] if with_time else []
    parts += [f"{entry['level']:<7}", f"[{entry['process']}]"]
    for key, label in (("job_id", "job"), ("site", "site"), ("method", "method"), ("event", "event")):
        if entry.get(key):
            parts.append(f"{label}={entry[key]}")
    if entry.get("duration") is not None:
        parts.append(f"duration={entry['duration']:.3f}s")
    if entry.get("message"):
        parts.append(str(entry["message"]).replace("\n", " "))
    return " ".join(parts)


def format_json(entry: dict[str, Any]) -> str:
    return json.dumps(entry, default=str, separators=(",", ":"))


class AppendFile:
    """One log file shared by many processes: atomic appends, size rotation, reopen on rotation."""

    def __init__(self, path: Path, max_bytes: int = DEFAULT_MAX_BYTES,
                 backup_count: int = DEFAULT_BACKUP_COUNT) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backup_count = backup_count
        self.fd = -1
        self.inode = -1
        self.checked = 0.0

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if self.fd >= 0:
            os.close(self.fd)
        self.fd, self.inode, self.checked = fd, os.fstat(fd).st_ino, time.monotonic()

    def _reopen_if_moved(self) -> None:
        """Another process rotated the file: follow the path to the new one."""
        try:
            moved = os.stat(self.path).st_ino != self.inode
        except FileNotFoundError:
            moved = True
        if moved:
            self._open()
        self.checked = time.monotonic()

    def write(self, data: bytes) -> None:
        if self.fd < 0:
            self._open()
        elif time.monotonic() - self.checked > REOPEN_CHECK_SECONDS:
            self._reopen_if_moved()
        if self.max_bytes > 0 and os.fstat(self.fd).st_size + len(data) > self.max_bytes:
            self._rotate()
        os.write(self.fd, data)

    def _rotate(self) -> None:
        lock_path = self.path.with_name(f".{self.path.name}.lock")
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                # Someone else may have rotated while we waited for the lock.
                st = os.stat(self.path) if self.path.exists() else None
                if st is not None and st.st_ino == self.inode:
                    for n in range(self.backup_count - 1, 0, -1):
                        older = self.path.with_name(f"{self.path.name}.{n}")
                        if older.exists():
                            os.replace(older, self.path.with_name(f"{self.path.name}.{n + 1}"))
                    if self.backup_count > 0:
                        os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
                    else:
                        os.truncate(self.path, 0)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        self._open()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


@dataclass
class LogSettings:
    fmt: str = "text"
    max_bytes: int = DEFAULT_MAX_BYTES
    backup_count: int = DEFAULT_BACKUP_COUNT

    @classmethod
    def of(cls, bench: Bench) -> LogSettings:
        return cls(fmt=S.LOG_FORMAT.read(bench), max_bytes=S.LOG_MAX_BYTES.read(bench),
                   backup_count=S.LOG_BACKUP_COUNT.read(bench))


class WorkLog:
    """The log of one worker process: worker.log gets every event, worker.error.log the failures
    (with traceback). `echo` also prints each line (to stdout) at or above `echo_level`."""

    def __init__(self, logs_dir: Path, process: str, settings: LogSettings | None = None, *,
                 name: str = "worker", echo: TextIO | None = None, echo_level: str = "INFO",
                 echo_time: bool = True) -> None:
        self.process = process
        self.settings = settings or LogSettings()
        self.main = AppendFile(logs_dir / f"{name}.log", self.settings.max_bytes, self.settings.backup_count)
        self.errors = AppendFile(logs_dir / f"{name}.error.log", self.settings.max_bytes, self.settings.backup_count)
        self.echo = echo
        self.echo_level = LEVELS[echo_level]
        self.echo_time = echo_time
        # Buffered: INFO lines of worker.log are gathered and written together (still whole lines in
        # one write(), so processes never interleave), by the next event after FLUSH_AFTER, by any
        # warning or error, by `flush()` (the worker calls it when idle and from its heartbeat
        # thread, so a hung job's `started` line is on disk within a beat) and on close.
        self.buffered = False
        self._pending: list[bytes] = []
        self._pending_since = 0.0
        self._lock = threading.Lock()

    def flush(self) -> None:
        with self._lock:
            data, self._pending = b"".join(self._pending), []
        if data:
            self.main.write(data)

    def _write_main(self, line: str, urgent: bool) -> None:
        if not self.buffered:
            self.main.write((line + "\n").encode())
            return
        now = time.monotonic()
        with self._lock:
            if not self._pending:
                self._pending_since = now
            self._pending.append((line + "\n").encode())
            due = urgent or now - self._pending_since >= FLUSH_AFTER or len(self._pending) >= 256
        if due:
            self.flush()

    def event(self, level: str, event: str, message: str = "", *, job_id: str | None = None,
              site: str | None = None, method: str | None = None, duration: float | None = None,
              traceback: str | None = None) -> None:
        entry: dict[str, Any] = {"time": log_time(), "level": level, "process": self.process, "job_id": job_id,
                                 "site": site, "method": method, "event": event, "duration": duration,
                                 "message": message}
        urgent = LEVELS[level] >= LEVELS["WARNING"]
        if self.settings.fmt == "json":
            line = format_json(entry)
            self._write_main(line, urgent)
            if traceback:
                entry["traceback"] = traceback
                line = format_json(entry)
        else:
            line = format_text(entry)
            self._write_main(line, urgent)
            if traceback:
                # Text form: the traceback follows its line, indented, in the same write().
                line += "\n" + "".join(f"  {t}\n" for t in traceback.rstrip("\n").splitlines()).rstrip("\n")
        if LEVELS[level] >= LEVELS["ERROR"]:
            self.errors.write((line + "\n").encode())
        if self.echo is not None and LEVELS[level] >= self.echo_level:
            self.echo.write(format_text(entry, self.echo_time) + "\n")
            self.echo.flush()

    def info(self, event: str, message: str = "", **fields: Any) -> None:
        self.event("INFO", event, message, **fields)

    def warning(self, event: str, message: str = "", **fields: Any) -> None:
        self.event("WARNING", event, message, **fields)

    def error(self, event: str, message: str = "", **fields: Any) -> None:
        self.event("ERROR", event, message, **fields)

    def close(self) -> None:
        self.flush()
        self.main.close()
        self.errors.close()


def for_bench(bench: Any, process: str, *, quiet: bool = False, name: str = "worker") -> WorkLog:
    """The worker log of `bench` (a bench_jobs.bench.layout.Bench), configured from common_site_config.json."""
    return WorkLog(bench.logs_path, process, LogSettings.of(bench), name=name,
                   echo=sys.stdout, echo_level="WARNING" if quiet else "INFO",
                   echo_time=os.environ.get(SUPERVISED_ENV) != "1")
