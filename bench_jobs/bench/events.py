"""The vocabulary of scheduled events: Frappe's frequencies as hooks keys, the cron each one runs on,
and `ScheduledEvent`, one method scheduled under one event. Reading apps' hooks.py is bench/hooks.py's
business; when an expression fires is scheduler/cron.py's.

Event keys are normalised as Frappe does (it title-cases `hourly_long` to the frequency "Hourly Long"),
and only Frappe's frequencies are accepted, plus `cron_long` (bench-jobs' own: cron on the long queue).
A named frequency gets its cron through Frappe's mapping (`all` follows scheduler_interval); a `cron`
entry is validated with croniter.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from bench_jobs.bench import settings as S
from bench_jobs.errors import CronError

# Frappe's frequencies (the options of Scheduled Job Type.frequency), as hooks keys. Frappe has no
# `all_long`, `yearly_long` or `annual_long`: an app declaring them gets nothing run, so they are refused.
# Maintenance events run on the long queue, like the _long ones.
NAMED_EVENTS = ("all", "hourly", "hourly_long", "hourly_maintenance", "daily", "daily_long", "daily_maintenance",
                "weekly", "weekly_long", "monthly", "monthly_long", "yearly", "annual")
# `cron` is Frappe's; `cron_long` is bench-jobs' addition (the design asks for it): cron on the long queue.
CRON_EVENTS = ("cron", "cron_long")
KNOWN_EVENTS = (*NAMED_EVENTS, *CRON_EVENTS)


def normalise_event(key: Any) -> str:
    """The hooks key as Frappe reads it: `"Hourly"`, `"HOURLY_LONG"`, `"hourly long"` -> hourly, hourly_long.

    Frappe turns a key into its frequency with `key.replace("_", " ").title()`; this is the inverse of
    that, so two spellings Frappe treats alike are one event here. Unknown keys come back unchanged."""
    text = str(key)
    folded = " ".join(text.replace("_", " ").split()).lower().replace(" ", "_")
    return folded if folded in KNOWN_EVENTS else text


@dataclass(frozen=True)
class ScheduledEvent:
    """One method scheduled by one app under one event (a row of `scheduler list`)."""

    app: str
    event: str  # the hooks key: daily, hourly_long, cron, ...
    method: str
    cron: str  # the expression it runs on ("" when unknown)
    queue: str
    error: str | None = None

    @property
    def key(self) -> str:
        """Stable identity of the event within a site (last runs, slot keys, job ids hang off it)."""
        if self.event in CRON_EVENTS:
            return f"{self.event}|{self.cron}|{self.method}"
        return f"{self.event}|{self.method}"

    @property
    def digest(self) -> str:
        return hashlib.sha1(self.key.encode()).hexdigest()[:12]

    @property
    def ok(self) -> bool:
        return self.error is None


# -- the cron of an event ---------------------------------------------------------------------------
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


def describe_cron(expr: str) -> str:
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


def queue_for(event: str) -> str:
    return "long" if event.endswith(("_long", "_maintenance")) else "default"
