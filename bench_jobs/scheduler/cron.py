"""When scheduled events are due: pure functions over cron expressions, no Redis, no sleeping.

Cron is evaluated in the site's time zone with croniter. Around DST changes we follow Vixie cron:
- a wall time skipped by a spring-forward change fires at the first instant after the gap
  (`30 2 * * *` in Europe/Berlin on 2026-03-29 fires at 03:00 CEST), once;
- a wall time repeated by a fall-back change fires twice only for jobs whose hour field is a
  wildcard (`0 * * * *` runs every real hour); fixed-hour jobs (`30 2 * * *`) run once, at the first.
Expressions may have a sixth field for seconds (croniter's `* * * * * */5`); tests use it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache

from bench_jobs.bench import settings as S
from bench_jobs.errors import CronError

DEFAULT_SCHEDULER_INTERVAL = S.SCHEDULER_INTERVAL.default

# Named events and their cron, as Frappe's Scheduled Job Type maps them (`all` depends on the interval).
NAMED_CRONS = {
    "hourly": "0 * * * *",
    "daily": "0 0 * * *",
    "weekly": "0 0 * * 0",
    "monthly": "0 0 1 * *",
    "yearly": "0 0 1 1 *",
    "annual": "0 0 1 1 *",
}
ONE_MICROSECOND = timedelta(microseconds=1)
# No cron slot can be further apart than this (a leap-day cron is once in 8 years at worst).
MAX_SEARCH = 5000


def interval_cron(seconds: int) -> str:
    """The cron of the `all` event for `scheduler_interval` seconds (Frappe: every 4 minutes).

    Cron steps restart at each minute, hour or day, so an interval that does not divide the next unit
    (say 7 minutes) runs a little early once per hour; whole hours up to a day use the hour field.
    """
    seconds = int(seconds or DEFAULT_SCHEDULER_INTERVAL)
    if seconds <= 0:
        raise CronError(f"scheduler_interval must be positive, not {seconds}",
                        "set it in seconds in common_site_config.json, e.g. 240")
    if seconds < 60:
        return f"* * * * * */{seconds}"
    minutes = seconds // 60
    if minutes < 60:
        return "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"
    hours = min(minutes // 60, 24)
    return "0 0 * * *" if hours == 24 else "0 * * * *" if hours == 1 else f"0 */{hours} * * *"


SECONDS_CRON = re.compile(r"^\* \* \* \* \* \*/(\d+)$")


def describe(expr: str) -> str:
    """The cron as `scheduler list` shows it: `interval_cron`'s six-field seconds form as `every 10s`."""
    match = SECONDS_CRON.match(expr.strip())
    return f"every {match.group(1)}s" if match else expr


def event_cron(event: str, scheduler_interval: int | None = None) -> str:
    """The cron of a named event (`daily`, `hourly_long`, `all`, ...)."""
    base = event.removesuffix("_long").removesuffix("_maintenance")
    if base == "all":
        return interval_cron(scheduler_interval or DEFAULT_SCHEDULER_INTERVAL)
    try:
        return NAMED_CRONS[base]
    except KeyError:
        raise CronError(f"'{event}' is not a scheduler event",
                        f"use one of all, {', '.join(NAMED_CRONS)} (with _long for the long queue), "
                        "cron or cron_long") from None


@lru_cache(maxsize=1024)
def validate(expr: str) -> str:
    """`expr` normalised, or CronError saying why croniter refuses it."""
    from croniter import croniter

    text = " ".join(str(expr).split())
    fields = text.split()
    if not text.startswith("@") and len(fields) not in (5, 6):
        raise CronError(f"invalid cron '{expr}': expected 5 fields (minute hour day month weekday), "
                        f"got {len(fields)}", "e.g. '*/15 * * * *' or '0 2 * * 1-5'")
    try:
        croniter(text)
    except (ValueError, KeyError, TypeError) as exc:
        raise CronError(f"invalid cron '{expr}': {exc}", "e.g. '*/15 * * * *' or '0 2 * * 1-5'") from None
    return text


def _fixed_hour(expr: str) -> bool:
    """True when the hour field names specific hours (a DST-repeated hour then runs once)."""
    if expr.startswith("@"):
        return expr not in ("@hourly", "@minutely")
    return not expr.split()[1].startswith("*")


def _is_repeat(moment: datetime) -> bool:
    """True for the second occurrence of a wall time repeated by a fall-back change."""
    if not moment.fold:
        return False
    return moment.replace(fold=0).utcoffset() != moment.utcoffset()


def _local(moment: datetime, tz: tzinfo) -> datetime:
    """`moment` in `tz` with `fold` set right (croniter's results may not carry it)."""
    if moment.tzinfo is None:
        raise ValueError("cron times must be timezone-aware")
    return moment.astimezone(UTC).astimezone(tz)


def _after(a: datetime, b: datetime) -> bool:
    # Compare instants, not wall times: Python compares datetimes sharing a tzinfo by wall time and
    # ignores `fold`, so 02:00 CEST and 02:00 CET of a fall-back night would compare equal.
    return a.timestamp() > b.timestamp()


def _skip(expr: str, moment: datetime) -> bool:
    return _fixed_hour(expr) and _is_repeat(moment)


def next_slot(expr: str, after: datetime, tz: tzinfo) -> datetime:
    """The first slot of `expr` strictly after `after`, in `tz`."""
    from croniter import croniter

    expr = validate(expr)
    it = croniter(expr, _local(after, tz))
    for _ in range(MAX_SEARCH):
        slot = _local(it.get_next(datetime), tz)
        if _after(slot, after) and not _skip(expr, slot):
            return slot
    raise CronError(f"cron '{expr}' never fires", "check the day and month fields")


def prev_slot(expr: str, at: datetime, tz: tzinfo) -> datetime:
    """The last slot of `expr` at or before `at`, in `tz`."""
    from croniter import croniter

    expr = validate(expr)
    it = croniter(expr, _local(at, tz) + ONE_MICROSECOND)
    for _ in range(MAX_SEARCH):
        slot = _local(it.get_prev(datetime), tz)
        if not _after(slot, at) and not _skip(expr, slot):
            break
    else:
        raise CronError(f"cron '{expr}' never fires", "check the day and month fields")
    # croniter steps back by wall time and misses the second pass of an hour repeated by a fall-back
    # change (02:00 CET after 02:00 CEST): step forward with next_slot, which gets it right.
    while not _after(following := next_slot(expr, slot, tz), at):
        slot = following
    return slot


def due_slot(expr: str, last: datetime | None, now: datetime, tz: tzinfo) -> datetime | None:
    """The slot to run now, or None.

    `last` is the last slot handled (or when the event was first seen). After downtime several slots
    may have passed: only the most recent one is due, so a missed event runs once, then the schedule
    continues from there. With no `last` nothing is due yet (a daily job must not fire on first start).
    """
    if last is None:
        return None
    slot = prev_slot(expr, now, tz)
    return slot if _after(slot, last) else None


def slot_id(slot: datetime) -> str:
    """A slot as a stable string (UTC, seconds), for keys and logs."""
    return slot.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_epoch(seconds: float, tz: tzinfo = UTC) -> datetime:
    return datetime.fromtimestamp(seconds, UTC).astimezone(tz)


def zone(name: str | None) -> tzinfo:
    """The tzinfo for a site's `time_zone` (UTC when unset)."""
    if not name:
        return UTC
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise CronError(f"unknown time_zone '{name}'",
                        "use an IANA name such as Europe/Berlin or Asia/Kolkata in site_config.json") from None
