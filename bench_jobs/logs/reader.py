"""Reading the bench's log files: the last N records, following across rotation, and filters.

Lines are in the text or the JSON format of docs/storage.md. A record is one header line plus any
continuation lines after it (a traceback), so filters keep or drop a traceback with its line.
Following reopens a file when its inode changes (renamed by rotation) or it shrinks (truncated),
after reading what was left in the old one, so no line is lost or repeated.
"""

from __future__ import annotations

import json
import os
import re
import textwrap
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_jobs.errors import BenchJobsError

if TYPE_CHECKING:
    from bench_jobs.bench.layout import Bench

KINDS = {
    "worker": ("worker.log", "worker.error.log"),
    "scheduler": ("scheduler.log",),
    "redis": ("redis_queue.log",),
}
LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
LEVEL_ALIASES = {"WARN": "WARNING", "FATAL": "CRITICAL", "NOTICE": "INFO", "VERBOSE": "DEBUG"}
# Redis' own log marks the level with one character: . debug, - verbose, * notice, # warning.
REDIS_LEVELS = {".": "DEBUG", "-": "DEBUG", "*": "INFO", "#": "WARNING"}
TEXT_RE = re.compile(r"^(?P<time>\d{4}-\d\d-\d\dT\S+)\s+(?P<level>[A-Z]+)\s+"
                     r"(?:\[(?P<process>[^\]]*)\]\s*)?(?P<rest>.*)$")
REDIS_RE = re.compile(r"^(?P<pid>\d+):(?P<role>[A-Z]) (?P<time>\d+ \w+ \d{4} [\d:.]+) (?P<mark>[.\-*#]) (?P<rest>.*)$")
FIELD_RE = re.compile(r"(job|site|method|event|duration)=(\S+)\s*")
FIELD_NAMES = {"job": "job_id", "site": "site", "method": "method", "event": "event", "duration": "duration"}
JSON_KEYS = ("time", "level", "process", "job_id", "site", "method", "event", "duration", "message")


@dataclass
class Record:
    """One log record: its parsed fields and its raw lines (header + continuation)."""

    fields: dict[str, Any]
    lines: list[str] = field(default_factory=list)
    # Set when the header was already printed from the other file: print only what it adds.
    extra_only: bool = False

    @property
    def key(self) -> tuple[Any, ...] | None:
        """Identity of an event: worker.log and worker.error.log both hold each failure."""
        f = self.fields
        if not f.get("time"):
            return None
        return tuple(f.get(name) for name in ("time", "process", "level", "event", "job_id", "message"))

    @property
    def detail(self) -> bool:
        """Does this record carry more than its header (a traceback)?"""
        return len(self.lines) > 1 or bool(self.fields.get("traceback"))

    @property
    def level(self) -> int | None:
        return LEVELS.get(normalize_level(self.fields.get("level") or "") or "")

    def text(self) -> str:
        return "\n".join(self.lines)

    def as_json(self) -> dict[str, Any]:
        doc = {key: self.fields.get(key) for key in JSON_KEYS}
        doc.update({k: v for k, v in self.fields.items() if k not in doc})
        if len(self.lines) > 1 and "traceback" not in doc:
            # The text format indents a traceback under its line; the JSON field holds it as it was.
            doc["traceback"] = textwrap.dedent("\n".join(self.lines[1:]))
        return doc


def normalize_level(name: str) -> str | None:
    upper = name.strip().upper()
    upper = LEVEL_ALIASES.get(upper, upper)
    return upper if upper in LEVELS else None


def log_paths(bench: Bench, kind: str) -> list[Path]:
    return [bench.logs_path / name for name in KINDS[kind]]


# -- parsing -----------------------------------------------------------------------------------------
def parse_line(line: str) -> dict[str, Any] | None:
    """The fields of a header line (text, JSON or Redis format), or None for a continuation line."""
    if line.startswith("{"):
        try:
            doc = json.loads(line)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            return doc
    match = TEXT_RE.match(line)
    if match and normalize_level(match["level"]):
        fields: dict[str, Any] = {"time": match["time"], "level": match["level"], "process": match["process"]}
        rest = match["rest"]
        # key=value fields come first, in the documented order; the free-text message follows.
        while (found := FIELD_RE.match(rest)) is not None:
            fields[FIELD_NAMES[found[1]]] = found[2]
            rest = rest[found.end():]
        if "duration" in fields:
            fields["duration"] = _seconds(fields["duration"])
        fields["message"] = rest
        return fields
    match = REDIS_RE.match(line)
    if match:
        return {"time": match["time"], "level": REDIS_LEVELS[match["mark"]], "process": match["pid"],
                "message": match["rest"]}
    return None


def _seconds(text: str) -> float | str:
    """'0.012s' -> 0.012, as the JSON log format has it."""
    try:
        return float(text.removesuffix("s"))
    except ValueError:
        return text


def records(lines: Iterable[str]) -> Iterator[Record]:
    """Group lines into records: continuation lines join the header before them."""
    current: Record | None = None
    for line in lines:
        fields = parse_line(line)
        if fields is None and current is not None:
            current.lines.append(line)
            continue
        if current is not None:
            yield current
        current = Record(fields if fields is not None else {"message": line}, [line])
    if current is not None:
        yield current


# -- filters -----------------------------------------------------------------------------------------
@dataclass
class Filter:
    level: int | None = None
    job_id: str | None = None
    pattern: re.Pattern[str] | None = None

    @classmethod
    def build(cls, level: str | None = None, job_id: str | None = None, grep: str | None = None) -> Filter:
        number = None
        if level:
            name = normalize_level(level)
            if name is None:
                raise BenchJobsError(f"unknown log level '{level}'",
                                     f"use one of {', '.join(LEVELS)} (that level and above are shown)")
            number = LEVELS[name]
        pattern = None
        if grep is not None:
            try:
                pattern = re.compile(grep)
            except re.error as exc:
                raise BenchJobsError(f"--grep '{grep}' is not a valid regular expression ({exc})",
                                     "escape special characters, e.g. --grep 'ValueError\\(' ") from None
        return cls(number, job_id, pattern)

    def __call__(self, record: Record) -> bool:
        if self.level is not None and (record.level is None or record.level < self.level):
            return False
        if self.job_id and record.fields.get("job_id") != self.job_id:
            return False
        return not self.pattern or bool(self.pattern.search(record.text()))


# -- last N --------------------------------------------------------------------------------------------
def tail(paths: list[Path], count: int, keep: Callable[[Record], bool] = lambda r: True,
         block: int = 64 * 1024) -> list[Record]:
    """The last `count` records that pass `keep`, from all `paths` merged by time."""
    found: list[Record] = []
    for path in paths:
        found.extend(_tail_file(path, count, keep, block))
    found.sort(key=lambda r: str(r.fields.get("time") or ""))  # stable: untimed lines keep file order
    merged = dedupe(found)
    return merged[-count:] if count > 0 else []


def dedupe(found: list[Record]) -> list[Record]:
    """One record per event: the copy with the traceback wins, at the first copy's place."""
    first: dict[tuple[Any, ...], int] = {}
    out: list[Record] = []
    for record in found:
        key = record.key
        if key is None or key not in first:
            if key is not None:
                first[key] = len(out)
            out.append(record)
        elif record.detail and not out[first[key]].detail:
            out[first[key]] = record
    return out


def _tail_file(path: Path, count: int, keep: Callable[[Record], bool], block: int) -> list[Record]:
    """Read backwards from the end in growing windows until `count` records pass (or the file ends).

    The rotated `.1` file is read too when the current one holds too few, so `logs` right after a
    rotation still shows history.
    """
    chosen: list[Record] = []
    for file in (path, path.with_name(path.name + ".1")):
        if len(chosen) >= count or not file.is_file():
            continue
        chosen = _tail_one(file, count - len(chosen), keep, block) + chosen
    return chosen


def _tail_one(path: Path, count: int, keep: Callable[[Record], bool], block: int) -> list[Record]:
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        window = block
        while True:
            start = max(size - window, 0)
            handle.seek(start)
            data = handle.read(size - start).decode("utf-8", "replace")
            lines = data.splitlines()
            if start > 0 and lines:
                lines = lines[1:]  # the first line of the window may be cut in the middle
            kept = [r for r in records(lines) if keep(r)]
            if len(kept) >= count or start == 0:
                return kept[-count:]
            window *= 4


# -- follow ---------------------------------------------------------------------------------------------
class Follower:
    """Yields lines appended to one file, surviving rotation (rename + new file) and truncation."""

    def __init__(self, path: Path, from_end: bool = True) -> None:
        self.path = path
        self.handle: Any = None
        self.inode: int | None = None
        self.buffer = b""  # bytes: a read may end inside a line, even inside a UTF-8 character
        self._open(seek_end=from_end)

    def _open(self, seek_end: bool) -> None:
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            self.handle, self.inode = None, None
            return
        self.handle, self.inode = handle, os.fstat(handle.fileno()).st_ino
        if seek_end:
            handle.seek(0, os.SEEK_END)

    def _drain(self) -> list[str]:
        if self.handle is None:
            return []
        self.buffer += self.handle.read()
        *complete, self.buffer = self.buffer.split(b"\n")
        return [line.decode("utf-8", "replace") for line in complete]

    def poll(self) -> list[str]:
        """New complete lines since the last poll."""
        lines = self._drain()
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return lines  # mid-rotation: keep the old handle until the new file appears
        if self.handle is None:
            self._open(seek_end=False)
            return lines + self._drain()
        if stat.st_ino != self.inode or stat.st_size < self.handle.tell():
            lines += self._drain()  # what was written to the old file just before it moved
            if self.buffer:
                lines.append(self.buffer.decode("utf-8", "replace"))
                self.buffer = b""
            self.handle.close()
            self._open(seek_end=False)
            lines += self._drain()
        return lines

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


def follow(paths: list[Path], keep: Callable[[Record], bool] = lambda r: True, interval: float = 0.25,
           should_stop: Callable[[], bool] = lambda: False) -> Iterator[Record]:
    """Records appended to `paths` from now on, as they arrive (until `should_stop()`)."""
    followers = [Follower(path) for path in paths]
    # Per file: was the last header shown? A continuation line follows its header's fate.
    shown = [False] * len(paths)
    # Recent events and whether they were shown: the error file repeats the main file's failures.
    recent: dict[tuple[Any, ...], bool] = {}
    try:
        while not should_stop():
            got_any = False
            for index, follower in enumerate(followers):
                for line in follower.poll():
                    got_any = True
                    record = _record_of(line)
                    if record is None:
                        if shown[index]:
                            yield Record({"message": line, "continuation": True}, [line], extra_only=True)
                        continue
                    key = record.key
                    if key is not None and key in recent:
                        # Already printed from the other file: only its traceback is new.
                        shown[index] = recent[key]
                        if shown[index] and record.detail:
                            record.extra_only = True
                            yield record
                        continue
                    shown[index] = keep(record)
                    if key is not None:
                        recent[key] = shown[index]
                        if len(recent) > 1000:
                            recent.pop(next(iter(recent)))
                    if shown[index]:
                        yield record
            if not got_any:
                time.sleep(interval)
    finally:
        for follower in followers:
            follower.close()


def _record_of(line: str) -> Record | None:
    fields = parse_line(line)
    return None if fields is None else Record(fields, [line])


# -- output -----------------------------------------------------------------------------------------------
def as_text(record: Record) -> str:
    """The record as text: raw lines for text logs; JSON log lines rendered in the text format."""
    if record.fields.get("continuation"):
        return record.text()
    is_json = bool(record.lines) and record.lines[0].startswith("{")
    if record.extra_only:
        return str(record.fields.get("traceback") or "") if is_json else "\n".join(record.lines[1:])
    if not is_json:
        return record.text()
    f = record.fields
    parts = [str(f.get("time") or ""), f"{(f.get('level') or ''):<7}"]
    if f.get("process"):
        parts.append(f"[{f['process']}]")
    for key, name in (("job", "job_id"), ("site", "site"), ("method", "method"), ("event", "event")):
        if f.get(name):
            parts.append(f"{key}={f[name]}")
    if f.get("duration") is not None:
        duration = f["duration"]
        parts.append(f"duration={duration:.3f}s" if isinstance(duration, int | float) else f"duration={duration}")
    if f.get("message"):
        parts.append(str(f["message"]))
    text = " ".join(parts)
    return f"{text}\n{f['traceback']}" if f.get("traceback") else text


def as_json_line(record: Record) -> str:
    return json.dumps(record.as_json(), default=str)
