"""The dashboard as a person uses it: Debian's Chromium driven by Playwright against a running server,
real workers and real Redis. Screenshots of each page go to test-output/browser/ (README shows two).

Playwright's own browser downloads are never used: the browser is /usr/bin/chromium (`.ci/run`
installs it). Without it the tests skip on a developer's machine and fail under CI=true.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.waiting import wait_for
from tests.web_helpers import api_key
from tests.worker_helpers import add_job, wait_status

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).parents[2] / "test-output" / "browser"
XSS = "<script>window.__xss = 1</script>"

pytestmark = pytest.mark.slow

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        raise RuntimeError("CI needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
    pytest.skip("no /usr/bin/chromium (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # As root (CI, containers) Chromium's sandbox cannot start.
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, web, bench):
    """A logged-in admin of site1.test on a laptop-sized window."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(30_000)
    key, secret = api_key(bench, role="admin").split(":")
    page.goto(web.url + "/login")
    shot(page, "login")
    page.fill("input[name=key]", key)
    page.fill("input[name=secret]", secret)
    page.click("form.stack button")
    page.wait_for_url(web.url + "/")
    yield page
    context.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def status_in_row(page, job_id: str) -> str:
    cell = page.locator(f'#jobs tr[data-id="{job_id}"] .status')
    return cell.inner_text() if cell.count() else ""


def test_a_job_started_from_an_app_page_goes_queued_then_finished_without_reload(page, web, bench, workers):
    page.goto(web.url + "/jobs?site=site1.test")
    page.evaluate("window.__same_page = true")  # gone if the page reloads or navigates

    app_page = page.context.new_page()
    app_page.goto(web.url + "/start-job")
    app_page.fill("#doc", "DOC-001")
    app_page.click("#start")
    app_page.wait_for_function("document.getElementById('answer').textContent.length > 0")
    assert app_page.inner_text("#answer") == "任务已加入队列"
    shot(app_page, "app-page")

    job_id = wait_for(lambda: page.locator("#jobs tr[data-id]").first.get_attribute("data-id")
                      if page.locator("#jobs tr[data-id]").count() else None, what="the job in the list")
    wait_for(lambda: status_in_row(page, job_id) == "queued", what="queued in the list")
    assert "DOC-001" in page.inner_text(f'#jobs tr[data-id="{job_id}"]')
    workers.start("--queue", "default")
    wait_for(lambda: status_in_row(page, job_id) == "finished", what="finished in the list")
    assert page.evaluate("window.__same_page") is True
    shot(page, "jobs")

    page.goto(web.url + f"/jobs/{job_id}")
    assert "processed DOC-001 on site1.test" in page.inner_text("[data-field=result]")
    shot(page, "job")


def test_retry_a_failed_job_from_its_page(page, web, bench, workers):
    client = bench.client()
    job_id = add_job(client, bench.bench.bench_id, "site1.test", "testapp.jobs.fail", {"message": "disk full"})
    workers.start("--queue", "default", "--burst").wait(60)
    wait_status(client, job_id, "failed")
    page.goto(web.url + f"/jobs/{job_id}")
    assert page.inner_text("[data-field=status]") == "failed"
    assert "ValueError: disk full" in page.inner_text("[data-field=traceback]")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#action-retry")
    page.wait_for_url(re.compile(r".*done=retried.*"))
    assert page.inner_text("[data-field=status]") == "queued"
    assert "Done: retried" in page.inner_text("main")
    assert client.hget(f"rq:job:{job_id}", "status") == b"queued"

    # A dismissed confirmation changes nothing.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("#action-cancel")
    assert client.hget(f"rq:job:{job_id}", "status") == b"queued"


def test_a_script_in_kwargs_is_shown_as_text(page, web, bench, workers):
    client = bench.client()
    job_id = add_job(client, bench.bench.bench_id, "site1.test", "testapp.jobs.fail", {"message": XSS})
    workers.start("--queue", "default", "--burst").wait(60)
    wait_status(client, job_id, "failed")
    page.goto(web.url + f"/jobs/{job_id}")
    assert XSS in page.inner_text("#kwargs") and XSS in page.inner_text("[data-field=traceback]")
    page.goto(web.url + "/jobs?site=site1.test&status=failed")
    assert XSS in page.inner_text(f'#jobs tr[data-id="{job_id}"]')
    page.wait_for_timeout(2500)  # one live refresh rewrites the rows: still text
    assert XSS in page.inner_text(f'#jobs tr[data-id="{job_id}"]')
    page.goto(web.url + "/errors?site=site1.test")
    assert page.evaluate("window.__xss") is None


def test_every_page_on_a_laptop_and_a_phone(page, web, bench, workers):
    """A bench with history: finished, failed and queued jobs on two sites; one screenshot per page."""
    from bench_jobs.jobs.keys import Keys

    client, bid = bench.client(), bench.bench.bench_id
    done = [add_job(client, bid, site, "testapp.jobs.add", {"a": i, "b": 1})
            for i in range(24) for site in ("site1.test", "site2.test")]
    failing = [add_job(client, bid, "site1.test", "testapp.jobs.fail", {"message": f"invoice {i} rejected"},
                       queue="short") for i in range(3)]
    workers.start("--queue", "short,default", "--burst").wait(120)
    wait_status(client, done[-1], "finished")
    wait_status(client, failing[-1], "failed")
    for _ in range(5):
        add_job(client, bid, "site1.test", "testapp.jobs.noop", queue="long")
    workers.start("--queue", "default")  # one worker stays online
    wait_for(lambda: client.scard(Keys(bid).workers()), what="a worker online")

    page.goto(web.url + "/")
    page.wait_for_selector("#chart rect")
    assert int(page.inner_text("#tot-ok")) >= 48 and int(page.inner_text("#tot-failed")) >= 3
    shot(page, "overview")
    page.evaluate("window.__same_page = true")
    page.select_option("#chart-site", "site2.test")  # its jobs all finished: no failures on its chart
    wait_for(lambda: page.inner_text("#tot-failed") == "0", what="the chart of site2.test")
    assert page.evaluate("window.__same_page") is True and page.url.endswith("/?site=site2.test")
    for name, path in (("workers", "/workers"), ("scheduler", "/scheduler"), ("errors", "/errors"),
                       ("failed", "/jobs?site=site1.test&status=failed")):
        page.goto(web.url + path)
        shot(page, name)

    phone = page.context.browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                             device_scale_factor=2)
    mobile = phone.new_page()
    mobile.context.add_cookies(page.context.cookies())
    mobile.goto(web.url + "/")
    mobile.wait_for_selector("#chart rect")
    # Nothing spills sideways: the page is as wide as the phone (tables scroll inside their box).
    assert mobile.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    shot(mobile, "overview-phone")
    phone.close()
