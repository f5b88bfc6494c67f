"""Fixtures of the enqueue tests."""

from __future__ import annotations

import pytest

from bench_jobs.bench import context
from tests.enqueue_helpers import use_bench


@pytest.fixture
def keys(bench):
    """`bench` as the process default (as bench_jobs.init would make it); its Keys. Reset afterwards."""
    yield use_bench(bench)
    context._default = None
