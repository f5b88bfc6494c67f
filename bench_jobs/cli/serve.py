"""bench-jobs serve: the bench's HTTP server (whitelisted methods, jobs API, dashboard)."""

from __future__ import annotations

import click

from bench_jobs.cli import output as render
from bench_jobs.cli.context import Context


@click.command("serve")
@click.option("--host", metavar="HOST", help="Address to listen on (default: web_host, else 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (default: web_port, else 8010).")
@click.option("--processes", type=click.IntRange(0, 64), default=0, show_default=True,
              help="0: one process (Werkzeug, threaded); N: gunicorn with N processes (production).")
@click.option("--access-log", is_flag=True, help="Log every request on stdout.")
@click.pass_obj
def serve(ctx: Context, host: str | None, port: int | None, processes: int, access_log: bool) -> None:
    """Serve /api/method, /api/resource and the live dashboard for the bench.

    The site of a request is named by its Host header or X-Frappe-Site-Name, else
    --site. Listening beyond 127.0.0.1 needs an API key (`api-key create`).

    \b
    Examples:
      bench-jobs --site site1.local serve
      bench-jobs serve --host 0.0.0.0 --port 8010 --processes 2
      curl -H "Authorization: token KEY:SECRET" http://127.0.0.1:8010/api/method/myapp.api.ping
    """
    from bench_jobs.web import server

    bench = ctx.bench
    site = ctx.site
    host, port = server.settings(bench, host, port)
    server.check_bind(bench, host)
    server.check_port(host, port)
    how = f"gunicorn, {processes} processes" if processes else "one process"
    render.info(f"Serving {bench.path} on http://{host}:{port}/ ({how})")
    if processes:
        server.serve_production(bench, host, port, site, processes, access_log)
    else:
        server.serve_embedded(bench, host, port, site, access_log)
