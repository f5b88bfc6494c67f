"""What every dashboard page and action is made with: who is looking (`Viewer`, from the session
cookie or an API key), the Jinja environment (autoescaped), `render` with the security headers, the
error page, and the bench's Redis client. dashboard.py (the pages) and actions.py both build on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from werkzeug.wrappers import Request, Response

from bench_jobs.bench import units
from bench_jobs.web import auth

if TYPE_CHECKING:
    import jinja2
    import redis

    from bench_jobs.bench.layout import Bench


class App(Protocol):
    """What pages and actions read from the server (web.app.App, which dispatches to them): the
    bench, and the site a request without a Host match falls back to."""

    bench: Bench
    default_site: str | None


TEMPLATES = Path(__file__).parent / "templates"
LIVE_EVERY_MS = 2000


@dataclass
class Viewer:
    """The person looking: a principal from the session cookie, or None on an open local server."""

    principal: auth.Principal | None
    cookie: str | None
    csrf: str | None

    @property
    def is_admin(self) -> bool:
        return bool(self.principal and self.principal.is_admin)


class LoginRequired(Exception):
    pass


@cache
def environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["age"] = age
    env.filters["pretty"] = lambda value: json.dumps(value, indent=2, ensure_ascii=False, default=str)
    env.filters["compact"] = lambda value: json.dumps(value, ensure_ascii=False, default=str)
    env.filters["urlpart"] = lambda value: quote(str(value), safe="")
    return env


def age(seconds: float | None) -> str:
    return units.age(None if seconds is None else max(float(seconds), 0.0), missing="—")


def render(app: App, request: Request, viewer: Viewer, template: str, status: int = 200, **context: Any) -> Response:
    page = environment().get_template(template).render(
        viewer=viewer, path=request.path, bench_id=app.bench.bench_id, live_every=LIVE_EVERY_MS, **context)
    response = Response(page, status=status, mimetype="text/html")
    # No framing by other sites (clickjacking an admin button) and no inline script from anywhere.
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = ("default-src 'self'; script-src 'self'; "
                                                   "style-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


def viewer_of(app: App, request: Request) -> Viewer:
    """The session's principal; or, for scripts and monitors, a key in the Authorization header
    (such a viewer reads but cannot act: actions need the session's CSRF token)."""
    token = auth.parse_token(request.headers.get("Authorization"))
    if token is not None:
        found = next((p for site in app.bench.sites() if (p := auth.verify(app.bench, site, *token))), None)
        if found is None:
            raise LoginRequired()
        return Viewer(found, None, None)
    cookie = request.cookies.get("bj_session")
    principal = auth.read_session(app.bench, cookie)
    if principal is None:
        if auth.auth_configured(app.bench):
            raise LoginRequired()
        return Viewer(None, None, None)
    return Viewer(principal, cookie, auth.csrf_token(app.bench, cookie or ""))


def client_of(app: App) -> redis.Redis:
    from bench_jobs.bench.context import redis_for

    return redis_for(app.bench)


def error_page(app: App, request: Request, status: int, message: str) -> Response:
    return render(app, request, Viewer(None, None, None), "error.html", status=status, status_code=status,
                  message=message)
