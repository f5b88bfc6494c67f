"""The seed's section 2.2, as an app writes it: a whitelisted method a page calls to start a job."""

from __future__ import annotations

from bench_jobs import enqueue, get_current_site, whitelist


def long_running_task(doc_name: str) -> str:
    """The background job (the seed processes a document; here it says which one, for the test)."""
    return f"processed {doc_name} on {get_current_site()}"


@whitelist()
def start_background_job(doc_name: str) -> str:
    enqueue("testapp.web_jobs.long_running_task", doc_name=doc_name, enqueue_after_commit=True)
    return "任务已加入队列"  # "the job is queued", as the seed answers


@whitelist()
def start_then_fail(doc_name: str) -> None:
    """Enqueues after commit, then fails: the job must never be sent."""
    enqueue("testapp.web_jobs.long_running_task", doc_name=doc_name, enqueue_after_commit=True)
    raise ValueError(f"cannot process {doc_name}")


@whitelist(allow_guest=True, methods=["GET"])
def ping() -> str:
    return "pong"


@whitelist(methods=["POST"])
def add(a: int, b: int) -> int:
    return int(a) + int(b)


@whitelist()
def enqueue_failing(message: str = "boom") -> str:
    return enqueue("testapp.web_jobs.fail", message=message)


@whitelist()
def enqueue_with_payload(**kwargs: object) -> str:
    return enqueue("testapp.enqueue_jobs.echo", **kwargs)


@whitelist()
def nothing() -> None:
    return None


def fail(message: str) -> None:
    raise RuntimeError(message)


def not_whitelisted() -> str:
    return "never over HTTP"
