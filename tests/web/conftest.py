"""Fixtures of the web tests: a running `bench-jobs serve` of the test bench."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BenchFixture
from tests.web_helpers import WebServer


@pytest.fixture
def web(bench: BenchFixture, tmp_path: Path) -> Iterator[WebServer]:
    server = WebServer(bench, tmp_path)
    yield server
    server.stop()
