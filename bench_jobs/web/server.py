"""Running the application: Werkzeug's threaded server (embedded, for `start` and development) or
gunicorn with N processes of threads (production, `setup supervisor|systemd`).

Binding to anything but loopback needs an API key on some site: without one every page would be
open to the network.
"""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING, Any

from bench_jobs.bench import settings as S
from bench_jobs.errors import BenchJobsError

if TYPE_CHECKING:
    from bench_jobs.bench.layout import Bench

THREADS = 8  # per gunicorn process: requests wait on Redis, not on the CPU
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def settings(bench: Bench, host: str | None, port: int | None) -> tuple[str, int]:
    host = host or S.WEB_HOST.read(bench)
    port = port if port is not None else S.WEB_PORT.read(bench)
    return host, port


def check_bind(bench: Bench, host: str) -> None:
    from bench_jobs.web.auth import auth_configured

    if host not in LOOPBACK and not host.startswith("127.") and not auth_configured(bench):
        raise BenchJobsError(f"refusing to listen on {host}: no API key is configured, so the dashboard and "
                             "API would be open to the network",
                             "create one with `bench-jobs --site SITE api-key create`, or listen on 127.0.0.1")


def check_port(host: str, port: int) -> None:
    """Bind once before starting, so a port in use or an unknown host is one line, not a traceback
    (Werkzeug raises an OSError; gunicorn retries for five seconds and then exits)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise BenchJobsError(f"cannot listen on {host}: {exc.strerror or exc}",
                             "pass --host with an address of this machine, e.g. 127.0.0.1") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise BenchJobsError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                                 "another program uses that port: pass --port N or set web_port") from None


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def serve_embedded(bench: Bench, host: str, port: int, site: str | None, access_log: bool = False,
                   ready: Any = None) -> None:
    """Werkzeug's threaded server, one process; SIGTERM stops it cleanly."""
    import logging

    from werkzeug.serving import make_server

    from bench_jobs.web.app import App

    logging.getLogger("werkzeug").setLevel(logging.INFO if access_log else logging.WARNING)
    server = make_server(host, port, App(bench, site), threaded=True)
    signal.signal(signal.SIGTERM, _interrupt)  # serve_forever ends like on Ctrl-C
    if ready:
        ready(server.server_port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def serve_production(bench: Bench, host: str, port: int, site: str | None, processes: int,
                     access_log: bool = False) -> None:
    """gunicorn: `processes` workers (gthread, THREADS each), the app built in each worker after fork."""
    from gunicorn.app.base import BaseApplication

    bench_path = str(bench.path)
    options = {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}", "workers": processes,
        "worker_class": "gthread", "threads": THREADS, "accesslog": "-" if access_log else None,
        "errorlog": "-", "loglevel": "warning", "graceful_timeout": 10, "timeout": 60,
        "proc_name": f"bench-jobs-web {bench_path}"}

    class Gunicorn(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in options.items():
                if value is not None:
                    self.cfg.set(key, value)

        def load(self) -> Any:
            from bench_jobs.bench.context import reset_clients
            from bench_jobs.web.app import create_app

            reset_clients()  # never share a Redis connection across fork
            return create_app(bench_path, site)

    Gunicorn().run()

