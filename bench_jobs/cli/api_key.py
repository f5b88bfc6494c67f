"""api-key create|list|revoke: the site's keys for `Authorization: token key:secret`."""

from __future__ import annotations

import click

from bench_jobs.cli import options
from bench_jobs.cli import output as render
from bench_jobs.cli.context import Context

# Also after the subcommand (`api-key create --site S`), as the keys belong to one site.
_site = click.option("--site", "site_option", metavar="SITE", help="The site (default: the global --site).")


def _site_of(ctx: Context, site_option: str | None) -> str:
    if site_option:
        ctx.bench.require_site(site_option)
        return site_option
    return ctx.require_site()


@click.group("api-key")
def api_key() -> None:
    """Create, list or revoke the site's API keys (for the HTTP API and the dashboard).

    \b
    Examples:
      bench-jobs --site site1.local api-key create --role admin --label ci
      bench-jobs --site site1.local api-key list
    """


@api_key.command("create")
@click.option("--role", type=click.Choice(["admin", "read"]), default="admin", show_default=True,
              help="admin: API calls and dashboard actions; read: the dashboard and lists, no changes.")
@click.option("--label", default="", help="A note saying who or what uses the key.")
@_site
@options.format_option
@click.pass_obj
def create(ctx: Context, role: str, label: str, site_option: str | None, fmt: str) -> None:
    """Create a key; its secret is printed once and only its hash is kept.

    \b
    Example:
      bench-jobs --site site1.local api-key create --role read --label grafana
    """
    from bench_jobs.web.auth import create_key

    site = _site_of(ctx, site_option)
    key, secret = create_key(ctx.bench, site, role, label)
    if fmt == "json":
        render.emit_json({"site": site, "key": key, "secret": secret, "role": role, "label": label})
        return
    click.echo(f"{key}:{secret}")
    # The note goes to stderr, so `$(bench-jobs api-key create)` captures key:secret alone.
    click.echo(f"Created {role} key {key} for {site}. The secret is shown only now; send it as "
               f"'Authorization: token {key}:SECRET'.", err=True)


@api_key.command("list")
@_site
@options.format_option
@click.pass_obj
def list_cmd(ctx: Context, site_option: str | None, fmt: str) -> None:
    """The site's keys: id, role, label, creation time (never the secret).

    \b
    Example:
      bench-jobs api-key list --site site1.local --format json
    """
    from bench_jobs.web.auth import list_keys

    site = _site_of(ctx, site_option)
    rows = list_keys(ctx.bench, site)
    render.listing(fmt, render.envelope(ctx.bench.bench_id, "keys", rows, sites=[site]),
                   lambda: render.table(rows, ["key", "role", "label", "created"], title=f"API keys of {site}",
                                        empty=f"{site} has no API keys."))


@api_key.command("revoke")
@click.argument("key")
@_site
@click.pass_obj
def revoke(ctx: Context, key: str, site_option: str | None) -> None:
    """Revoke a key: calls and dashboard sessions made with it stop working at once.

    \b
    Example:
      bench-jobs --site site1.local api-key revoke 3f9a2b7c1d0e4f5
    """
    from bench_jobs.web.auth import revoke_key

    site = _site_of(ctx, site_option)
    revoke_key(ctx.bench, site, key)
    render.info(f"Revoked key {key} of {site}.")
