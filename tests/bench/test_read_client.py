"""The listing commands' light client (bench/read_client.py) against real redis-servers: for every command
it answers, the same reply as redis-py, type included; for everything it hands over (unknown methods,
error replies, dropped connections, wrong credentials, a paused server), redis-py's own behaviour."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.backoff import NoBackoff
from redis.retry import Retry

from bench_jobs.bench.read_client import COMMANDS, ReadClient, light_client
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]


def light(url: str, full: redis.Redis, username: str | None = None, password: str | None = None,
          socket_timeout: float | None = 5.0) -> ReadClient:
    client = light_client(url, username, password, lambda: full, 2.0, socket_timeout)
    assert client is not None
    return client


@pytest.fixture
def full(redis_server) -> redis.Redis:
    return redis_server.client()


@pytest.fixture
def ours(redis_server, full) -> ReadClient:
    client = light(redis_server.url, full)
    yield client
    client.close()


def calls(prefix: str, start: int, stop: int, low: float, high: float) -> list[tuple[str, tuple, dict]]:
    """One call of every method the light client answers, over the keys `seed` wrote."""
    h, lst, st_, z, s = (f"{prefix}:{kind}" for kind in ("hash", "list", "set", "zset", "string"))
    missing = f"{prefix}:missing"
    return [
        ("ping", (), {}),
        ("get", (s,), {}), ("get", (missing,), {}),
        ("mget", ([s, missing, h],), {}), ("mget", (s, missing), {}),
        ("exists", (h, lst, missing), {}),
        ("type", (h,), {}), ("type", (z,), {}), ("type", (missing,), {}),
        ("hget", (h, "f0"), {}), ("hget", (h, "nope"), {}),
        ("hmget", (h, ["f0", "nope", "f1"]), {}), ("hmget", (h, "f0", "f1"), {}),
        ("hgetall", (h,), {}), ("hgetall", (missing,), {}),
        ("hexists", (h, "f0"), {}), ("hexists", (h, "nope"), {}),
        ("llen", (lst,), {}), ("llen", (missing,), {}),
        ("lrange", (lst, start, stop), {}), ("lrange", (lst, -stop - 1, -start - 1), {}),
        ("scard", (st_,), {}),
        ("smembers", (st_,), {}), ("smembers", (missing,), {}),
        ("zcard", (z,), {}),
        ("zcount", (z, low, high), {}), ("zcount", (z, "-inf", "+inf"), {}), ("zcount", (z, low, "+inf"), {}),
        ("zrange", (z, start, stop), {}), ("zrange", (z, start, stop), {"withscores": True}),
        ("zrevrange", (z, start, stop), {}), ("zrevrange", (z, 0, -1), {"withscores": True}),
        ("zrange", (missing, 0, -1), {"withscores": True}),
    ]


def seed(full: redis.Redis, prefix: str, values: list[bytes], scores: list[float]) -> None:
    pipe = full.pipeline()
    pipe.delete(*(f"{prefix}:{kind}" for kind in ("hash", "list", "set", "zset", "string")))
    if values:
        pipe.hset(f"{prefix}:hash", mapping={f"f{n}": v for n, v in enumerate(values)})
        pipe.rpush(f"{prefix}:list", *values)
        pipe.sadd(f"{prefix}:set", *values)
        pipe.zadd(f"{prefix}:zset", {v: score for v, score in zip(values, scores, strict=False)} or {b"x": 1.0})
        pipe.set(f"{prefix}:string", values[0])
    pipe.execute()


def test_every_answered_command_is_compared_with_redis_py() -> None:
    assert {name for name, _, _ in calls("p", 0, 1, 0.0, 1.0)} == set(COMMANDS)


values_st = st.lists(st.binary(max_size=40) | st.text(max_size=20).map(str.encode), max_size=12)
scores_st = st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32) | st.integers(-10**6, 10**6)
                     .map(float), max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=values_st, scores=scores_st, start=st.integers(-15, 15), stop=st.integers(-15, 15),
       low=st.floats(-1e6, 1e6), high=st.floats(-1e6, 1e6))
def test_replies_are_redis_pys_for_any_data(full, ours, values, scores, start, stop, low, high) -> None:
    prefix = f"rc:{uuid.uuid4().hex}"
    seed(full, prefix, values, scores)
    for name, args, kwargs in calls(prefix, start, stop, low, high):
        want = getattr(full, name)(*args, **kwargs)
        got = getattr(ours, name)(*args, **kwargs)
        assert (got, type(got)) == (want, type(want)), (name, args, kwargs)
    theirs, mine = full.pipeline(transaction=False), ours.pipeline(transaction=False)
    for name, args, kwargs in calls(prefix, start, stop, low, high):
        getattr(theirs, name)(*args, **kwargs)
        getattr(mine, name)(*args, **kwargs)
    assert mine.execute() == theirs.execute()
    full.delete(*(f"{prefix}:{kind}" for kind in ("hash", "list", "set", "zset", "string")))


def raised(call: Callable[[], Any]) -> tuple[type, str]:
    with pytest.raises(redis.RedisError) as caught:
        call()
    return type(caught.value), str(caught.value)


def test_an_error_reply_raises_redis_pys_exception(full, ours) -> None:
    full.hset("rc:wrongtype", "a", "1")
    assert raised(lambda: ours.lrange("rc:wrongtype", 0, -1)) == raised(lambda: full.lrange("rc:wrongtype", 0, -1))

    def pipeline(client: Any) -> Any:
        pipe = client.pipeline(transaction=False)
        pipe.llen("rc:nothing")
        pipe.lrange("rc:wrongtype", 0, -1)
        return pipe.execute()
    assert raised(lambda: pipeline(ours)) == raised(lambda: pipeline(full))
    assert "WRONGTYPE" in raised(lambda: pipeline(ours))[1]
    assert ours.llen("rc:nothing") == 0  # the connection is still good afterwards
    pipe = ours.pipeline(transaction=False)
    pipe.lrange("rc:wrongtype", 0, -1)
    with pytest.raises(redis.ResponseError):
        pipe.execute()
    pipe.llen("rc:nothing")
    assert pipe.execute() == [0]  # emptied by the failed execute, as redis-py's is


def test_what_it_does_not_answer_goes_to_redis_py(full, ours) -> None:
    assert ours.info("server")["redis_version"] == full.info("server")["redis_version"]
    full.delete("rc:list")
    full.rpush("rc:list", "a", "b")
    pipe = ours.pipeline(transaction=False)
    pipe.llen("rc:list")
    pipe.eval("return 7", 0)  # a script: the pipeline is handed over whole
    pipe.lrange("rc:list", 0, -1)
    assert pipe.execute() == [2, 7, [b"a", b"b"]]
    assert isinstance(ours.pipeline(), redis.client.Pipeline)  # MULTI/EXEC is redis-py's
    assert ours.zrange("rc:nothing", 0, -1, desc=True) == []  # a keyword it does not take


def test_a_killed_connection_is_read_again(full, ours) -> None:
    full.delete("rc:list")
    full.rpush("rc:list", "a")
    assert ours.llen("rc:list") == 1
    killed = full.client_kill_filter(_type="normal", skipme=True)
    assert killed >= 1
    assert ours.lrange("rc:list", 0, -1) == [b"a"]  # redis-py's turn: it reconnects
    assert ours.llen("rc:list") == 1  # and the light client opens a new socket of its own


def test_a_paused_server_times_out_as_redis_py_does(redis_factory) -> None:
    server = redis_factory()
    full = server.client()
    ours = light(server.url, full, socket_timeout=0.3)
    assert ours.ping() is True
    full.client_pause(1500, all=True)
    with pytest.raises(redis.TimeoutError):
        ours.llen("rc:list")
    full.connection_pool.disconnect()
    assert server.client(socket_timeout=5).llen("rc:list") == 0  # (the pause over)
    assert ours.llen("rc:list") == 0


def test_acl_user_and_wrong_credentials(redis_factory) -> None:
    server = redis_factory()
    admin = server.client()
    admin.acl_setuser("bench", enabled=True, passwords=["+s3cret"], keys=["rc:*"], commands=["+@read", "+ping"])
    admin.rpush("rc:list", "a")
    admin.acl_setuser("default", enabled=True, passwords=["+admin"], keys=["*"], commands=["+@all"])
    as_bench = redis.Redis(port=server.port, username="bench", password="s3cret")
    assert light(server.url, as_bench, "bench", "s3cret").lrange("rc:list", 0, -1) == [b"a"]

    once = {"retry": Retry(NoBackoff(), 0)}  # redis-py's default retries a refused AUTH for seconds
    wrong = redis.Redis(port=server.port, username="bench", password="nope", **once)
    connections = len(admin.client_list())
    refused = light(server.url, wrong, "bench", "nope")
    assert raised(lambda: refused.llen("rc:list")) == raised(lambda: wrong.llen("rc:list"))
    wrong.connection_pool.disconnect()
    # No socket that failed its AUTH is left open behind the error.
    wait_for(lambda: len(admin.client_list()) == connections, timeout=5, what="refused connections closed")
    anonymous = redis.Redis(port=server.port, **once)
    assert raised(lambda: light(server.url, anonymous).llen("rc:list"))[0] is redis.AuthenticationError
    outside = light(server.url, as_bench, "bench", "s3cret")
    assert raised(lambda: outside.llen("other:list"))[0] is redis.exceptions.NoPermissionError


def test_a_unix_socket_and_a_database_number() -> None:
    from tests.redis_server import RedisProcess

    directory = Path(tempfile.mkdtemp(prefix="rc", dir="/tmp"))  # short: a socket path has ~100 bytes
    socket_path = directory / "r.sock"
    server = RedisProcess(directory, None, "--unixsocket", str(socket_path)).start()
    try:
        full = redis.Redis(unix_socket_path=str(socket_path), db=3)
        full.rpush("rc:list", "in-db-3")
        ours = light(f"unix://{socket_path}?db=3", full)
        assert ours.lrange("rc:list", 0, -1) == [b"in-db-3"]
        by_path = light(f"redis://127.0.0.1:{server.port}/3", full)
        assert by_path.llen("rc:list") == 1
        assert light(server.url, full).llen("rc:list") == 0  # database 0
    finally:
        server.kill()


@pytest.mark.parametrize("url, username, password", [
    ("rediss://127.0.0.1:6380", None, None),
    ("redis://127.0.0.1:6379?ssl_cert_reqs=none", None, None),
    ("redis://127.0.0.1:6379?socket_timeout=3", None, None),
    ("redis://127.0.0.1:6379", "user-without-password", None),
    ("http://127.0.0.1:6379", None, None),
])
def test_urls_only_redis_py_handles_get_no_light_client(url, username, password) -> None:
    assert light_client(url, username, password, lambda: redis.Redis(), 2.0, 5.0) is None


READ_COMMANDS = [
    ("show-pending-jobs", "--format", "json"),
    ("workers", "--format", "json"),
    ("jobs", "list", "--format", "json"),
]
# Run the CLI as a user does, then report whether redis-py was ever imported.
PROBE = """
import sys
from bench_jobs.cli import main
sys.argv = ["bench-jobs", *sys.argv[1:]]
try:
    main()
except SystemExit as stop:
    code = stop.code
print("redis-py loaded" if "redis" in sys.modules else "redis-py not loaded", file=sys.stderr)
sys.exit(code)
"""


def probe(bench, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BENCH_PATH": str(bench.path)}
    return subprocess.run([sys.executable, "-c", PROBE, "--site", bench.site, *args], capture_output=True,
                          text=True, env=env, cwd=bench.path, timeout=60)


@pytest.mark.parametrize("command", READ_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_listing_commands_answer_without_loading_redis_py(bench, command) -> None:
    import bench_jobs

    bench_jobs.init(bench.site, str(bench.path))
    job_id = bench_jobs.enqueue("testapp.enqueue_jobs.echo", word="hi")
    done = probe(bench, *command)
    assert done.returncode == 0, done.stderr
    assert "redis-py not loaded" in done.stderr
    document = json.loads(done.stdout)
    assert document["bench_id"] == bench.bench.bench_id
    if command[0] == "jobs":
        assert [row["id"] for row in document["jobs"]] == [job_id]
    if command[0] == "show-pending-jobs":
        assert {q["queue"]: q["pending"] for q in document["queues"]}["default"] == 1
    shown = probe(bench, "jobs", "show", job_id, "--format", "json")
    assert json.loads(shown.stdout)["id"] == job_id
    assert "redis-py not loaded" in shown.stderr


def test_a_down_redis_is_still_one_clean_error(bench) -> None:
    from tests.redis_server import free_port

    url = f"redis://127.0.0.1:{free_port()}"
    bench.set_config(redis_queue=url)
    done = probe(bench, "show-pending-jobs", "--format", "json")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert f"Redis at {url} is not reachable" in done.stderr
