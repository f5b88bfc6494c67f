"""The scheduled events of a bench: `scheduler_events` from every installed app's hooks.py, as Frappe reads them.

A hooks.py is executed, as Frappe imports it: against the real `frappe` when that is importable, else
against a stand-in (`frappe_stub`), so events added by code (`scheduler_events["cron"][...] = ...`,
`.update(...)`, conditionals, helper functions) count. Only when execution fails is the literal assigned
to `scheduler_events` read from the file's syntax tree; an app whose events cannot be read at all is one
row with `error` set, and `problems()` names it for `scheduler list`, `doctor` and the scheduler log.

Each entry becomes a ScheduledEvent (bench/events.py: event names, their crons). A bad entry
(unknown key, invalid cron, a method that does not resolve) becomes one with `error` set: listed and
logged, never run; the other entries still run.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_jobs.bench import settings as S
from bench_jobs.bench.events import (
    CRON_EVENTS,
    NAMED_EVENTS,
    ScheduledEvent,
    event_cron,
    normalise_event,
    queue_for,
    validate,
)
from bench_jobs.errors import BenchJobsError, CronError

if TYPE_CHECKING:
    from bench_jobs.bench.layout import Bench

# -- reading hooks.py -------------------------------------------------------------------------------
_cache: dict[str, tuple[tuple[int, int], HooksRead]] = {}


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


# The stand-in lives in sys.modules while one hooks.py runs: one at a time per process (the web server
# reads hooks from several threads).
_stub_lock = threading.Lock()


def _execute(app: str, path: Path, bench: Bench | None = None) -> dict[str, Any]:
    """Run hooks.py as a fresh module (not cached in sys.modules, so edits are seen): against the real
    frappe when it is importable, else against the stand-in, removed again afterwards."""
    from bench_jobs.bench import frappe_stub

    spec = importlib.util.spec_from_file_location(f"{app}.hooks", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    if frappe_stub.importable():
        spec.loader.exec_module(module)
    else:
        apps = list(bench.apps) if bench is not None else [app]
        conf = dict(bench.common_config) if bench is not None else {}
        with _stub_lock, frappe_stub.installed(conf, apps, owned=(app, *apps)):
            spec.loader.exec_module(module)
    events = getattr(module, "scheduler_events", None)
    if events is None:
        return {}
    if not isinstance(events, dict):
        raise TypeError(f"scheduler_events is a {type(events).__name__}, not a dict")
    plain: dict[str, Any] = _plain(events)
    return plain


def _plain(value: Any) -> Any:
    """A copy made of dicts, lists and strings only, so nothing of the executed module is kept."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    return value


def read_literal(source: str, filename: str = "hooks.py") -> dict[str, Any] | None:
    """`scheduler_events` from the syntax tree of `source`: the literal assigned at the top level (the
    last one wins), then the top-level statements that change it with literals, in order —
    `scheduler_events["cron"]["0 1 * * *"] = [...]`, `.update({...})`, `["daily"].append(...)`,
    `.extend([...])`. Anything computed is skipped (the caller says that only literals were read)."""
    tree = ast.parse(source, filename)
    events: dict[str, Any] | None = None
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "scheduler_events" for t in targets):
                events = ast.literal_eval(node.value)
                if not isinstance(events, dict):
                    raise ValueError(f"scheduler_events is a {type(events).__name__}, not a dict")
                continue
            if events is not None:
                for target in targets:
                    _apply_literal(events, target, None, node.value)
        elif events is not None and isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            call = node.value
            if isinstance(call.func, ast.Attribute) and len(call.args) == 1 and not call.keywords:
                _apply_literal(events, call.func.value, call.func.attr, call.args[0])
    return events


def _key_path(expr: ast.expr) -> list[Any] | None:
    """`scheduler_events["a"]["b"]` -> ["a", "b"]; None for anything else."""
    keys: list[Any] = []
    while isinstance(expr, ast.Subscript):
        try:
            keys.append(ast.literal_eval(expr.slice))
        except (ValueError, TypeError, SyntaxError):
            return None
        expr = expr.value
    return keys[::-1] if isinstance(expr, ast.Name) and expr.id == "scheduler_events" else None


def _apply_literal(events: dict[str, Any], target: ast.expr, method: str | None, value: ast.expr) -> None:
    """One top-level change of scheduler_events made with a literal, applied to `events` (else nothing)."""
    path = _key_path(target)
    if path is None or (method is None and not path):
        return
    try:
        literal = ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError):
        return
    container: Any = events
    for key in path[:-1] if method is None else path:
        if not isinstance(container, dict) or key not in container:
            return
        container = container[key]
    if method is None and isinstance(container, dict):
        container[path[-1]] = literal
    elif method == "update" and isinstance(container, dict) and isinstance(literal, dict):
        container.update(literal)
    elif method == "append" and isinstance(container, list):
        container.append(literal)
    elif method == "extend" and isinstance(container, list) and isinstance(literal, list | tuple):
        container.extend(literal)


@dataclass(frozen=True)
class HooksRead:
    """What one hooks.py gave: its events, how they were read, and why not when they could not be."""

    events: dict[str, Any]
    how: str  # "executed", "empty" (computed, empty outside a site), "syntax tree" or "unreadable"
    error: str | None = None  # unreadable: why; read from the syntax tree: why execution failed


def read_hooks(app: str, path: Path, bench: Bench | None = None) -> HooksRead:
    """The scheduler_events of one hooks.py, cached until the file changes."""
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    cached = _cache.get(str(path))
    if cached and cached[0] == stamp:
        return cached[1]
    try:
        read = HooksRead(_execute(app, path, bench), "executed")
        if not read.events and _computes_events(path):
            read = HooksRead({}, "empty", "scheduler_events is computed by code and comes out empty outside a "
                                          "Frappe site")
    except Exception as exc:  # any failure of user code: fall back to reading the literal
        failure = f"{type(exc).__name__}: {exc}"
        try:
            events = read_literal(path.read_text(encoding="utf-8"), str(path))
        except (SyntaxError, ValueError, TypeError) as literal_exc:
            read = HooksRead({}, "unreadable", f"{path} cannot be executed ({failure}) and its scheduler_events "
                                               f"is not a literal ({type(literal_exc).__name__}: {literal_exc})")
        else:
            read = HooksRead(events or {}, "syntax tree", failure)
    _cache[str(path)] = (stamp, read)
    return read


def _computes_events(path: Path) -> bool:
    """Whether hooks.py gives `scheduler_events` something other than an empty literal: then an empty
    result of running it outside a site (a helper that returns {} without frappe.local.site, say) may
    hide events Frappe would schedule, and is flagged instead of passing for "no events"."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    except (SyntaxError, ValueError, OSError):
        return False
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
            if isinstance(node, ast.AnnAssign | ast.AugAssign) else []
        value = getattr(node, "value", None)
        if any(isinstance(t, ast.Name) and t.id == "scheduler_events" for t in targets) and value is not None:
            try:
                if ast.literal_eval(value) in ({}, None):
                    continue
            except (ValueError, TypeError, SyntaxError):
                pass
            return True
    return False


def read_scheduler_events(app: str, path: Path, bench: Bench | None = None) -> tuple[dict[str, Any], str | None]:
    """(scheduler_events, error) of one hooks.py."""
    read = read_hooks(app, path, bench)
    return read.events, read.error if read.how == "unreadable" else None


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
    for key, value in events.items():
        event = normalise_event(key)
        queue = queue_for(event)
        if event in CRON_EVENTS:
            if not isinstance(value, dict):
                yield ScheduledEvent(app, event, "", "", queue, f"'{key}' must map cron expressions to methods")
                continue
            for expr, methods in value.items():
                try:
                    expression, error = validate(str(expr)), None
                except CronError as exc:
                    expression, error = str(expr), exc.message
                for method in _methods(methods):
                    yield ScheduledEvent(app, event, str(method), expression, queue, error)
        elif event in NAMED_EVENTS and isinstance(value, dict):
            # Frappe would file these as cron jobs whatever the key says; say where they belong instead
            for method in [m for v in value.values() for m in _methods(v)] or [""]:
                yield ScheduledEvent(app, event, str(method), "", queue,
                                     f"'{key}' maps cron expressions to methods: put them under 'cron'")
        elif event in NAMED_EVENTS:
            for method in _methods(value):
                yield ScheduledEvent(app, event, str(method), event_cron(event, interval), queue)
        else:
            error = (f"unknown scheduler event '{key}' (Frappe's events: {', '.join(NAMED_EVENTS)} and cron; "
                     "bench-jobs adds cron_long)")
            methods = [m for v in value.values() for m in _methods(v)] if isinstance(value, dict) \
                else _methods(value)
            for method in methods or [""]:
                yield ScheduledEvent(app, str(key), str(method), "", queue, error)


def app_events(app: str, bench: Bench, interval: int) -> list[ScheduledEvent]:
    """The scheduled events of one app, bad ones with `error` set."""
    path = hooks_file(app)
    if path is None:
        return []
    events, error = read_scheduler_events(app, path, bench)
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


def scheduler_interval(bench: Bench, site: str | None = None) -> int:
    """Seconds between runs of `all`: the site's scheduler_interval, else the bench's, else 240 (Frappe's)."""
    return S.SCHEDULER_INTERVAL.read(bench, site)


def load_events(bench: Bench, site: str | None = None, apps: list[str] | None = None) -> list[ScheduledEvent]:
    """Every app's scheduled events, in apps.txt order, duplicates (same key) dropped.

    With `site`, the `all` event follows that site's scheduler_interval; with `apps`, only those apps'
    events are read (a site runs the events of the apps installed on it, as Frappe does)."""
    interval = scheduler_interval(bench, site)
    wanted = bench.apps if apps is None else [app for app in bench.apps if app in apps]
    seen: set[str] = set()
    rows: list[ScheduledEvent] = []
    for app in wanted:
        for row in app_events(app, bench, interval):
            if row.ok and row.key in seen:
                continue
            seen.add(row.key)
            rows.append(row)
    return rows


def problems(bench: Bench, apps: list[str] | None = None) -> list[tuple[str, str]]:
    """(app, what is wrong) for each app whose scheduler_events could not be read as Frappe runs them:
    unreadable (no event of it runs), or read from the syntax tree only (events added by code missed)."""
    found = []
    for app in bench.apps if apps is None else [a for a in bench.apps if a in apps]:
        path = hooks_file(app)
        if path is None:
            continue
        read = read_hooks(app, path, bench)
        if read.how == "unreadable":
            found.append((app, f"no event of {app} can run: {read.error}"))
        elif read.how == "empty":
            found.append((app, f"{path}: {read.error}; events Frappe would schedule for a site are not seen "
                               "(make the helper return its events without a site)"))
        elif read.how == "syntax tree":
            found.append((app, f"{path} could not be executed ({read.error}); only the literal scheduler_events "
                               "was read, events added by code are missed"))
    return found
