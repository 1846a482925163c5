"""Meeting-room booking rules (rooms.rules): pure functions, driven with fixed times.

Local times are in Asia/Shanghai (UTC+8, no daylight saving) unless a test says otherwise.
Monday 23 November 2026 is the reference week.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from core.errors import BadRequest
from rooms.models import Booking, BookingStatus, OpenHours, Room, RoomStatus
from rooms.rules import (
    CHECKIN_OPENS_MINUTES,
    MAX_OCCURRENCES,
    Recurrence,
    busy_intervals,
    check_booking,
    check_in_refusal,
    conflicts,
    local_day_bounds,
    local_week_bounds,
    occurrences,
    overlaps,
    parse_recurrence,
    release_due,
    release_due_at,
    room_state,
)

TZ = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0, month: int = 11, tz: ZoneInfo = TZ) -> datetime:
    """A local wall-clock time in 2026, as the UTC datetime the rules take."""
    return datetime(2026, month, day, hour, minute, tzinfo=tz).astimezone(UTC)


NOW = at(23, 9)  # Monday 09:00 local


def room(**changes: Any) -> Room:
    fields: dict[str, Any] = {
        "id": "r1", "name": "Room 301", "building": "A", "floor": "3", "capacity": 10,
        "area_m2": 40.0, "equipment": frozenset({"projector"}), "requires_approval": False,
        "managers": ("roommgr",), "open_hours": OpenHours(time(8), time(18))}
    fields.update(changes)
    return Room(**fields)


def booking(start: datetime, end: datetime, id: str = "b1",
            status: BookingStatus = BookingStatus.CONFIRMED, **changes: Any) -> Booking:
    return Booking(id=id, room_id="r1", title=f"meeting {id}", booker="staff01", start=start,
                   end=end, status=status, **changes)


def refusal(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(BadRequest) as caught:
        call(*args, **kwargs)
    return caught.value.message


# --- overlaps and conflicts -----------------------------------------------------------------

def test_intervals_that_share_time_overlap() -> None:
    assert overlaps(at(23, 10), at(23, 11), at(23, 10, 30), at(23, 12))
    assert overlaps(at(23, 10), at(23, 12), at(23, 10, 30), at(23, 11))  # one inside the other
    assert overlaps(at(23, 10), at(23, 11), at(23, 10), at(23, 11))  # the same


def test_back_to_back_intervals_do_not_overlap() -> None:
    assert not overlaps(at(23, 10), at(23, 11), at(23, 11), at(23, 12))
    assert not overlaps(at(23, 11), at(23, 12), at(23, 10), at(23, 11))


def test_separate_intervals_do_not_overlap() -> None:
    assert not overlaps(at(23, 10), at(23, 11), at(23, 14), at(23, 15))


def test_conflicts_report_every_clashing_occurrence_with_each_booking_it_hits() -> None:
    morning = booking(at(24, 9), at(24, 10), id="morning")
    late = booking(at(24, 10, 30), at(24, 11), id="late")
    thursday = booking(at(26, 10), at(26, 11), id="thursday")
    wanted = [(at(23, 9, 30), at(23, 10, 45)),  # Monday: free
              (at(24, 9, 30), at(24, 10, 45)),  # Tuesday: hits both
              (at(25, 9, 30), at(25, 10, 45)),  # Wednesday: free
              (at(26, 9, 30), at(26, 10, 45))]  # Thursday: hits one
    found = conflicts([thursday, late, morning], wanted)
    assert [(i, b.id) for i, b in found] == [(1, "morning"), (1, "late"), (3, "thursday")]


def test_only_pending_and_confirmed_bookings_conflict() -> None:
    slot = (at(24, 9), at(24, 10))
    held = [booking(*slot, id=s.value, status=s) for s in BookingStatus]
    assert sorted(b.id for _, b in conflicts(held, [slot])) == ["confirmed", "pending"]


def test_a_booking_touching_the_wanted_slot_is_no_conflict() -> None:
    held = [booking(at(24, 9), at(24, 10)), booking(at(24, 11), at(24, 12), id="b2")]
    assert conflicts(held, [(at(24, 10), at(24, 11))]) == []


# --- check_booking --------------------------------------------------------------------------

def test_a_valid_booking_passes() -> None:
    check_booking(room(), at(23, 10), at(23, 11), NOW, TZ, headcount=10)


def test_a_room_under_maintenance_is_refused_with_its_reason() -> None:
    closed = room(status=RoomStatus.MAINTENANCE, status_reason="projector repair")
    assert refusal(check_booking, closed, at(23, 10), at(23, 11), NOW, TZ, 1) == (
        "room_id: the room is under maintenance: projector repair")


def test_a_retired_room_is_refused() -> None:
    assert refusal(check_booking, room(status=RoomStatus.RETIRED), at(23, 10), at(23, 11),
                   NOW, TZ, 1) == "room_id: the room is retired"


def test_the_room_status_is_checked_before_the_times() -> None:
    assert refusal(check_booking, room(status=RoomStatus.RETIRED), at(23, 11), at(23, 10),
                   NOW, TZ, 1) == "room_id: the room is retired"


def test_an_end_not_after_the_start_is_refused() -> None:
    assert refusal(check_booking, room(), at(23, 11), at(23, 10), NOW, TZ, 1) == (
        "end: not after start")
    assert refusal(check_booking, room(), at(23, 11), at(23, 11), NOW, TZ, 1) == (
        "end: not after start")


def test_a_start_in_the_past_is_refused_but_now_itself_is_allowed() -> None:
    assert refusal(check_booking, room(), NOW - timedelta(minutes=1), at(23, 10), NOW, TZ,
                   1) == "start: in the past"
    check_booking(room(), NOW, at(23, 10), NOW, TZ, 1)


def test_a_start_beyond_the_booking_window_is_refused() -> None:
    start = NOW + timedelta(days=30)
    check_booking(room(window_days=30), start, start + timedelta(hours=1), NOW, TZ, 1)
    later = start + timedelta(minutes=1)
    assert refusal(check_booking, room(window_days=30), later, later + timedelta(hours=1),
                   NOW, TZ, 1) == "start: beyond the booking window of 30 days"


def test_a_booking_longer_than_the_room_allows_is_refused() -> None:
    check_booking(room(max_hours=2), at(23, 10), at(23, 12), NOW, TZ, 1)
    assert refusal(check_booking, room(max_hours=2), at(23, 10), at(23, 12, 1), NOW, TZ,
                   1) == "end: longer than the room's maximum of 2 hours"
    assert refusal(check_booking, room(max_hours=1.5), at(23, 10), at(23, 12), NOW, TZ,
                   1) == "end: longer than the room's maximum of 1.5 hours"


def test_open_hours_are_inclusive_of_opening_and_closing_time() -> None:
    check_booking(room(), at(24, 8), at(24, 9), NOW, TZ, 1)
    check_booking(room(), at(24, 17), at(24, 18), NOW, TZ, 1)


def test_a_start_before_opening_is_refused() -> None:
    assert refusal(check_booking, room(), at(24, 7, 30), at(24, 9), NOW, TZ, 1) == (
        "start: outside the room's open hours 08:00-18:00")


def test_a_start_at_or_after_closing_is_refused() -> None:
    assert refusal(check_booking, room(), at(24, 18), at(24, 19), NOW, TZ, 1) == (
        "start: outside the room's open hours 08:00-18:00")


def test_an_end_after_closing_is_refused() -> None:
    assert refusal(check_booking, room(), at(24, 17), at(24, 18, 30), NOW, TZ, 1) == (
        "end: outside the room's open hours 08:00-18:00")


def test_a_booking_running_into_the_next_local_day_is_refused() -> None:
    always = room(open_hours=OpenHours(time(0), time(23, 59)), max_hours=8)
    assert refusal(check_booking, always, at(24, 23), at(25, 1), NOW, TZ, 1) == (
        "end: outside the room's open hours 00:00-23:59")


def test_open_hours_are_local_time_not_utc() -> None:
    # 08:30 in Shanghai is 00:30 UTC: fine; 07:00 UTC is 15:00 local: also fine.
    check_booking(room(), datetime(2026, 11, 24, 0, 30, tzinfo=UTC),
                  datetime(2026, 11, 24, 7, 0, tzinfo=UTC), NOW, TZ, 1)


def test_more_people_than_the_room_holds_are_refused() -> None:
    assert refusal(check_booking, room(capacity=10), at(23, 10), at(23, 11), NOW, TZ, 11) == (
        "attendees: 11 people do not fit a room for 10")


# --- parse_recurrence -----------------------------------------------------------------------

def test_no_recurrence_parses_to_none() -> None:
    assert parse_recurrence(None) is None


def test_a_recurrence_parses_with_interval_one_by_default() -> None:
    assert parse_recurrence({"freq": "daily", "count": 5}) == Recurrence("daily", count=5)
    assert parse_recurrence({"freq": "weekly", "interval": 2, "until": "2026-12-31",
                             "weekdays": [5, 1, 1]}) == Recurrence(
        "weekly", interval=2, until=date(2026, 12, 31), weekdays=(1, 5))


def test_optional_recurrence_fields_given_as_null_count_as_absent() -> None:
    assert parse_recurrence({"freq": "daily", "count": 3, "until": None, "interval": None,
                             "weekdays": None}) == Recurrence("daily", count=3)


@pytest.mark.parametrize(("wire", "message"), [
    ("daily", "recurrence: an object"),
    ({"count": 3}, "recurrence.freq: one of daily, weekly"),
    ({"freq": "monthly", "count": 3}, "recurrence.freq: one of daily, weekly"),
    ({"freq": "daily", "count": 0}, "recurrence.count: 1 to 100"),
    ({"freq": "daily", "count": 101}, "recurrence.count: 1 to 100"),
    ({"freq": "daily", "count": "3"}, "recurrence.count: 1 to 100"),
    ({"freq": "daily", "count": True}, "recurrence.count: 1 to 100"),
    ({"freq": "daily", "count": 3, "until": "2026-12-01"},
     "recurrence: give count or until, not both"),
    ({"freq": "daily"}, "recurrence: give count or until"),
    ({"freq": "daily", "count": 3, "interval": 0},
     "recurrence.interval: a whole number of at least 1"),
    ({"freq": "daily", "count": 3, "interval": 1.5},
     "recurrence.interval: a whole number of at least 1"),
    ({"freq": "daily", "until": "01/12/2026"}, "recurrence.until: a date YYYY-MM-DD"),
    ({"freq": "daily", "until": "20261201"}, "recurrence.until: a date YYYY-MM-DD"),
    ({"freq": "daily", "until": "2026-02-30"}, "recurrence.until: a date YYYY-MM-DD"),
    ({"freq": "daily", "until": 20261201}, "recurrence.until: a date YYYY-MM-DD"),
    ({"freq": "daily", "count": 3, "weekdays": [1]},
     "recurrence.weekdays: only with freq weekly"),
    ({"freq": "weekly", "count": 3, "weekdays": [0]},
     "recurrence.weekdays: a list of days 1 (Monday) to 7 (Sunday)"),
    ({"freq": "weekly", "count": 3, "weekdays": [8]},
     "recurrence.weekdays: a list of days 1 (Monday) to 7 (Sunday)"),
    ({"freq": "weekly", "count": 3, "weekdays": []},
     "recurrence.weekdays: a list of days 1 (Monday) to 7 (Sunday)"),
    ({"freq": "weekly", "count": 3, "weekdays": "1,3"},
     "recurrence.weekdays: a list of days 1 (Monday) to 7 (Sunday)"),
    ({"freq": "daily", "count": 3, "byday": "MO"}, "recurrence.byday: unknown field"),
])
def test_a_bad_recurrence_is_refused_naming_the_field(wire: Any, message: str) -> None:
    assert refusal(parse_recurrence, wire) == message


# --- occurrences ----------------------------------------------------------------------------

def starts(found: list[tuple[datetime, datetime]], tz: ZoneInfo = TZ) -> list[str]:
    return [s.astimezone(tz).strftime("%a %d %H:%M") for s, _ in found]


def test_without_recurrence_the_booking_is_its_only_occurrence() -> None:
    assert occurrences(at(23, 10), at(23, 11), None, TZ) == [(at(23, 10), at(23, 11))]


def test_daily_repeats_keep_the_local_time_and_duration() -> None:
    found = occurrences(at(23, 10), at(23, 11, 30), Recurrence("daily", count=3), TZ)
    assert found == [(at(23, 10), at(23, 11, 30)), (at(24, 10), at(24, 11, 30)),
                     (at(25, 10), at(25, 11, 30))]
    assert all(s.tzinfo is UTC for pair in found for s in pair)


def test_the_count_includes_the_first_occurrence() -> None:
    assert len(occurrences(at(23, 10), at(23, 11), Recurrence("daily", count=1), TZ)) == 1


def test_daily_with_an_interval_skips_days() -> None:
    found = occurrences(at(23, 10), at(23, 11), Recurrence("daily", interval=2, count=3), TZ)
    assert starts(found) == ["Mon 23 10:00", "Wed 25 10:00", "Fri 27 10:00"]


def test_until_is_an_inclusive_local_date() -> None:
    # 07:30 local on the 26th is still the 25th in UTC: the local date counts.
    found = occurrences(at(23, 7, 30), at(23, 8), Recurrence("daily", until=date(2026, 11, 26)),
                        TZ)
    assert starts(found) == ["Mon 23 07:30", "Tue 24 07:30", "Wed 25 07:30", "Thu 26 07:30"]


def test_an_until_before_the_first_occurrence_is_refused() -> None:
    assert refusal(occurrences, at(23, 10), at(23, 11),
                   Recurrence("daily", until=date(2026, 11, 22)), TZ) == (
        "recurrence.until: before the first occurrence")


def test_weekly_repeats_on_the_weekday_of_the_start_by_default() -> None:
    found = occurrences(at(25, 14), at(25, 15), Recurrence("weekly", count=3), TZ)
    assert starts(found) == ["Wed 25 14:00", "Wed 02 14:00", "Wed 09 14:00"]


def test_weekly_repeats_on_every_listed_weekday_never_before_the_start() -> None:
    # Starts on a Wednesday: that week's Monday is already past, its Friday is not.
    rule = Recurrence("weekly", weekdays=(1, 5), until=date(2026, 12, 8))
    found = occurrences(at(25, 14), at(25, 15), rule, TZ)
    assert starts(found) == ["Wed 25 14:00", "Fri 27 14:00", "Mon 30 14:00", "Fri 04 14:00",
                             "Mon 07 14:00"]


def test_weekly_with_an_interval_uses_every_nth_week_counted_from_the_start() -> None:
    rule = Recurrence("weekly", interval=2, weekdays=(2, 4), count=5)
    found = occurrences(at(24, 9), at(24, 10), rule, TZ)
    # Tue 24 Nov, Thu 26 Nov, (week of 30 Nov skipped), Tue 8 Dec, Thu 10 Dec, ...
    assert [s.astimezone(TZ).date().isoformat() for s, _ in found] == [
        "2026-11-24", "2026-11-26", "2026-12-08", "2026-12-10", "2026-12-22"]


def test_repeats_keep_local_wall_time_across_a_daylight_saving_change() -> None:
    berlin = ZoneInfo("Europe/Berlin")  # summer time ends Sunday 25 October 2026
    start = at(22, 9, month=10, tz=berlin)
    found = occurrences(start, start + timedelta(hours=1), Recurrence("weekly", count=2),
                        berlin)
    assert starts(found, berlin) == ["Thu 22 09:00", "Thu 29 09:00"]
    assert found[1][0] - found[0][0] == timedelta(days=7, hours=1)
    assert found[1][1] - found[1][0] == timedelta(hours=1)


def test_a_hundred_occurrences_are_allowed() -> None:
    rule = Recurrence("daily", count=MAX_OCCURRENCES)
    assert len(occurrences(at(23, 10), at(23, 11), rule, TZ)) == 100


def test_an_until_that_would_give_more_than_a_hundred_occurrences_is_refused() -> None:
    first = at(23, 10)
    last_allowed = (first.astimezone(TZ) + timedelta(days=MAX_OCCURRENCES - 1)).date()
    rule = Recurrence("daily", until=last_allowed)
    assert len(occurrences(first, at(23, 11), rule, TZ)) == MAX_OCCURRENCES
    rule = Recurrence("daily", until=last_allowed + timedelta(days=1))
    assert refusal(occurrences, first, at(23, 11), rule, TZ) == (
        "recurrence: more than 100 occurrences")


# --- check-in -------------------------------------------------------------------------------

def test_check_in_opens_exactly_ten_minutes_before_the_start() -> None:
    meeting = booking(at(23, 10), at(23, 11))
    opens = at(23, 10) - timedelta(minutes=CHECKIN_OPENS_MINUTES)
    assert check_in_refusal(meeting, opens) is None
    assert check_in_refusal(meeting, opens - timedelta(seconds=1)) == (
        "check-in opens 10 minutes before the start")


def test_check_in_is_open_until_just_before_the_end_and_closed_at_it() -> None:
    meeting = booking(at(23, 10), at(23, 11))
    assert check_in_refusal(meeting, at(23, 11) - timedelta(seconds=1)) is None
    assert check_in_refusal(meeting, at(23, 11)) == "the booking has ended"


def test_only_a_confirmed_booking_can_be_checked_in_to() -> None:
    for status in set(BookingStatus) - {BookingStatus.CONFIRMED}:
        assert check_in_refusal(booking(at(23, 10), at(23, 11), status=status),
                                at(23, 10)) == "the booking is not confirmed"


def test_a_booking_is_checked_in_to_once() -> None:
    meeting = booking(at(23, 10), at(23, 11), checked_in_at=at(23, 9, 55))
    assert check_in_refusal(meeting, at(23, 10)) == "the booking is already checked in"


def test_given_the_room_a_check_in_after_the_release_time_is_refused() -> None:
    meeting = booking(at(23, 10), at(23, 11))
    assert check_in_refusal(meeting, at(23, 10, 9), room()) is None
    assert check_in_refusal(meeting, at(23, 10, 10), room()) == (
        "the booking was released: nobody checked in within 10 minutes of the start")
    assert check_in_refusal(meeting, at(23, 10, 10), room(release_minutes=None)) is None


# --- release --------------------------------------------------------------------------------

def test_a_booking_nobody_checked_in_to_is_released_the_rooms_minutes_after_its_start() -> None:
    meeting = booking(at(23, 10), at(23, 11))
    assert release_due_at(meeting, room(release_minutes=15)) == at(23, 10, 15)
    assert not release_due(meeting, room(release_minutes=15), at(23, 10, 14))
    assert release_due(meeting, room(release_minutes=15), at(23, 10, 15))


def test_a_room_without_release_minutes_never_releases() -> None:
    meeting = booking(at(23, 10), at(23, 11))
    assert release_due_at(meeting, room(release_minutes=None)) is None
    assert not release_due(meeting, room(release_minutes=None), at(23, 12))


def test_a_checked_in_booking_is_not_released() -> None:
    meeting = booking(at(23, 10), at(23, 11), checked_in_at=at(23, 10, 2))
    assert release_due_at(meeting, room()) is None
    assert not release_due(meeting, room(), at(23, 10, 30))


def test_only_a_confirmed_booking_is_released() -> None:
    meeting = booking(at(23, 10), at(23, 11), status=BookingStatus.PENDING)
    assert release_due_at(meeting, room()) is None


# --- room_state -----------------------------------------------------------------------------

def test_a_room_is_busy_during_a_booking_until_its_end() -> None:
    meeting = booking(at(23, 10), at(23, 11))
    assert room_state([meeting], at(23, 10)) == ("busy", meeting, at(23, 11))
    assert room_state([meeting], at(23, 10, 59)) == ("busy", meeting, at(23, 11))


def test_a_busy_room_changes_at_the_current_end_even_with_a_booking_back_to_back() -> None:
    first = booking(at(23, 10), at(23, 11), id="first")
    second = booking(at(23, 11), at(23, 12), id="second")
    assert room_state([second, first], at(23, 10, 30)) == ("busy", first, at(23, 11))
    assert room_state([second, first], at(23, 11)) == ("busy", second, at(23, 12))


def test_a_free_room_changes_at_the_next_bookings_start() -> None:
    later = booking(at(23, 14), at(23, 15), id="later")
    sooner = booking(at(23, 11), at(23, 12), id="sooner", status=BookingStatus.PENDING)
    assert room_state([later, sooner], at(23, 10)) == ("free", None, at(23, 11))
    assert room_state([later, sooner], at(23, 12)) == ("free", None, at(23, 14))


def test_a_room_with_nothing_ahead_is_free_with_no_next_change() -> None:
    past = booking(at(23, 8), at(23, 9))
    assert room_state([past], at(23, 10)) == ("free", None, None)
    assert room_state([], at(23, 10)) == ("free", None, None)


def test_ended_bookings_do_not_make_a_room_busy() -> None:
    cancelled = booking(at(23, 10), at(23, 11), status=BookingStatus.CANCELLED)
    released = booking(at(23, 10), at(23, 11), id="b2", status=BookingStatus.RELEASED)
    assert room_state([cancelled, released], at(23, 10, 30)) == ("free", None, None)


# --- busy_intervals and local bounds --------------------------------------------------------

def test_busy_intervals_are_the_holding_bookings_of_the_day_clipped_and_in_order() -> None:
    day_start, day_end = local_day_bounds(date(2026, 11, 24), TZ)
    overnight = booking(at(23, 22), at(24, 1), id="overnight")
    afternoon = booking(at(24, 14), at(24, 15), id="afternoon", status=BookingStatus.PENDING)
    into_next = booking(at(24, 23), at(25, 2), id="into_next")
    cancelled = booking(at(24, 9), at(24, 10), id="cancelled", status=BookingStatus.CANCELLED)
    yesterday = booking(at(23, 10), at(23, 11), id="yesterday")
    got = busy_intervals([into_next, afternoon, cancelled, yesterday, overnight],
                         day_start, day_end)
    assert got == [
        {"start": "2026-11-23T16:00:00.000Z", "end": "2026-11-23T17:00:00.000Z",
         "booking_id": "overnight", "status": "confirmed", "title": "meeting overnight"},
        {"start": "2026-11-24T06:00:00.000Z", "end": "2026-11-24T07:00:00.000Z",
         "booking_id": "afternoon", "status": "pending", "title": "meeting afternoon"},
        {"start": "2026-11-24T15:00:00.000Z", "end": "2026-11-24T16:00:00.000Z",
         "booking_id": "into_next", "status": "confirmed", "title": "meeting into_next"},
    ]


def test_a_booking_ending_at_the_days_start_is_not_busy_that_day() -> None:
    day_start, day_end = local_day_bounds(date(2026, 11, 24), TZ)
    assert busy_intervals([booking(at(23, 23), at(24, 0))], day_start, day_end) == []


def test_a_local_day_in_shanghai_starts_at_16_00_utc_the_day_before() -> None:
    assert local_day_bounds(date(2026, 11, 24), TZ) == (
        datetime(2026, 11, 23, 16, tzinfo=UTC), datetime(2026, 11, 24, 16, tzinfo=UTC))


def test_a_local_day_is_midnight_to_midnight_even_when_it_is_not_24_hours() -> None:
    start, end = local_day_bounds(date(2026, 10, 25), ZoneInfo("Europe/Berlin"))
    assert end - start == timedelta(hours=25)


def test_a_local_week_runs_from_monday_to_the_next_monday() -> None:
    expected = (datetime(2026, 11, 22, 16, tzinfo=UTC), datetime(2026, 11, 29, 16, tzinfo=UTC))
    assert local_week_bounds(date(2026, 11, 23), TZ) == expected  # a Monday
    assert local_week_bounds(date(2026, 11, 29), TZ) == expected  # its Sunday
