"""What every benchmark script shares: import paths, a private redis-server, a bench, job times.

Each script runs bench-jobs and its plain-RQ baseline in the same run, each against its own
redis-server on a free port in a temp dir (removed at the end), and prints figures and ratios.
Import this module first: it puts the repo and the test app (`testapp`) on the import path.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "tests" / "apps"
for _path in (str(APPS), str(ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)
# Child processes (workers, the CLI) see the same code and the test app.
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(APPS), str(ROOT)])}

from tests.conftest import make_bench  # noqa: E402
from tests.redis_server import RedisProcess  # noqa: E402

__all__ = ["ENV", "ROOT", "RedisProcess", "make_bench", "parse_stamp", "private_redis", "scratch_dir"]


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


@contextlib.contextmanager
def private_redis(directory: Path) -> Iterator[RedisProcess]:
    """A redis-server on a free port (no persistence), stopped on the way out."""
    server = RedisProcess(directory).start()
    try:
        yield server
    finally:
        server.stop()


def parse_stamp(stamp: bytes) -> float:
    """An RQ job timestamp (`started_at`, `ended_at`) as epoch seconds."""
    return datetime.strptime(stamp.decode(), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
