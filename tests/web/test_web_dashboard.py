"""The dashboard over HTTP: pages, escaping, login, roles, CSRF, confirmation, the live JSON."""

from __future__ import annotations

import json
import re

from tests.web_helpers import Browser, WebServer, api_key
from tests.worker_helpers import WorkerProcs, add_job, job, wait_status

XSS = "<script>alert('x')</script>"


def _failed_job(bench, tmp_path, site: str = "site1.test") -> str:
    client = bench.client()
    job_id = add_job(client, bench.bench.bench_id, site, "testapp.jobs.fail", {"message": XSS})
    procs = WorkerProcs(bench, tmp_path)
    try:
        procs.start("--queue", "default", "--burst").wait(60)
    finally:
        procs.stop_all()
    wait_status(client, job_id, "failed")
    return job_id


def test_every_page_renders_and_escapes_job_values(bench, web, tmp_path):
    failed = _failed_job(bench, tmp_path)
    queued = add_job(bench.client(), bench.bench.bench_id, "site1.test", "testapp.jobs.add",
                     {"a": XSS, "b": "<img src=x onerror=alert(1)>"})
    browser = Browser(web)
    pages = ["/", "/jobs", f"/jobs/{failed}", f"/jobs/{queued}", "/jobs?status=failed", "/workers", "/scheduler",
             "/errors", "/jobs?site=site1.test&queue=default&status=queued&method=testapp.*"]
    for page in pages:
        answer = browser.get(page)
        assert answer.status == 200, (page, answer.text[:500])
        assert "<script>alert" not in answer.text and "<img src=x" not in answer.text, page
        assert "script-src 'self'" in answer.headers["Content-Security-Policy"]
    detail = browser.get(f"/jobs/{failed}").text
    assert "&lt;script&gt;alert(" in detail and "ValueError: &lt;script&gt;" in detail  # traceback as text
    listing = browser.get("/jobs?status=queued").text
    assert queued in listing and "&lt;img src=x" in listing
    errors = browser.get("/errors").text
    entry = re.search(r'href="/errors/site1.test/([0-9-]+)"', errors)
    assert entry, errors[-2000:]
    assert browser.get(f"/errors/site1.test/{entry[1]}").status == 200


def test_live_json_follows_the_state(bench, web):
    browser = Browser(web)
    job_id = add_job(bench.client(), bench.bench.bench_id, "site1.test", "testapp.jobs.add", {"a": 1, "b": 2})
    overview = browser.get("/live?what=overview").json
    row = next(r for r in overview["rows"] if r["site"] == "site1.test" and r["queue"] == "default")
    assert row["queued"] == 1 and len(overview["hour"]) == 60 and len(overview["day"]) == 24
    assert browser.get(f"/live?what=job&id={job_id}").json["job"]["status"] == "queued"
    jobs = browser.get("/live?what=jobs&site=site1.test&status=queued").json
    assert [r["id"] for r in jobs["rows"]] == [job_id] and jobs["total"] == 1


def test_with_keys_the_dashboard_asks_for_a_login(bench, web):
    token = api_key(bench, role="read")
    browser = Browser(web)
    answer = browser.get("/jobs")
    assert answer.status == 302 and answer.headers["Location"].startswith("/login")
    assert browser.get("/live").status == 401
    assert browser.post("/login", {"key": token.split(":")[0], "secret": "wrong"}).status == 401
    browser.login(token)
    assert browser.get("/jobs").status == 200
    assert "read-only" not in browser.get("/").text and "site1.test · read" in browser.get("/").text


def test_a_read_only_key_sees_everything_and_changes_nothing(bench, web, tmp_path):
    failed = _failed_job(bench, tmp_path)
    browser = Browser(web)
    browser.login(api_key(bench, role="read"))
    page = browser.get(f"/jobs/{failed}").text
    assert failed in page and 'action="/actions/retry"' not in page
    answer = browser.post("/actions/retry", {"job_id": failed, "csrf_token": browser.cookie("bj_csrf"),
                                             "confirmed": "1"})
    assert answer.status == 403
    assert job(bench.client(), failed)["status"] == "failed"


def test_admin_actions_need_csrf_and_confirmation(bench, web, tmp_path):
    failed = _failed_job(bench, tmp_path)
    browser = Browser(web)
    browser.login(api_key(bench, role="admin"))
    assert 'action="/actions/retry"' in browser.get(f"/jobs/{failed}").text
    assert browser.post("/actions/retry", {"job_id": failed, "confirmed": "1"}).status == 403  # no token
    assert browser.post("/actions/retry", {"job_id": failed, "confirmed": "1", "csrf_token": "forged"}).status == 403
    csrf = browser.cookie("bj_csrf")
    confirm = browser.post("/actions/retry", {"job_id": failed, "csrf_token": csrf})
    assert confirm.status == 200 and "Retry job" in confirm.text
    assert job(bench.client(), failed)["status"] == "failed"  # asked, not done
    done = browser.post("/actions/retry", {"job_id": failed, "csrf_token": csrf, "confirmed": "1"})
    assert done.status == 303 and "done=retried" in done.headers["Location"]
    assert job(bench.client(), failed)["status"] == "queued"
    # cancel, then delete; purge a queue; pause and resume the scheduler
    assert browser.post("/actions/cancel", {"job_id": failed, "csrf_token": csrf, "confirmed": "1"}).status == 303
    assert job(bench.client(), failed)["status"] == "canceled"
    assert browser.post("/actions/delete", {"job_id": failed, "csrf_token": csrf, "confirmed": "1"}).status == 303
    assert not bench.client().exists(f"rq:job:{failed}")
    for i in range(3):
        add_job(bench.client(), bench.bench.bench_id, "site1.test", "testapp.jobs.add", {"a": i, "b": 0})
    purge = browser.post("/actions/purge", {"site": "site1.test", "queue": "default", "csrf_token": csrf,
                                            "confirmed": "1"})
    assert purge.status == 303 and "purged+3" in purge.headers["Location"]
    assert browser.post("/actions/pause", {"site": "site1.test", "csrf_token": csrf, "confirmed": "1"}).status == 303
    assert json.loads((bench.path / "sites" / "site1.test" / "site_config.json").read_text())["pause_scheduler"] == 1
    assert browser.post("/actions/resume", {"site": "site1.test", "csrf_token": csrf, "confirmed": "1"}).status \
        == 303
    assert "paused" not in browser.get("/scheduler").text.split("<h2>Events")[0]


def test_an_admin_of_one_site_cannot_touch_another_sites_jobs(bench, web, tmp_path):
    other = _failed_job(bench, tmp_path, site="site2.test")
    browser = Browser(web)
    browser.login(api_key(bench, role="admin", site="site1.test"))
    answer = browser.post("/actions/retry", {"job_id": other, "csrf_token": browser.cookie("bj_csrf"),
                                             "confirmed": "1"})
    assert answer.status == 403
    assert job(bench.client(), other)["status"] == "failed"


def test_a_page_calls_whitelisted_methods_with_the_session_and_its_csrf_token(bench, web):
    browser = Browser(web)
    browser.login(api_key(bench, role="admin"))
    path = "/api/method/testapp.web_jobs.start_background_job"
    assert browser.request("POST", path, json_body={"doc_name": "D"}).status == 403  # cookie alone: no
    answer = browser.request("POST", path, json_body={"doc_name": "D"},
                             headers={"X-Frappe-CSRF-Token": browser.cookie("bj_csrf")})
    assert answer.status == 200 and answer.json == {"message": "任务已加入队列"}
    page = browser.get("/start-job")
    assert page.status == 200 and "/assets/bench_jobs/call.js" in page.text
    assert browser.get("/assets/bench_jobs/call.js").status == 200


def test_redis_down_is_a_503_not_a_traceback(bench, tmp_path, redis_factory):
    from bench_jobs.bench.config import update_json

    own = redis_factory()
    update_json(bench.bench.common_config_file, {"redis_queue": own.url})
    server = WebServer(bench, tmp_path)
    try:
        token = api_key(bench)
        browser = Browser(server)
        browser.login(token)
        assert browser.get("/").status == 200
        own.kill()
        page = browser.get("/")
        assert page.status == 503 and "Traceback" not in page.text and "Redis" in page.text
        answer = server.request("POST", "/api/method/testapp.web_jobs.start_background_job",
                                json_body={"doc_name": "D"}, token=token)
        assert answer.status == 503 and answer.json["exc_type"] == "RedisUnavailable", answer.text
        listing = server.request("GET", "/api/resource/RQ Job", token=token)
        assert listing.status == 503 and "Traceback" not in listing.text
    finally:
        server.stop()


def test_the_chart_can_show_one_site(bench, web, tmp_path):
    _failed_job(bench, tmp_path, site="site2.test")
    browser = Browser(web)
    everything = browser.get("/live?what=overview").json
    assert sum(r["failed"] for r in everything["hour"]) == 1
    assert sum(r["failed"] for r in browser.get("/live?what=overview&site=site1.test").json["hour"]) == 0
    assert browser.get("/live?what=overview&site=site2.test").json["last_hour"]["failed"] == 1
    page = browser.get("/?site=site2.test").text
    assert "<option selected>site2.test</option>" in page


def test_the_jobs_page_lists_all_sites_merged_or_one(bench, web):
    client, bid = bench.client(), bench.bench.bench_id
    ids = [add_job(client, bid, site, "testapp.jobs.add", {"a": i, "b": 0})
           for i in range(4) for site in ("site1.test", "site2.test")]
    browser = Browser(web)
    merged = browser.get("/live?what=jobs&status=queued").json
    assert [r["id"] for r in merged["rows"]] == ids and merged["total"] == 8  # in enqueue order, both sites
    paged = browser.get("/live?what=jobs&status=queued&start=3").json
    assert [r["id"] for r in paged["rows"]] == ids[3:]
    one = browser.get("/live?what=jobs&site=site2.test").json
    assert [r["id"] for r in one["rows"]] == ids[1::2] and {r["site"] for r in one["rows"]} == {"site2.test"}
    page = browser.get("/jobs").text
    assert page.count("<td>site1.test</td>") == 4 and page.count("<td>site2.test</td>") == 4


def test_the_cookie_secret_is_made_once_whole_and_0600(bench):
    import os
    import stat
    from concurrent.futures import ThreadPoolExecutor

    from bench_jobs.web.auth import server_secret

    with ThreadPoolExecutor(8) as pool:
        secrets = set(pool.map(lambda _: server_secret(bench.bench), range(16)))
    assert len(secrets) == 1 and len(secrets.pop()) == 32
    path = bench.path / "config" / "web_secret"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".web_secret")] == []


def test_an_admin_stops_a_running_job(bench, web, tmp_path):
    from tests.worker_helpers import wait_busy

    client = bench.client()
    job_id = add_job(client, bench.bench.bench_id, "site1.test", "testapp.jobs.sleep", {"seconds": 60})
    procs = WorkerProcs(bench, tmp_path)
    try:
        procs.start("--queue", "default")
        wait_busy(client, bench.bench.bench_id, job_id)
        browser = Browser(web)
        browser.login(api_key(bench, role="admin"))
        page = browser.get(f"/jobs/{job_id}").text
        assert 'action="/actions/stop"' in page and 'action="/actions/delete"' not in page
        answer = browser.post("/actions/stop", {"job_id": job_id, "csrf_token": browser.cookie("bj_csrf"),
                                                "confirmed": "1"})
        assert answer.status == 303 and "stop+requested" in answer.headers["Location"]
        wait_status(client, job_id, "stopped")
        assert "stopped" in browser.get(f"/jobs/{job_id}").text
    finally:
        procs.stop_all()
