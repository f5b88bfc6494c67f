"""Jobs bench-jobs itself provides: the only bench_jobs functions the allow-list lets run (apps.BUILTIN_JOBS)."""

from __future__ import annotations

import os
import socket
from typing import Any


def ping() -> dict[str, Any]:
    """A no-op job to check that a worker serves a site's queue, like `frappe.ping`:
    `bench-jobs --site S enqueue bench_jobs.jobs.builtin.ping`, then `jobs show ID`."""
    from bench_jobs.bench.context import get_current_site

    return {"pong": True, "site": get_current_site(), "host": socket.gethostname(), "pid": os.getpid()}
