"""init, new-site, add-app, use: making a bench and its sites."""

from __future__ import annotations

from pathlib import Path

import click

from bench_jobs.bench import admin
from bench_jobs.cli import output as render
from bench_jobs.cli.context import Context
from bench_jobs.ops import completion as complete


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--redis-port", type=int, default=11000, show_default=True,
              help="Port of the bench's own queue Redis.")
def init_cmd(directory: Path, redis_port: int) -> None:
    """Create a new bench in DIRECTORY.

    \b
    Example:
      bench-jobs init ~/my-bench --redis-port 11000
    """
    bench = admin.create_bench(directory, redis_port)
    render.info(f"Created bench at {bench.path}")
    render.info(f"Next: cd {bench.path} && bench-jobs new-site SITE && bench-jobs setup redis")


@click.command("new-site")
@click.argument("name")
@click.option("--time-zone", metavar="TZ", help="IANA time zone the site's cron events run in, e.g. Asia/Kolkata.")
@click.pass_obj
def new_site(ctx: Context, name: str, time_zone: str | None) -> None:
    """Create site NAME in the bench.

    \b
    Example:
      bench-jobs new-site site1.local --time-zone Europe/Berlin
    """
    path = admin.create_site(ctx.bench, name, time_zone)
    render.info(f"Created site {name} ({path})")


@click.command("add-app")
@click.argument("app", shell_complete=complete.apps)
@click.pass_obj
def add_app(ctx: Context, app: str) -> None:
    """Register APP (an importable Python package) in sites/apps.txt.

    Workers run only methods of registered apps; the scheduler reads their hooks.py.

    \b
    Example:
      bench-jobs add-app my_app
    """
    if admin.add_app(ctx.bench, app):
        render.info(f"Added {app} to {ctx.bench.sites_path / 'apps.txt'}")
    else:
        render.info(f"{app} is already installed")


@click.command("use")
@click.argument("site", shell_complete=complete.sites)
@click.pass_obj
def use(ctx: Context, site: str) -> None:
    """Make SITE the default site (default_site in common_site_config.json, as Frappe's `bench use`).

    \b
    Example:
      bench-jobs use site1.local
    """
    admin.use_site(ctx.bench, site)
    render.info(f"Current site is now {site}")
