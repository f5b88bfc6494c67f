"""/api/method and /api/resource against a running `bench-jobs serve` (real Redis, real workers)."""

from __future__ import annotations

import json
import os
import stat

import pytest

from bench_jobs.jobs.keys import Keys
from tests.conftest import assert_clean_error
from tests.waiting import wait_for
from tests.web_helpers import WebServer, api_key
from tests.worker_helpers import add_job, wait_status

SEED = "testapp.web_jobs.start_background_job"


def _queued(bench, site: str = "site1.test") -> int:
    client, keys = bench.client(), Keys(bench.bench.bench_id)
    return sum((client.llen if state == "queued" else client.zcard)(keys.index(state, queue, site))
               for state in ("queued", "started", "finished", "failed") for queue in bench.bench.queue_names())


def test_the_seeds_whitelisted_method_starts_a_job_that_a_worker_runs(bench, web, workers):
    token = api_key(bench)
    answer = web.request("POST", f"/api/method/{SEED}", json_body={"doc_name": "DOC-001"}, token=token)
    assert answer.status == 200, answer.text
    assert answer.json == {"message": "任务已加入队列"}
    rows = web.request("GET", "/api/resource/RQ Job", token=token,
                       params={"fields": '["name", "job_name", "status", "arguments"]'}).json["data"]
    assert [(r["job_name"], r["arguments"]) for r in rows] == [("testapp.web_jobs.long_running_task",
                                                                {"doc_name": "DOC-001"})]
    workers.start("--queue", "default", "--burst")
    job = wait_status(bench.client(), rows[0]["name"], "finished")
    assert "processed DOC-001 on site1.test" in job["bj_result"]


def test_arguments_come_from_query_form_and_json(bench, web):
    token = api_key(bench)
    assert web.request("POST", "/api/method/testapp.web_jobs.add", params={"a": 1, "b": 2}, token=token).json \
        == {"message": 3}
    assert web.request("POST", "/api/method/testapp.web_jobs.add", data={"a": 2, "b": 3}, token=token).json \
        == {"message": 5}
    assert web.request("POST", "/api/method/testapp.web_jobs.add", json_body={"a": 3, "b": 4},
                       token=token).json == {"message": 7}
    assert web.request("POST", "/api/method/testapp.web_jobs.nothing", token=token).json == {}  # as Frappe


def test_a_method_that_fails_sends_nothing_it_enqueued_after_commit(bench, web):
    token = api_key(bench)
    answer = web.request("POST", "/api/method/testapp.web_jobs.start_then_fail", json_body={"doc_name": "X"},
                         token=token)
    assert answer.status == 500
    assert answer.json["exc_type"] == "ValueError" and "cannot process X" in answer.json["exception"]
    assert "exc" not in answer.json and "Traceback" not in answer.text
    assert _queued(bench) == 0
    errors = bench.cli("error-log", "list", "--format", "json")
    assert "/api/method/testapp.web_jobs.start_then_fail" in errors.stdout

    bench.set_config(site="site1.test", developer_mode=1)
    answer = web.request("POST", "/api/method/testapp.web_jobs.start_then_fail", json_body={"doc_name": "X"},
                         token=token)
    assert answer.status == 500 and "Traceback" in answer.json["exc"]


@pytest.mark.parametrize(("method", "http", "status", "exc_type"), [
    ("testapp.web_jobs.not_whitelisted", "POST", 403, "PermissionError"),
    ("testapp.web_jobs.no_such_function", "POST", 404, "DoesNotExistError"),
    ("testapp.no_such_module.f", "POST", 404, "DoesNotExistError"),
    ("os.system", "POST", 403, "PermissionError"),
    ("bench_jobs.bench.config.write_atomic", "POST", 403, "PermissionError"),
    ("testapp.web_jobs.add", "GET", 403, "PermissionError"),  # methods=["POST"]
])
def test_refusals_have_frappes_status_and_type(bench, web, method, http, status, exc_type):
    answer = web.request(http, f"/api/method/{method}", params={"a": 1, "b": 2}, token=api_key(bench))
    assert (answer.status, answer.json["exc_type"]) == (status, exc_type), answer.text
    assert "Traceback" not in answer.text


def test_guests_and_credentials(bench, web):
    assert web.request("GET", "/api/method/testapp.web_jobs.ping").json == {"message": "pong"}
    assert web.request("POST", "/api/method/testapp.web_jobs.ping").status == 403
    answer = web.request("POST", f"/api/method/{SEED}", json_body={"doc_name": "D"})
    assert (answer.status, answer.json["exc_type"]) == (401, "AuthenticationError")
    token = api_key(bench)
    key = token.split(":")[0]
    for bad in (f"{key}:wrong", "nokey:nosecret", "garbage"):
        assert web.request("POST", f"/api/method/{SEED}", json_body={"doc_name": "D"}, token=bad).status == 401
    # A key belongs to its site: on site2 it is not a credential.
    answer = web.request("POST", f"/api/method/{SEED}", json_body={"doc_name": "D"}, token=token,
                         headers={"X-Frappe-Site-Name": "site2.test"})
    assert answer.status == 401
    assert web.request("POST", "/api/method/testapp.web_jobs.add", json_body={"a": 1}, token=token).status == 417
    assert web.request("POST", "/api/method/testapp.web_jobs.add", json_body={"a": 1, "b": 2, "c": 3},
                       token=token).status == 417
    assert _queued(bench) == 0


def test_a_body_past_16_mib_is_refused_before_it_is_read(bench, web):
    import urllib.error

    try:
        answer = web.request("POST", f"/api/method/{SEED}", json_body={"doc_name": "x" * (17 * 1024 * 1024)},
                             token=api_key(bench))
        assert answer.status == 413
    except (ConnectionError, urllib.error.URLError):
        pass  # the server may close before the client has sent it all: refused all the same
    assert _queued(bench) == 0


def test_the_site_comes_from_the_header_or_the_host(bench, web, workers):
    token2 = api_key(bench, site="site2.test")
    answer = web.request("POST", f"/api/method/{SEED}", json_body={"doc_name": "D2"}, token=token2,
                         headers={"Host": "site2.test"})
    assert answer.status == 200, answer.text
    assert _queued(bench, "site2.test") == 1 and _queued(bench, "site1.test") == 0
    answer = web.request("GET", "/api/method/testapp.web_jobs.ping", headers={"X-Frappe-Site-Name": "nosuch"})
    assert answer.status == 404


def test_api_keys_are_stored_hashed_and_can_be_revoked(bench, web):
    token = api_key(bench, role="read")
    key, secret = token.split(":")
    path = bench.path / "sites" / "site1.test" / "api_keys.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert secret not in path.read_text()
    listed = bench.run("--site", "site1.test", "api-key", "list", "--format", "json")
    assert key in listed.stdout and secret not in listed.stdout and '"read"' in listed.stdout
    assert web.request("GET", "/api/resource/RQ Job", token=token).status == 200
    # A read key looks; it does not call methods (they may change things).
    answer = web.request("POST", f"/api/method/{SEED}", json_body={"doc_name": "D"}, token=token)
    assert (answer.status, answer.json["exc_type"]) == (403, "PermissionError") and _queued(bench) == 0
    assert web.request("GET", "/api/method/testapp.web_jobs.ping", token=token).json == {"message": "pong"}
    assert web.request("GET", "/", token=token).status == 200  # the dashboard reads with the header too
    assert bench.run("--site", "site1.test", "api-key", "revoke", key).returncode == 0
    assert web.request("GET", "/api/resource/RQ Job", token=token).status == 401
    assert_clean_error(bench.cli("api-key", "revoke", key), "no API key")


def test_listening_beyond_loopback_needs_a_key(bench):
    result = bench.run("--site", "site1.test", "serve", "--host", "0.0.0.0", "--port", "1")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "no API key is configured" in result.stderr and len(result.stderr.strip().splitlines()) <= 2


def test_a_port_in_use_or_a_bad_host_is_one_clean_line(bench, web):
    api_key(bench)  # so a host beyond loopback is allowed at all
    for args, fragment in ((["--port", str(web.port)], f"cannot listen on 127.0.0.1:{web.port}"),
                           (["--host", "no-such-host.invalid", "--port", "0"], "cannot listen on no-such-host")):
        result = bench.run("--site", "site1.test", "serve", *args)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert fragment in result.stderr and len(result.stderr.strip().splitlines()) <= 2


def test_resource_lists_filter_page_and_stay_in_the_site(bench, web):
    client, bid = bench.client(), bench.bench.bench_id
    ids = [add_job(client, bid, "site1.test", "testapp.jobs.add", {"a": i, "b": 1}) for i in range(7)]
    add_job(client, bid, "site1.test", "testapp.jobs.noop", queue="long")
    other = add_job(client, bid, "site2.test", "testapp.jobs.add", {"a": 0, "b": 0})
    token = api_key(bench)

    def rows(**params):
        answer = web.request("GET", "/api/resource/RQ Job", params=params, token=token)
        assert answer.status == 200, answer.text
        return answer.json["data"]

    assert [r["name"] for r in rows(filters='{"queue": "default"}', limit_page_length=3)] == ids[:3]
    assert [r["name"] for r in rows(filters='[["queue", "=", "default"]]', limit_start=3,
                                    limit_page_length=3)] == ids[3:6]
    assert [r["name"] for r in rows(filters='{"queue": "default"}', order_by="creation desc",
                                    limit_page_length=2)] == ids[:-3:-1]
    assert len(rows(limit_page_length=100)) == 8 and other not in {r["name"] for r in rows(limit_page_length=100)}
    assert rows(filters='[["job_name", "like", "%noop"]]', fields='["name", "queue"]') == [
        {"name": rows(filters='{"queue": "long"}')[0]["name"], "queue": "long"}]
    assert rows(filters='{"status": "failed"}') == []
    assert [r["name"] for r in rows(filters='[["job_name", "like", "testapp.jobs.a%"]]', limit_start=2,
                                    limit_page_length=3)] == ids[2:5]
    doc = web.request("GET", f"/api/resource/RQ Job/{ids[0]}", token=token).json["data"]
    assert doc["kwargs"] == {"a": 0, "b": 1} and doc["status"] == "queued"
    assert web.request("GET", f"/api/resource/RQ Job/{other}", token=token).status == 404
    bad = web.request("GET", "/api/resource/RQ Job", params={"filters": '{"kwargs": 1}'}, token=token)
    assert bad.status == 417 and "cannot filter" in bad.json["exception"]
    assert web.request("GET", "/api/resource/RQ Job").status == 401
    assert web.request("GET", "/api/resource/Nope", token=token).status == 404


def test_rq_worker_resource(bench, web, workers):
    workers.start("--queue", "default")
    token = api_key(bench)
    rows = wait_for(lambda: web.request("GET", "/api/resource/RQ Worker", params={"fields": '["*"]'},
                                        token=token).json["data"], what="a worker row")
    assert rows[0]["queues"] == ["default"]
    one = web.request("GET", f"/api/resource/RQ Worker/{rows[0]['name']}", token=token)
    assert one.status == 200 and one.json["data"]["name"] == rows[0]["name"]


def test_get_all_in_python(bench):
    import bench_jobs
    from bench_jobs.bench.context import reset_clients

    client, bid = bench.client(), bench.bench.bench_id
    first = add_job(client, bid, "site1.test", "testapp.jobs.add", {"a": 1, "b": 2})
    add_job(client, bid, "site2.test", "testapp.jobs.add", {"a": 1, "b": 2})
    reset_clients()
    bench_jobs.init("site1.test", str(bench.path))
    assert bench_jobs.get_all("RQ Job", filters={"status": "queued"}, fields=["name", "status"]) == [
        {"name": first, "status": "queued"}]
    assert bench_jobs.get_all("RQ Job", filters={"status": ["in", ["failed"]]}) == []


def test_api_key_commands_without_a_site_or_with_an_unknown_one_are_clean_errors(bench):
    assert_clean_error(bench.cli("api-key", "create", site=None), "no site selected")
    assert_clean_error(bench.cli("api-key", "list", site="nosuch.test"), "nosuch.test")
    listed = bench.cli("api-key", "list")
    assert listed.exit_code == 0 and "has no API keys" in listed.stdout
    created = bench.cli("api-key", "create", "--role", "read", "--label", "grafana", "--format", "json")
    doc = json.loads(created.stdout)
    assert doc["role"] == "read" and ":" not in doc["key"] and len(doc["secret"]) >= 24
    table = bench.cli("api-key", "list").stdout
    assert doc["key"] in table and "grafana" in table and doc["secret"] not in table
    # --site after the subcommand works too (and wins over the global one)
    other = bench.cli("api-key", "list", "--site", "site2.test", "--format", "json", site=None)
    assert other.exit_code == 0 and json.loads(other.stdout)["keys"] == [] and "site2.test" in other.stdout
    assert_clean_error(bench.cli("api-key", "revoke", doc["key"], "--site", "nosuch.test"), "nosuch.test")


def test_the_production_server_runs_two_gunicorn_processes(bench, tmp_path, workers):
    import subprocess

    server = WebServer(bench, tmp_path, "--processes", "2")
    try:
        def children() -> list[str]:
            found = subprocess.run(["pgrep", "-P", str(server.proc.pid)], capture_output=True, text=True)
            return found.stdout.split()

        wait_for(lambda: len(children()) == 2, what="two gunicorn workers")  # the second may still boot
        token = api_key(bench)
        for n in range(6):  # spread over both processes; each checks the key and enqueues
            answer = server.request("POST", f"/api/method/{SEED}", json_body={"doc_name": f"D{n}"}, token=token)
            assert answer.status == 200 and answer.headers["Server"].startswith("gunicorn"), answer.text
        assert _queued(bench) == 6
    finally:
        server.stop()
    assert server.proc.returncode == 0  # SIGTERM: a graceful stop


def test_start_runs_the_web_server_beside_workers_and_scheduler(bench):
    from bench_jobs.cli.context import Context
    from bench_jobs.cli.start import children

    names = dict(children(Context(str(bench.path)), workers=True, scheduler=True, web=True))
    assert names["web"][-1] == "serve" and "scheduler" in names and "worker.default" in names
    assert "web" not in dict(children(Context(str(bench.path)), workers=True, scheduler=True))
