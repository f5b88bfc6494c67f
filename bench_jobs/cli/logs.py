"""logs: print and follow the bench's worker, scheduler or Redis logs."""

from __future__ import annotations

import click

from bench_jobs.cli import output as render
from bench_jobs.cli.context import Context
from bench_jobs.errors import BenchJobsError


@click.command("logs")
@click.option("--worker", is_flag=True, help="logs/worker.log and worker.error.log (default).")
@click.option("--scheduler", is_flag=True, help="logs/scheduler.log.")
@click.option("--redis", is_flag=True, help="logs/redis_queue.log.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines; survives rotation. Ctrl-C stops.")
@click.option("-n", "--lines", "count", type=click.IntRange(0), default=50, show_default=True,
              help="How many of the last records to print first.")
@click.option("--level", metavar="LEVEL", help="Only this level and above: DEBUG, INFO, WARNING, ERROR.")
@click.option("--job", "job_id", metavar="ID", help="Only the lines of one job.")
@click.option("--grep", metavar="RE", help="Only records (with their traceback) matching this regular expression.")
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True,
              help="text as written, or one JSON object per line.")
@click.pass_obj
def logs(ctx: Context, worker: bool, scheduler: bool, redis: bool, follow: bool, count: int, level: str | None,
         job_id: str | None, grep: str | None, fmt: str) -> None:
    """Print the last lines of the bench's logs, and follow them with -f.

    \b
    Examples:
      bench-jobs logs --worker -n 100 --level error
      bench-jobs logs --worker -f --job my-bench_5f0c7c2e...
      bench-jobs logs --scheduler --grep 'daily' --format json
    """
    from bench_jobs.logs import reader as core

    chosen = [name for name, flag in (("worker", worker), ("scheduler", scheduler), ("redis", redis)) if flag]
    if len(chosen) > 1:
        raise click.UsageError(f"--{chosen[0]} and --{chosen[1]} both given: "
                               "pass one of --worker, --scheduler, --redis")
    kind = chosen[0] if chosen else "worker"
    keep = core.Filter.build(level, job_id, grep)
    paths = core.log_paths(ctx.bench, kind)
    if not follow and not any(p.is_file() or p.with_name(p.name + ".1").is_file() for p in paths):
        raise BenchJobsError(f"no {kind} log yet ({', '.join(str(p) for p in paths)} missing)",
                             _hint(kind))
    show = core.as_json_line if fmt == "json" else core.as_text
    for record in core.tail(paths, count, keep):
        render.info(show(record))
    if follow:
        try:
            for record in core.follow(paths, keep):
                render.info(show(record))
        except KeyboardInterrupt:
            return


def _hint(kind: str) -> str:
    return {
        "worker": "start a worker (`bench-jobs worker`); it writes logs/worker.log",
        "scheduler": "start the scheduler (`bench-jobs scheduler run`); it writes logs/scheduler.log",
        "redis": "Redis writes it when started with `bench-jobs redis start` after `bench-jobs setup redis`",
    }[kind]
