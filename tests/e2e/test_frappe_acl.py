"""Under the ACL user Frappe's `bench create-rq-users` makes (keys `~rq:[^q]* ~rq:queues
~rq:queue:{bench_id}:*`, commands `+@all -@admin`), every command either works or says in one line which
permission is missing and the exact rule that grants it; with that rule granted, they all work."""

from __future__ import annotations

import pytest

from bench_jobs.bench.config import update_json
from tests.conftest import BenchFixture, assert_clean_error, make_bench

BENCH_ID = "frappe-bench"
PASSWORD = "s3cret-frappe"
COMMANDS = [
    ("doctor",), ("show-pending-jobs",), ("show-pending-jobs", "--all-sites"), ("workers",), ("scheduler", "status"),
    ("scheduler", "list"), ("enqueue", "testapp.jobs.noop"), ("jobs", "list"), ("jobs", "wait", "--timeout", "0"),
    ("ready-for-migration",), ("metrics",), ("error-log", "list"), ("worker", "--burst", "--queue", "default"),
]


def frappe_user(client, bench_id: str) -> None:
    """Exactly what Frappe's RedisQueue.gen_acl_list / create-rq-users grants the bench user."""
    client.execute_command("ACL", "SETUSER", bench_id, "on", f">{PASSWORD}", "resetkeys", "~rq:[^q]*", "~rq:queues",
                           f"~rq:queue:{bench_id}:*", "+@all", "-@admin")


@pytest.fixture
def frappe_bench(tmp_path, redis_factory) -> BenchFixture:
    server = redis_factory()
    frappe_user(server.client(), BENCH_ID)
    bench = make_bench(tmp_path / "bench", server)
    update_json(bench.common_config_file, {"bench_id": BENCH_ID, "use_rq_auth": True, "rq_username": BENCH_ID,
                                           "rq_password": PASSWORD})
    bench.reload()
    return BenchFixture(bench, server)


@pytest.mark.slow
def test_every_command_names_the_missing_rule_then_works_once_granted(frappe_bench):
    rule = f"~bj:{BENCH_ID}:*"
    for args in COMMANDS:
        result = frappe_bench.run("--site", frappe_bench.site, *args, timeout=60)
        if result.returncode == 0:
            continue  # needs nothing beyond Frappe's rules
        assert_clean_error(result, f"Redis user '{BENCH_ID}' may not use the keys bj:{BENCH_ID}:*",
                           f"ACL SETUSER {BENCH_ID} '{rule}'", code=1)
        assert len(result.stderr.strip().splitlines()) <= 2, result.stderr
        assert PASSWORD not in result.stderr + result.stdout

    frappe_bench.client().execute_command("ACL", "SETUSER", BENCH_ID, rule)
    for args in COMMANDS:
        result = frappe_bench.run("--site", frappe_bench.site, *args, timeout=120)
        output = result.stdout + result.stderr
        assert "Traceback" not in output and "permission" not in output.lower(), (args, output)
        if args[0] in ("doctor", "jobs", "ready-for-migration"):
            continue  # their exit status reports health / pending work, not permissions
        assert result.returncode == 0, (args, output)


def test_a_refused_command_is_named_with_its_rule(frappe_bench):
    """A command outside `+@all -@admin` (e.g. CONFIG) is named, with the rule that grants it."""
    from bench_jobs.bench.connection import connect, permission_denied

    client = connect(frappe_bench.bench)
    with pytest.raises(Exception) as caught:
        client.config_get("save")
    denied = permission_denied(caught.value, frappe_bench.bench)
    assert denied.message == f"Redis user '{BENCH_ID}' may not run CONFIG GET (permission denied by its ACL)"
    assert denied.rule == "+config|get"


@pytest.mark.slow
def test_start_refuses_once_before_any_child_starts(frappe_bench):
    """`start` and `worker --num-workers N` check the rule first: one line, no children failing in a loop."""
    for args in (("start", "--no-web"), ("worker", "--num-workers", "2")):
        result = frappe_bench.run("--site", frappe_bench.site, *args, timeout=60)
        assert_clean_error(result, f"Redis user '{BENCH_ID}' may not use the keys bj:{BENCH_ID}:*", code=1)
        assert "exited with code" not in result.stdout + result.stderr
