"""The dashboard pages (filled in next)."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from bench_jobs.web.app import App


def handle(app: App, request: Request, endpoint: str, values: dict[str, Any]) -> Response:
    raise NotFound()


def error_page(app: App, request: Request, status: int, message: str) -> Response:
    return Response(f"<!doctype html><title>{status}</title><p>{escape(message)}</p>", status=status,
                    mimetype="text/html")
