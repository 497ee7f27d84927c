"""Handheld-remote requests adopted as the zone's settings."""

import dataclasses

from minisplit.controller.core.handheld import adopt_remote_request
from minisplit.controller.core.settings import Preset, ZoneMode, ZoneSettings
from minisplit.drivers.records import RemoteRequest
from minisplit.drivers.vocabulary import FanSpeed, HeadMode

HEAT = ZoneSettings(mode=ZoneMode.HEAT, target_temperature=21.0, fan_mode=FanSpeed.AUTO)


def remote(power=True, mode="heat", setpoint=21.0, fan="auto"):
    """A request as the head driver decodes it: in the vocabulary's members."""
    return RemoteRequest(
        power,
        None if mode is None else HeadMode(mode),
        setpoint,
        None if fan is None else FanSpeed(fan),
    )


def test_the_heads_own_auto_is_the_zones_heat_cool():
    """A head with an `auto` mode (it picks heat or cool itself): the zone goes to heat_cool,
    where the controller picks; a setpoint sent with it moves the heating side."""
    after = adopt_remote_request(HEAT, remote(mode="auto", setpoint=20.0))
    assert after.mode is ZoneMode.HEAT_COOL
    assert after.target_temperature_low == 20.0 and after.target_temperature == 21.0


def test_an_unchanged_request_changes_nothing():
    assert adopt_remote_request(HEAT, remote()) == HEAT


def test_setpoint_and_fan_are_adopted_and_a_preset_ends():
    eco = dataclasses.replace(HEAT, preset=Preset.ECO)
    after = adopt_remote_request(eco, remote(setpoint=22.5, fan="high"), shown_setpoint=19.0)
    assert after.target_temperature == 22.5 and after.fan_mode is FanSpeed.HIGH
    assert after.preset is Preset.NONE


def test_the_shown_setpoint_is_the_reference():
    # Eco shows 19.0 on the head; the remote repeats it with a fan change: no setpoint change.
    eco = dataclasses.replace(HEAT, preset=Preset.ECO)
    after = adopt_remote_request(eco, remote(setpoint=19.0, fan="low"), shown_setpoint=19.0)
    assert after.target_temperature == 21.0 and after.preset is Preset.ECO
    assert after.fan_mode is FanSpeed.LOW


def test_power_off_and_back_on():
    off = adopt_remote_request(HEAT, remote(power=False))
    assert off.mode is ZoneMode.OFF and off.last_on_mode is ZoneMode.HEAT
    on = adopt_remote_request(off, remote(power=True, mode="cool"))
    assert on.mode is ZoneMode.COOL


def test_a_mode_change_is_adopted():
    assert adopt_remote_request(HEAT, remote(mode="dry")).mode is ZoneMode.DRY


def test_heat_cool_stays_and_the_shown_side_moves():
    hc = ZoneSettings(
        mode=ZoneMode.HEAT_COOL, target_temperature_low=20.0, target_temperature_high=24.0
    )
    heating = adopt_remote_request(hc, remote(mode="heat", setpoint=20.5))
    assert heating.mode is ZoneMode.HEAT_COOL and heating.target_temperature_low == 20.5
    cooling = adopt_remote_request(hc, remote(mode="cool", setpoint=23.0))
    assert cooling.mode is ZoneMode.HEAT_COOL and cooling.target_temperature_high == 23.0
    assert cooling.target_temperature_low == 20.0
    assert adopt_remote_request(hc, remote(mode="fan_only")).mode is ZoneMode.FAN_ONLY


def test_an_adopted_setpoint_is_kept_within_the_zone_limits():
    after = adopt_remote_request(HEAT, remote(setpoint=31.0), limits=(16.0, 28.0))
    assert after.target_temperature == 28.0


def test_an_adopted_heat_cool_setpoint_leaves_room_for_the_deadband():
    """The remote's setpoint moves one end of the band; the other end, pushed along to keep the
    deadband, must stay within the zone's limits too (as for an MQTT command)."""
    hc = ZoneSettings(
        mode=ZoneMode.HEAT_COOL, target_temperature_low=20.0, target_temperature_high=24.0
    )
    heating = adopt_remote_request(hc, remote(mode="heat", setpoint=31.0), limits=(16.0, 28.0))
    assert (heating.target_temperature_low, heating.target_temperature_high) == (27.0, 28.0)
    cooling = adopt_remote_request(hc, remote(mode="cool", setpoint=10.0), limits=(16.0, 28.0))
    assert (cooling.target_temperature_low, cooling.target_temperature_high) == (16.0, 17.0)
