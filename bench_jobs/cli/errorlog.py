"""error-log list|show|clear: the site's Error Log (failed jobs and log_error calls)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import click

from bench_jobs.cli import options
from bench_jobs.cli import output as render
from bench_jobs.cli.context import Context


def _keys(ctx: Context):
    from bench_jobs.jobs.keys import Keys

    return Keys(ctx.bench.bench_id)


@click.group("error-log")
def error_log() -> None:
    """The site's Error Log: failed jobs and log_error() entries, newest first.

    \b
    Examples:
      bench-jobs --site site1.local error-log list --limit 5
      bench-jobs --site site1.local error-log clear --older-than 7d --yes
    """


@error_log.command("list")
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True, help="At most N entries.")
@options.format_option
@click.pass_obj
def list_cmd(ctx: Context, limit: int, fmt: str) -> None:
    """The newest entries of the site's Error Log.

    \b
    Example:
      bench-jobs --site site1.local error-log list --limit 50 --format json
    """
    from bench_jobs.logs.error_log import count_errors, list_errors

    sites = ctx.require_sites()  # the selected site, or every site with `--site all`
    client = ctx.redis
    per_site = [(site, list_errors(client, _keys(ctx), site, limit), count_errors(client, _keys(ctx), site))
                for site in sites]
    rows = [{**row, "site": site} if len(sites) > 1 else row for site, found, _ in per_site for row in found]
    doc = render.envelope(ctx.bench.bench_id, "errors", rows, sites=sites, total=sum(n for *_, n in per_site))

    def tables() -> None:
        for site, found, total in per_site:
            _table(site, found, total)

    render.listing(fmt, doc, tables)


def _table(site: str, rows: Sequence[Mapping[str, Any]], total: int) -> None:
    if not rows:
        render.info(f"The Error Log of {site} is empty.")
        return
    title = f"Error Log of {site}: newest {len(rows)} of {total}"
    render.print_table(render.build_table(rows, ["id", "time", "title", "method", ("job_id", "job")], title=title),
                       no_wrap=("id", "time", "job"))


@error_log.command("show")
@click.argument("entry_id", metavar="ID")
@options.format_option
@click.pass_obj
def show(ctx: Context, entry_id: str, fmt: str) -> None:
    """One entry with its full traceback.

    \b
    Example:
      bench-jobs --site site1.local error-log show 1764477601123-0
    """
    from bench_jobs.logs.error_log import get_error

    site = ctx.require_site()
    client = ctx.redis
    entry = get_error(client, _keys(ctx), site, entry_id)
    if fmt == "json":
        render.emit_json(entry)
        return
    rows = [{"field": k, "value": v} for k, v in entry.items() if k != "traceback"]
    render.print_table(render.build_table(rows, [("field", ""), ("value", "")]), no_wrap=("",))
    if entry["traceback"]:
        render.info("\n" + entry["traceback"].rstrip())


@error_log.command("clear")
@click.option("--older-than", metavar="AGE", help="Only entries older than this, e.g. 7d, 12h, 30m.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (needed without a terminal).")
@click.pass_obj
def clear(ctx: Context, older_than: str | None, yes: bool) -> None:
    """Delete the site's Error Log entries (all, or those older than AGE).

    \b
    Examples:
      bench-jobs --site site1.local error-log clear --older-than 7d
      bench-jobs --site site1.local error-log clear --yes
    """
    from bench_jobs.logs.error_log import clear_errors, parse_duration

    sites = ctx.require_sites()  # the selected site, or every site with `--site all`
    seconds = parse_duration(older_than) if older_than else None
    which = f"entries older than {older_than}" if older_than else "all entries"
    client = ctx.redis
    render.confirm(f"Delete {which} of the Error Log of {', '.join(sites)}?", yes)
    for site in sites:
        removed = clear_errors(client, _keys(ctx), site, seconds)
        render.info(f"Removed {removed} entr{'y' if removed == 1 else 'ies'} from the Error Log of {site}.")
