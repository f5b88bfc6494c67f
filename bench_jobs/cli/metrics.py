"""`metrics [--serve HOST:PORT]`: Prometheus text exposition of the bench's queues and workers."""

from __future__ import annotations

import click

from bench_jobs.cli import output as render
from bench_jobs.cli.context import Context
from bench_jobs.errors import BenchJobsError

DEFAULT_HOST = "127.0.0.1"  # metrics reveal queue and method names: loopback unless asked otherwise


def parse_address(value: str) -> tuple[str, int]:
    """'9200' / ':9200' -> (127.0.0.1, 9200); 'HOST:PORT' as given; '[::1]:9200' for IPv6."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]") if sep else ""
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise BenchJobsError(f"--serve {value!r} is not HOST:PORT", "use e.g. --serve 127.0.0.1:9200 or --serve 9200")
    return host or DEFAULT_HOST, int(port)


def serve(bench, host: str, port: int) -> None:
    """Answer scrapes until interrupted; each scrape reads Redis afresh (a down Redis gives up=0)."""
    import socket
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    from prometheus_client import make_wsgi_app

    from bench_jobs.ops.metrics import registry

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # scrapes every 15 s would flood stderr
            return None

    class Server(WSGIServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    try:
        server = make_server(host, port, make_wsgi_app(registry(bench)), server_class=Server,
                             handler_class=QuietHandler)
    except OSError as exc:
        raise BenchJobsError(f"cannot listen on {host}:{port} ({exc.strerror or exc})",
                             "pick a free port with --serve HOST:PORT") from None
    render.warn(f"Serving metrics on http://{host}:{server.server_port}/metrics (Ctrl+C to stop)")
    with server:
        server.serve_forever()


@click.command("metrics")
@click.option("--serve", "address", metavar="HOST:PORT",
              help="Serve /metrics over HTTP instead of printing once (host defaults to 127.0.0.1).")
@click.pass_obj
def metrics(ctx: Context, address: str | None) -> None:
    """Print the bench's Prometheus metrics, or serve them with --serve.

    Queue depth and oldest job age per queue, worker states and job counters,
    job duration histograms by queue and method, scheduler lag per event.

    \b
    Examples:
      bench-jobs metrics | grep bench_jobs_queue_jobs
      bench-jobs metrics --serve 127.0.0.1:9200
    """
    if address is None:
        from bench_jobs.ops.metrics import exposition

        click.echo(exposition(ctx.bench), nl=False)
        return
    host, port = parse_address(address)
    serve(ctx.bench, host, port)
