"""`get_all("RQ Job", filters=..., fields=...)`: jobs and workers as Frappe's list API shapes them.

The same parameters as `frappe.get_all` and `/api/resource/RQ Job` (`filters`, `fields`, `order_by`,
`limit_start`, `limit_page_length`), for one site. Pages come from the per-site index ZSETs
(jobs/queries.py): a status + queue filter reads one ZSET with ZRANGE start..start+page (O(log N +
page)); without them the queues and states are merged (counts by ZCARD skip whole states; within a state
each queue contributes at most start + page ids). Started jobs come from the bench-wide started set
(jobs/running.py), paged in memory. A `method like` filter reads pages until the page is full, capped
like `jobs list --method`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from bench_jobs.errors import BenchJobsError, JobNotFound
from bench_jobs.jobs import indexes
from bench_jobs.jobs.keys import STARTED, STOPPED, Keys
from bench_jobs.jobs.model import Job
from bench_jobs.jobs.queries import (
    INDEX_OF,
    LIST_STATES,
    METHOD_SCAN_CAP,
    NEWEST_FIRST,
    SCAN_BATCH,
    ListRow,
    job_detail,
    list_row,
    worker_rows,
)
from bench_jobs.jobs.running import read_started

if TYPE_CHECKING:
    import redis

    from bench_jobs.bench.layout import Bench

DOCTYPES = ("RQ Job", "RQ Worker")
MAX_PAGE = 500
DEFAULT_PAGE = 20

# Frappe's RQ Job field names beside ours; `name` is the job id, `job_name` the method.
JOB_ALIASES = {"name": "id", "job_id": "id", "job_name": "method", "arguments": "kwargs", "creation": "enqueued_at",
               "modified": "ended_at", "exc_info": "error"}
JOB_FIELDS = ("id", "status", "queue", "site", "method", "kwargs", "enqueued_at", "started_at", "ended_at",
              "attempts", "error")
FILTERABLE = {"status", "queue", "method", "site"}
ORDERABLE = {"creation", "modified", "enqueued_at", "started_at", "ended_at", "id", "name"}


class InvalidQuery(BenchJobsError):
    """A filter, field or order the list API does not know (HTTP 417)."""


# -- parameters ------------------------------------------------------------------------------------
def normalise_filters(filters: Any) -> list[tuple[str, str, Any]]:
    """Frappe's forms — {"status": "failed"}, {"status": ["in", [...]]}, [["status", "=", "x"]],
    [["RQ Job", "status", "=", "x"]] — as (field, operator, value) triples."""
    if not filters:
        return []
    out: list[tuple[str, str, Any]] = []
    if isinstance(filters, dict):
        for name, value in filters.items():
            if isinstance(value, list | tuple) and len(value) == 2 and isinstance(value[0], str):
                out.append((name, value[0].lower(), value[1]))
            else:
                out.append((name, "=", value))
        return out
    if not isinstance(filters, list | tuple):
        raise InvalidQuery(f"filters must be a dict or a list, not {type(filters).__name__}",
                           'e.g. {"status": "failed"} or [["status", "in", ["failed", "queued"]]]')
    for item in filters:
        if not isinstance(item, list | tuple) or len(item) not in (3, 4):
            raise InvalidQuery(f"bad filter {item!r}", 'each filter is ["field", "operator", value]')
        name, op, value = item[-3:]
        out.append((str(name), str(op).lower(), value))
    return out


def _values(op: str, value: Any) -> list[str]:
    if op in ("in", "not in"):
        items = value.split(",") if isinstance(value, str) else list(value or [])
        return [str(v).strip() for v in items]
    return [str(value)]


def _pick(allowed: list[str], name: str, op: str, value: Any) -> list[str]:
    """Narrow `allowed` by one =/!=/in/not in filter."""
    values = _values(op, value)
    if op in ("=", "in"):
        return [a for a in allowed if a in values]
    if op in ("!=", "not in"):
        return [a for a in allowed if a not in values]
    raise InvalidQuery(f"operator '{op}' is not supported on {name}", "use =, !=, in or not in")


def _order(order_by: str | None) -> bool | None:
    """None = each state's natural order; True = newest first; False = oldest first."""
    if not order_by:
        return None
    parts = order_by.replace("`", "").split()
    name = parts[0].split(".")[-1]
    if name not in ORDERABLE or len(parts) > 2 or (len(parts) == 2 and parts[1].lower() not in ("asc", "desc")):
        raise InvalidQuery(f"cannot order by '{order_by}'",
                           f"order by one of {', '.join(sorted(ORDERABLE))}, then asc or desc")
    return len(parts) == 1 or parts[1].lower() == "desc"


def _fields(fields: Any) -> list[str]:
    if fields in (None, "", []):
        return ["name"]
    if isinstance(fields, str):
        fields = [fields]
    names = [str(f).strip().replace("`", "") for f in fields]
    if "*" in names:
        return ["name", *JOB_FIELDS]
    for name in names:
        if JOB_ALIASES.get(name, name) not in JOB_FIELDS:
            raise InvalidQuery(f"unknown field '{name}' of RQ Job",
                               f"fields: {', '.join(['name', *JOB_FIELDS])}")
    return names


def _page(limit_start: Any, limit_page_length: Any) -> tuple[int, int]:
    try:
        start = int(limit_start or 0)
        length = DEFAULT_PAGE if limit_page_length in (None, "") else int(limit_page_length)
    except (TypeError, ValueError):
        raise InvalidQuery("limit_start and limit_page_length must be whole numbers", "e.g. 0 and 20") from None
    if start < 0 or length < 0:
        raise InvalidQuery("limit_start and limit_page_length must be >= 0", "e.g. 0 and 20")
    return start, min(length or MAX_PAGE, MAX_PAGE)


# -- RQ Job ----------------------------------------------------------------------------------------
def get_jobs(client: redis.Redis, bench: Bench, site: str | list[str], *, filters: Any = None, fields: Any = None,
             order_by: str | None = None, limit_start: Any = 0, limit_page_length: Any = DEFAULT_PAGE,
             queues: list[str] | None = None) -> list[dict[str, Any]]:
    """The jobs of `site` (the API: one site), or of several sites merged in time order (the dashboard)."""
    sites = [site] if isinstance(site, str) else list(site)
    statuses = [*LIST_STATES, STOPPED]
    queues = list(queues or bench.queue_names())
    method: list[tuple[str, Any]] = []
    for name, op, value in normalise_filters(filters):
        name = JOB_ALIASES.get(name, name)
        if name not in FILTERABLE:
            raise InvalidQuery(f"cannot filter RQ Job on '{name}'", f"filter on {', '.join(sorted(FILTERABLE))}")
        if name == "status":
            statuses = _pick(statuses, name, op, value)
        elif name == "queue":
            queues = _pick(queues, name, op, value)
        elif name == "site":
            sites = _pick(sites, name, op, value)
            if not sites:
                return []
        else:
            if op not in ("=", "like", "in"):
                raise InvalidQuery(f"operator '{op}' is not supported on method", "use =, in or like")
            method.append((op, value))
    names = _fields(fields)
    start, length = _page(limit_start, limit_page_length)
    newest = _order(order_by)
    places = [(queue, one) for one in sites for queue in queues]
    keys = Keys(bench.bench_id)
    rows = indexes.converting(client, keys, bench.queue_names(),
                              lambda: _select(client, keys, places, statuses, method, start, length, newest))
    return [_shape(row, names) for row in rows]


def _method_ok(method: str, tests: list[tuple[str, Any]]) -> bool:
    for op, value in tests:
        if op == "=" and method != str(value):
            return False
        if op == "in" and method not in _values(op, value):
            return False
        if op == "like" and not fnmatch.fnmatchcase(method, str(value).replace("%", "*").replace("_", "?")):
            return False
    return True


def _select(client: redis.Redis, keys: Keys, places: list[tuple[str, str]], statuses: list[str],
            method: list[tuple[str, Any]], start: int, length: int, newest: bool | None) -> list[ListRow]:
    """`length` rows after skipping `start`, state by state in LIST_STATES order."""
    by_index: dict[str, set[str]] = {}
    for status in statuses:
        by_index.setdefault(INDEX_OF.get(status, status), set()).add(status)
    states = [s for s in LIST_STATES if s in by_index]
    started = read_started(client, keys) if STARTED in states else None
    totals = indexes.state_counts(client, keys, states, places, started)
    rows: list[ListRow] = []
    for state in states:
        # Exact: every job of this index is wanted, so positions are plain offsets (no reading to filter).
        held = {state} | {s for s, home in INDEX_OF.items() if home == state}
        exact = not method and held <= by_index[state]
        if exact and start >= totals[state]:
            start -= totals[state]  # the whole state lies before the page: skip it by its count alone
            continue
        order = (state in NEWEST_FIRST) if newest is None else newest
        if started is not None and state == STARTED:
            window = _list_window(started.ids(places, newest=order))
        else:
            window = _index_window(client, keys, [keys.index(state, queue, site) for queue, site in places], order)
        got, start = _from_state(client, window, state, by_index[state], method, start, length - len(rows), exact)
        rows.extend(got)
        if len(rows) >= length:
            break
    return rows[:length]


def _from_state(client: redis.Redis, window: Callable[[int, int], list[str]], state: str, wanted: set[str],
                method: list[tuple[str, Any]], start: int, want: int, exact: bool) -> tuple[list[ListRow], int]:
    """Rows of one state (ids `window(start, count)` in its order); returns them and what is left of
    `start` to skip."""
    rows: list[ListRow] = []
    position, scanned = (start, 0) if exact else (0, 0)
    skip = 0 if exact else start
    # Filtering reads from a small first batch up (most pages fill from it), growing to SCAN_BATCH.
    batch = want if exact else min(SCAN_BATCH, max(2 * (want + skip), 50))
    while len(rows) < want and scanned < METHOD_SCAN_CAP and batch > 0:
        ids = window(position, batch)
        if not ids:
            break
        jobs = Job.fetch_many(client, ids, Job.PAGE)
        for job_id in ids:
            if not jobs[job_id].exists:
                continue  # expired hash; its id leaves the index later
            row = list_row(jobs[job_id], state)
            if row["status"] not in wanted or not _method_ok(row["method"] or "", method):
                continue
            if skip:
                skip -= 1
                continue
            rows.append(row)
            if len(rows) >= want:
                break
        scanned += len(ids)
        position += batch
        if len(ids) < batch:
            break
        if not exact:
            batch = min(batch * 4, SCAN_BATCH)
    return rows, (0 if exact else skip)


def _list_window(ids: list[str]) -> Callable[[int, int], list[str]]:
    """`window(start, count)` over ids already read (the started jobs, jobs/running.py)."""
    return lambda start, count: ids[start:start + count]


def _index_window(client: redis.Redis, keys: Keys, index_keys: list[str],
                  newest: bool) -> Callable[[int, int], list[str]]:
    """`window(start, count)`: ids start..start+count of the union of the indexes in their order
    (jobs/indexes.py: one is read directly at its offset, several are merged)."""
    return lambda start, count: indexes.window(client, keys, index_keys, start, count, newest)


def _shape(row: Mapping[str, Any], names: list[str]) -> dict[str, Any]:
    return {name: row[JOB_ALIASES.get(name, name)] for name in names}


def get_job_doc(client: redis.Redis, bench: Bench, site: str, name: str) -> dict[str, Any]:
    """One job of `site` in full (`/api/resource/RQ Job/<id>`); JobNotFound for another site's job."""
    candidates = list(dict.fromkeys([name, Keys(bench.bench_id).user_job_id(site, name)]))
    for candidate in candidates:
        try:
            doc = job_detail(client, bench, candidate)
        except JobNotFound:
            continue
        if doc["site"] == site:
            return {"name": doc["id"], **doc}
    raise JobNotFound(f"RQ Job {name} not found", "finished jobs expire after rq_results_ttl")


# -- RQ Worker -------------------------------------------------------------------------------------
def get_workers(client: redis.Redis, bench: Bench, *, filters: Any = None, fields: Any = None,
                limit_start: Any = 0, limit_page_length: Any = DEFAULT_PAGE) -> list[dict[str, Any]]:
    """Workers are few (one hash each), so filters apply in Python after one pipelined read."""
    rows = [{"name": row["name"], **row} for row in worker_rows(client, Keys(bench.bench_id))]
    for name, op, value in normalise_filters(filters):
        if rows and name not in rows[0]:
            raise InvalidQuery(f"cannot filter RQ Worker on '{name}'", f"fields: {', '.join(rows[0])}")
        rows = [r for r in rows if _pick([str(r.get(name))], name, op, value)]
    start, length = _page(limit_start, limit_page_length)
    rows = rows[start:start + length]
    names = ["name"] if fields in (None, "", []) else ([fields] if isinstance(fields, str) else list(fields))
    if "*" in names:
        return rows
    return [{n: r.get(n) for n in names} for r in rows]


# -- the Python API --------------------------------------------------------------------------------
def get_all(doctype: str, filters: Any = None, fields: Any = None, order_by: str | None = None,
            limit_start: int = 0, limit_page_length: int = DEFAULT_PAGE,
            site: str | None = None) -> list[dict[str, Any]]:
    """`frappe.get_all("RQ Job", ...)` for the current site (or `site`): list of dicts with `fields`
    (default ["name"]; "*" for all). `doctype` is "RQ Job" or "RQ Worker"."""
    from bench_jobs.bench import context
    from bench_jobs.bench.connection import redis_errors

    bench = context.local().bench
    with redis_errors(bench):
        client = context.redis_for(bench)
        if doctype == "RQ Job":
            return get_jobs(client, bench, context.require_site(site), filters=filters, fields=fields,
                            order_by=order_by, limit_start=limit_start, limit_page_length=limit_page_length)
        if doctype == "RQ Worker":
            return get_workers(client, bench, filters=filters, fields=fields, limit_start=limit_start,
                               limit_page_length=limit_page_length)
    raise InvalidQuery(f"unknown doctype '{doctype}'", f"use one of: {', '.join(DOCTYPES)}")

