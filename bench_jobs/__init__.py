"""bench-jobs: background jobs for Python apps on Redis (RQ-compatible storage, its own worker).

The public API is re-exported here lazily, so `import bench_jobs` stays cheap for the CLI.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

# name -> module that defines it; resolved on first attribute access (PEP 562).
_EXPORTS = {
    "init": "bench_jobs.bench.context",
    "get_current_site": "bench_jobs.bench.context",
    "get_site_config": "bench_jobs.bench.context",
    "enqueue": "bench_jobs.jobs.enqueue",
    "enqueue_many": "bench_jobs.jobs.enqueue",
    "unit_of_work": "bench_jobs.jobs.enqueue",
    "get_job": "bench_jobs.jobs.enqueue",
    "is_job_enqueued": "bench_jobs.jobs.enqueue",
    "whitelist": "bench_jobs.bench.apps",
    "get_all": "bench_jobs.jobs.resource",
    "log_error": "bench_jobs.logs.error_log",
    "BenchJobsError": "bench_jobs.errors",
    "QueueOverloaded": "bench_jobs.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'bench_jobs' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value
