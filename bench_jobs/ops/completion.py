"""Dynamic values for shell completion: attach these as `shell_complete=` on options and arguments.

Completion runs a fresh `bench-jobs` per key press, so each helper answers from the bench's files
where it can (sites, queues, apps, scheduler events) and only job ids touch Redis — with a short
timeout and silence on any error: a completion must never print a traceback into the prompt.

During completion Click parses without running the root callback, so there is no `Context`
object: the bench comes from the root's own `--bench` / `--site` parameters (or the environment).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import click
    from click.shell_completion import CompletionItem

    from bench_jobs.bench.layout import Bench

JOB_ID_LIMIT = 50          # newest jobs offered for `jobs show ID`
REDIS_TIMEOUT = 0.5        # seconds; a slow Redis must not freeze the prompt
METHOD_FILES_LIMIT = 300   # source files read per key press for METHOD (a big app stays quick)
SKIP_DIRS = {"tests", "test", "node_modules", "__pycache__"}


def bench_of(ctx: click.Context) -> Bench | None:
    """The bench the command line points at, or None when there is none."""
    from bench_jobs.bench.layout import Bench

    try:
        return Bench.find(ctx.find_root().params.get("bench_path"))
    except Exception:  # no bench, unreadable config: nothing to offer
        return None


def site_of(ctx: click.Context, bench: Bench) -> str | None:
    site = ctx.find_root().params.get("site") or bench.default_site()
    return site if site in bench.sites() else None


def _items(values: list[str] | dict[str, str], incomplete: str, before: str = "") -> list[CompletionItem]:
    """Values starting with `incomplete`; a dict maps value -> help shown by zsh and fish."""
    from click.shell_completion import CompletionItem

    helps = values if isinstance(values, dict) else dict.fromkeys(values, "")
    return [CompletionItem(before + value, help=helps[value] or None)
            for value in helps if value.startswith(incomplete)]


def sites(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    bench = bench_of(ctx)
    return _items(bench.sites(), incomplete) if bench else []


def queues(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Queue names; completes the last item of a comma list (`--queue short,de` -> `short,default`)."""
    bench = bench_of(ctx)
    if bench is None:
        return []
    try:
        timeouts = bench.queue_timeouts()
    except Exception:
        return []
    before, _, last = incomplete.rpartition(",")
    before = f"{before}," if before else ""
    taken = set(before.split(","))
    offered = {q: f"timeout {t}s" for q, t in timeouts.items() if q not in taken}
    return _items(offered, last, before)


def apps(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """For `add-app`: importable packages (not the standard library's) that are not registered yet."""
    import pkgutil
    import sys

    bench = bench_of(ctx)
    taken = set(bench.apps) if bench else set()
    found = sorted({m.name for m in pkgutil.iter_modules() if m.ispkg and not m.name.startswith("_")}
                   - set(sys.stdlib_module_names) - taken)
    return _items(found, incomplete)


def methods(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """For METHOD: `app.module.function` of the installed apps, read from their source (no import,
    so an app's side effects never run on TAB); only modules that can still match are parsed."""
    bench = bench_of(ctx)
    if bench is None:
        return []
    try:
        names = _app_functions(bench.apps, incomplete)
    except Exception:
        return []
    return _items(names, incomplete)


def _app_functions(app_names: list[str], incomplete: str) -> dict[str, str]:
    import ast
    import importlib.util
    from pathlib import Path

    found: dict[str, str] = {}
    budget = METHOD_FILES_LIMIT
    for app in app_names:
        if not (app.startswith(incomplete) or incomplete.startswith(f"{app}.")):
            continue
        spec = importlib.util.find_spec(app)  # a top-level name: found on sys.path, not imported
        for root in (spec.submodule_search_locations or []) if spec else []:
            for path in sorted(Path(root).rglob("*.py")):
                parts = path.relative_to(root).with_suffix("").parts
                if any(p in SKIP_DIRS or p.startswith(".") for p in parts[:-1]):
                    continue
                module = ".".join((app, *parts[:-1], *([] if parts[-1] == "__init__" else [parts[-1]])))
                if not (f"{module}.".startswith(incomplete) or incomplete.startswith(f"{module}.")):
                    continue
                budget -= 1
                if budget < 0:
                    return found
                try:
                    tree = ast.parse(path.read_bytes())
                except (SyntaxError, ValueError, OSError):  # a file mid-edit: skip it, keep the rest
                    continue
                for node in tree.body:
                    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("_"):
                        doc = (ast.get_docstring(node) or "").strip().split("\n")[0][:60]
                        found[f"{module}.{node.name}"] = doc
    return found


def directories(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Let the shell complete directory names itself."""
    from click.shell_completion import CompletionItem

    return [CompletionItem(incomplete, type="dir")]


def job_ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Ids of the site's newest jobs (one bounded query, see inspect.list_jobs), with their method."""
    bench = bench_of(ctx)
    if bench is None:
        return []
    try:
        from bench_jobs.bench.connection import connect
        from bench_jobs.jobs.queries import list_jobs

        site = site_of(ctx, bench)
        client = connect(bench, socket_timeout=REDIS_TIMEOUT)
        client.connection_pool.connection_kwargs["socket_connect_timeout"] = REDIS_TIMEOUT
        try:
            rows = list_jobs(client, bench, [site] if site else bench.sites(), bench.queue_names(),
                             limit=JOB_ID_LIMIT)
        finally:
            client.close()
    except Exception:  # Redis down or slow: offer nothing rather than an error in the prompt
        return []
    return _items({row["id"]: f"{row['status']} {row['method'] or ''}".strip() for row in rows}, incomplete)


def events(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Scheduler events and methods from the installed apps' hooks (read from files, no Redis)."""
    bench = bench_of(ctx)
    if bench is None:
        return []
    try:
        names = _event_names(bench)
    except Exception:
        return []
    return _items(names, incomplete)


def _event_names(bench: Bench) -> dict[str, str]:
    """What `scheduler trigger` takes: an event (daily, cron, ...) or a scheduled method."""
    from bench_jobs.bench import hooks

    names: dict[str, str] = {}
    for event in hooks.load_events(bench):
        if event.ok:
            names.setdefault(event.event, "event")
            names.setdefault(event.method, f"{event.event} on {event.queue}")
    return names


# Click's fish script splits each `type,value<TAB>help` line at every comma: a comma list
# (`--queue short,default`) lost all but its first item and a help text stopped at its first comma.
# This one splits at the first comma only, so values and descriptions arrive whole.
FISH_SOURCE = """\
function %(complete_func)s;
    set -l response (env %(complete_var)s=fish_complete COMP_WORDS=(commandline -cp) \\
        COMP_CWORD=(commandline -t) %(prog_name)s);

    for completion in $response;
        # type,value[TAB help]: only the first comma separates; values and help may hold commas.
        set -l metadata (string split -m 1 "," -- $completion);

        if test $metadata[1] = "dir";
            __fish_complete_directories (string split -m 1 \\t -- $metadata[2])[1];
        else if test $metadata[1] = "file";
            __fish_complete_path (string split -m 1 \\t -- $metadata[2])[1];
        else if test $metadata[1] = "plain";
            echo $metadata[2];
        end;
    end;
end;

complete --no-files --command %(prog_name)s --arguments "(%(complete_func)s)";
"""


def use_fish_script() -> None:
    """Register the fish completion with the whole-value script (before Click completes or prints it)."""
    from click.shell_completion import FishComplete, add_completion_class

    class WholeValueFishComplete(FishComplete):
        source_template = FISH_SOURCE

    add_completion_class(WholeValueFishComplete, "fish")
