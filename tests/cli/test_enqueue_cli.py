"""`bench-jobs enqueue` and `execute`: output, exit codes, and every bad input (clean error, nothing enqueued)."""

from __future__ import annotations

import json
import time

import pytest

from bench_jobs.cli.enqueue import parse_at, parse_duration
from bench_jobs.errors import BenchJobsError
from bench_jobs.jobs.keys import Keys
from tests.conftest import assert_clean_error
from tests.enqueue_helpers import bench_keys, job_hash, job_ids


@pytest.fixture
def keys(bench) -> Keys:
    return Keys(bench.bench.bench_id)


def test_enqueue_prints_the_job_id(bench, keys) -> None:
    result = bench.cli("enqueue", "testapp.jobs.add", "--kwargs", '{"a": 1, "b": 2}', "--queue", "short",
                       "--timeout", "30", "--retry", "2")
    assert result.exit_code == 0, result.output
    job_id = result.stdout.strip()
    client = bench.client()
    assert job_ids(client, keys, "short") == [job_id]
    data = job_hash(client, job_id)
    assert data["timeout"] == b"30" and data["bj_retry"] == b"2" and data["bj_site"] == b"site1.test"
    assert json.loads(data["data"])[3] == {"a": 1, "b": 2}


def test_enqueue_job_id_deduplicate_and_conflict(bench, keys) -> None:
    first = bench.cli("enqueue", "testapp.jobs.noop", "--job-id", "nightly", "--deduplicate")
    assert first.exit_code == 0 and first.stdout.strip() == keys.user_job_id("site1.test", "nightly")
    again = bench.cli("enqueue", "testapp.jobs.noop", "--job-id", "nightly", "--deduplicate")
    assert again.exit_code == 0
    assert again.stdout.strip() == keys.user_job_id("site1.test", "nightly")
    assert "already queued or running" in again.stderr
    conflict = bench.cli("enqueue", "testapp.jobs.noop", "--job-id", "nightly")
    assert_clean_error(conflict, f"job '{keys.user_job_id('site1.test', 'nightly')}' is already queued or running",
                       "--deduplicate")
    assert job_ids(bench.client(), keys) == [keys.user_job_id("site1.test", "nightly")]


def test_enqueue_at_front(bench, keys) -> None:
    first = bench.cli("enqueue", "testapp.jobs.noop").stdout.strip()
    front = bench.cli("enqueue", "testapp.jobs.noop", "--at-front").stdout.strip()
    assert job_ids(bench.client(), keys) == [front, first]


def test_enqueue_in_and_at_schedule_the_job(bench, keys) -> None:
    client = bench.client()
    before = time.time()
    job_id = bench.cli("enqueue", "testapp.jobs.noop", "--in", "10m").stdout.strip()
    assert client.zscore(keys.scheduled(), job_id) == pytest.approx(before + 600, abs=5)
    assert job_hash(client, job_id)["status"] == b"scheduled"

    bench.set_config(site="site1.test", time_zone="Asia/Kolkata")
    result = bench.cli("enqueue", "testapp.jobs.noop", "--at", "2099-01-01T05:30")
    assert result.exit_code == 0, result.output
    assert "scheduled for" in result.stderr
    due = client.zscore(keys.scheduled(), result.stdout.strip())
    assert due == parse_at("2099-01-01T00:00+00:00", None)
    assert job_ids(client, keys) == []


def test_duration_and_time_parsing() -> None:
    assert [parse_duration(t) for t in ("30s", "10m", "2h", "1d")] == [30, 600, 7200, 86400]
    with pytest.raises(BenchJobsError, match="not a duration"):
        parse_duration("10 minutes")
    with pytest.raises(BenchJobsError, match="not an ISO time"):
        parse_at("tomorrow", None)


def test_execute_prints_result_as_json(bench, keys) -> None:
    result = bench.cli("execute", "testapp.jobs.add", "--kwargs", '{"a": 20, "b": 22}')
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == 42
    result = bench.cli("execute", "testapp.jobs.whoami", site="site2.test")
    assert json.loads(result.stdout)["site"] == "site2.test"
    assert bench_keys(bench.client(), keys) == []


def test_execute_failing_method_shows_its_traceback_and_exits_1(bench) -> None:
    result = bench.cli("execute", "testapp.jobs.fail", "--kwargs", '{"message": "kaput"}')
    assert result.exit_code == 1
    assert "testapp.jobs.fail raised ValueError: kaput" in result.stderr
    assert 'raise ValueError(message)' in result.stderr  # the job's own traceback, for the operator
    assert result.stdout == ""


BAD_ENQUEUES = [
    (("enqueue", "os.system", "--kwargs", '{"command": "touch /tmp/x"}'), "'os.system' is not in an installed app"),
    (("enqueue", "testapp.jobs.nope"), "has no function or module 'nope'"),
    (("enqueue", "nope.jobs.run"), "'nope.jobs.run' is not in an installed app"),
    (("enqueue", "testapp.jobs.noop", "--queue", "huge"), "unknown queue 'huge' (known queues: short, default, long)"),
    (("enqueue", "testapp.jobs.noop", "--kwargs", "{a: 1}"), "--kwargs is not valid JSON"),
    (("enqueue", "testapp.jobs.noop", "--kwargs", "[1, 2]"), "--kwargs must be a JSON object, not an array"),
    (("enqueue", "testapp.jobs.noop", "--kwargs", "null"), "--kwargs must be a JSON object, not null"),
    # Python's json reads NaN, but it is not JSON: refused at enqueue, naming the argument
    (("enqueue", "testapp.jobs.noop", "--kwargs", '{"ratio": NaN}'), "argument 'ratio' is not JSON-serialisable"),
    (("enqueue", "bench_jobs.bench.config.write_atomic", "--kwargs", '{"path": "/tmp/x", "text": "x"}'),
     "internal to bench_jobs, not a job"),
    (("enqueue", "testapp.jobs.noop", "--in", "soon"), "--in 'soon' is not a duration"),
    (("enqueue", "testapp.jobs.noop", "--at", "noon"), "--at 'noon' is not an ISO time"),
    (("enqueue", "testapp.jobs.noop", "--in", "1m", "--at", "2099-01-01"), "--in and --at both given"),
    (("enqueue", "testapp.jobs.noop", "--deduplicate"), "deduplicate needs a job_id"),
    (("enqueue", "testapp.jobs.noop", "--on-nothing"), "No such option"),
    (("execute", "os.system", "--kwargs", '{"command": "true"}'), "'os.system' is not in an installed app"),
    (("execute", "testapp.jobs.noop", "--kwargs", "nope"), "--kwargs is not valid JSON"),
]


@pytest.mark.parametrize(("args", "message"), BAD_ENQUEUES, ids=[a[1] + " " + " ".join(a[2:]) for a, _ in BAD_ENQUEUES])
def test_bad_input_is_one_clean_error_and_nothing_enqueued(bench, keys, args, message) -> None:
    result = bench.cli(*args)
    assert_clean_error(result, message, code=2 if "No such option" in message else 1)
    assert bench_keys(bench.client(), keys) == []


def test_unknown_site_and_no_site(bench, keys) -> None:
    assert_clean_error(bench.cli("enqueue", "testapp.jobs.noop", site="nosite.test"),
                       "site 'nosite.test' does not exist")
    assert_clean_error(bench.cli("enqueue", "testapp.jobs.noop", site=None, env={"BENCH_SITE": None}),
                       "no site selected")
    assert bench_keys(bench.client(), keys) == []


@pytest.mark.parametrize("when", [("--at", "2099-01-01T10:00"), ("--in", "10m")])
def test_bad_time_zone_is_a_config_error(bench, keys, when) -> None:
    bench.set_config(site="site1.test", time_zone="Mars/Olympus")
    assert_clean_error(bench.cli("enqueue", "testapp.jobs.noop", *when), "time_zone 'Mars/Olympus'")
    assert bench_keys(bench.client(), keys) == []  # checked before anything is sent


def test_redis_down_clean_error_in_a_real_process(bench, redis_factory) -> None:
    server = redis_factory()
    bench.set_config(redis_queue=server.url)
    server.stop()
    result = bench.run("--site", "site1.test", "enqueue", "testapp.jobs.noop")
    assert_clean_error(result, "is not reachable", "bench-jobs redis start")


def test_help_has_examples(bench) -> None:
    for command in ("enqueue", "execute"):
        result = bench.cli(command, "--help")
        assert result.exit_code == 0 and "Example" in result.stdout
