"""The zones' programs at the service: local time from the calendar, switch points applied to
the settings as a homeowner's change and noted for the next start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from minisplit.controller.config import ZoneConfig
from minisplit.controller.core.schedule import DAY_S, HOUR_S, WEEK_S
from minisplit.controller.core.settings import Preset, ZoneMode, ZoneSettings
from minisplit.controller.core.transitions import SetSchedule, SetTarget, Side, apply_zone
from minisplit.controller.schedule_config import SwitchPoint
from minisplit.controller.service.persistence import SavedState
from minisplit.controller.service.programs import ZonePrograms, local_seconds, local_time_text
from minisplit.controller.service.state_report import ProgramState
from minisplit.drivers.vocabulary import VanePosition

BERLIN = ZoneInfo("Europe/Berlin")


def calendar(year: int, month: int, day: int, hour: int, minute: int) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()


def test_local_seconds_count_from_monday_midnight_on_the_wall_clock():
    # Monday 2026-12-07 06:30 in Berlin (UTC+1) is a whole number of weeks and 06:30 on.
    local = local_seconds(calendar(2026, 12, 7, 5, 30), BERLIN)
    assert local % WEEK_S == 6.5 * HOUR_S
    assert local_time_text(local) == "2026-12-07 06:30"
    # 03:30 UTC on that Monday is still Sunday 22:30 in New York (UTC-5).
    new_york = local_seconds(calendar(2026, 12, 7, 3, 30), timezone(timedelta(hours=-5)))
    assert new_york % WEEK_S == WEEK_S - 1.5 * HOUR_S


def test_summer_time_moves_the_local_clock_by_the_hour():
    # Berlin's clocks went from 02:00 to 03:00 on Sunday 2026-03-29 (01:00 UTC).
    before = local_seconds(calendar(2026, 3, 29, 0, 59), BERLIN)
    after = local_seconds(calendar(2026, 3, 29, 1, 1), BERLIN)
    assert after - before == 2 * 60 + HOUR_S
    assert after % WEEK_S == 6 * DAY_S + 3 * HOUR_S + 60


ZONES = [
    ZoneConfig.model_validate(
        {
            "id": "living",
            "name": "Living",
            "bus": "b",
            "unit_id": 11,
            "schedule": [
                {"at": "06:30", "mode": "heat", "temperature": 21.0},
                {"at": "22:00", "mode": "heat", "temperature": 17.0, "preset": "sleep"},
            ],
        }
    ),
    ZoneConfig.model_validate({"id": "office", "name": "Office", "bus": "b", "unit_id": 12}),
]
PROGRAMS = ZonePrograms(ZONES)
MONDAY = 2900 * WEEK_S  # a Monday 00:00 on the local clock
SWUNG = ZoneSettings(swing_mode=VanePosition.SWING)
STATE = SavedState({"living": SWUNG, "office": ZoneSettings()})


def test_only_zones_with_a_program_have_one():
    assert set(PROGRAMS.schedules) == {"living"}
    assert SwitchPoint.model_validate({"at": "06:30", "mode": "off"}).summary() == (
        "06:30 every day: off"
    )


def test_the_point_due_is_applied_as_a_homeowner_change_and_noted():
    state = PROGRAMS.apply_due(STATE, MONDAY + 7 * HOUR_S, 1e9)
    living = state.zones["living"]
    assert (living.mode, living.target_temperature) == (ZoneMode.HEAT, 21.0)
    assert living.swing_mode is VanePosition.SWING  # what a switch point does not set stays
    assert state.zones["office"] == ZoneSettings()
    assert state.schedule_applied == {"living": MONDAY + 6.5 * HOUR_S}
    # The same point is not applied again over a manual change.
    manual = state.with_zone("living", apply_zone(living, SetTarget(Side.TARGET, 23.0)), 1e9)
    assert PROGRAMS.apply_due(manual, MONDAY + 21 * HOUR_S, 1e9) is manual
    night = PROGRAMS.apply_due(manual, MONDAY + 22 * HOUR_S, 1e9)
    assert night.zones["living"].target_temperature == 17.0
    assert night.zones["living"].preset is Preset.SLEEP
    assert night.schedule_applied == {"living": MONDAY + 22 * HOUR_S}


def test_a_zone_whose_schedule_is_off_stays_as_set_and_back_on_takes_the_current_point():
    on = PROGRAMS.apply_due(STATE, MONDAY + 7 * HOUR_S, 1e9)
    living = on.zones["living"]
    off = on.with_zone("living", apply_zone(living, SetSchedule(False)), 1e9)
    assert PROGRAMS.next_switch(off, "living", MONDAY + 7 * HOUR_S) == ProgramState(
        False, None, "config"
    )
    # Past 22:00 nothing is applied, and the point last applied is forgotten.
    night = PROGRAMS.apply_due(off, MONDAY + 23 * HOUR_S, 1e9)
    assert night.zones["living"] == off.zones["living"]
    assert night.schedule_applied == {}
    # Switched on again, the point in effect (22:00's) applies at once.
    back = night.with_zone("living", apply_zone(night.zones["living"], SetSchedule(True)), 1e9)
    resumed = PROGRAMS.apply_due(back, MONDAY + 23 * HOUR_S, 1e9)
    assert resumed.zones["living"].target_temperature == 17.0
    assert resumed.schedule_applied == {"living": MONDAY + 22 * HOUR_S}


def test_the_zone_state_shows_the_program_and_its_next_switch_point():
    at = MONDAY + 7 * HOUR_S
    assert PROGRAMS.next_switch(STATE, "living", at) == ProgramState(
        True, local_time_text(MONDAY + 22 * HOUR_S), "config"
    )
    assert PROGRAMS.next_switch(STATE, "office", at) is None  # no program


def test_the_next_switch_point_is_given_to_the_control_on_its_own_clock():
    # 05:00 local is 1234.0 s on the control's (monotonic) clock: 06:30 is 1.5 h later there.
    upcoming = PROGRAMS.upcoming(STATE, MONDAY + 5 * HOUR_S, 1234.0)
    assert set(upcoming) == {"living"}  # the office has no program
    assert upcoming["living"].at_s == 1234.0 + 1.5 * HOUR_S
    assert upcoming["living"].settings.target_temperature == 21.0
    # A zone whose program is switched off looks ahead to nothing.
    off = STATE.with_zone("living", apply_zone(SWUNG, SetSchedule(False)), 1e9)
    assert PROGRAMS.upcoming(off, MONDAY + 5 * HOUR_S, 1234.0) == {}


OFFICE_PROGRAM = (SwitchPoint(at="08:00", days=["mon"], mode=ZoneMode.COOL, temperature=24.0),)


def test_a_program_from_mqtt_takes_the_place_of_the_configs_and_schedules_follow_it():
    programs = ZonePrograms(ZONES)
    living = (SwitchPoint(at="05:00", mode=ZoneMode.HEAT, temperature=19.0),)
    sent = STATE.with_program("office", OFFICE_PROGRAM).with_program("living", living)
    at = MONDAY + 9 * HOUR_S
    # Before it is in effect, the state that carries it runs on it all the same.
    assert set(programs.schedules) == {"living"}
    due = programs.apply_due(sent, at, 1e9)
    assert due.zones["office"].mode is ZoneMode.COOL
    assert due.zones["living"].target_temperature == 19.0
    assert programs.next_switch(sent, "office", at) == ProgramState(
        True, local_time_text(MONDAY + WEEK_S + 8 * HOUR_S), "mqtt"
    )
    programs.follow(sent)
    assert programs.schedules["office"].times == (8 * HOUR_S,)
    assert programs.schedules["living"].times[0] == 5 * HOUR_S
    # Cleared: the config's program again, and none where the config has none.
    programs.follow(STATE)
    assert set(programs.schedules) == {"living"}
    assert programs.schedules["living"] == PROGRAMS.schedules["living"]
    assert programs.source(STATE, "living") == "config" and programs.source(STATE, "office") is None
    assert programs.next_switch(STATE, "office", at) is None


def test_optimal_start_looks_ahead_to_a_program_sent_over_mqtt():
    living = (SwitchPoint(at="05:30", mode=ZoneMode.HEAT, temperature=22.0),)
    sent = STATE.with_program("living", living).with_program("office", OFFICE_PROGRAM)
    upcoming = ZonePrograms(ZONES).upcoming(sent, MONDAY + 5 * HOUR_S, 0.0)
    assert upcoming["living"].at_s == 0.5 * HOUR_S
    assert upcoming["living"].settings.target_temperature == 22.0
    assert (
        upcoming["office"].at_s == 3 * HOUR_S and upcoming["office"].settings.mode is ZoneMode.COOL
    )
