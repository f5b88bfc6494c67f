"""Bugs found in review of the CLI and inspection side, each reproduced against a real Redis."""

from __future__ import annotations

import json
from pathlib import Path

from bench_jobs.jobs.keys import job_key
from bench_jobs.logs import reader as core
from tests.conftest import BenchFixture, assert_clean_error
from tests.inspect_helpers import put_jobs


def test_list_skips_jobs_whose_hash_expired_but_is_still_indexed(bench: BenchFixture) -> None:
    """A finished/failed/canceled hash expires by TTL; its id leaves the index only when a later job of
    that queue ends. Until then `jobs list` showed a phantom row (method/queue null) and a short page."""
    client, bid = bench.client(), bench.bench.bench_id
    finished = put_jobs(client, bid, 5, status="finished", method="testapp.jobs.add")
    for job_id in finished[-3:]:  # the newest three expired (newest first is the listing order)
        client.delete(job_key(job_id))
    result = bench.cli("jobs", "list", "--status", "finished", "--limit", "2", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["jobs"]
    assert [r["id"] for r in rows] == [finished[1], finished[0]]
    assert all(r["method"] == "testapp.jobs.add" for r in rows)


def test_same_id_twice_is_acted_on_once(bench: BenchFixture) -> None:
    """`jobs cancel ID ID` canceled the job, then failed on the second copy: exit 1 and
    "1 other job(s) were canceled" about the very same job. Same for retry and delete."""
    client, bid = bench.client(), bench.bench.bench_id
    (job_id,) = put_jobs(client, bid, 1)
    for verb, done in (("cancel", "Canceled 1"), ("retry", "Re-queued 1"), ("delete", "Deleted 1")):
        result = bench.cli("jobs", verb, job_id, job_id)
        assert result.exit_code == 0, (verb, result.output)
        assert done in result.stdout + result.stderr


def test_follow_keeps_a_character_split_across_two_reads(tmp_path: Path) -> None:
    """A reader can catch a line mid-write; a UTF-8 character cut between two reads came out as two
    replacement characters instead of itself."""
    path = tmp_path / "worker.log"
    path.write_bytes(b"")
    follower = core.Follower(path)
    try:
        raw = "site=büro message ✓\n".encode()
        cut = raw.index("✓".encode()) + 1
        with path.open("ab") as handle:
            handle.write(raw[:cut])
        assert follower.poll() == []
        with path.open("ab") as handle:
            handle.write(raw[cut:])
        assert follower.poll() == ["site=büro message ✓"]
    finally:
        follower.close()


def test_a_file_that_cannot_be_written_is_a_clean_error(bench: BenchFixture) -> None:
    """A read-only bench, a full disk or a path in the way: `use`, `new-site`, `scheduler disable`,
    `setup supervisor`, `worker` and `scheduler run` ended in an OSError traceback. (Root ignores file modes,
    so the test puts a directory or a file where bench-jobs must write one.)"""
    (bench.path / "sites" / "currentsite.txt").mkdir()
    assert_clean_error(bench.cli("use", "site2.test"), "currentsite.txt", "permissions")
    (bench.path / "config").mkdir(exist_ok=True)
    (bench.path / "config" / "supervisor.conf").mkdir()
    assert_clean_error(bench.cli("setup", "supervisor"), "supervisor.conf")
    logs = bench.path / "logs"
    for child in logs.iterdir():
        child.unlink()
    logs.rmdir()
    logs.write_text("not a directory")
    for command in (("worker", "--burst", "--queue", "default"), ("scheduler", "run")):
        result = bench.run(*command, timeout=60)
        assert_clean_error(result, "logs", "permissions")
