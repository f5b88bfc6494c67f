"""The dashboard: server-rendered pages (Jinja2, autoescaped) and the JSON the pages poll to stay live.

Who may look: anyone on a loopback-only server while no API key exists; otherwise a logged-in key
(`/login` with key:secret, then a signed cookie). Every page reads through the bounded queries of
jobs/queries.py and jobs/resource.py, so a page costs O(page) whatever the backlog. Values reach the
HTML only through Jinja's autoescape (never `|safe`) or, on live updates, through `textContent`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from werkzeug.exceptions import NotFound
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from bench_jobs.web import auth
from bench_jobs.web.actions import act
from bench_jobs.web.rendering import App, LoginRequired, Viewer, age, client_of, error_page, render, viewer_of

if TYPE_CHECKING:
    from bench_jobs.jobs.queries import JobDetail

PAGE_SIZE = 50
ALL_SITES = "*"
STATUS_CHOICES = ("queued", "started", "scheduled", "failed", "stopped", "canceled", "finished")


def sites_of(app: App) -> list[str]:
    from bench_jobs.jobs.queries import known_sites

    return known_sites(client_of(app), app.bench)


# -- entry points ------------------------------------------------------------------------------------
def handle(app: App, request: Request, endpoint: str, values: dict[str, Any]) -> Response:
    from bench_jobs.bench.connection import redis_errors

    try:
        if endpoint == "login":
            return login(app, request)
        if endpoint == "logout":
            return logout(app, request)
        viewer = viewer_of(app, request)
        with redis_errors(app.bench):
            if endpoint == "action":
                return act(app, request, viewer, values["action"])
            page = PAGES.get(endpoint)
            if page is None:
                raise NotFound()
            return page(app, request, viewer, **values)
    except LoginRequired:
        if endpoint == "live":
            return Response(json.dumps({"login": True}), status=401, mimetype="application/json")
        return redirect("/login?" + urlencode({"next": request.full_path.rstrip("?")}))


# -- login -------------------------------------------------------------------------------------------
def _safe_next(target: str | None) -> str:
    return target if target and target.startswith("/") and not target.startswith("//") else "/"


def login(app: App, request: Request) -> Response:
    error = None
    if request.method == "POST":
        key = (request.form.get("key") or "").strip()
        secret = (request.form.get("secret") or "").strip()
        if ":" in key and not secret:
            key, _, secret = key.partition(":")
        principal = next((p for site in app.bench.sites() if (p := auth.verify(app.bench, site, key, secret))), None)
        if principal is not None:
            cookie = auth.make_session(app.bench, principal)
            response = redirect(_safe_next(request.form.get("next")), code=303)
            response.set_cookie("bj_session", cookie, max_age=auth.SESSION_SECONDS, httponly=True,
                                samesite="Strict", secure=request.is_secure)
            response.set_cookie("bj_csrf", auth.csrf_token(app.bench, cookie), max_age=auth.SESSION_SECONDS,
                                samesite="Strict", secure=request.is_secure)
            return response
        error = "Unknown key or wrong secret."
    return render(app, request, Viewer(None, None, None), "login.html", status=401 if error else 200, error=error,
                  next=_safe_next(request.values.get("next")), keys_exist=auth.auth_configured(app.bench))


def logout(app: App, request: Request) -> Response:
    cookie = request.cookies.get("bj_session")
    if cookie and not auth.check_csrf(app.bench, cookie, request.form.get("csrf_token")):
        return error_page(app, request, 403, "Invalid or missing CSRF token; reload the page.")
    response = redirect("/login", code=303)
    response.delete_cookie("bj_session")
    response.delete_cookie("bj_csrf")
    return response


# -- data --------------------------------------------------------------------------------------------
def overview_data(app: App, chart_site: str | None = None) -> dict[str, Any]:
    """Counts per site and queue, workers online per queue, and the chart (all sites, or `chart_site`)."""
    from bench_jobs.jobs.keys import Keys
    from bench_jobs.jobs.queries import pending_summary, worker_rows
    from bench_jobs.jobs.running import read_started
    from bench_jobs.ops import throughput

    client, bench = client_of(app), app.bench
    queues = bench.queue_names()
    keys = Keys(bench.bench_id)
    online = dict.fromkeys(queues, 0)
    for worker in worker_rows(client, keys):
        if worker["state"] != "dead":
            for queue in worker["queues"]:
                online[queue] = online.get(queue, 0) + 1
    chart_site = chart_site or None
    hour = throughput.series(client, keys, "hour", site=chart_site)
    last_hour = {outcome: sum(r[outcome] for r in hour) for outcome in throughput.OUTCOMES}
    rows = []
    started = read_started(client, keys)  # once for every site
    for site in sites_of(app):
        for q in pending_summary(client, bench, [site], queues, limit=0, started=started)["queues"]:
            rows.append({"site": site, "queue": q["queue"], "queued": q["pending"], "started": q["started"],
                         "scheduled": q["scheduled"], "failed": q["failed"], "oldest": age(q["oldest_age_seconds"])
                         if q["oldest_age_seconds"] is not None else "—", "workers": online.get(q["queue"], 0)})
    return {"rows": rows, "hour": hour, "day": throughput.series(client, keys, "day", site=chart_site),
            "last_hour": last_hour, "chart_site": chart_site, "at": time.time()}


def jobs_query(app: App, request: Request) -> dict[str, Any]:
    sites = sites_of(app)
    site = request.args.get("site") or ALL_SITES
    queue = request.args.get("queue") or ""
    status = request.args.get("status") or ""
    method = (request.args.get("method") or "").strip()
    try:
        start = max(int(request.args.get("start") or 0), 0)
    except ValueError:
        start = 0
    return {"site": site, "queue": queue, "status": status, "method": method, "start": start, "sites": sites}


def jobs_data(app: App, query: dict[str, Any]) -> dict[str, Any]:
    from bench_jobs.jobs import indexes
    from bench_jobs.jobs.keys import Keys
    from bench_jobs.jobs.queries import INDEX_OF, LIST_STATES
    from bench_jobs.jobs.resource import get_jobs

    client, bench = client_of(app), app.bench
    sites = query["sites"] if query["site"] == ALL_SITES else [query["site"]]
    if not sites:
        return {"rows": [], "total": 0, "more": False}
    filters: list[list[Any]] = []
    if query["queue"]:
        filters.append(["queue", "=", query["queue"]])
    if query["status"]:
        filters.append(["status", "=", query["status"]])
    if query["method"]:
        filters.append(["method", "like", query["method"]])
    rows = get_jobs(client, bench, sites, filters=filters, fields=["*"], limit_start=query["start"],
                    limit_page_length=PAGE_SIZE + 1)
    keys = Keys(bench.bench_id)
    states = [INDEX_OF.get(query["status"], query["status"])] if query["status"] else list(LIST_STATES)
    queues = [query["queue"]] if query["queue"] else bench.queue_names()
    places = [(queue, site) for queue in queues for site in sites]
    total = sum(indexes.state_counts(client, keys, states, places).values())
    return {"rows": rows[:PAGE_SIZE], "more": len(rows) > PAGE_SIZE, "total": total}


def job_data(app: App, job_id: str) -> JobDetail:
    from bench_jobs.jobs.queries import job_detail

    return job_detail(client_of(app), app.bench, job_id)


# -- pages -------------------------------------------------------------------------------------------
def overview(app: App, request: Request, viewer: Viewer) -> Response:
    site = request.args.get("site") or ""
    return render(app, request, viewer, "overview.html", data=overview_data(app, site), sites=sites_of(app),
                  chart_site=site)


def live(app: App, request: Request, viewer: Viewer) -> Response:
    """What the open page needs to redraw itself (polled every LIVE_EVERY_MS)."""
    what = request.args.get("what", "overview")
    if what == "jobs":
        doc: dict[str, Any] = jobs_data(app, jobs_query(app, request))
    elif what == "job":
        from bench_jobs.errors import JobNotFound

        try:
            doc = {"job": job_data(app, request.args.get("id", ""))}
        except JobNotFound:
            doc = {"job": None}
    else:
        doc = overview_data(app, request.args.get("site"))
    response = Response(json.dumps(doc, default=str), mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def jobs(app: App, request: Request, viewer: Viewer) -> Response:
    query = jobs_query(app, request)
    data = jobs_data(app, query)
    base = {k: query[k] for k in ("site", "queue", "status", "method") if query[k]}
    prev_link = "/jobs?" + urlencode({**base, "start": max(query["start"] - PAGE_SIZE, 0)}) if query["start"] else None
    next_link = "/jobs?" + urlencode({**base, "start": query["start"] + PAGE_SIZE}) if data["more"] else None
    return render(app, request, viewer, "jobs.html", query=query, all_sites=ALL_SITES, data=data,
                  queues=app.bench.queue_names(), statuses=STATUS_CHOICES, prev_link=prev_link,
                  next_link=next_link, page_size=PAGE_SIZE,
                  live_query=urlencode({**base, "start": query["start"], "what": "jobs"}))


def job(app: App, request: Request, viewer: Viewer, job_id: str) -> Response:
    from bench_jobs.jobs.actions import CANCELABLE, RETRYABLE

    detail = job_data(app, job_id)
    status = detail["status"]
    actions = [name for name, ok in (("retry", status in RETRYABLE), ("cancel", status in CANCELABLE),
                                     ("stop", status == "started"), ("delete", status != "started")) if ok]
    return render(app, request, viewer, "job.html", job=detail, actions=actions)


def workers(app: App, request: Request, viewer: Viewer) -> Response:
    from bench_jobs.jobs.keys import Keys
    from bench_jobs.jobs.queries import worker_rows

    rows = worker_rows(client_of(app), Keys(app.bench.bench_id))
    return render(app, request, viewer, "workers.html", workers=rows)


def scheduler(app: App, request: Request, viewer: Viewer) -> Response:
    from bench_jobs.scheduler import controls

    client, sites = client_of(app), app.bench.sites()
    state = controls.status(app.bench, client, sites)
    events = controls.list_events(app.bench, client, sites)
    from bench_jobs.jobs.queries import iso

    log = list(reversed(controls.log_entries(app.bench, client, sites, 50, None)))
    for row in log:
        try:
            row["when"] = iso(float(row.get("time") or 0))
        except ValueError:
            row["when"] = row.get("time")
    return render(app, request, viewer, "scheduler.html", state=state, events=events, log=log)


def errors(app: App, request: Request, viewer: Viewer) -> Response:
    from bench_jobs.jobs.keys import Keys
    from bench_jobs.logs.error_log import count_errors, list_errors

    sites = app.bench.sites()
    site = request.args.get("site") or (app.default_site if app.default_site in sites else (sites[0] if sites else ""))
    keys, client = Keys(app.bench.bench_id), client_of(app)
    rows = list_errors(client, keys, site, 50) if site in sites else []
    total = count_errors(client, keys, site) if site in sites else 0
    return render(app, request, viewer, "errors.html", sites=sites, site=site, rows=rows, total=total)


def error_entry(app: App, request: Request, viewer: Viewer, site: str, entry_id: str) -> Response:
    from bench_jobs.jobs.keys import Keys
    from bench_jobs.logs.error_log import ErrorNotFound, get_error

    if site not in app.bench.sites():
        raise NotFound()
    try:
        entry = get_error(client_of(app), Keys(app.bench.bench_id), site, entry_id)
    except ErrorNotFound:
        raise NotFound() from None
    return render(app, request, viewer, "error_entry.html", entry=entry)


PAGES: dict[str, Callable[..., Response]] = {
    "overview": overview, "live": live, "jobs": jobs, "job": job, "workers": workers, "scheduler": scheduler,
    "errors": errors, "error": error_entry}
