"""`execute_job` as frappe.enqueue names it; here it records the call in the file named by `path`."""

from __future__ import annotations

from typing import Any


def execute_job(site: str, method: str, event: Any, job_name: str, kwargs: dict[str, Any], user: Any = None,
                is_async: bool = True, retry: int = 0) -> str:
    with open(kwargs["path"], "a", encoding="utf-8") as handle:
        handle.write(f"frappe {site} {method} {kwargs['text']}\n")
    return "ok"
