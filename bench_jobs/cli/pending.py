"""show-pending-jobs: per queue, what is waiting, running, due later and failed, and what runs next."""

from __future__ import annotations

import time
from typing import Any

import click

from bench_jobs.cli import options
from bench_jobs.cli import output as render
from bench_jobs.cli.context import Context


@click.command("show-pending-jobs")
@options.queues_option()
@options.all_sites_option
@click.option("--limit", type=click.IntRange(0, 10_000), default=20, show_default=True,
              help="How many of the next jobs to show per queue.")
@options.format_option
@options.watch_option
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
    from bench_jobs.jobs.queries import pending_summary

    queues = ctx.bench.parse_queues(queue_spec)

    def load() -> dict[str, Any]:
        sites = ctx.sites(all_sites, seen_in_redis=True)
        doc = pending_summary(ctx.reader, ctx.bench, sites, queues, limit, all_sites=all_sites)
        return render.envelope(ctx.bench.bench_id, "queues", doc["queues"], sites=sites, one_site=not all_sites,
                               foreign=doc["foreign"])

    if watch is not None:
        if fmt == "json":
            raise click.UsageError("--watch draws a table; for JSON poll `--format json` instead")
        render.watch(lambda: render_tables(load(), show_site=all_sites), watch, title="show-pending-jobs")
        return
    doc = load()
    render.listing(fmt, doc, lambda: render_tables(doc, show_site=all_sites))


def render_tables(doc: dict[str, Any], show_site: bool) -> None:
    where = "all sites" if doc["site"] is None else f"site {doc['site']}"
    rows = [{**q, "oldest": render.age(q["oldest_age_seconds"])} for q in doc["queues"]]
    counts: list[str | tuple[str, str]] = ["queue", "pending", "started", "scheduled", "failed",
                                           ("oldest", "oldest pending")]
    render.print_table(render.build_table(rows, counts, title=f"Jobs of {where} (bench {doc['bench_id']})"))
    columns: list[str | tuple[str, str]] = ["id", "method", "kwargs", "waiting", "timeout"]
    if show_site:
        columns.insert(2, "site")
    now = time.time()
    for queue in doc["queues"]:
        if not queue["jobs"]:
            continue
        render.info("")
        rows = [{**job, "kwargs": render.short(job["kwargs"]),
                 "waiting": render.age(now - render.epoch(job["enqueued_at"]))} for job in queue["jobs"]]
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
