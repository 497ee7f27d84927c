"""Settings transitions: the rules every change follows, whoever asks for it."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minisplit.controller.core.settings import Preset, UnitSettings, ZoneMode, ZoneSettings
from minisplit.controller.core.transitions import (
    HEAT_COOL_DEADBAND_K,
    SetDemandLimit,
    SetFan,
    SetMode,
    SetPower,
    SetPreset,
    SetQuiet,
    SetSwing,
    SetSwingHorizontal,
    SetTarget,
    Side,
    ZoneTransition,
    apply_unit,
    apply_zone,
    clamp_setpoint,
    setpoint_range,
)
from minisplit.drivers.vocabulary import FanSpeed, VanePosition

HEATING = ZoneSettings(mode=ZoneMode.HEAT, last_on_mode=ZoneMode.HEAT)
LIMITS = (16.0, 30.0)


def test_mode_change_remembers_the_running_mode() -> None:
    cooling = apply_zone(HEATING, SetMode(ZoneMode.COOL))
    assert (cooling.mode, cooling.last_on_mode) == (ZoneMode.COOL, ZoneMode.COOL)
    off = apply_zone(cooling, SetMode(ZoneMode.OFF))
    assert (off.mode, off.last_on_mode) == (ZoneMode.OFF, ZoneMode.COOL)
    assert apply_zone(off, SetMode(ZoneMode.OFF)) == off


def test_power_off_and_on_restore_the_last_mode() -> None:
    dry = apply_zone(HEATING, SetMode(ZoneMode.DRY))
    off = apply_zone(dry, SetPower(False))
    assert (off.mode, off.last_on_mode) == (ZoneMode.OFF, ZoneMode.DRY)
    assert apply_zone(off, SetPower(False)) == off
    on = apply_zone(off, SetPower(True))
    assert on.mode is ZoneMode.DRY
    assert apply_zone(on, SetPower(True)) == on  # already on: nothing changes


def test_power_on_from_defaults_heats() -> None:
    assert apply_zone(ZoneSettings(), SetPower(True)).mode is ZoneMode.HEAT


def test_setpoint_sets_the_target_and_ends_a_preset() -> None:
    eco = apply_zone(HEATING, SetPreset(Preset.ECO))
    assert eco.preset is Preset.ECO
    assert eco.target_temperature == HEATING.target_temperature  # preset only
    changed = apply_zone(eco, SetTarget(Side.TARGET, 22.5))
    assert (changed.target_temperature, changed.preset) == (22.5, Preset.NONE)


def test_heat_cool_setpoints_keep_the_deadband_by_pushing_the_other() -> None:
    band = dataclasses.replace(HEATING, target_temperature_low=20.0, target_temperature_high=24.0)
    assert apply_zone(band, SetTarget(Side.LOW, 21.0)).target_temperature_high == 24.0
    pushed_up = apply_zone(band, SetTarget(Side.LOW, 23.5))
    assert (pushed_up.target_temperature_low, pushed_up.target_temperature_high) == (23.5, 24.5)
    pushed_down = apply_zone(band, SetTarget(Side.HIGH, 19.2))
    assert (pushed_down.target_temperature_low, pushed_down.target_temperature_high) == (
        18.2,
        19.2,
    )
    assert pushed_down.preset is Preset.NONE


def test_moving_the_whole_range_up_in_two_messages_lands_where_asked() -> None:
    band = dataclasses.replace(HEATING, target_temperature_low=20.0, target_temperature_high=24.0)
    # Home Assistant publishes a new range as low first, then high.
    moved = apply_zone(band, SetTarget(Side.LOW, 25.0), SetTarget(Side.HIGH, 28.0))
    assert (moved.target_temperature_low, moved.target_temperature_high) == (25.0, 28.0)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (SetFan(FanSpeed.LOW), dataclasses.replace(HEATING, fan_mode=FanSpeed.LOW)),
        (SetSwing(VanePosition.P2), dataclasses.replace(HEATING, swing_mode=VanePosition.P2)),
        (
            SetSwingHorizontal(VanePosition.SWING),
            dataclasses.replace(HEATING, swing_horizontal_mode=VanePosition.SWING),
        ),
        (SetPreset(Preset.AWAY), dataclasses.replace(HEATING, preset=Preset.AWAY)),
    ],
)
def test_enum_changes_set_one_field(change: ZoneTransition, expected: ZoneSettings) -> None:
    assert apply_zone(HEATING, change) == expected


def test_no_change_is_no_change() -> None:
    assert apply_zone(HEATING) is HEATING


def test_unit_changes() -> None:
    quiet = apply_unit(UnitSettings(), SetQuiet(True))
    assert quiet == UnitSettings(quiet=True, demand_limit_pct=100)
    limited = apply_unit(quiet, SetDemandLimit(60))
    assert limited == UnitSettings(quiet=True, demand_limit_pct=60)


def test_heat_cool_sides_leave_room_for_the_deadband() -> None:
    assert setpoint_range(*LIMITS, Side.TARGET) == (16.0, 30.0)
    assert setpoint_range(*LIMITS, Side.LOW) == (16.0, 29.0)
    assert setpoint_range(*LIMITS, Side.HIGH) == (17.0, 30.0)
    assert clamp_setpoint(31.0, *LIMITS, Side.LOW) == 29.0
    assert clamp_setpoint(10.0, *LIMITS, Side.HIGH) == 17.0
    assert clamp_setpoint(21.5, *LIMITS, Side.TARGET) == 21.5


# Setpoints as MQTT delivers them: 0.1 K steps, within the side's range.
def _setpoint(side: Side) -> st.SearchStrategy[SetTarget]:
    low, high = setpoint_range(*LIMITS, side)
    steps = st.integers(round(low * 10), round(high * 10))
    return steps.map(lambda tenths: SetTarget(side, tenths / 10))


TRANSITIONS: st.SearchStrategy[ZoneTransition] = st.one_of(
    st.builds(SetMode, st.sampled_from(ZoneMode)),
    st.builds(SetPower, st.booleans()),
    *(_setpoint(side) for side in Side),
    st.builds(SetFan, st.sampled_from(FanSpeed)),
    st.builds(SetSwing, st.sampled_from(VanePosition)),
    st.builds(SetSwingHorizontal, st.sampled_from(VanePosition)),
    st.builds(SetPreset, st.sampled_from(Preset)),
)


@given(changes=st.lists(TRANSITIONS, max_size=30))
def test_any_sequence_of_changes_leaves_valid_settings(changes: list[ZoneTransition]) -> None:
    """From valid settings, any changes within their ranges keep every setpoint within the
    zone's limits, the heat_cool band at least the deadband wide, and `last_on_mode` a mode
    that runs (what power-on restores)."""
    settings = ZoneSettings()
    for change in changes:
        settings = apply_zone(settings, change)
        for value in (
            settings.target_temperature,
            settings.target_temperature_low,
            settings.target_temperature_high,
        ):
            assert LIMITS[0] <= value <= LIMITS[1], (change, settings)
        band = settings.target_temperature_high - settings.target_temperature_low
        assert band >= HEAT_COOL_DEADBAND_K - 1e-9, (change, settings)
        assert settings.last_on_mode is not ZoneMode.OFF
        if isinstance(change, SetTarget):
            assert settings.preset is Preset.NONE
