"""Frappe's command names over bench-jobs' core: enable-scheduler, disable-scheduler,
trigger-scheduler-event, set-maintenance-mode, worker -u/-p, worker-pool, execute --args/--kwargs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import BenchFixture, assert_clean_error, make_bench, read_json_file
from tests.sched_helpers import make_app


def json_documents(text: str) -> list:
    """Each JSON document printed one after the other (one per site with `--site all`)."""
    decoder, docs, at = json.JSONDecoder(), [], 0
    while text[at:].strip():
        while text[at].isspace():
            at += 1
        doc, at = decoder.raw_decode(text, at)
        docs.append(doc)
    return docs


def site_config(bench: BenchFixture, site: str) -> dict:
    return read_json_file(bench.bench.site_config_file(site))


def test_enable_and_disable_scheduler_per_site_and_for_all(bench: BenchFixture) -> None:
    result = bench.run("--site", "all", "disable-scheduler")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["Disabled for site1.test", "Disabled for site2.test"]
    assert site_config(bench, "site2.test")["enable_scheduler"] == 0
    result = bench.run("--site", "site1.test", "enable-scheduler")
    assert result.stdout.strip() == "Enabled for site1.test"
    states = json.loads(bench.run("--site", "all", "scheduler", "status", "--format", "json").stdout)["states"]
    assert {s["site"]: s["state"] for s in states} == {"site1.test": "active", "site2.test": "disabled"}


def test_without_a_site_they_exit_1_as_frappe_does(bench: BenchFixture) -> None:
    for command in ("enable-scheduler", "disable-scheduler"):
        assert_clean_error(bench.run(command), "no site selected")


def test_enable_scheduler_writes_the_database_when_the_site_has_one(mariadb, bench: BenchFixture) -> None:
    bench.set_config("site1.test", **mariadb.create_site_db("_frappe_cmds", "pw", enable_scheduler="0"))
    assert bench.run("--site", "site1.test", "enable-scheduler").returncode == 0
    assert mariadb.single("_frappe_cmds", "enable_scheduler") == "1"
    assert bench.run("--site", "site1.test", "disable-scheduler").returncode == 0
    assert mariadb.single("_frappe_cmds", "enable_scheduler") == "0"


def test_trigger_scheduler_event_runs_it_now_and_exits_1_when_unknown_or_failing(bench: BenchFixture,
                                                                                tmp_path: Path) -> None:
    make_app(tmp_path, bench.bench, {"daily": ["testapp.jobs.fail"]})
    result = bench.run("--site", "site1.test", "trigger-scheduler-event", "testapp.jobs.noop")
    assert result.returncode == 0, result.stderr
    assert "testapp.jobs.noop ran for site1.test" in result.stdout
    client = bench.client()  # run here, not enqueued (the session's Redis is shared: look at this bench's queues)
    assert not any(client.llen(key) for key in client.keys(f"rq:queue:{bench.bench.bench_id}:*"))

    missing = bench.run("--site", "site1.test", "trigger-scheduler-event", "testapp.jobs.nothing")
    assert missing.returncode == 1 and "Event testapp.jobs.nothing does not exist!" in missing.stderr
    assert "Traceback" not in missing.stderr

    failing = bench.run("--site", "site1.test", "trigger-scheduler-event", "testapp.jobs.fail")
    assert failing.returncode == 1
    assert "ValueError: boom" in failing.stderr and "testapp.jobs.fail failed on site1.test" in failing.stderr


def test_set_maintenance_mode_on_and_off(bench: BenchFixture) -> None:
    bench.set_config("site1.test", custom="kept")
    assert bench.run("--site", "site1.test", "set-maintenance-mode", "on").returncode == 0
    assert site_config(bench, "site1.test") == {"custom": "kept", "maintenance_mode": 1}
    states = json.loads(bench.run("--site", "site1.test", "scheduler", "status", "--format", "json").stdout)["states"]
    assert states[0]["state"] == "in maintenance mode"
    assert bench.run("--site", "all", "set-maintenance-mode", "off").returncode == 0
    assert site_config(bench, "site1.test")["maintenance_mode"] == 0
    assert site_config(bench, "site2.test")["maintenance_mode"] == 0
    assert_clean_error(bench.run("--site", "site1.test", "set-maintenance-mode", "maybe"), "maybe", code=2)


def test_worker_connects_as_the_user_given_with_u_and_p(tmp_path: Path, redis_factory) -> None:
    server = redis_factory()
    fx = BenchFixture(make_bench(tmp_path / "bench", server), server)
    for _ in range(3):
        assert fx.run("--site", "site1.test", "enqueue", "testapp.jobs.noop").returncode == 0
    admin = server.client()
    admin.execute_command("ACL", "SETUSER", "jobs-user", "on", ">s3cret", "~*", "&*", "+@all")
    admin.execute_command("ACL", "SETUSER", "default", "off")  # from now on only jobs-user gets in

    refused = fx.run("worker", "--burst", "--quiet")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr

    wrong = fx.run("worker", "--burst", "--quiet", "-u", "jobs-user", "-p", "nope")
    assert wrong.returncode == 1 and "Traceback" not in wrong.stderr

    done = fx.run("worker", "--burst", "--quiet", "--rq-username", "jobs-user",
                  env={"BENCH_JOBS_RQ_PASSWORD": "s3cret"})  # -p from the environment: not in `ps`
    assert done.returncode == 0, done.stderr
    user = server.client(username="jobs-user", password="s3cret")
    assert user.llen(f"rq:queue:{fx.bench.bench_id}:default") == 0
    assert len(user.keys("rq:job:*")) == 3


def test_worker_pool_runs_num_workers_processes(bench: BenchFixture) -> None:
    for _ in range(6):
        assert bench.run("--site", "site1.test", "enqueue", "testapp.jobs.sleep", "--kwargs", '{"seconds": 0.2}',
                         "--queue", "short").returncode == 0
    result = bench.run("worker-pool", "--queue", "short", "--num-workers", "2", "--burst", timeout=120)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "worker.1" in output and "worker.2" in output
    assert bench.client().llen(f"rq:queue:{bench.bench.bench_id}:short") == 0


def test_execute_takes_args_and_kwargs_as_frappe_does(bench: BenchFixture) -> None:
    def execute(*args: str, site: str = "site1.test") -> subprocess.CompletedProcess:
        return bench.run("--site", site, "execute", *args)

    assert json.loads(execute("testapp.jobs.add", "--args", "[20, 22]").stdout) == 42
    assert json.loads(execute("testapp.jobs.add", "--args", "(20,)", "--kwargs", "{'b': 22}").stdout) == 42
    assert json.loads(execute("testapp.jobs.add", "--kwargs", '{"a": 1, "b": 2}').stdout) == 3
    failed = execute("testapp.jobs.fail", "--args", "kaput")
    assert failed.returncode == 1 and "ValueError: kaput" in failed.stderr  # a bare word is one string
    everywhere = execute("testapp.jobs.whoami", site="all")
    assert [doc["site"] for doc in json_documents(everywhere.stdout)] == ["site1.test", "site2.test"]

    assert_clean_error(execute("testapp.jobs.add", "--args", "[1, 2, 3]"), "takes at most 2 argument(s)")
    assert_clean_error(execute("testapp.jobs.add", "--args", "[1]", "--kwargs", "{'a': 2}"),
                       "a given in --args and in --kwargs")
    assert_clean_error(execute("testapp.jobs.add", "--kwargs", "[1]"), "--kwargs must be an object")
    assert_clean_error(execute("testapp.jobs.add", "--kwargs", "__import__('os')"), "--kwargs is not valid JSON")
