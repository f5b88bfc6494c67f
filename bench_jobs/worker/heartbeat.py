"""The worker's heartbeat thread: keeps `bj:{B}:alive:{name}` alive and reads the control list.

A thread, so a long job (in-process or in a forked child) never delays the heartbeat; it has its
own connection from the pool, and blocks on the control list between beats.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bench_jobs.jobs.workers import heartbeat

if TYPE_CHECKING:
    import redis

    from bench_jobs.jobs.keys import Keys

CONTROL_POLL = 0.5


class Heartbeat(threading.Thread):
    def __init__(self, client: redis.Redis, keys: Keys, name: str, interval: float, ttl: float,
                 on_command: Callable[[dict[str, Any]], None],
                 current_job: Callable[[], str | None] = lambda: None,
                 after_beat: Callable[[str | None, bool], None] | None = None,
                 queues: list[str] | None = None) -> None:
        super().__init__(name=f"heartbeat-{name}", daemon=True)
        self.client, self.keys, self.worker = client, keys, name
        self.interval, self.ttl = interval, ttl
        self.on_command = on_command
        # After each beat: (id of the running job, is it still ours?) — the worker kills a lost
        # job and runs the recovery sweep here, so neither waits for a long job to end.
        self.current_job, self.after_beat = current_job, after_beat
        self.queues = queues  # to register again if the sweep removed this worker's registration
        self.stopped = threading.Event()

    def run(self) -> None:
        # Process-directed signals (SIGTERM, the SIGALRM of a timeout) must reach the main thread:
        # one delivered to this thread would not interrupt a job sleeping in the main thread.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGALRM, signal.SIGUSR1})
        next_beat = 0.0
        control = self.keys.worker_stop(self.worker)
        while not self.stopped.is_set():
            try:
                if time.monotonic() >= next_beat:
                    job_id = self.current_job()
                    owned = heartbeat(self.client, self.keys, self.worker, self.ttl, job_id, self.queues)
                    next_beat = time.monotonic() + self.interval
                    if self.after_beat:
                        self.after_beat(job_id, owned)
                # Never overshoot the next beat: the contact TTL (half the alive TTL) is only
                # safe while beats keep to their interval.
                wait = min(CONTROL_POLL, max(0.05, next_beat - time.monotonic()))
                item = self.client.blpop([control], timeout=wait)
                if item:
                    with contextlib.suppress(ValueError, TypeError):
                        self.on_command(json.loads(item[1]))
            except Exception:  # Redis away: beat again as soon as it is back (the sweep holds its
                self.stopped.wait(0.5)  # verdicts just after an outage, so live workers get to beat first)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=CONTROL_POLL + 1.5)
