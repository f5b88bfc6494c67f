"""Two benches on one redis-server, each with the ACL user `setup redis` generates: each works fully on
its own keys, neither can read, write, delete or EVAL on the other's (job hashes included), the server
stays out of reach (FLUSHALL, CONFIG SET, ACL, KEYS), and RQ's own API still reads each bench's jobs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner
from rq import Queue
from rq.job import Job as RQJob
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from bench_jobs.bench.admin import create_bench, create_site
from bench_jobs.bench.config import update_json
from bench_jobs.bench.connection import connect
from bench_jobs.bench.layout import Bench
from bench_jobs.cli import cli
from bench_jobs.errors import ConfigError
from bench_jobs.jobs import actions, queries
from bench_jobs.jobs.dispatch import Dispatcher, Ending
from bench_jobs.jobs.keys import Keys, job_key, worker_key
from bench_jobs.jobs.model import Job
from bench_jobs.jobs.store import JobSpec, enqueue_job, enqueue_many
from bench_jobs.jobs.workers import register_worker
from bench_jobs.ops.redis_config import check_isolable, user_rules
from tests.redis_server import RedisProcess, free_port

pytestmark = pytest.mark.slow


def acl_line(bench: Bench) -> str:
    """The bench's user line from the ACL file `setup redis` wrote."""
    text = (bench.config_path / "redis_queue.acl").read_text()
    return next(line for line in text.splitlines() if line.startswith(f"user {bench.bench_id} "))


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory):
    """One redis-server; two benches whose users are the lines `setup redis` generated for each."""
    root = tmp_path_factory.mktemp("isolation")
    port = free_port()
    benches = []
    for name in ("alpha", "beta"):
        bench = create_bench(root / name, port)
        update_json(bench.common_config_file, {"bench_id": f"bench-{name}"})
        bench.reload()
        create_site(bench, "site1.test")
        result = CliRunner().invoke(cli, ["--bench", str(bench.path), "setup", "redis"])
        assert result.exit_code == 0, result.output
        bench.reload()
        benches.append(bench)
    # An admin `default` for the test's own setup; each bench's user exactly as generated.
    acl = root / "users.acl"
    acl.write_text("user default on nopass ~* &* +@all\n" + "".join(acl_line(b) + "\n" for b in benches))
    server = RedisProcess(root / "redis", port, "--aclfile", str(acl)).start()
    try:
        yield server, benches
    finally:
        server.stop()


def seed(bench: Bench) -> dict[str, str]:
    """Jobs in every state the bench keeps, through bench-jobs' own paths under its own user."""
    client, keys = connect(bench), Keys(bench.bench_id)
    worker = keys.worker_name("host", 1, "ab")
    register_worker(client, keys, worker, ["default"], 30)
    dispatch = Dispatcher(client, keys, worker)
    ended = {}
    for status in ("failed", "finished"):  # at the front: the next claim takes it
        job_id = enqueue_job(client, keys, job_id=None, site="site1.test", queue="default", at_front=True,
                             method="bench_jobs.jobs.builtin.ping", kwargs={}, timeout=60).id
        running = dispatch.claim(["default"])
        assert running is not None and running.id == job_id
        ending = Ending("failed", 0.1, error="ValueError: x", exc_info=b"tb") if status == "failed" else \
            Ending("finished", 0.1, result="1")
        assert dispatch.finish(running, ending)[0]
        ended[status] = job_id
    queued = enqueue_job(client, keys, job_id=None, site="site1.test", queue="default",
                         method="bench_jobs.jobs.builtin.ping", kwargs={"n": 1}, timeout=60).id
    many = [r.id for r in enqueue_many(client, keys, [JobSpec("site1.test", "default", "bench_jobs.jobs.builtin.ping",
                                                              {}, 60) for _ in range(3)])]
    scheduled = enqueue_job(client, keys, job_id=keys.user_job_id("site1.test", "later"), site="site1.test",
                            queue="default", method="bench_jobs.jobs.builtin.ping", kwargs={}, timeout=60,
                            run_at=10 ** 10).id
    return {"queued": queued, "scheduled": scheduled, "bulk": many[-1], "worker": worker, **ended}


def test_each_bench_works_fully_under_its_own_user(shared) -> None:
    _server, benches = shared
    for bench in benches:
        ids = seed(bench)
        client, keys = connect(bench), Keys(bench.bench_id)
        assert all(i.startswith(f"{keys.tag}_") for k, i in ids.items() if k != "worker")
        summary = queries.pending_summary(client, bench, ["site1.test"], ["default"])
        assert summary["queues"][0]["failed"] >= 1 and summary["queues"][0]["scheduled"] == 1
        assert queries.job_detail(client, bench, ids["failed"])["error"] == "ValueError: x"
        assert actions.retry_jobs(client, bench, [ids["failed"]]).done == [ids["failed"]]
        assert actions.cancel_jobs(client, bench, [ids["queued"]]).done == [ids["queued"]]
        assert actions.delete_jobs(client, bench, [ids["queued"]]).done == [ids["queued"]]
        dispatch = Dispatcher(client, keys, "sweeper")
        assert dispatch.promote() == 0 and dispatch.sweep(force=True).swept
        # A real worker drains the queue under the bench's user (claim, heartbeat, finish, unregister).
        done = subprocess.run([sys.executable, "-m", "bench_jobs", "--bench", str(bench.path), "worker",
                               "--queue", "default", "--burst", "--no-fork", "--quiet"],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "NOPERM" not in done.stdout + done.stderr
        assert client.llen(keys.queue("default")) == 0
        assert Job.fetch(client, ids["bulk"]).status == "finished"


def test_neither_bench_reaches_the_others_keys(shared) -> None:
    server, (alpha, beta) = shared
    admin = server.client()
    theirs = seed(alpha)
    keys_a = Keys(alpha.bench_id)
    their_keys = [job_key(theirs["scheduled"]), job_key(theirs["failed"]), keys_a.queue("default"),
                  keys_a.index("failed", "default", "site1.test"), keys_a.scheduled(), keys_a.rq_failed("default"),
                  keys_a.sites_seen(), worker_key(theirs["worker"]), f"rq:results:{theirs['finished']}"]
    before = {key: admin.dump(key) for key in their_keys}
    assert all(before.values()), [k for k, v in before.items() if not v]
    intruder = connect(beta)
    for key in their_keys:
        for command in (("TYPE", key), ("DUMP", key), ("HGETALL", key), ("LRANGE", key, 0, -1), ("DEL", key),
                        ("UNLINK", key), ("RENAME", key, f"bj:{beta.bench_id}:stolen"), ("EXPIRE", key, 1),
                        ("HSET", key, "bj_method", "os.system"), ("RPUSH", key, "x")):
            with pytest.raises(redis.exceptions.NoPermissionError):
                intruder.execute_command(*command)
        # EVAL: refused whether the key is declared in KEYS or only named inside the script.
        with pytest.raises(redis.exceptions.NoPermissionError):
            intruder.eval("return redis.call('DEL', KEYS[1])", 1, key)
        with pytest.raises(redis.exceptions.ResponseError, match=r"(?i)noperm|permission|can't access"):
            intruder.eval("return redis.call('HSET', ARGV[1], 'bj_method', 'os.system')", 0, key)
    # No listing of the other bench's key names, no wiping or reconfiguring the server.
    for command in (("KEYS", "*"), ("SCAN", 0), ("RANDOMKEY",), ("FLUSHALL",), ("FLUSHDB",),
                    ("CONFIG", "SET", "appendonly", "no"), ("ACL", "LIST"), ("ACL", "SETUSER", "x", "on"),
                    ("SCRIPT", "FLUSH"), ("DEL", "rq:queues"), ("DEL", "rq:workers"), ("SET", "rq:suspended", "1")):
        with pytest.raises(redis.exceptions.NoPermissionError):
            intruder.execute_command(*command)
    assert {key: admin.dump(key) for key in their_keys} == before
    # bench-jobs' own entry points refuse the other bench's ids too, without touching them.
    with pytest.raises(redis.exceptions.ResponseError):
        actions.delete_jobs(intruder, beta, [theirs["scheduled"]])
    assert admin.dump(job_key(theirs["scheduled"])) == before[job_key(theirs["scheduled"])]


def test_rqs_own_api_reads_each_bench(shared) -> None:
    _server, benches = shared
    for bench in benches:
        ids = seed(bench)
        client, keys = connect(bench), Keys(bench.bench_id)
        queue = Queue(keys.rq_queue_name("default"), connection=client, serializer=JSONSerializer)
        assert ids["queued"] in queue.get_job_ids() and queue.count >= 1
        job = RQJob.fetch(ids["queued"], connection=client, serializer=JSONSerializer)
        assert (job.func_name, job.kwargs, job.get_status()) == ("bench_jobs.jobs.builtin.ping", {"n": 1}, "queued")
        assert ids["failed"] in FailedJobRegistry(queue=queue).get_job_ids()
        assert RQJob.fetch(ids["scheduled"], connection=client, serializer=JSONSerializer).id == ids["scheduled"]
        assert queue in Queue.all(connection=client, serializer=JSONSerializer)
        other = next(b for b in benches if b is not bench)
        with pytest.raises(redis.exceptions.NoPermissionError):
            RQJob.fetch(ids["queued"], connection=connect(other), serializer=JSONSerializer)
        # `rq info` on the bench's own queues, under the bench's user.
        user, password = bench.common_config["rq_username"], bench.common_config["rq_password"]
        info = subprocess.run([str(Path(sys.executable).parent / "rq"), "info", "-u",
                               f"redis://{user}:{password}@127.0.0.1:{_server.port}", "--serializer",
                               "rq.serializers.JSONSerializer", keys.rq_queue_name("default")],
                              capture_output=True, text=True, timeout=60)
        assert info.returncode == 0 and keys.rq_queue_name("default") in info.stdout, info.stdout + info.stderr


def test_the_generated_rules_name_only_the_benchs_keys() -> None:
    rules = user_rules("bench-alpha")
    assert "~*" not in rules.split() and "&*" not in rules.split()
    patterns = re.findall(r"(?<![(%R])~(\S+)", rules.split("(")[0])
    assert all("bench-alpha" in p or p == "rq:suspended" for p in patterns), patterns
    assert "-@admin" in rules and "-flushall" in rules and "-keys" in rules
    with pytest.raises(ConfigError, match="cannot be told apart"):
        check_isolable("a:b")
    with pytest.raises(ConfigError, match="cannot be told apart"):
        check_isolable("bench*")


def test_the_access_probe_names_the_generated_rules() -> None:
    """bench/connection.py probes each key family with the rule to grant; they are rules setup generates."""
    from bench_jobs.bench.connection import key_rules

    for bench_id in ("bench-alpha", "my_bench.v2"):
        rules = {rule for _key, rule in key_rules(bench_id)} - {"~rq:queues"}
        assert rules <= set(Keys(bench_id).acl_patterns()), rules - set(Keys(bench_id).acl_patterns())


def test_user_job_ids_are_rq_ids_scoped_to_bench_and_site(tmp_path: Path) -> None:
    keys = Keys("bench-alpha")
    stored = keys.user_job_id("site1.test", "sync-42")
    assert re.fullmatch(r"bench-alpha_[0-9a-f]{8}_sync-42", stored)
    assert keys.user_job_id("site1.test", stored) == stored
    assert keys.user_job_id("site2.test", "sync-42") != stored
    assert Keys("bench-beta").user_job_id("site1.test", "sync-42") != stored
    assert Keys("my_bench.v2").tag.startswith("b") and "_" not in Keys("my_bench.v2").tag


def test_a_callers_job_id_is_found_under_the_benchs_user(shared) -> None:
    """get_job/is_job_enqueued("later") try the bare id first: under the bench's ACL user that key is out
    of reach, which means "not this bench's job", not a permission error (the README's Library API)."""
    from bench_jobs import get_job, is_job_enqueued
    from bench_jobs.bench import context

    _server, (alpha, _beta) = shared
    ids = seed(alpha)
    with context.using(alpha, "site1.test"):
        assert is_job_enqueued("later")
        job = get_job("later")
        assert job is not None and job["id"] == ids["scheduled"]
        assert get_job("no-such-job") is None
    shown = CliRunner().invoke(cli, ["--bench", str(alpha.path), "--site", "site1.test", "jobs", "show", "nowhere"])
    assert shown.exit_code == 1 and "no job 'nowhere'" in shown.output and "Traceback" not in shown.output
