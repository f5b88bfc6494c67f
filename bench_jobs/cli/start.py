"""bench-jobs start: the whole bench in the foreground — its Redis, workers per queue, the scheduler."""

from __future__ import annotations

import sys

import click

from bench_jobs.bench import settings as S
from bench_jobs.cli.context import Context


def children(ctx: Context, *, workers: bool, scheduler: bool, web: bool = False) -> list[tuple[str, list[str]]]:
    """(name, argv) of each child: the bench's process plan, every instance numbered."""
    from bench_jobs.ops.processes import process_plan

    base = [sys.executable, "-m", "bench_jobs", "--bench", str(ctx.bench.path)]
    return [(name, [*base, *process.args])
            for process in process_plan(ctx.bench, workers=workers, scheduler=scheduler, web=web)
            for name in process.instances()]


def managed_redis(ctx: Context) -> bool:
    """True when redis_queue names this machine and nothing answers there yet: we start it."""
    from urllib.parse import urlsplit

    from bench_jobs.ops.redis_server import LOCAL_HOSTS, probe

    if S.SENTINEL_ENABLED.read(ctx.bench):
        return False
    parts = urlsplit(ctx.bench.redis_url)
    host = parts.hostname or "127.0.0.1"
    if host not in LOCAL_HOSTS:
        return False
    return probe(parts.port or 6379, "127.0.0.1" if host == "localhost" else host) is None


@click.command("start")
@click.option("--no-redis", is_flag=True, help="Do not start the bench's own Redis (use the configured one as is).")
@click.option("--no-scheduler", is_flag=True, help="Run workers only.")
@click.option("--no-workers", is_flag=True, help="Run the scheduler only.")
@click.option("--no-web", is_flag=True, help="Do not run the dashboard and HTTP API (`serve`).")
@click.pass_obj
def start(ctx: Context, no_redis: bool, no_scheduler: bool, no_workers: bool, no_web: bool) -> None:
    """Run the whole bench in the foreground: its Redis (when the config points at a
    local one that is not running yet), workers per queue as configured, the
    scheduler and the web server (dashboard and API, 127.0.0.1:8010 by default).
    Each line is prefixed with the time and the process name.

    Ctrl-C or SIGTERM stops them all gracefully (a second one stops them now).

    \b
    Examples:
      bench-jobs start
      bench-jobs start --no-scheduler
      BENCH_PATH=~/my-bench bench-jobs start > bench.log 2>&1 &
    """
    from bench_jobs.ops import redis_server
    from bench_jobs.ops.processes import Manager

    started_redis = False
    manager = Manager(restart="always")
    for name, argv in children(ctx, workers=not no_workers, scheduler=not no_scheduler, web=not no_web):
        manager.add(name, argv)
    if not no_redis and managed_redis(ctx):
        result = redis_server.start(ctx.bench)
        started_redis = not result.already_running
        manager.printer.line("redis", f"started (pid {result.pid}, port {result.port}); "
                             f"log in {ctx.bench.logs_path / 'redis_queue.log'}")
    try:
        ctx.check_redis()  # a down or unreachable Redis is one clean error before any child starts
        from bench_jobs.bench.connection import check_access

        check_access(ctx.redis, ctx.bench)  # so is an ACL user without bench-jobs' keys
        code = manager.run()
    finally:
        if started_redis:
            stopped = redis_server.stop(ctx.bench)
            manager.printer.line("redis", f"stopped (pid {stopped.pid})")
    click.get_current_context().exit(code)
