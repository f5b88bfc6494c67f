"""`setup supervisor` and `setup systemd`: production process files for the bench."""

from __future__ import annotations

import sys

import click

from bench_jobs.cli import output as render
from bench_jobs.cli.context import Context
from bench_jobs.ops import process_files as procfiles

_user = click.option("--user", metavar="USER", help="Unix user the programs run as (default: the current user).")
_force = click.option("--force", is_flag=True,
                      help="Overwrite files bench-jobs did not write (default: write its own beside them).")
_skip_redis = click.option("--skip-redis", is_flag=True,
                           help="Leave the bench's Redis out (it runs elsewhere, or is managed separately).")


def _note_redis(ctx: Context, skip_redis: bool) -> None:
    if not skip_redis and not procfiles.redis_conf(ctx.bench).is_file():
        render.warn("No config/redis_queue.conf, so Redis is left out; run `bench-jobs setup redis` "
                    "first to include the bench's own Redis.")


def _warn_unimportable(ctx: Context) -> None:
    """The files carry this shell's PATH/PYTHONPATH; an app still not importable with them would
    fail every job MethodNotFound under the process manager while the workers look healthy."""
    missing = procfiles.unimportable_apps(ctx.bench)
    if missing:
        render.warn(f"App(s) {', '.join(missing)} in sites/apps.txt cannot be imported by {sys.executable} with "
                    "the environment of these files: their jobs would fail MethodNotFound. Install them into this "
                    "environment (pip install -e apps/APP) or export PYTHONPATH, then run this again.")


@click.command("supervisor")
@_user
@_skip_redis
@_force
@click.pass_obj
def setup_supervisor(ctx: Context, user: str | None, skip_redis: bool, force: bool) -> None:
    """Write config/supervisor.conf: workers per queue, the scheduler, the web server and the bench's Redis.

    Each worker's stopwaitsecs is its queue's job timeout plus a margin, so
    `supervisorctl stop` lets a running job finish (warm stop on SIGTERM).

    A config/supervisor.conf that bench-jobs did not write (Frappe's, with its
    web, socketio and Redis programs) is never overwritten: bench-jobs writes
    config/supervisor.bench-jobs.conf beside it and prints how to include it.

    \b
    Example:
      bench-jobs setup supervisor --user frappe
      sudo ln -s $PWD/config/supervisor.conf /etc/supervisor/conf.d/my-bench.conf
      sudo supervisorctl reread && sudo supervisorctl update
    """
    _note_redis(ctx, skip_redis)
    result = procfiles.write_supervisor(ctx.bench, user=user, skip_redis=skip_redis, force=force)
    _warn_unimportable(ctx)
    path, prefix = result.path, procfiles.unit_prefix(ctx.bench)
    if result.kept is None:
        render.info(f"Wrote {path}")
        render.info(f"Next: sudo ln -sf {path} /etc/supervisor/conf.d/{prefix}.conf"
                    " && sudo supervisorctl reread && sudo supervisorctl update")
        return
    render.info(f"{result.kept} was not written by bench-jobs: left as it is "
                f"({len(result.kept_programs)} program(s): {', '.join(result.kept_programs) or '-'}).")
    render.info(f"Wrote {path} beside it (its programs and groups are named {prefix}-bench-jobs-*"
                + (", and it leaves the queue Redis to the existing file)." if result.redis_left_to_them else ")."))
    render.info("Include it next to the existing one (`update` adds the new groups only; running programs stay):")
    render.info(f"  sudo ln -sf {path} /etc/supervisor/conf.d/{prefix}-bench-jobs.conf")
    render.info("  sudo supervisorctl reread && sudo supervisorctl update")
    if result.replaced_programs:
        render.info("Then, once `bench-jobs ready-for-migration` passes, stop the workers and scheduler bench-jobs "
                    "replaces:")
        render.info(f"  sudo supervisorctl stop {' '.join(result.replaced_programs)}")
        render.info(f"  (and set autostart=false for them in {result.kept}, or `bench setup supervisor` will "
                    "bring them back)")
    render.info("Or overwrite the existing file with --force.")


@click.command("systemd")
@_user
@_skip_redis
@_force
@click.pass_obj
def setup_systemd(ctx: Context, user: str | None, skip_redis: bool, force: bool) -> None:
    """Write config/systemd/: a unit per program, a template per worker queue, and targets.

    `PREFIX.target` starts the whole bench; `PREFIX-workers.target` every worker instance.
    Each worker's TimeoutStopSec is its queue's job timeout plus a margin (warm stop on SIGTERM).
    Units of the same name that bench-jobs did not write (Frappe's) are left alone: bench-jobs'
    units are then named PREFIX-bench-jobs-*.

    \b
    Example:
      bench-jobs setup systemd --user frappe
      sudo cp config/systemd/* /etc/systemd/system/ && sudo systemctl daemon-reload
      sudo systemctl enable --now my-bench.target
    """
    _note_redis(ctx, skip_redis)
    from bench_jobs.ops import systemd_units

    result = systemd_units.write_systemd(ctx.bench, user=user, skip_redis=skip_redis, force=force)
    _warn_unimportable(ctx)
    for path in result.paths:
        render.info(f"Wrote {path}")
    if result.kept:
        render.info(f"Left alone (not written by bench-jobs): {', '.join(p.name for p in result.kept)}; "
                    "bench-jobs' units carry -bench-jobs in their names (--force overwrites instead).")
        names = " ".join(p.name for p in result.paths)
        render.info(f"Next: cd {result.paths[0].parent} && sudo cp {names} /etc/systemd/system/ "
                    f"&& sudo systemctl daemon-reload && sudo systemctl enable --now {result.target}")
        return
    render.info(f"Next: sudo cp {result.paths[0].parent}/* /etc/systemd/system/ && sudo systemctl daemon-reload"
                f" && sudo systemctl enable --now {result.target}")
