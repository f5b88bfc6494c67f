"""Run records and the Scheduled Job Log.

Per site, HASH `bj:{B}:scheduler:last:{site}` maps an event key to a JSON run record: the last slot
handled, the job of the last run and whether its end has been logged yet. The leader writes it; it
survives restarts and failovers, so a new leader knows which slots are done.

Per site, STREAM `bj:{B}:schedlog:{site}` (capped) is the Scheduled Job Log: one entry when a run is
queued, one when it ends (status, duration, traceback), one when an event starts being skipped because
its previous run is still active. The worker knows nothing of it: the leader reads the end of each run
from the job hash (`reconcile`) before the next run of the same event may replace that hash.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from bench_jobs.jobs.encoding import text
from bench_jobs.jobs.keys import ACTIVE_STATES
from bench_jobs.jobs.model import Job

if TYPE_CHECKING:
    import redis

    from bench_jobs.jobs.keys import Keys

LOG_MAXLEN = 1000
TRACEBACK_LIMIT = 8000


@dataclass
class RunRecord:
    """What the scheduler remembers of one (site, event)."""

    slot: float | None = None  # last slot handled (enqueued or skipped), epoch; baseline when first seen
    job_id: str | None = None
    enqueued: float | None = None  # when the last run was queued
    open: bool = False  # the last run's end is not logged yet
    status: str | None = None  # last run's final status once known
    duration: float | None = None
    skipped: int = 0  # slots skipped since the last run was queued (it was still active)
    skipping: bool = False  # a "skipped" entry was logged for the current streak

    @classmethod
    def parse(cls, raw: bytes | str | None) -> RunRecord:
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
        except ValueError:
            return cls()
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def dump(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


def load_records(client: redis.Redis, keys: Keys, site: str) -> dict[str, RunRecord]:
    return {text(k) or "": RunRecord.parse(v) for k, v in client.hgetall(keys.scheduler_last(site)).items()}


def load_record(client: redis.Redis, keys: Keys, site: str, event_key: str) -> RunRecord:
    return RunRecord.parse(client.hget(keys.scheduler_last(site), event_key))


def save_record(client: redis.Redis, keys: Keys, site: str, event_key: str, record: RunRecord) -> None:
    client.hset(keys.scheduler_last(site), event_key, record.dump())


def baseline(client: redis.Redis, keys: Keys, site: str, event_key: str, now: float) -> RunRecord:
    """First sight of an event: remember now, so only slots after it are due (HSETNX: first one wins)."""
    client.hsetnx(keys.scheduler_last(site), event_key, RunRecord(slot=now).dump())
    return load_record(client, keys, site, event_key)


# -- the stream ---------------------------------------------------------------------------------
def append(client: redis.Redis, keys: Keys, site: str, **fields: Any) -> str:
    """Add one entry to the site's Scheduled Job Log (capped at LOG_MAXLEN, approximately)."""
    entry: dict[Any, Any] = {k: ("" if v is None else str(v)) for k, v in fields.items()}
    entry.setdefault("time", f"{time.time():.3f}")
    entry_id = client.xadd(keys.scheduled_job_log(site), entry, maxlen=LOG_MAXLEN, approximate=True)
    return text(entry_id) or ""


def read_log(client: redis.Redis, keys: Keys, site: str, limit: int = 50,
             method: str | None = None) -> list[dict[str, Any]]:
    """The newest `limit` entries (oldest first), optionally of one method."""
    rows: list[dict[str, Any]] = []
    last = "+"
    # Read newest-first in pages so a method filter still finds `limit` matches without reading it all.
    while len(rows) < limit:
        page = client.xrevrange(keys.scheduled_job_log(site), max=last, count=200)
        if not page:
            break
        for entry_id, fields in page:
            row = {text(k) or "": text(v) or "" for k, v in (fields or {}).items()}
            row["id"] = text(entry_id) or ""
            row["site"] = site
            if method is None or row.get("method") == method:
                rows.append(row)
        last = "(" + (text(page[-1][0]) or "")
    rows = rows[:limit]
    rows.reverse()
    return rows


# -- reading a run's end from its job ------------------------------------------------------------
def job_state(client: redis.Redis, job_id: str) -> Job | None:
    """Status, duration, error, traceback and times of a job, or None when its hash is gone."""
    job = Job.fetch_many(client, [job_id], Job.RUN_END)[job_id]
    return job if job.status is not None else None


def reconcile(client: redis.Redis, keys: Keys, site: str, event_key: str, record: RunRecord,
              method: str, event: str) -> bool:
    """If the record's open run has ended, log its end and close the record. True when it changed."""
    if not record.open or not record.job_id:
        return False
    state = job_state(client, record.job_id)
    if state is not None and state.status in ACTIVE_STATES:
        return False
    if state is None:  # expired (result_ttl) or deleted before we looked: we cannot tell how it went
        state = Job(record.job_id, status="unknown", error="job record gone (expired or deleted)", exists=False)
    record.open = False
    record.status = state.status
    record.duration = state.duration
    traceback = (state.traceback or "")[-TRACEBACK_LIMIT:]
    append(client, keys, site, kind="end", event=event, method=method, job_id=record.job_id,
           status=record.status, duration=record.duration, error=state.error, traceback=traceback,
           started_at=state.started_at, ended_at=state.ended_at)
    save_record(client, keys, site, event_key, record)
    return True


def live_status(client: redis.Redis, record: RunRecord) -> tuple[str | None, float | None]:
    """(status, duration) of the last run, read from the job while it is still open."""
    if record.open and record.job_id:
        state = job_state(client, record.job_id)
        if state is not None:
            return state.status, state.duration
    return record.status, record.duration
