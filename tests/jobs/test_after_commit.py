"""enqueue_after_commit: held by the unit of work, sent on commit, dropped on rollback or failure."""

from __future__ import annotations

import threading

import pytest

from bench_jobs.jobs.enqueue import enqueue, get_job, unit_of_work
from tests.enqueue_helpers import bench_keys, job_ids


def test_outside_a_unit_after_commit_sends_at_once(bench, keys) -> None:
    job_id = enqueue("testapp.jobs.noop", enqueue_after_commit=True)
    assert job_ids(bench.client(), keys) == [job_id]


def test_commit_sends_held_jobs_in_order(bench, keys) -> None:
    client = bench.client()
    with unit_of_work():
        first = enqueue("testapp.jobs.add", enqueue_after_commit=True, a=1, b=1)
        now = enqueue("testapp.jobs.noop")  # not after-commit: sent immediately
        second = enqueue("testapp.jobs.add", enqueue_after_commit=True, job_id="held", a=2, b=2)
        assert job_ids(client, keys) == [now]
        assert get_job(first) is None
    assert job_ids(client, keys) == [now, first, second]
    assert get_job("held")["kwargs"] == {"a": 2, "b": 2}


def test_exception_drops_held_jobs(bench, keys) -> None:
    with pytest.raises(ZeroDivisionError), unit_of_work():
        enqueue("testapp.jobs.noop", enqueue_after_commit=True)
        1 / 0  # noqa: B018
    assert bench_keys(bench.client(), keys) == []


def test_rollback_drops_held_jobs(bench, keys) -> None:
    with unit_of_work() as unit:
        enqueue("testapp.jobs.noop", enqueue_after_commit=True)
        unit.rollback()
        enqueue("testapp.jobs.noop", enqueue_after_commit=True)  # after rollback: the unit is done for
    assert bench_keys(bench.client(), keys) == []


def test_nested_units_send_only_when_the_outermost_commits(bench, keys) -> None:
    client = bench.client()
    with unit_of_work():
        with unit_of_work():
            kept = enqueue("testapp.jobs.noop", enqueue_after_commit=True)
        assert job_ids(client, keys) == []
        with pytest.raises(RuntimeError), unit_of_work():
            enqueue("testapp.jobs.noop", enqueue_after_commit=True)
            raise RuntimeError("inner fails")
        outer = enqueue("testapp.jobs.noop", enqueue_after_commit=True)
    assert job_ids(client, keys) == [kept, outer]


def test_a_failing_job_never_sends_what_it_enqueued_after_commit(bench, keys, tmp_path) -> None:
    with pytest.raises(RuntimeError, match="failed after enqueueing"):
        enqueue("testapp.enqueue_jobs.enqueue_after_commit_then_fail", now=True, path=str(tmp_path / "x"))
    assert bench_keys(bench.client(), keys) == []


def test_a_succeeding_job_sends_on_its_commit(bench, keys, tmp_path) -> None:
    job_id = enqueue("testapp.enqueue_jobs.enqueue_after_commit_then_succeed", now=True, path=str(tmp_path / "x"))
    assert job_ids(bench.client(), keys) == [job_id]


def test_units_are_per_thread(bench, keys) -> None:
    sent: list[str] = []
    with unit_of_work():
        thread = threading.Thread(target=lambda: sent.append(
            enqueue("testapp.jobs.noop", enqueue_after_commit=True)))
        thread.start()
        thread.join()
        assert job_ids(bench.client(), keys) == sent  # the other thread is not inside this unit


def test_in_a_worker_commit_sends_and_failure_drops(bench, keys, tmp_path) -> None:
    """End to end with a real worker: the job's unit of work decides what it enqueued after commit."""
    out = tmp_path / "out.txt"
    failing = enqueue("testapp.enqueue_jobs.enqueue_after_commit_then_fail", path=str(out))
    passing = enqueue("testapp.enqueue_jobs.enqueue_after_commit_then_succeed", path=str(out))
    result = bench.run("worker", "--queue", "default", "--burst", "--no-fork")
    assert result.returncode == 0, result.stderr
    assert get_job(failing)["status"] == "failed"
    child = get_job(passing)["result"]
    assert get_job(child)["status"] == "finished"  # sent on commit, then run by the same burst
    assert out.read_text() == "sent\n"  # the failed job's after-commit line never ran
