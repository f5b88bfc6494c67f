"""Jobs of the demo app."""

from __future__ import annotations

import time

from bench_jobs import get_current_site


def hello(name: str = "world") -> str:
    """The demo's main job: greets, and says which site it ran for."""
    return f"Hello, {name}! (from a worker, for site {get_current_site()})"


def tick() -> float:
    """What the scheduler runs (`all`, every minute, hourly): nothing much, so its runs show up in `scheduler log`."""
    return time.time()
