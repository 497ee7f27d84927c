"""The weekly program of the pure core: settings in effect, next switch point, manual holds."""

from __future__ import annotations

import pytest

from minisplit.controller.core.schedule import (
    DAY_S,
    HOUR_S,
    WEEK_S,
    Switch,
    WeeklySchedule,
    due_switch,
    week_offset_s,
)
from minisplit.controller.core.settings import ZoneMode, ZoneSettings

DAY = ZoneSettings(mode=ZoneMode.HEAT, target_temperature=21.0)
NIGHT = ZoneSettings(mode=ZoneMode.HEAT, target_temperature=17.0)
WEEKEND = ZoneSettings(mode=ZoneMode.HEAT, target_temperature=22.0)

# Weekdays 06:30 day, 22:00 night; Saturday 08:00 the weekend setting (until Monday 06:30).
PROGRAM = WeeklySchedule.of(
    [(week_offset_s(day, "06:30"), DAY) for day in ("mon", "tue", "wed", "thu", "fri")]
    + [(week_offset_s(day, "22:00"), NIGHT) for day in ("mon", "tue", "wed", "thu", "fri")]
    + [(week_offset_s("sat", "08:00"), WEEKEND)]
)
WEEK = 100 * WEEK_S  # some Monday 00:00 on the caller's clock


def test_week_offsets_count_from_monday_midnight():
    assert week_offset_s("mon", "00:00") == 0.0
    assert week_offset_s("tue", "06:30") == DAY_S + 6.5 * HOUR_S
    assert week_offset_s("sun", "23:59") == WEEK_S - 60.0


def test_settings_and_next_switch_point():
    assert PROGRAM.span(WEEK + 7 * HOUR_S) == (DAY, WEEK + 22 * HOUR_S)
    assert PROGRAM.span(WEEK + 23 * HOUR_S) == (NIGHT, WEEK + DAY_S + 6.5 * HOUR_S)
    # Before Monday's first point Saturday's holds, until Monday 06:30.
    assert PROGRAM.span(WEEK + 1 * HOUR_S) == (WEEKEND, WEEK + 6.5 * HOUR_S)
    # After the week's last point the next is the next week's first.
    assert PROGRAM.span(WEEK + 6 * DAY_S) == (WEEKEND, WEEK + WEEK_S + 6.5 * HOUR_S)
    # A switch point's own moment already has its settings.
    assert PROGRAM.at(WEEK + 22 * HOUR_S) == NIGHT


def test_the_point_in_effect_and_its_moment():
    assert PROGRAM.current(WEEK + 7 * HOUR_S) == Switch(WEEK + 6.5 * HOUR_S, DAY)
    # Monday 01:00: last week's Saturday point.
    assert PROGRAM.current(WEEK + 1 * HOUR_S) == Switch(WEEK - 2 * DAY_S + 8 * HOUR_S, WEEKEND)


def test_of_two_points_at_one_moment_the_later_wins():
    schedule = WeeklySchedule.of([(0.0, DAY), (HOUR_S, NIGHT), (0.0, WEEKEND)])
    assert schedule.at(10.0) == WEEKEND
    assert schedule.times == (0.0, 0.0, HOUR_S)


def test_a_schedule_needs_points_in_order_within_the_week():
    with pytest.raises(ValueError, match="needs switch points"):
        WeeklySchedule((), ())
    with pytest.raises(ValueError, match="in order"):
        WeeklySchedule((HOUR_S, 0.0), (DAY, NIGHT))
    with pytest.raises(ValueError, match="in order"):
        WeeklySchedule((WEEK_S,), (DAY,))


def test_without_a_point_applied_the_current_one_is_due():
    assert due_switch(PROGRAM, None, WEEK + 7 * HOUR_S) == Switch(WEEK + 6.5 * HOUR_S, DAY)


def test_a_manual_change_holds_until_the_next_point():
    applied = WEEK + 6.5 * HOUR_S  # the day point was applied; the homeowner changed since
    for now in (WEEK + 6.5 * HOUR_S, WEEK + 12 * HOUR_S, WEEK + 22 * HOUR_S - 1.0):
        assert due_switch(PROGRAM, applied, now) is None
    assert due_switch(PROGRAM, applied, WEEK + 22 * HOUR_S) == Switch(WEEK + 22 * HOUR_S, NIGHT)


def test_points_missed_while_down_apply_as_the_latest():
    applied = WEEK + 6.5 * HOUR_S
    later = WEEK + 2 * DAY_S + 12 * HOUR_S  # Wednesday noon: four points passed
    assert due_switch(PROGRAM, applied, later) == Switch(WEEK + 2 * DAY_S + 6.5 * HOUR_S, DAY)


def test_a_clock_set_back_applies_no_point_twice():
    applied = WEEK + 22 * HOUR_S
    # The clock goes back an hour (autumn): 21:30 shows again, then 22:00 again.
    assert due_switch(PROGRAM, applied, WEEK + 21.5 * HOUR_S) is None
    assert due_switch(PROGRAM, applied, WEEK + 22 * HOUR_S) is None
