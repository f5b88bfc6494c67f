"""`setup redis`: write the bench's Redis config, ACL file and credentials."""

from __future__ import annotations

import click

from bench_jobs.cli import output as render
from bench_jobs.cli.context import Context


@click.command("redis")
@click.option("--regenerate-password", is_flag=True,
              help="Make a new password (default: keep the one in common_site_config.json).")
@click.option("--force", is_flag=True, help="Overwrite a redis_queue.conf bench-jobs did not write (Frappe's); "
              "by default it is kept and included from config/redis_queue.bench-jobs.conf.")
@click.pass_obj
def setup_redis(ctx: Context, regenerate_password: bool, force: bool) -> None:
    """Write config/redis_queue.conf and config/redis_queue.acl for the bench's own Redis.

    The config suits a job queue: loopback bind, protected mode, AOF persistence
    (appendfsync from `redis_queue_appendfsync`, default everysec), `maxmemory-policy
    noeviction`, and a password-protected ACL user. The credentials go into
    sites/common_site_config.json (mode 0600); the password is never printed.
    Re-running keeps the password unless --regenerate-password is given.

    \b
    Examples:
      bench-jobs setup redis
      bench-jobs setup redis --regenerate-password && bench-jobs redis stop && bench-jobs redis start
    """
    from bench_jobs.ops.redis_config import setup_redis as write_config
    from bench_jobs.ops.redis_server import running_pid

    result = write_config(ctx.bench, regenerate_password=regenerate_password, force=force)
    files = result.files
    if result.kept is not None:
        render.info(f"{result.kept} was not written by bench-jobs: kept as it is (port {result.port}, its data "
                    "dir and users; credentials in common_site_config.json untouched).")
        render.info(f"Wrote {files.conf}, which includes it and changes:")
        for change in result.changes or ("nothing: it already suits a job queue",):
            render.info(f"  - {change}")
        if running_pid(files):
            render.info("Redis runs with the old config: restart it the way it was started to apply this one "
                        f"(`redis-server {files.conf}`)")
        return
    render.info(f"Wrote {files.conf} (port {result.port}, bind {' '.join(result.bind)}, "
                f"appendonly yes, appendfsync {result.appendfsync}, maxmemory-policy noeviction)")
    password = "new password" if result.password_generated else "password kept"
    render.info(f"Wrote {files.acl} (user {result.username}, {password}; "
                f"credentials in {ctx.bench.common_config_file})")
    if running_pid(files):
        render.info("Redis is running with the old config: apply with "
                    "`bench-jobs redis stop && bench-jobs redis start`")
    else:
        render.info("Next: bench-jobs redis start")
