"""show-pending-jobs: per queue, what is waiting, running, due later and failed, and what runs next."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

import click

from bench_jobs.cli import output as render
from bench_jobs.cli.context import Context
from bench_jobs.errors import SiteNotFound
from bench_jobs.ops import completion as complete


def resolve_sites(ctx: Context, all_sites: bool) -> list[str]:
    """--all-sites: every site on disk or seen in Redis; else the selected site."""
    if not all_sites:
        site = ctx.site  # checked to exist
        if not site:
            raise SiteNotFound("no site selected", "pass --site SITE (before the command), or --all-sites "
                               "(after it) to count every site's jobs")
        return [site]
    from bench_jobs.jobs.queries import known_sites

    return known_sites(ctx.redis, ctx.bench)


@click.command("show-pending-jobs")
@click.option("--queue", "queue_spec", metavar="Q[,Q]", shell_complete=complete.queues,
              help="Only these queues (default: all).")
@click.option("--all-sites", is_flag=True, help="Count the jobs of every site (site is null in JSON).")
@click.option("--limit", type=click.IntRange(0, 10_000), default=20, show_default=True,
              help="How many of the next jobs to show per queue.")
@render.format_option
@render.watch_option
@click.pass_obj
def show_pending_jobs(ctx: Context, queue_spec: str | None, all_sites: bool, limit: int, fmt: str,
                      watch: float | None) -> None:
    """Per queue: pending, started, scheduled and failed counts, the oldest
    pending job's age, and the next LIMIT pending jobs.

    Reads only counts and the first page of each site's index, so it answers
    as fast with a million jobs queued as with ten.

    \b
    Examples:
      bench-jobs --site site1.local show-pending-jobs
      bench-jobs show-pending-jobs --all-sites --queue long --limit 5 --format json
      bench-jobs --site site1.local show-pending-jobs --watch 1
    """
    from bench_jobs.bench.connection import redis_errors
    from bench_jobs.jobs.queries import pending_summary

    queues = ctx.bench.parse_queues(queue_spec)

    def load() -> dict[str, Any]:
        with redis_errors(ctx.bench):
            sites = resolve_sites(ctx, all_sites)
            return pending_summary(ctx.redis, ctx.bench, sites, queues, limit, all_sites=all_sites)

    if watch is not None:
        if fmt == "json":
            raise click.UsageError("--watch draws a table; for JSON poll `--format json` instead")
        render.watch(lambda: render_tables(load(), show_site=all_sites), watch, title="show-pending-jobs")
        return
    doc = load()
    if fmt == "json":
        render.emit_json(doc)
        return
    render_tables(doc, show_site=all_sites)


def render_tables(doc: dict[str, Any], show_site: bool) -> None:
    where = "all sites" if doc["site"] is None else f"site {doc['site']}"
    rows = [{**q, "oldest": render.age(q["oldest_age_seconds"])} for q in doc["queues"]]
    columns = ["queue", "pending", "started", "scheduled", "failed", ("oldest", "oldest pending")]
    render.print_table(render.build_table(rows, columns, title=f"Jobs of {where} (bench {doc['bench_id']})"))
    columns: list[str | tuple[str, str]] = ["id", "method", "kwargs", "waiting", "timeout"]
    if show_site:
        columns.insert(2, "site")
    now = time.time()
    for queue in doc["queues"]:
        if not queue["jobs"]:
            continue
        render.info("")
        rows = [{**job, "kwargs": short(job["kwargs"]), "waiting": render.age(now - epoch(job["enqueued_at"]))}
                for job in queue["jobs"]]
        title = f"Next {len(rows)} of {queue['pending']} pending in {queue['queue']}"
        render.print_table(render.build_table(rows, columns, title=title), no_wrap=("id", "method", "waiting"))
    foreign_rows = [job for queue in doc["queues"] for job in queue.get("foreign_jobs", [])]
    if foreign_rows:
        render.info("")
        columns = ["id", "status", "queue", "site", "method", "enqueued_at"]
        title = "Not written by bench-jobs (Frappe/RQ jobs, left to Frappe's workers)"
        render.print_table(render.build_table(foreign_rows, columns, title=title), no_wrap=("id", "method"))
    if doc.get("foreign", {}).get("note"):
        render.warn(doc["foreign"]["note"])
    if not any(q["pending"] for q in doc["queues"]) and not doc.get("foreign", {}).get("pending"):
        render.info("\nNothing pending.")


def short(value: Any, width: int = 40) -> str:
    """kwargs in one short cell; `jobs show ID` has them in full."""
    text = json.dumps(value, default=str) if value not in (None, {}) else "-"
    return text if len(text) <= width else text[: width - 3] + "..."


def epoch(stamp: str | None) -> float:
    return datetime.fromisoformat(stamp).timestamp() if stamp else time.time()
