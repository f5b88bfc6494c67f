"""`setup`: write configuration for the bench's Redis and for process managers."""

from __future__ import annotations

import click

from bench_jobs.cli import LazyGroup

SETUP_COMMANDS: dict[str, tuple[str, str]] = {
    "redis": ("bench_jobs.cli.setup_redis:setup_redis", "Write config/redis_queue.conf, its ACL and credentials."),
    "supervisor": ("bench_jobs.cli.setup_procs:setup_supervisor", "Write config/supervisor.conf."),
    "systemd": ("bench_jobs.cli.setup_procs:setup_systemd", "Write systemd units under config/systemd/."),
}


@click.group("setup", cls=LazyGroup, lazy=SETUP_COMMANDS)
def setup() -> None:
    """Write configuration for the bench's Redis, supervisor or systemd.

    \b
    Examples:
      bench-jobs setup redis
      bench-jobs setup supervisor
    """
