"""The allow-list: only functions of installed apps (sites/apps.txt) and bench-jobs' own jobs may run.

`resolve_method` is called at enqueue (so a typo fails early, naming what is missing) and again by
the worker before it runs anything, so a job written into Redis by hand cannot name `os.system`.
bench_jobs' internals are not jobs either (`bench_jobs.bench.config.write_atomic` would write any file):
of that package only the functions in BUILTIN_JOBS run.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bench_jobs.errors import BenchJobsError, MethodNotAllowed

if TYPE_CHECKING:
    from bench_jobs.bench.layout import Bench

BUILTIN_JOBS = frozenset({"bench_jobs.jobs.builtin.ping"})
DOTTED_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+\Z")

_whitelisted: dict[str, dict[str, Any]] = {}


class MethodNotFound(BenchJobsError):
    """The dotted path names a module or function that does not exist (or cannot be imported)."""


def method_path(method: Callable[..., Any] | str) -> str:
    """The dotted path a worker can import: `app.module.function`."""
    if isinstance(method, str):
        return method
    module = getattr(method, "__module__", None)
    qualname = getattr(method, "__qualname__", None)
    if not module or not qualname or "<" in qualname or module == "__main__":
        # Lambdas, nested functions and __main__ cannot be imported by another process.
        raise MethodNotAllowed(f"{method!r} cannot be enqueued: a worker can only import module-level functions",
                               "move it to a module of an installed app and pass it or its dotted path")
    return f"{module}.{qualname}"


def not_an_app(name: str) -> str | None:
    """Why the package `name` cannot be an app, or None. The standard library never is (`os`,
    `subprocess`, `builtins`: their functions would run anything); nor is a third-party package
    installed into site-packages without a hooks.py (requests, redis...): apps are the bench's own."""
    import importlib.util
    import sys

    top = name.split(".", 1)[0]
    if top in sys.stdlib_module_names or top in sys.builtin_module_names:
        return f"'{top}' is part of Python's standard library, not an app"
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec else []
    installed = [loc for loc in locations if "site-packages" in loc or "dist-packages" in loc]
    if spec and (installed or (spec.origin and ("site-packages" in spec.origin or "dist-packages" in spec.origin))):
        from pathlib import Path

        if not any((Path(loc) / "hooks.py").is_file() for loc in locations):
            return f"'{top}' is an installed third-party package without hooks.py, not an app"
    return None


def check_allowed(bench: Bench, path: str) -> None:
    """Raise MethodNotAllowed unless `path` is a dotted path inside an installed app, or a builtin job."""
    if not DOTTED_RE.match(path):
        raise MethodNotAllowed(f"'{path}' is not a dotted path like app.module.function",
                               "pass the method as a callable or as 'app.module.function'")
    if any(part.startswith("__") for part in path.split(".")):
        # __class__, __globals__, __builtins__...: such a path only leads out of the app.
        raise MethodNotAllowed(f"'{path}' goes through a dunder attribute", "name the job's function directly")
    top = path.split(".", 1)[0]
    if top == "bench_jobs":
        if path not in BUILTIN_JOBS:
            raise MethodNotAllowed(f"'{path}' is internal to bench_jobs, not a job",
                                   f"bench_jobs' own jobs: {', '.join(sorted(BUILTIN_JOBS))}")
    elif top not in bench.apps:
        apps = ", ".join(bench.apps) or "none"
        raise MethodNotAllowed(f"'{path}' is not in an installed app (installed apps: {apps})",
                               "only functions of apps listed in sites/apps.txt run as jobs; "
                               "register an app with `bench-jobs add-app APP`")
    elif top in _stdlib():  # even when someone wrote it into apps.txt by hand
        raise MethodNotAllowed(f"'{path}' is in Python's standard library, not an app",
                               "only functions of apps listed in sites/apps.txt run as jobs")


@functools.cache  # checked on every enqueue; the interpreter's module names never change
def _stdlib() -> frozenset[str]:
    import sys

    return frozenset(sys.stdlib_module_names) | frozenset(sys.builtin_module_names)


def _import_longest_module(path: str) -> tuple[Any, list[str]]:
    """Import the longest importable module prefix of `path`; return it and the remaining attributes."""
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            return importlib.import_module(module_name), parts[cut:]
        except ModuleNotFoundError as exc:
            # Only "this module does not exist" moves on; a missing import *inside* it is the app's bug.
            if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
                continue
            raise MethodNotFound(f"cannot import {module_name} for '{path}': {exc}",
                                 "install the missing package in the bench's Python environment") from None
        except Exception as exc:
            raise MethodNotFound(f"importing {module_name} for '{path}' failed: {type(exc).__name__}: {exc}",
                                 "fix the error in that module") from None
    raise MethodNotFound(f"no module found for '{path}'",
                         "check the spelling; the app's package must be importable by the bench's Python")


def check_arguments(func: Callable[..., Any], kwargs: dict[str, Any], path: str) -> None:
    """Refuse keyword arguments `func` cannot take (unknown or missing ones) before the job is
    enqueued, so the mistake is one line now instead of a TypeError in a worker later."""
    import inspect

    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):  # a builtin or C function without a signature: nothing to check
        return
    try:
        signature.bind(**kwargs)
    except TypeError as exc:
        accepted = ", ".join(name for name, p in signature.parameters.items()
                             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)) or "none"
        bare = signature.replace(parameters=[p.replace(annotation=p.empty) for p in signature.parameters.values()],
                                 return_annotation=signature.empty)  # names only: annotations may be strings
        raise BenchJobsError(f"{path}{bare} does not take these arguments: {exc}",
                             f"pass its arguments by name in --kwargs (it takes: {accepted})") from None


def name_arguments(func: Callable[..., Any], args: list[Any] | tuple[Any, ...], kwargs: dict[str, Any],
                   path: str) -> dict[str, Any]:
    """`args` given by name (`execute --args`): jobs carry keyword arguments only, so positional ones are
    matched to the function's parameters here; a clear error when they do not fit."""
    import inspect

    if not args:
        return dict(kwargs)
    try:
        parameters = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        raise BenchJobsError(f"{path} has no signature to match --args to", "pass its arguments by name in --kwargs") \
            from None
    named = [p for p in parameters if p.kind == p.POSITIONAL_OR_KEYWORD]
    if any(p.kind in (p.POSITIONAL_ONLY, p.VAR_POSITIONAL) for p in parameters[:len(args)]) or len(args) > len(named):
        raise BenchJobsError(f"{path} takes at most {len(named)} argument(s) by position, given {len(args)}",
                             "pass its arguments by name in --kwargs")
    given = dict(zip((p.name for p in named), args, strict=False))
    twice = sorted(set(given) & set(kwargs))
    if twice:
        raise BenchJobsError(f"{path}: {', '.join(twice)} given in --args and in --kwargs", "give each argument once")
    return {**given, **kwargs}


def resolve_method(bench: Bench, method: Callable[..., Any] | str) -> Callable[..., Any]:
    """The callable for `method` (a callable or dotted path) if it is allowed; else MethodNotAllowed/NotFound.
    A dotted path's answer is kept until the bench's `reload` (the allow-list is its apps.txt): every
    enqueue asks again, and the check and import walk cost more than the rest of its Python."""
    if isinstance(method, str):
        return bench.derived(("method", method), lambda: _resolve(bench, method))
    return _resolve(bench, method)


def _resolve(bench: Bench, method: Callable[..., Any] | str) -> Callable[..., Any]:
    path = method_path(method)
    check_allowed(bench, path)
    if callable(method):
        return method
    target, attributes = _import_longest_module(path)
    for depth, name in enumerate(attributes):
        try:
            target = getattr(target, name)
        except AttributeError:
            owner = ".".join(path.split(".")[: len(path.split(".")) - len(attributes) + depth])
            raise MethodNotFound(f"'{path}': {owner} has no function or module '{name}'",
                                 "check the spelling of the function name") from None
    if not callable(target):
        raise MethodNotFound(f"'{path}' is not callable ({type(target).__name__})",
                             "point at a function")
    check_defined_in_app(bench, path, target)
    func: Callable[..., Any] = target
    return func


def check_defined_in_app(bench: Bench, path: str, target: Callable[..., Any]) -> None:
    """The function must be *defined* in an app: `app.module.os.system` walks into os and is refused,
    and so is `app.module.write_atomic` imported from bench_jobs (only BUILTIN_JOBS are jobs)."""
    module = str(getattr(target, "__module__", "") or "")
    home = module.split(".")[0]
    if home in bench.apps or f"{module}.{getattr(target, '__qualname__', '')}" in BUILTIN_JOBS:
        return
    raise MethodNotAllowed(f"'{path}' resolves to a function of '{home or 'unknown'}', not of an installed app",
                           "only functions defined in apps listed in sites/apps.txt run as jobs")


# Frappe's default: a whitelisted method answers these HTTP methods unless `methods=[...]` narrows them.
DEFAULT_HTTP_METHODS = ("GET", "POST", "PUT", "DELETE")


def whitelist(allow_guest: bool = False, methods: list[str] | None = None) -> Callable[..., Any]:
    """Mark a function as callable from a front end (Frappe's `@frappe.whitelist()`).

    `bench-jobs serve` exposes it as `/api/method/app.module.function`: to API keys of the site,
    to anyone with `allow_guest=True`, for the HTTP `methods` given (default GET, POST, PUT, DELETE).
    Usable as `@whitelist()` or `@whitelist`.
    """
    if callable(allow_guest):  # used bare: @whitelist
        decorated: Callable[..., Any] = whitelist()(allow_guest)
        return decorated
    allowed = tuple(m.upper() for m in methods) if methods else DEFAULT_HTTP_METHODS

    def mark(func: Callable[..., Any]) -> Callable[..., Any]:
        func.whitelisted = True  # type: ignore[attr-defined]
        func.allow_guest = allow_guest  # type: ignore[attr-defined]
        func.http_methods = allowed  # type: ignore[attr-defined]
        _whitelisted[method_path(func)] = {"allow_guest": allow_guest, "methods": list(allowed)}
        return func

    return mark


def is_whitelisted(method: Callable[..., Any] | str) -> bool:
    return method_path(method) in _whitelisted
