"""The homeowner's commands: what the controller parses from them is the schedule's setting,
whatever the zone was set to before, in °C and in °F (the end-to-end run over a real broker is
tests/integration/test_sim_schedules.py)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from minisplit.controller.config import ZoneConfig
from minisplit.controller.core.settings import Preset, ZoneMode, ZoneSettings
from minisplit.controller.core.transitions import (
    HEAT_COOL_DEADBAND_K,
    SetPower,
    SetSwing,
    SetSwingHorizontal,
    ZoneTransition,
    apply_zone,
)
from minisplit.controller.service.commands import ZoneCommand, parse_zone_command
from minisplit.controller.service.temperature_units import TemperatureUnit
from minisplit.drivers.vocabulary import FanSpeed, VanePosition
from minisplit.hil.homeowner import command_message
from minisplit.hil.scenario import settings_transitions

ZONE = ZoneConfig(id="living", name="Living room", bus="sim", unit_id=11)  # setpoints 16..30 °C


@st.composite
def zone_settings(draw: st.DrawFn) -> ZoneSettings:
    """Settings within the zone's limits, to 0.1 °C, with the heat_cool band at least 1 K."""
    tenths = st.integers(160, 300).map(lambda t: t / 10)
    low = draw(st.integers(160, 290).map(lambda t: t / 10))
    high = draw(st.integers(round((low + HEAT_COOL_DEADBAND_K) * 10), 300).map(lambda t: t / 10))
    return ZoneSettings(
        mode=draw(st.sampled_from(ZoneMode)),
        target_temperature=draw(tenths),
        target_temperature_low=low,
        target_temperature_high=high,
        fan_mode=draw(st.sampled_from(FanSpeed)),
        preset=draw(st.sampled_from(Preset)),
    )


def parsed(change: ZoneTransition, unit: TemperatureUnit) -> ZoneTransition:
    field, payload = command_message(change, unit)
    command = parse_zone_command(ZONE, field, payload.encode(), unit)
    assert isinstance(command, ZoneCommand)
    return command.change


@given(before=zone_settings(), wanted=zone_settings())
def test_the_commands_give_any_zone_the_schedule_s_settings_in_celsius(before, wanted):
    changes = [parsed(change, TemperatureUnit.CELSIUS) for change in settings_transitions(wanted)]
    assert changes == settings_transitions(wanted)
    # All the homeowner sets (`last_on_mode` is the controller's memory of the last mode).
    after = apply_zone(before, *changes)
    assert replace(after, last_on_mode=wanted.last_on_mode) == wanted


@given(before=zone_settings(), wanted=zone_settings())
def test_in_fahrenheit_the_setpoints_come_back_within_the_payload_s_rounding(before, wanted):
    unit = TemperatureUnit.FAHRENHEIT
    after = apply_zone(before, *(parsed(c, unit) for c in settings_transitions(wanted)))
    assert (after.mode, after.fan_mode, after.preset) == (
        wanted.mode,
        wanted.fan_mode,
        wanted.preset,
    )
    for side in ("target_temperature", "target_temperature_low", "target_temperature_high"):
        assert abs(getattr(after, side) - getattr(wanted, side)) <= 0.05 / 1.8 + 1e-9  # 0.05 °F


def test_every_zone_change_has_its_command():
    unit = TemperatureUnit.CELSIUS
    for change in (
        SetPower(True),
        SetPower(False),
        SetSwing(VanePosition.SWING),
        SetSwingHorizontal(VanePosition.AUTO),
    ):
        field, payload = command_message(change, unit)
        assert parse_zone_command(ZONE, field, payload.encode(), unit) == ZoneCommand(
            "living", change
        )
