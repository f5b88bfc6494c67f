"""`setup supervisor` and `setup systemd`: production process files for the bench."""

from __future__ import annotations

import click

from bench_jobs.cli import output as render
from bench_jobs.cli.context import Context
from bench_jobs.ops import process_files as procfiles

_user = click.option("--user", metavar="USER", help="Unix user the programs run as (default: the current user).")
_skip_redis = click.option("--skip-redis", is_flag=True,
                           help="Leave the bench's Redis out (it runs elsewhere, or is managed separately).")


def _note_redis(ctx: Context, skip_redis: bool) -> None:
    if not skip_redis and not procfiles.redis_conf(ctx.bench).is_file():
        render.warn("No config/redis_queue.conf, so Redis is left out; run `bench-jobs setup redis` "
                    "first to include the bench's own Redis.")


@click.command("supervisor")
@_user
@_skip_redis
@click.pass_obj
def setup_supervisor(ctx: Context, user: str | None, skip_redis: bool) -> None:
    """Write config/supervisor.conf: workers per queue, the scheduler and the bench's Redis.

    Each worker's stopwaitsecs is its queue's job timeout plus a margin, so
    `supervisorctl stop` lets a running job finish (warm stop on SIGTERM).

    \b
    Example:
      bench-jobs setup supervisor --user frappe
      sudo ln -s $PWD/config/supervisor.conf /etc/supervisor/conf.d/my-bench.conf
      sudo supervisorctl reread && sudo supervisorctl update
    """
    _note_redis(ctx, skip_redis)
    path = procfiles.write_supervisor(ctx.bench, user=user, skip_redis=skip_redis)
    render.info(f"Wrote {path}")
    render.info(f"Next: sudo ln -sf {path} /etc/supervisor/conf.d/{procfiles.unit_prefix(ctx.bench)}.conf"
                " && sudo supervisorctl reread && sudo supervisorctl update")


@click.command("systemd")
@_user
@_skip_redis
@click.pass_obj
def setup_systemd(ctx: Context, user: str | None, skip_redis: bool) -> None:
    """Write config/systemd/: a unit per program, a template per worker queue, and targets.

    `PREFIX.target` starts the whole bench; `PREFIX-workers.target` every worker instance.
    Each worker's TimeoutStopSec is its queue's job timeout plus a margin (warm stop on SIGTERM).

    \b
    Example:
      bench-jobs setup systemd --user frappe
      sudo cp config/systemd/* /etc/systemd/system/ && sudo systemctl daemon-reload
      sudo systemctl enable --now my-bench.target
    """
    _note_redis(ctx, skip_redis)
    paths = procfiles.write_systemd(ctx.bench, user=user, skip_redis=skip_redis)
    for path in paths:
        render.info(f"Wrote {path}")
    target = f"{procfiles.unit_prefix(ctx.bench)}.target"
    render.info(f"Next: sudo cp {paths[0].parent}/* /etc/systemd/system/ && sudo systemctl daemon-reload"
                f" && sudo systemctl enable --now {target}")
