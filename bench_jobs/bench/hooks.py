"""The scheduled events of a bench: `scheduler_events` from every installed app's hooks.py.

A hooks.py is executed when it can be; when that fails (it imports frappe, say) the dict literal
assigned to `scheduler_events` is read from the file's syntax tree instead. A bad entry (unknown key,
invalid cron, a method that does not resolve) becomes a ScheduledEvent with `error` set: listed and
logged, never run; the other entries still run.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_jobs.errors import BenchJobsError, CronError
from bench_jobs.scheduler import cron

if TYPE_CHECKING:
    from bench_jobs.bench.layout import Bench

BASE_EVENTS = ("all", "hourly", "daily", "weekly", "monthly", "yearly", "annual")
# Frappe's maintenance events run on the long queue, like the _long ones.
NAMED_EVENTS = (*BASE_EVENTS, *(f"{e}_long" for e in BASE_EVENTS), "hourly_maintenance", "daily_maintenance")
CRON_EVENTS = ("cron", "cron_long")
KNOWN_EVENTS = (*NAMED_EVENTS, *CRON_EVENTS)


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


def queue_for(event: str) -> str:
    return "long" if event.endswith(("_long", "_maintenance")) else "default"


# -- reading hooks.py -------------------------------------------------------------------------------
_cache: dict[str, tuple[tuple[int, int], dict[str, Any] | None, str | None]] = {}


def hooks_file(app: str) -> Path | None:
    """The app's hooks.py, found without importing the app (its __init__ may import frappe)."""
    try:
        spec = importlib.util.find_spec(app)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "hooks.py"
        if candidate.is_file():
            return candidate
    return None


def _execute(app: str, path: Path) -> dict[str, Any]:
    """Run hooks.py as a fresh module (not cached in sys.modules, so edits are seen)."""
    spec = importlib.util.spec_from_file_location(f"{app}.hooks", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    events = getattr(module, "scheduler_events", None) or {}
    if not isinstance(events, dict):
        raise TypeError(f"scheduler_events is a {type(events).__name__}, not a dict")
    return events


def read_literal(source: str, filename: str = "hooks.py") -> dict[str, Any] | None:
    """The literal assigned to `scheduler_events` at the top level of `source` (the last one wins)."""
    tree = ast.parse(source, filename)
    value: ast.expr | None = None
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [node.target]
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == "scheduler_events" for t in targets):
            value = node.value
    if value is None:
        return None
    events = ast.literal_eval(value)
    if not isinstance(events, dict):
        raise ValueError(f"scheduler_events is a {type(events).__name__}, not a dict")
    return events


def read_scheduler_events(app: str, path: Path) -> tuple[dict[str, Any], str | None]:
    """(scheduler_events, error) of one hooks.py, cached until the file changes."""
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    cached = _cache.get(str(path))
    if cached and cached[0] == stamp:
        return cached[1] or {}, cached[2]
    events: dict[str, Any] | None = None
    error: str | None = None
    try:
        events = _execute(app, path)
    except Exception as exc:  # any failure of user code: fall back to reading the literal
        import_error = f"{type(exc).__name__}: {exc}"
        try:
            events = read_literal(path.read_text(encoding="utf-8"), str(path)) or {}
        except (SyntaxError, ValueError, TypeError) as literal_exc:
            error = (f"{path} cannot be imported ({import_error}) and its scheduler_events is not a "
                     f"literal ({type(literal_exc).__name__}: {literal_exc})")
    _cache[str(path)] = (stamp, events, error)
    return events or {}, error


# -- resolving methods ----------------------------------------------------------------------------
def _refusal(bench: Bench, method: str) -> BenchJobsError | None:
    from bench_jobs.bench.apps import resolve_method

    try:
        resolve_method(bench, method)
    except BenchJobsError as exc:
        return exc
    return None


def resolve_error(method: Any, bench: Bench) -> str | None:
    """Why `method` cannot run as a job, or None. The worker's own allow-list decides, so an entry
    listed as fine here is one a worker will run."""
    from bench_jobs.bench.apps import MethodNotFound

    if not isinstance(method, str):
        return f"method {method!r} is not a dotted path like app.module.function"
    refusal = _refusal(bench, method)
    module = sys.modules.get(method.rpartition(".")[0])
    if isinstance(refusal, MethodNotFound) and module is not None:
        try:  # the module may have been edited (a function added) since this process imported it
            importlib.reload(module)
        except Exception as exc:  # user code: any failure is this entry's error
            return f"'{method}': reloading {module.__name__} failed ({type(exc).__name__}: {exc})"
        refusal = _refusal(bench, method)
    return refusal.message if refusal else None


# -- turning scheduler_events into rows -----------------------------------------------------------
def _methods(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _entries(app: str, events: dict[str, Any], interval: int) -> Iterator[ScheduledEvent]:
    for event, value in events.items():
        queue = queue_for(str(event))
        if event in CRON_EVENTS:
            if not isinstance(value, dict):
                yield ScheduledEvent(app, event, "", "", queue, f"'{event}' must map cron expressions to methods")
                continue
            for expr, methods in value.items():
                try:
                    expression, error = cron.validate(str(expr)), None
                except CronError as exc:
                    expression, error = str(expr), exc.message
                for method in _methods(methods):
                    yield ScheduledEvent(app, event, str(method), expression, queue, error)
        elif event in NAMED_EVENTS:
            for method in _methods(value):
                yield ScheduledEvent(app, event, str(method), cron.event_cron(event, interval), queue)
        else:
            error = (f"unknown scheduler event '{event}' (use all, hourly, daily, weekly, monthly, yearly or annual, "
                     "any of them + _long, cron or cron_long)")
            methods = [m for v in value.values() for m in _methods(v)] if isinstance(value, dict) \
                else _methods(value)
            for method in methods or [""]:
                yield ScheduledEvent(app, str(event), str(method), "", queue, error)


def app_events(app: str, bench: Bench, interval: int) -> list[ScheduledEvent]:
    """The scheduled events of one app, bad ones with `error` set."""
    path = hooks_file(app)
    if path is None:
        return []
    events, error = read_scheduler_events(app, path)
    if error:
        return [ScheduledEvent(app, "", "", "", "default", error)]
    rows = []
    for row in _entries(app, events, interval):
        if row.ok:
            problem = resolve_error(row.method, bench)
            if problem:
                row = ScheduledEvent(row.app, row.event, row.method, row.cron, row.queue, problem)
        rows.append(row)
    return rows


def scheduler_interval(bench: Bench) -> int:
    try:
        return int(bench.common_config.get("scheduler_interval") or cron.DEFAULT_SCHEDULER_INTERVAL)
    except (TypeError, ValueError):
        return cron.DEFAULT_SCHEDULER_INTERVAL


def load_events(bench: Bench) -> list[ScheduledEvent]:
    """Every app's scheduled events, in apps.txt order, duplicates (same key) dropped."""
    interval = scheduler_interval(bench)
    seen: set[str] = set()
    rows: list[ScheduledEvent] = []
    for app in bench.apps:
        for row in app_events(app, bench, interval):
            if row.ok and row.key in seen:
                continue
            seen.add(row.key)
            rows.append(row)
    return rows
