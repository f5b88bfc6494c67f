"""The WSGI application of `bench-jobs serve` (Werkzeug): routing, the request's site and caller, errors.

The site is the one Frappe would pick: the `X-Frappe-Site-Name` header, else the Host name when it
is a site of the bench, else the server's default site (`--site`, `currentsite.txt`). The caller is
an API key (`Authorization: token key:secret`, checked against that site's keys) or a dashboard
session cookie; a cookie caller's POSTs need the CSRF token (form field or `X-Frappe-CSRF-Token`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from bench_jobs.errors import BenchJobsError, JobNotFound, RedisUnavailable
from bench_jobs.web import auth
from bench_jobs.web.methods import HttpError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from bench_jobs.bench.layout import Bench

STATIC = Path(__file__).parent / "static"
SESSION_COOKIE = "bj_session"
CSRF_COOKIE = "bj_csrf"  # readable by the page's script (call.js), bound to the session by HMAC
PAGE_RE = re.compile(r"^[A-Za-z0-9_-]+$")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class BoundedRequest(Request):
    # Arguments of a method call are JSON for a job: a body past this is refused (413) before it is read.
    max_content_length = 16 * 1024 * 1024
    max_form_memory_size = 2 * 1024 * 1024

URLS = Map([
    Rule("/api/method/<path:method>", endpoint="api_method"),
    Rule("/api/resource/<doctype>", endpoint="api_list", methods=["GET"]),
    Rule("/api/resource/<doctype>/<path:name>", endpoint="api_doc", methods=["GET"]),
    Rule("/assets/bench_jobs/<name>", endpoint="asset", methods=["GET"]),
    Rule("/login", endpoint="login", methods=["GET", "POST"]),
    Rule("/logout", endpoint="logout", methods=["POST"]),
    Rule("/", endpoint="overview", methods=["GET"]),
    Rule("/live", endpoint="live", methods=["GET"]),
    Rule("/jobs", endpoint="jobs", methods=["GET"]),
    Rule("/jobs/<path:job_id>", endpoint="job", methods=["GET"]),
    Rule("/workers", endpoint="workers", methods=["GET"]),
    Rule("/scheduler", endpoint="scheduler", methods=["GET"]),
    Rule("/errors", endpoint="errors", methods=["GET"]),
    Rule("/errors/<site>/<entry_id>", endpoint="error", methods=["GET"]),
    Rule("/actions/<action>", endpoint="action", methods=["POST"]),
    Rule("/<page>", endpoint="app_page", methods=["GET"]),
])


@dataclass
class Caller:
    """Who sent the request: a principal (or None for a guest) and how it proved it."""

    principal: auth.Principal | None
    via_cookie: bool = False
    cookie: str | None = None


def json_response(doc: Any, status: int = 200) -> Response:
    # UTF-8 as is (JSON's own encoding): a method answering "任务已加入队列" reads as such in curl.
    return Response(json.dumps(doc, default=str, ensure_ascii=False).encode(), status=status,
                    mimetype="application/json")


class App:
    """One per server process; holds the bench and the default site, nothing per request."""

    def __init__(self, bench: Bench, default_site: str | None = None) -> None:
        self.bench = bench
        self.default_site = default_site

    # -- WSGI ------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = BoundedRequest(environ)
        self.bench.reload()  # a long-lived server sees config edits (developer_mode, apps) at once
        return self.respond(request)(environ, start_response)

    def respond(self, request: Request) -> Response:
        api = request.path.startswith("/api/")
        try:
            endpoint, values = URLS.bind_to_environ(request.environ).match()
            handler = getattr(self, f"on_{endpoint}", None)
            if handler is None:
                from bench_jobs.web import dashboard

                return dashboard.handle(self, request, endpoint, dict(values))
            return handler(request, **values)
        except HttpError as exc:
            return json_response(exc.body(), exc.status) if api else self.error_page(request, exc.status,
                                                                                      exc.message)
        except auth.AuthError as exc:
            return self._api_error(api, request, 401, "AuthenticationError", exc.message)
        except JobNotFound as exc:
            return self._api_error(api, request, 404, "DoesNotExistError", exc.message)
        except RedisUnavailable as exc:
            return self._api_error(api, request, 503, "RedisUnavailable", exc.message)
        except BenchJobsError as exc:
            return self._api_error(api, request, 417, "ValidationError", exc.message)
        except HTTPException as exc:
            return self._api_error(api, request, exc.code or 500, type(exc).__name__, exc.description or "")
        except Exception as exc:  # a bug of ours: the log gets the traceback, the client only its type
            import traceback

            traceback.print_exc()
            return self._api_error(api, request, 500, type(exc).__name__, "internal error; see the server's log")

    def _api_error(self, api: bool, request: Request, status: int, exc_type: str, message: str) -> Response:
        if api:
            return json_response(HttpError(status, exc_type, message).body(), status)
        return self.error_page(request, status, message)

    def error_page(self, request: Request, status: int, message: str) -> Response:
        from bench_jobs.web.rendering import error_page

        return error_page(self, request, status, message)

    # -- the request's site and caller -------------------------------------------------------------
    def site_of(self, request: Request) -> str:
        sites = self.bench.sites()
        named = request.headers.get("X-Frappe-Site-Name")
        if named:
            if named not in sites:
                raise HttpError(404, "DoesNotExistError", f"site {named} does not exist in this bench")
            return named
        host = (request.host or "").rsplit(":", 1)[0].strip("[]")
        if host in sites:
            return host
        if self.default_site and self.default_site in sites:
            return self.default_site
        default = self.bench.default_site()
        if default:
            return default
        raise HttpError(404, "DoesNotExistError", f"no site named by Host '{host}' and no default site",
                        {"hint": "send X-Frappe-Site-Name: SITE, or start the server with --site SITE"})

    def caller(self, request: Request, site: str | None = None) -> Caller:
        """The API key of the Authorization header (checked against `site`'s keys), else the session."""
        token = auth.parse_token(request.headers.get("Authorization"))
        if token is not None:
            principal = auth.verify(self.bench, site, *token) if site else None
            if principal is None:
                raise auth.AuthError(f"invalid API key or secret for site {site}",
                                     f"create one with `bench-jobs --site {site} api-key create`")
            return Caller(principal)
        cookie = request.cookies.get(SESSION_COOKIE)
        principal = auth.read_session(self.bench, cookie)
        if principal is None:
            return Caller(None)
        if site and principal.site != site:
            return Caller(None)
        return Caller(principal, via_cookie=True, cookie=cookie)

    def check_csrf(self, request: Request, caller: Caller) -> None:
        """Cookie-authenticated changes must carry the page's CSRF token (SameSite=Strict as well)."""
        if not caller.via_cookie or request.method in SAFE_METHODS:
            return
        token = request.headers.get("X-Frappe-CSRF-Token") or request.form.get("csrf_token")
        if not auth.check_csrf(self.bench, caller.cookie, token):
            raise HttpError(403, "CSRFTokenError", "Invalid or missing CSRF token; reload the page.")

    # -- /api/method ------------------------------------------------------------------------------
    def on_api_method(self, request: Request, method: str) -> Response:
        from bench_jobs.web.methods import call

        site = self.site_of(request)
        caller = self.caller(request, site)
        self.check_csrf(request, caller)
        result = call(self.bench, site, method, request.method, request_args(request), caller.principal)
        # As Frappe's handler: a method that returns None answers {} (no "message").
        return json_response({"message": result} if result is not None else {})

    # -- /api/resource ----------------------------------------------------------------------------
    def _reader(self, request: Request) -> str:
        site = self.site_of(request)
        if self.caller(request, site).principal is None:
            raise HttpError(401, "AuthenticationError", "Not logged in: send 'Authorization: token KEY:SECRET'.")
        return site

    def on_api_list(self, request: Request, doctype: str) -> Response:
        from bench_jobs.bench.connection import redis_errors
        from bench_jobs.bench.context import redis_for
        from bench_jobs.jobs import resource

        site = self._reader(request)
        if doctype not in resource.DOCTYPES:
            raise HttpError(404, "DoesNotExistError", f"DocType {doctype} not found")
        args = request_args(request)
        params = {name: _maybe_json(args.get(name)) for name in ("filters", "fields")}
        page = {name: args.get(name) for name in ("limit_start", "limit_page_length")}
        if args.get("limit") is not None and page["limit_page_length"] is None:
            page["limit_page_length"] = args.get("limit")
        with redis_errors(self.bench):
            client = redis_for(self.bench)
            if doctype == "RQ Job":
                rows = resource.get_jobs(client, self.bench, site, order_by=args.get("order_by"), **params, **page)
            else:
                rows = resource.get_workers(client, self.bench, **params, **page)
        return json_response({"data": rows})

    def on_api_doc(self, request: Request, doctype: str, name: str) -> Response:
        from bench_jobs.bench.connection import redis_errors
        from bench_jobs.bench.context import redis_for
        from bench_jobs.jobs import resource

        site = self._reader(request)
        with redis_errors(self.bench):
            client = redis_for(self.bench)
            if doctype == "RQ Job":
                return json_response({"data": resource.get_job_doc(client, self.bench, site, name)})
            if doctype == "RQ Worker":
                rows = resource.get_workers(client, self.bench, filters={"name": name}, fields=["*"])
                if rows:
                    return json_response({"data": rows[0]})
                raise HttpError(404, "DoesNotExistError", f"RQ Worker {name} not found")
        raise HttpError(404, "DoesNotExistError", f"DocType {doctype} not found")

    # -- static files: our script and the apps' pages ---------------------------------------------
    def on_asset(self, request: Request, name: str) -> Response:
        path = STATIC / name
        if not PAGE_RE.match(name.rsplit(".", 1)[0]) or not path.is_file():
            raise NotFound()
        kinds = {".js": "text/javascript", ".css": "text/css"}
        response = Response(path.read_bytes(), mimetype=kinds.get(path.suffix, "application/octet-stream"))
        response.headers["Cache-Control"] = "public, max-age=300"
        return response

    def on_app_page(self, request: Request, page: str) -> Response:
        """An installed app's `www/PAGE.html`, as Frappe serves an app's www folder (served as is)."""
        import importlib.util

        if not PAGE_RE.match(page):
            raise NotFound()
        for app in self.bench.apps:
            spec = importlib.util.find_spec(app)
            for folder in (spec.submodule_search_locations or []) if spec else []:
                path = Path(folder) / "www" / f"{page}.html"
                if path.is_file():
                    return Response(path.read_bytes(), mimetype="text/html")
        raise NotFound()


def _maybe_json(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "[{\"":
        try:
            return json.loads(value)
        except ValueError:
            raise HttpError(417, "ValidationError", f"not valid JSON: {value[:80]}") from None
    return value


def request_args(request: Request) -> dict[str, Any]:
    """Arguments as Frappe's form_dict: query string, then form fields, then a JSON object body."""
    args: dict[str, Any] = dict(request.args.items())
    args.update(request.form.items())
    if request.mimetype == "application/json" and request.get_data():
        try:
            body = json.loads(request.get_data())
        except ValueError:
            raise HttpError(417, "ValidationError", "the request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise HttpError(417, "ValidationError", "the JSON body must be an object of arguments")
        args.update(body)
    return args


def create_app(bench_path: str | None = None, site: str | None = None) -> App:
    """The application for the bench at `bench_path` (discovered like the CLI when None)."""
    from bench_jobs.bench.layout import Bench

    return App(Bench.find(bench_path), site)
