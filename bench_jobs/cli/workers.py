"""bench-jobs workers: the bench's workers and what they are doing."""

from __future__ import annotations

import click

from bench_jobs import render
from bench_jobs.cli.context import Context

COLUMNS = ["name", "hostname", "pid", "queues", "state", "current_job", ("successful", "ok"), "failed",
           "last_heartbeat"]


@click.command("workers")
@render.format_option
@click.pass_obj
def workers(ctx: Context, *, fmt: str) -> None:
    """List this bench's workers: host, pid, queues, state, current job, ok/failed counts, heartbeat.

    \b
    Examples:
      bench-jobs workers
      bench-jobs workers --format json | jq '.workers[] | select(.state == "busy")'
    """
    from bench_jobs.connection import redis_errors
    from bench_jobs.dispatch import list_workers
    from bench_jobs.keys import Keys

    with redis_errors(ctx.bench):
        rows = list_workers(ctx.redis, Keys(ctx.bench.bench_id))
    table_rows = [{**row, "queues": ",".join(row["queues"])} for row in rows]
    render.listing(fmt, {"bench_id": ctx.bench.bench_id, "workers": rows}, table_rows, COLUMNS,
                   empty="No workers running. Start one with `bench-jobs worker`.")
