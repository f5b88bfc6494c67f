"""The site's Error Log: a capped Redis stream `bj:{B}:errorlog:{site}`.

The runner logs every failed job here; job code may call `bench_jobs.log_error(...)` too.
The stream is trimmed with `MAXLEN ~ error_log_limit` (default 1000) on every write, so history
can never fill Redis. Entry fields: title, method, traceback, job_id, time (+ message when given).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypedDict

from bench_jobs.bench import settings as S
from bench_jobs.errors import BenchJobsError
from bench_jobs.jobs.encoding import text
from bench_jobs.jobs.keys import Keys

if TYPE_CHECKING:
    import redis

DEFAULT_LIMIT = 1000
FIELDS = ("title", "message", "method", "traceback", "job_id", "time")


class ErrorEntry(TypedDict):
    """One Error Log entry as `error-log list|show`, the dashboard and their JSON show it."""

    id: str
    site: str
    title: str | None
    message: str | None
    method: str | None
    traceback: str | None
    job_id: str | None
    time: str | None


class ErrorNotFound(BenchJobsError):
    pass


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def log_error(title: str, message: str | None = None, *, method: str | None = None, job_id: str | None = None,
              traceback: str | None = None, site: str | None = None) -> str:
    """Add an entry to the Error Log of `site` (default: the current site); returns the entry id."""
    from bench_jobs.bench.connection import redis_errors
    from bench_jobs.bench.context import local, redis_for, require_site

    bench = local().bench
    site = require_site(site)
    limit = S.ERROR_LOG_LIMIT.read(bench)
    with redis_errors(bench):
        return add_entry(redis_for(bench), Keys(bench.bench_id), site, limit, title=title, message=message,
                         method=method, job_id=job_id, traceback=traceback)


def add_entry(client: redis.Redis, keys: Keys, site: str, limit: int = DEFAULT_LIMIT, **fields: Any) -> str:
    """XADD one entry (empty fields left out) with an approximate cap of `limit` entries."""
    fields["title"] = str(fields.get("title") or "Error")[:500]
    fields.setdefault("time", _now_iso())
    data: dict[Any, Any] = {k: str(v) for k, v in fields.items() if v is not None and v != ""}
    entry_id = client.xadd(keys.error_log(site), data, maxlen=limit, approximate=True)
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


def _entry(entry_id: bytes | str | None, raw: dict[Any, Any] | None, site: str) -> ErrorEntry:
    data = {(text(k) or ""): (text(v) or "") for k, v in (raw or {}).items()}
    return ErrorEntry(id=text(entry_id) or "", site=site, title=data.get("title"), message=data.get("message"),
                      method=data.get("method"), traceback=data.get("traceback"), job_id=data.get("job_id"),
                      time=data.get("time"))


def list_errors(client: redis.Redis, keys: Keys, site: str, limit: int = 20) -> list[ErrorEntry]:
    """The newest `limit` entries, newest first (one XREVRANGE: bounded whatever the log holds)."""
    rows = (client.xrevrange(keys.error_log(site), count=max(limit, 0)) or []) if limit > 0 else []
    return [_entry(entry_id, raw, site) for entry_id, raw in rows]


def count_errors(client: redis.Redis, keys: Keys, site: str) -> int:
    return int(client.xlen(keys.error_log(site)))


def get_error(client: redis.Redis, keys: Keys, site: str, entry_id: str) -> ErrorEntry:
    if not _valid_id(entry_id):
        raise ErrorNotFound(f"'{entry_id}' is not an Error Log id (they look like 1764477601123-0)",
                            "list ids with `bench-jobs error-log list`")
    rows = client.xrange(keys.error_log(site), min=entry_id, max=entry_id, count=1)
    if not rows:
        raise ErrorNotFound(f"no Error Log entry '{entry_id}' for site {site}",
                            "list ids with `bench-jobs error-log list` (old entries are trimmed)")
    return _entry(rows[0][0], rows[0][1], site)


def _valid_id(entry_id: str) -> bool:
    """MS-SEQ as Redis streams number entries: both parts fit in 64 bits (else XRANGE errors)."""
    ms, sep, seq = entry_id.partition("-")
    return (ms.isascii() and ms.isdigit() and len(ms) <= 20 and int(ms) < 2**64
            and (not sep or (seq.isascii() and seq.isdigit() and len(seq) <= 20 and int(seq) < 2**64)))


def clear_errors(client: redis.Redis, keys: Keys, site: str, older_than: float | None = None) -> int:
    """Delete entries (all, or those older than `older_than` seconds); returns how many went."""
    key = keys.error_log(site)
    if older_than is None:
        pipe = client.pipeline()
        pipe.xlen(key)
        pipe.delete(key)
        count, _ = pipe.execute()
        return int(count)
    # Stream ids start with the entry's epoch milliseconds: MINID trims exactly what is older.
    min_id = int((time.time() - older_than) * 1000)
    return int(client.xtrim(key, minid=f"{min_id}-0", approximate=False))


def parse_duration(text: str) -> float:
    """'7d' / '12h' / '30m' / '45s' / '90' -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    text = text.strip().lower()
    number, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    try:
        value = float(number)
    except ValueError:
        raise BenchJobsError(f"'{text}' is not a duration", "write it like 45s, 30m, 12h, 7d or 2w") from None
    if value < 0:
        raise BenchJobsError(f"duration '{text}' is negative", "write it like 45s, 30m, 12h, 7d or 2w")
    return value * units[unit]
