"""When scheduled events are due: pure functions over cron expressions, no Redis, no sleeping.

What an expression is (its syntax, the cron of each named event) is read with the hooks, in
bench/hooks.py; this module says when it fires.

Cron is evaluated in the site's time zone with croniter. Around DST changes we follow Vixie cron:
- a wall time skipped by a spring-forward change fires at the first instant after the gap
  (`30 2 * * *` in Europe/Berlin on 2026-03-29 fires at 03:00 CEST), once;
- a wall time repeated by a fall-back change fires twice only for jobs whose hour field is a
  wildcard (`0 * * * *` runs every real hour); fixed-hour jobs (`30 2 * * *`) run once, at the first.
Expressions may have a sixth field for seconds (croniter's `* * * * * */5`); tests use it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

from bench_jobs.bench import units
from bench_jobs.bench.events import validate
from bench_jobs.errors import CronError

ONE_MICROSECOND = timedelta(microseconds=1)
# No cron slot can be further apart than this (a leap-day cron is once in 8 years at worst).
MAX_SEARCH = 5000


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
    found = units.zone(name)
    if found is None:
        raise CronError(f"unknown time_zone '{name}'",
                        "use an IANA name such as Europe/Berlin or Asia/Kolkata in site_config.json")
    return found
