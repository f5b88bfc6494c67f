"""`redis start|stop|status`: run the bench's own Redis from config/redis_queue.conf."""

from __future__ import annotations

import click

from bench_jobs.cli import options
from bench_jobs.cli import output as render
from bench_jobs.cli.context import Context


@click.group("redis")
def redis_group() -> None:
    """Start, stop or check the bench's own Redis (config/redis_queue.conf).

    \b
    Examples:
      bench-jobs redis start
      bench-jobs redis status --format json
      bench-jobs redis stop
    """


@redis_group.command("start")
@click.pass_obj
def start(ctx: Context) -> None:
    """Start the bench's Redis in the background.

    The pid goes to config/pids/redis_queue.pid, the log to logs/redis_queue.log.
    Writes config/redis_queue.conf first if `setup redis` has not run yet.
    Does nothing, and says so, when the server is already running.

    \b
    Example:
      bench-jobs redis start
    """
    from bench_jobs.ops.redis_server import start as start_server

    result = start_server(ctx.bench)
    if result.wrote_config:
        render.info("No config/redis_queue.conf yet: wrote it (as `bench-jobs setup redis` does)")
    if result.already_running:
        render.info(f"Redis is already running on port {result.port} (pid {result.pid}); nothing to do")
    else:
        render.info(f"Started Redis on port {result.port} (pid {result.pid}, {result.binary})")


@redis_group.command("stop")
@click.pass_obj
def stop(ctx: Context) -> None:
    """Stop the bench's Redis and wait until it is down.

    Redis gets SIGTERM, flushes its append-only file and exits; this waits for that.

    \b
    Example:
      bench-jobs redis stop
    """
    from bench_jobs.ops.redis_server import stop as stop_server

    result = stop_server(ctx.bench)
    if result.was_running:
        render.info(f"Stopped Redis (pid {result.pid})")
    else:
        render.info("Redis is not running; nothing to do")


STATUS_FIELDS = ("state", "url", "pid", "version", "persistence", "managed", "config_file")


@redis_group.command("status")
@options.format_option
@click.pass_obj
def status(ctx: Context, fmt: str) -> None:
    """Show whether the bench's Redis runs (pid, version, AOF/RDB).

    Exit status 0 when it runs, 1 when it does not answer (with the fix on stderr),
    so scripts can use `bench-jobs redis status >/dev/null` as a health check.
    With --format json the document is printed in both cases.

    \b
    Examples:
      bench-jobs redis status
      bench-jobs redis status --format json
    """
    from bench_jobs.ops.redis_status import status as server_status
    from bench_jobs.ops.redis_status import unreachable_error

    state = server_status(ctx.bench)
    doc = state.as_dict()
    if fmt == "json":
        render.emit_json(doc)
    elif state.state == "running":
        # One server: a field per line reads better than a one-row table.
        doc["managed"] = "yes (config/redis_queue.conf)" if state.managed else "no (not started by this bench)"
        for name in STATUS_FIELDS:
            render.info(f"{name.replace('_', ' '):<12} {render.cell(doc[name])}")
    if state.state != "running":
        raise unreachable_error(state)
