"""The Celery side of benchmarks/compare.py: a no-op task on a Redis broker.

Each worker process notes the time of its first and last task and how many it ran, in memory
(one time.time() per task, nothing sent anywhere), and writes them to $BJ_CELERY_OUT/<pid>.json
when it shuts down, so the drain rate is measured like the other sides': first start .. last end.
"""

from __future__ import annotations

import json
import os
import time

from celery import Celery
from celery.signals import worker_process_shutdown, worker_shutdown

app = Celery("bench_compare", broker=os.environ.get("BJ_CELERY_BROKER", "redis://127.0.0.1:6379/0"))
app.conf.update(
    task_ignore_result=True,
    task_serializer="json",
    accept_content=["json"],
    worker_hijack_root_logger=False,
    worker_redirect_stdouts=False,
    broker_connection_retry_on_startup=True,
    worker_send_task_events=False,
    worker_enable_remote_control=False,  # no pidbox: an idle worker then only polls its queue
)

_seen = {"first": 0.0, "last": 0.0, "count": 0}


@app.task(name="noop")
def noop() -> None:
    now = time.time()
    if not _seen["count"]:
        _seen["first"] = now
    _seen["last"] = now
    _seen["count"] += 1


def _dump(**_: object) -> None:
    out = os.environ.get("BJ_CELERY_OUT")
    if out and _seen["count"]:
        with open(os.path.join(out, f"{os.getpid()}.json"), "w", encoding="utf-8") as handle:
            json.dump(_seen, handle)


worker_shutdown.connect(_dump, weak=False)
worker_process_shutdown.connect(_dump, weak=False)
