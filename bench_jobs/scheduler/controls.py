"""What the `scheduler` commands show and do, over the scheduler's state: list, status, trigger, controls."""

from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from bench_jobs.bench import hooks
from bench_jobs.bench import settings as S
from bench_jobs.bench.config import update_json
from bench_jobs.errors import BenchJobsError
from bench_jobs.jobs.keys import Keys
from bench_jobs.scheduler import cron
from bench_jobs.scheduler import run_log as schedlog
from bench_jobs.scheduler.lease import SchedulerMember, members
from bench_jobs.scheduler.sites import event_request, site_events, site_state

if TYPE_CHECKING:
    import redis

    from bench_jobs.bench.events import ScheduledEvent
    from bench_jobs.bench.layout import Bench

# command -> (keys to set, keys to drop) in site_config.json; Frappe's spelling of each key.
CONTROLS: dict[str, tuple[dict[str, int], tuple[str, ...]]] = {
    "enable": ({"enable_scheduler": 1}, ("disable_scheduler",)),
    "disable": ({"enable_scheduler": 0}, ()),
    "pause": ({"pause_scheduler": 1}, ()),
    "resume": ({"pause_scheduler": 0}, ()),
}


class SiteStatus(TypedDict):
    """One site's scheduler state, as `scheduler status`, `scheduler enable|...`, doctor and the dashboard show it."""

    site: str
    enabled: bool
    paused: bool
    maintenance: bool
    active: bool
    state: str
    time_zone: str
    settings_from: str
    apps: list[str] | None


class SchedulerStatus(TypedDict):
    sites: list[SiteStatus]
    alive: bool
    leader: SchedulerMember | None
    schedulers: list[SchedulerMember]


class EventRow(TypedDict):
    """One (site, event, method) of `scheduler list`: when it last ran, how that went, when it runs next."""

    site: str
    method: str
    event: str
    cron: str
    queue: str
    last_run: str | None
    last_status: str | None
    last_duration_seconds: float | None
    next_run: str | None
    error: str | None
    skipped_since_last_run: NotRequired[int]


class TriggerResult(TypedDict):
    """What `scheduler trigger` did with one event: queued, skipped (and why), or with --now its run."""

    site: str
    event: str
    method: str
    job_id: str | None
    status: str
    reason: NotRequired[str | None]
    duration_seconds: NotRequired[float]
    error: NotRequired[str | None]
    traceback: NotRequired[str | None]


def _iso(epoch: float | None, tz: Any) -> str | None:
    return cron.from_epoch(epoch, tz).isoformat(timespec="seconds") if epoch else None


def control(bench: Bench, site: str, action: str) -> SiteStatus:
    """enable|disable|pause|resume one site: rewrite its site_config.json atomically, keep other keys.

    enable|disable of a site whose database is reachable write System Settings.enable_scheduler there,
    as Frappe's `bench enable-scheduler` does (that is the value its scheduler reads), and clear a
    disable_scheduler in site_config.json on enable."""
    from bench_jobs.bench import site_db

    bench.require_site(site)
    if action in ("enable", "disable") and site_db.read(bench, site, fresh=True).source == site_db.DATABASE:
        site_db.set_enable_scheduler(bench, site, action == "enable")
        if action == "enable" and S.DISABLE_SCHEDULER.read(bench, site):
            update_json(bench.site_config_file(site), {"disable_scheduler": 0})
            bench.reload()
        return status_of_site(bench, site)
    changes, drop = CONTROLS[action]
    changes = dict(changes)
    if action == "enable" and S.DISABLE_SCHEDULER.read(bench):
        changes["disable_scheduler"] = 0  # override a bench-wide disable for this site
        drop = ()
    if action == "resume" and S.PAUSE_SCHEDULER.read(bench):
        changes["pause_scheduler"] = 0
    bench.require_site(site)
    update_json(bench.site_config_file(site), changes, remove=drop)
    bench.reload()
    return status_of_site(bench, site)


def status_of_site(bench: Bench, site: str) -> SiteStatus:
    state = site_state(bench, site)
    return SiteStatus(site=site, enabled=state.enabled, paused=state.paused, maintenance=state.maintenance,
                      active=state.active, state=state.reason, time_zone=state.time_zone or "UTC",
                      settings_from=state.source, apps=list(state.apps) if state.apps is not None else None)


def status(bench: Bench, client: redis.Redis, sites: list[str]) -> SchedulerStatus:
    """Per site: enabled/paused/maintenance; bench-wide: live scheduler processes and the leader."""
    procs = members(client, Keys(bench.bench_id))
    for proc in procs:
        proc.pop("token", None)
    leader = next((p for p in procs if p["leader"]), None)
    return SchedulerStatus(sites=[status_of_site(bench, s) for s in sites], alive=bool(procs), leader=leader,
                           schedulers=procs)


def list_events(bench: Bench, client: redis.Redis, sites: list[str], now: float | None = None) -> list[EventRow]:
    """One row per (site, event, method): cron, queue, last run and its outcome, next run, error."""
    now = time.time() if now is None else now
    keys = Keys(bench.bench_id)
    rows = []
    for site in sites:
        state = site_state(bench, site)
        tz = cron.zone(state.time_zone)
        records = schedlog.load_records(client, keys, site)
        for event in site_events(bench, state):
            rows.append(_row(client, site, state.active, tz, event, records.get(event.key), now))
    return rows


def _row(client: redis.Redis, site: str, active: bool, tz: Any, event: ScheduledEvent,
         record: schedlog.RunRecord | None, now: float) -> EventRow:
    row = EventRow(site=site, method=event.method, event=event.event, cron=event.cron, queue=event.queue,
                   last_run=None, last_status=None, last_duration_seconds=None, next_run=None, error=event.error)
    if not event.ok:
        return row
    record = record or schedlog.RunRecord()
    if record.enqueued:
        status, duration = schedlog.live_status(client, record)
        row["last_run"], row["last_status"] = _iso(record.enqueued, tz), status
        row["last_duration_seconds"] = round(duration, 3) if duration is not None else None
    if active:
        after = cron.from_epoch(max(record.slot or now, 0), tz)
        row["next_run"] = cron.next_slot(event.cron, after, tz).isoformat(timespec="seconds")
    if record.skipped:
        row["skipped_since_last_run"] = record.skipped
    return row


def log_entries(bench: Bench, client: redis.Redis, sites: list[str], limit: int,
                method: str | None) -> list[dict[str, Any]]:
    keys = Keys(bench.bench_id)
    rows = [r for site in sites for r in schedlog.read_log(client, keys, site, limit, method)]
    rows.sort(key=lambda r: float(r.get("time") or 0))
    return rows[-limit:]


# -- trigger ------------------------------------------------------------------------------------
def matching(bench: Bench, target: str, site: str | None = None) -> list[ScheduledEvent]:
    """The scheduled events TARGET names: an event (daily, cron, ...) or a method (of the apps installed
    on `site` when given)."""
    events = [e for e in (site_events(bench, site_state(bench, site)) if site else hooks.load_events(bench)) if e.ok]
    chosen = [e for e in events if target in (e.event, e.method)]
    if not chosen:
        names = sorted({e.event for e in events} | {e.method for e in events})
        raise BenchJobsError(f"'{target}' is neither a scheduled event nor a scheduled method of this bench",
                             f"pick one of: {', '.join(names) or 'none (no app has scheduler_events)'}; "
                             "`bench-jobs scheduler list` shows them")
    return chosen


def trigger(bench: Bench, client: redis.Redis, site: str, target: str, now: bool = False) -> list[TriggerResult]:
    """Enqueue (or with `now` run in this process) the events TARGET names, for one site."""
    from bench_jobs.jobs.enqueue import submit

    keys = Keys(bench.bench_id)
    results: list[TriggerResult] = []
    for event in matching(bench, target, site):
        if now:
            results.append(_run_now(bench, client, keys, site, event))
            continue
        result = submit(event_request(bench, site, event), client)
        status = "queued" if result.status == "enqueued" else "skipped"
        why = "" if status == "queued" else f"previous run still queued or running (job {result.id})"
        if result.status == "overloaded":  # backpressure applies to a trigger like to any enqueue
            why = f"queue {event.queue} is full ({result.count} jobs queued, max_queued_jobs reached)"
        if result.status == "enqueued":
            record = schedlog.load_record(client, keys, site, event.key)
            schedlog.reconcile(client, keys, site, event.key, record, event.method, event.event)
            record.job_id, record.enqueued, record.open, record.status, record.duration = \
                result.id, time.time(), True, None, None
            schedlog.save_record(client, keys, site, event.key, record)
        schedlog.append(client, keys, site, kind="trigger", event=event.event, method=event.method,
                        job_id=result.id, status=status,
                        error=why)
        results.append(TriggerResult(site=site, event=event.event, method=event.method,
                                     job_id=result.id if result.status != "overloaded" else None, status=status,
                                     reason=why or None))
    return results


def _run_now(bench: Bench, client: redis.Redis, keys: Keys, site: str, event: ScheduledEvent) -> TriggerResult:
    """Run the event's method here, as a worker would (allow-list, site context, after-commit unit)."""
    from bench_jobs.jobs.enqueue import run_here

    started = time.time()
    status, error, trace = "finished", "", ""
    try:
        run_here(bench, site, event.method, {})
    except Exception as exc:  # a failing job is reported and logged, not raised
        status, error, trace = "failed", f"{type(exc).__name__}: {exc}", _app_traceback(exc)
    duration = round(time.time() - started, 3)
    schedlog.append(client, keys, site, kind="end", event=event.event, method=event.method, job_id="(now)",
                    status=status, duration=duration, error=error, traceback=trace[-schedlog.TRACEBACK_LIMIT:])
    return TriggerResult(site=site, event=event.event, method=event.method, job_id=None, status=status,
                         duration_seconds=duration, error=error or None, traceback=trace or None)


def _app_traceback(exc: BaseException) -> str:
    """The traceback from the method's own frames on: the frames of bench_jobs that called it say nothing."""
    package = str(Path(__file__).resolve().parent.parent)
    frames = exc.__traceback__
    while frames is not None and frames.tb_next is not None and frames.tb_frame.f_code.co_filename.startswith(package):
        frames = frames.tb_next
    return "".join(traceback.format_exception(type(exc), exc, frames))
