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

    from bench_jobs.bench import Bench

JOB_ID_LIMIT = 50          # newest jobs offered for `jobs show ID`
REDIS_TIMEOUT = 0.5        # seconds; a slow Redis must not freeze the prompt


def bench_of(ctx: click.Context) -> Bench | None:
    """The bench the command line points at, or None when there is none."""
    from bench_jobs.bench import Bench

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
    bench = bench_of(ctx)
    return _items(bench.apps, incomplete) if bench else []


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
        from bench_jobs.connection import connect
        from bench_jobs.inspect import list_jobs

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
    from bench_jobs import hooks

    names: dict[str, str] = {}
    for event in hooks.load_events(bench):
        if event.ok:
            names.setdefault(event.event, "event")
            names.setdefault(event.method, f"{event.event} on {event.queue}")
    return names
