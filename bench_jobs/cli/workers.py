"""bench-jobs workers: the bench's workers and what they are doing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import click

from bench_jobs.cli import options
from bench_jobs.cli import output as render
from bench_jobs.cli.context import Context

COLUMNS: list[str | tuple[str, str]] = [
    "name", ("hostname", "host"), "pid", "queues", "state", ("current_job", "job"), ("successful", "ok"),
    "failed", ("busy", "busy"), ("heartbeat", "heartbeat")]
# Every cell but the queues stays on one line (names and job ids are copied into other commands).
NO_WRAP = ("name", "host", "pid", "state", "job", "ok", "failed", "busy", "heartbeat")


@click.command("workers")
@options.format_option
@options.watch_option
@click.pass_obj
def workers(ctx: Context, *, fmt: str, watch: float | None) -> None:
    """List this bench's workers: host, pid, queues, state, current job, ok/failed counts,
    utilisation (share of its life spent running jobs) and last heartbeat.

    \b
    Examples:
      bench-jobs workers
      bench-jobs workers --format json | jq '.workers[] | select(.state == "busy")'
      bench-jobs workers --watch
    """
    if watch is not None:
        if fmt == "json":
            raise click.UsageError("--watch draws a table; for JSON poll `--format json` instead")
        render.watch(lambda: show(ctx, "table"), watch, title="workers")
        return
    show(ctx, fmt)


def show(ctx: Context, fmt: str) -> None:
    from bench_jobs.jobs.keys import Keys
    from bench_jobs.jobs.queries import worker_rows

    rows = worker_rows(ctx.reader, Keys(ctx.bench.bench_id))
    render.listing(fmt, render.envelope(ctx.bench.bench_id, "workers", rows), lambda: _table(rows))


def _table(rows: Sequence[Mapping[str, Any]]) -> None:
    if not rows:
        render.info("No workers running. Start one with `bench-jobs worker`.")
        return
    table_rows = [{**row, "queues": ", ".join(row["queues"]), "heartbeat": f"{render.age(row['heartbeat_age'])} ago",
                   "busy": "-" if row["utilisation"] is None else f"{row['utilisation']:.0%}"} for row in rows]
    render.print_table(render.build_table(table_rows, COLUMNS), no_wrap=NO_WRAP)
