"""bench-jobs workers: the bench's workers and what they are doing."""

from __future__ import annotations

import click

from bench_jobs import render
from bench_jobs.cli.context import Context

COLUMNS = ["name", ("hostname", "host"), "pid", "queues", "state", ("current_job", "job"), ("successful", "ok"),
           "failed", ("heartbeat", "heartbeat")]


@click.command("workers")
@render.format_option
@render.watch_option
@click.pass_obj
def workers(ctx: Context, *, fmt: str, watch: float | None) -> None:
    """List this bench's workers: host, pid, queues, state, current job, ok/failed counts, heartbeat.

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
    from bench_jobs.connection import redis_errors
    from bench_jobs.dispatch import list_workers
    from bench_jobs.keys import Keys

    with redis_errors(ctx.bench):
        rows = list_workers(ctx.redis, Keys(ctx.bench.bench_id))
    table_rows = [{**row, "queues": ",".join(row["queues"]), "heartbeat": f"{render.age(row['heartbeat_age'])} ago"}
                  for row in rows]
    render.listing(fmt, {"bench_id": ctx.bench.bench_id, "workers": rows}, table_rows, COLUMNS,
                   empty="No workers running. Start one with `bench-jobs worker`.")
