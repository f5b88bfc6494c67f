"""Dashboard actions: retry, cancel, stop, delete a job; purge a queue; pause/resume the scheduler.

Only a logged-in admin key may act, and only on its own site's jobs, queues and scheduler. Every
action is a POST carrying the session's CSRF token, and is confirmed: without `confirmed=1` (set by
the page's confirm dialog) the server answers with a confirmation page instead of acting, so the
same guard holds with JavaScript off. The work itself is jobs/actions.py's, as for the CLI.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from bench_jobs.errors import BenchJobsError
from bench_jobs.web import auth
from bench_jobs.web.rendering import App, Viewer, client_of, error_page, render

JOB_ACTIONS = ("retry", "cancel", "stop", "delete")
ACTIONS = (*JOB_ACTIONS, "purge", "pause", "resume")


def act(app: App, request: Request, viewer: Viewer, action: str) -> Response:
    if action not in ACTIONS:
        return error_page(app, request, 404, f"unknown action {action}")
    if not viewer.is_admin:
        return error_page(app, request, 403, "Only an admin key may change jobs: log in with one "
                                             "(`bench-jobs --site SITE api-key create --role admin`).")
    if not auth.check_csrf(app.bench, viewer.cookie, request.form.get("csrf_token")):
        return error_page(app, request, 403, "Invalid or missing CSRF token; reload the page and try again.")
    form = {k: v for k, v in request.form.items() if k not in ("csrf_token", "confirmed")}
    client = client_of(app)
    site = _target_site(app, client, action, form)
    if viewer.principal is None or site != viewer.principal.site:
        owner = viewer.principal.site if viewer.principal else "no site"
        return error_page(app, request, 403, f"Your key belongs to {owner}; it cannot change "
                                             f"{site or 'this'}'s jobs.")
    if request.form.get("confirmed") != "1":
        return render(app, request, viewer, "confirm.html", action=action, form=form, site=site,
                      question=_question(action, form, site))
    try:
        message, back = _do(app, client, action, form, site)
    except BenchJobsError as exc:
        return error_page(app, request, 409, exc.message)
    separator = "&" if "?" in back else "?"
    return redirect(back + separator + urlencode({"done": message}), code=303)


def _target_site(app: App, client: Any, action: str, form: dict[str, str]) -> str:
    if action in JOB_ACTIONS:
        from bench_jobs.jobs.queries import job_detail

        return str(job_detail(client, app.bench, form.get("job_id", ""))["site"] or "")
    return form.get("site", "")


def _question(action: str, form: dict[str, str], site: str) -> str:
    if action in JOB_ACTIONS:
        return f"{action.capitalize()} job {form.get('job_id')}?"
    if action == "purge":
        return f"Delete every queued job of queue {form.get('queue')} on {site}?"
    return f"{action.capitalize()} the scheduler of {site}?"


def _do(app: App, client: Any, action: str, form: dict[str, str], site: str) -> tuple[str, str]:
    from bench_jobs.jobs import actions as jobs_actions

    bench = app.bench
    job_id = form.get("job_id", "")
    job_page = "/jobs/" + quote(job_id, safe="")
    if action == "retry":
        jobs_actions.check_outcome(jobs_actions.retry_jobs(client, bench, [job_id]), "retried",
                                   jobs_actions.RETRYABLE)
        return "retried", job_page
    if action == "cancel":
        jobs_actions.check_outcome(jobs_actions.cancel_jobs(client, bench, [job_id]), "canceled",
                                   jobs_actions.CANCELABLE)
        return "canceled", job_page
    if action == "stop":
        jobs_actions.stop_job(client, bench, job_id)
        return "stop requested", job_page
    if action == "delete":
        jobs_actions.check_outcome(jobs_actions.delete_jobs(client, bench, [job_id]), "deleted",
                                   jobs_actions.PURGEABLE)
        return "deleted", "/jobs?" + urlencode({"site": site})
    if action == "purge":
        queue = bench.require_queue(form.get("queue", ""))
        outcome = jobs_actions.purge(client, bench, [site], [queue])
        return f"purged {len(outcome.done)} queued jobs of {queue}", "/"
    from bench_jobs.scheduler.controls import control

    control(bench, site, action)
    return f"scheduler {action}d for {site}", "/scheduler"
