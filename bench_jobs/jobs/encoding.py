"""How values are written into Redis hashes, RQ's way where RQ reads them: its time format, the `data`
blob (the JSON `[func, null, args, kwargs]`, plain below STORE_BELOW bytes, zlib above), the
description, zlib-compressed tracebacks, and replies read back as text. `Job` and `WorkerRecord`
(jobs/model.py) build on these; nothing else encodes a stored value.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import zlib
from datetime import UTC, datetime
from typing import Any

RQ_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
DESCRIPTION_LIMIT = 200
RQ_ARG_LIMIT = 75  # RQ's Job.get_call_string max_length
STORE_BELOW = 1024
to_json = json.JSONEncoder(separators=(",", ":")).encode  # one bound encoder: json.dumps re-checks its options


# -- encodings ---------------------------------------------------------------------------------------
def text(value: Any) -> str | None:
    """A Redis reply as text (bytes decoded, bad UTF-8 replaced); None stays None."""
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def rq_time(epoch: float) -> str:
    """RQ's timestamp format (UTC, microseconds, trailing Z)."""
    fraction, whole = math.modf(epoch)
    micros = round(fraction * 1_000_000)  # rounded as datetime.fromtimestamp rounds it
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    return f"{_rq_second(int(whole))}.{micros:06d}Z"


@functools.lru_cache(maxsize=4)
def _rq_second(whole: int) -> str:
    # strftime once per second rather than per job: a single enqueue writes two stamps
    return datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def parse_rq_time(value: str | None) -> datetime | None:
    """`rq_time`'s text back as an aware UTC datetime; None if empty or not in that format."""
    if not value:
        return None
    try:
        return datetime.strptime(value, RQ_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def unzip_text(value: Any) -> str | None:
    """exc_info is zlib-compressed text; tolerate plain text written by other tools."""
    if value is None:
        return None
    raw = value if isinstance(value, bytes) else str(value).encode()
    with contextlib.suppress(zlib.error):
        raw = zlib.decompress(raw)
    return raw.decode("utf-8", "replace")


def rq_data(method: str, kwargs_json: str, method_json: str | None = None) -> bytes:
    """RQ's `data` field for JSONSerializer: the JSON `[func_name, instance, args, kwargs]`, plain below
    STORE_BELOW bytes, zlib-compressed above. RQ's Job.restore takes data that is not a zlib stream as it
    is (JSON's '[' is never a zlib header), and plain it is the only copy of the kwargs in the hash,
    readable without decompressing (a zlib frame around it cost 11 bytes, a `bj_kwargs` copy ~25)."""
    data = f"[{method_json or to_json(method)},null,[],{kwargs_json}]".encode()
    return zlib.compress(data, 1) if len(data) >= STORE_BELOW else data


def payload_kwargs(raw: Any) -> Any:
    """The kwargs in RQ's `data` (plain or zlib-compressed JSON `[func, instance, args, kwargs]`), or None
    when it is not that (a foreign job's pickle, junk written by hand)."""
    if raw is None:
        return None
    data = raw if isinstance(raw, bytes) else str(raw).encode()
    with contextlib.suppress(zlib.error):
        data = zlib.decompress(data)
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return parsed[3] if isinstance(parsed, list) and len(parsed) == 4 else None


def queue_of(origin: str | None) -> str | None:
    """The short queue name in RQ's `origin` (`{bench_id}:{queue}`; queue names hold no ':')."""
    return origin.rpartition(":")[2] if origin and ":" in origin else None


def describe(method: str, kwargs: dict[str, Any]) -> str:
    """The description RQ writes (`rq.utils.get_call_string`: `module.func(a=1, b='x')`, keyword arguments
    sorted, each value's repr cut at RQ_ARG_LIMIT), shortened so big payloads stay out of listings. (It
    was `module.func(**{json})`: RQ's own form is what rq-dashboard users know, and shorter.)"""
    shown = []
    for name, value in sorted(kwargs.items()):
        try:
            value_repr = repr(value)
        except (RecursionError, ValueError):  # nesting JSON just carried, or an int past str()'s digit limit
            value_repr = "..."
        if len(value_repr) > RQ_ARG_LIMIT:
            value_repr = value_repr[:RQ_ARG_LIMIT] + "..."
        shown.append(f"{name}={value_repr}")
    line = f"{method}({', '.join(shown)})"
    return line if len(line) <= DESCRIPTION_LIMIT else line[: DESCRIPTION_LIMIT - 3] + "..."


def payload_fields(method: str, kwargs: dict[str, Any], kwargs_json: str,
                   method_json: str | None = None) -> tuple[bytes, str]:
    """(RQ data blob, description) of a job's arguments; `kwargs_json` is `kwargs` as JSON."""
    return rq_data(method, kwargs_json, method_json), describe(method, kwargs)
