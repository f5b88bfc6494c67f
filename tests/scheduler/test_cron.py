"""Pure cron logic: next slots, missed runs and DST, without Redis or sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bench_jobs.errors import CronError
from bench_jobs.scheduler import cron

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")


def slots(expr: str, start: datetime, count: int, tz) -> list[datetime]:
    out, at = [], start
    for _ in range(count):
        at = cron.next_slot(expr, at, tz)
        out.append(at)
    return out


def iso(moments: list[datetime]) -> list[str]:
    return [m.isoformat() for m in moments]


def test_next_slot_is_strictly_after() -> None:
    at = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
    assert cron.next_slot("0 * * * *", at, UTC) == datetime(2026, 5, 1, 11, 0, tzinfo=UTC)
    assert cron.next_slot("* * * * * */5", at, UTC) == at + timedelta(seconds=5)


def test_kolkata_half_hour_offset() -> None:
    at = datetime(2026, 5, 1, 0, 0, tzinfo=UTC)  # 05:30 in Kolkata
    slot = cron.next_slot("0 9 * * *", at, KOLKATA)
    assert slot.isoformat() == "2026-05-01T09:00:00+05:30"
    assert slot.astimezone(UTC).isoformat() == "2026-05-01T03:30:00+00:00"
    assert cron.next_slot("0 0 * * *", at, KOLKATA).astimezone(UTC).hour == 18


def test_berlin_spring_forward_fixed_time_fires_once_after_the_gap() -> None:
    start = datetime(2026, 3, 28, 12, 0, tzinfo=BERLIN)
    assert iso(slots("30 2 * * *", start, 3, BERLIN)) == [
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00", "2026-03-31T02:30:00+02:00"]


def test_berlin_spring_forward_hourly_skips_the_missing_hour() -> None:
    start = datetime(2026, 3, 29, 0, 30, tzinfo=BERLIN)
    assert iso(slots("0 * * * *", start, 3, BERLIN)) == [
        "2026-03-29T01:00:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-29T04:00:00+02:00"]


def test_berlin_fall_back_fixed_time_runs_once() -> None:
    start = datetime(2026, 10, 24, 12, 0, tzinfo=BERLIN)
    assert iso(slots("30 2 * * *", start, 2, BERLIN)) == [
        "2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]


def test_berlin_fall_back_hourly_runs_every_real_hour() -> None:
    start = datetime(2026, 10, 25, 1, 30, tzinfo=BERLIN)
    got = slots("0 * * * *", start, 3, BERLIN)
    assert iso(got) == ["2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00", "2026-10-25T03:00:00+01:00"]
    assert [g.astimezone(UTC).hour for g in got] == [0, 1, 2]


def test_new_york_daily_keeps_local_midnight_across_dst() -> None:
    start = datetime(2026, 3, 7, 12, 0, tzinfo=NEW_YORK)
    got = slots("0 0 * * *", start, 3, NEW_YORK)
    assert [g.astimezone(UTC).hour for g in got] == [5, 4, 4]  # EST, then EDT from 2026-03-08 02:00
    assert all(g.hour == 0 for g in got)
    # 02:30 does not exist on 2026-03-08 in New York: it fires at 03:00 EDT.
    assert cron.next_slot("30 2 * * *", start + timedelta(days=1), NEW_YORK).isoformat() == \
        "2026-03-09T02:30:00-04:00"
    assert cron.next_slot("30 2 * * *", start, NEW_YORK).isoformat() == "2026-03-08T03:00:00-04:00"


def test_prev_slot_includes_an_exact_match() -> None:
    at = datetime(2026, 5, 1, 11, 0, tzinfo=UTC)
    assert cron.prev_slot("0 * * * *", at, UTC) == at
    assert cron.prev_slot("0 * * * *", at - timedelta(microseconds=1), UTC) == at - timedelta(hours=1)


def test_prev_slot_fall_back_fixed_time_is_the_first_occurrence() -> None:
    at = datetime(2026, 10, 25, 4, 0, tzinfo=BERLIN)
    assert cron.prev_slot("30 2 * * *", at, BERLIN).isoformat() == "2026-10-25T02:30:00+02:00"


def test_prev_slot_in_the_repeated_hour_is_its_second_pass() -> None:
    # 2026-10-25 01:30Z is 02:30 CET, inside the second pass of 02:00-03:00 in Berlin: the last hourly
    # slot is 02:00 CET (01:00Z), not 02:00 CEST; croniter alone steps back to the latter.
    at = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert cron.prev_slot("0 * * * *", at, BERLIN).astimezone(UTC) == datetime(2026, 10, 25, 1, 0, tzinfo=UTC)
    assert cron.due_slot("0 * * * *", datetime(2026, 10, 25, 0, 0, tzinfo=UTC), at, BERLIN).isoformat() == \
        "2026-10-25T02:00:00+01:00"


@pytest.mark.parametrize(("name", "changes"), [
    ("Europe/Berlin", ("2026-03-29", "2026-10-25")), ("America/New_York", ("2026-03-08", "2026-11-01")),
    ("Australia/Lord_Howe", ("2026-04-05", "2026-10-04")),  # a 30-minute DST shift
])
@pytest.mark.parametrize("expr", ["0 * * * *", "30 2 * * *", "15,45 1-3 * * *"])
def test_prev_and_next_slot_agree_around_dst_changes(name: str, changes: tuple[str, str], expr: str) -> None:
    tz = ZoneInfo(name)
    for change in changes:
        at = datetime.fromisoformat(change).replace(tzinfo=UTC) - timedelta(hours=12)
        for _ in range(36 * 2):  # every 25 minutes over a day and a half: prev <= at < the one after it
            before = cron.prev_slot(expr, at, tz)
            assert before.timestamp() <= at.timestamp() < cron.next_slot(expr, before, tz).timestamp(), (at, before)
            at += timedelta(minutes=25)


def test_due_slot_missed_runs_collapse_to_the_latest() -> None:
    last = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
    now = datetime(2026, 5, 1, 15, 20, tzinfo=UTC)  # down for five slots
    due = cron.due_slot("0 * * * *", last, now, UTC)
    assert due == datetime(2026, 5, 1, 15, 0, tzinfo=UTC)
    # then the schedule continues: nothing more until 16:00
    assert cron.due_slot("0 * * * *", due, now, UTC) is None
    assert cron.next_slot("0 * * * *", due, UTC) == datetime(2026, 5, 1, 16, 0, tzinfo=UTC)


def test_due_slot_without_history_waits_for_the_next_slot() -> None:
    assert cron.due_slot("0 0 * * *", None, datetime(2026, 5, 1, tzinfo=UTC), UTC) is None


def test_due_slot_on_time() -> None:
    last = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
    assert cron.due_slot("0 * * * *", last, datetime(2026, 5, 1, 10, 59, 59, tzinfo=UTC), UTC) is None
    assert cron.due_slot("0 * * * *", last, datetime(2026, 5, 1, 11, 0, tzinfo=UTC), UTC) == \
        datetime(2026, 5, 1, 11, 0, tzinfo=UTC)


def test_due_slot_in_berlin_after_downtime_across_spring_forward() -> None:
    last = datetime(2026, 3, 28, 2, 30, tzinfo=BERLIN)
    now = datetime(2026, 3, 29, 9, 0, tzinfo=BERLIN)
    assert cron.due_slot("30 2 * * *", last, now, BERLIN).isoformat() == "2026-03-29T03:00:00+02:00"


def test_slot_id_and_zone() -> None:
    assert cron.slot_id(datetime(2026, 3, 29, 3, 0, tzinfo=BERLIN)) == "2026-03-29T01:00:00Z"
    assert cron.zone(None) is UTC
    with pytest.raises(CronError, match="unknown time_zone"):
        cron.zone("Mars/Olympus")
