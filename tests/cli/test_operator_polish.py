"""What a new operator tripped over (issue 9, item 9): each one through the CLI against real Redis."""

from __future__ import annotations

import pytest

from bench_jobs.jobs.keys import Keys, job_key
from tests.conftest import BenchFixture, assert_clean_error
from tests.worker_helpers import put_job


def queued(bench: BenchFixture) -> int:
    return bench.client().llen(Keys(bench.bench.bench_id).queue("default"))


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ('{"a": 1}', "missing a required argument: 'b'"),
    ('{"a": 1, "b": 2, "c": 3}', "got an unexpected keyword argument 'c'"),
])
def test_kwargs_are_checked_against_the_signature_at_enqueue(bench: BenchFixture, kwargs: str, fragment: str) -> None:
    result = bench.cli("enqueue", "testapp.jobs.add", "--kwargs", kwargs)
    assert_clean_error(result, "testapp.jobs.add(a, b) does not take these arguments", fragment,
                       "(it takes: a, b)")
    assert len(result.stderr.strip().splitlines()) == 2
    assert queued(bench) == 0


def test_a_repeated_kwargs_is_a_usage_error(bench: BenchFixture) -> None:
    result = bench.cli("enqueue", "testapp.jobs.add", "--kwargs", '{"a": 1}', "--kwargs", '{"b": 2}')
    assert_clean_error(result, "--kwargs given 2 times; put all arguments in one JSON object", code=2)
    assert queued(bench) == 0


def test_at_in_the_past_says_it_runs_now(bench: BenchFixture) -> None:
    result = bench.cli("enqueue", "testapp.jobs.noop", "--at", "2020-01-01T00:00:00+00:00")
    assert result.exit_code == 0, result.output
    assert "--at 2020-01-01T00:00:00+00:00 is in the past: the job runs now" in result.stderr
    future = bench.cli("enqueue", "testapp.jobs.noop", "--in", "1h")
    assert "scheduled for" in future.stderr and "in the past" not in future.stderr


def test_attempts_never_show_more_than_planned(bench: BenchFixture) -> None:
    """A job re-run past retry + 1 (here: two earlier runs recovered) is logged as attempt 3, not 3/2."""
    client = bench.client()
    job_id = put_job(client, bench.bench.bench_id, bench.site, "testapp.jobs.fail", {"message": "still broken"},
                     retry=1)
    client.hset(job_key(job_id), "bj_attempts", 2)
    done = bench.run("worker", "--burst", "--no-fork", timeout=120)
    assert done.returncode == 0, done.stderr
    log = (bench.path / "logs" / "worker.log").read_text()
    line = next(line for line in log.splitlines() if job_id in line and "event=failed" in line)
    assert "attempt 3 (retry=1 planned 2" in line and "3/2" not in line
