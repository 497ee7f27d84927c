"""The setpoint strategy's inputs in the supervisor (issue 13): the preset's setpoint, the sensor
the control follows and the head's thermo-on; the head command from its setting."""

from __future__ import annotations

from dataclasses import replace

from minisplit.controller.core.control import ControlOutput, ZoneOutput
from minisplit.controller.core.head_setpoint import HeadSetting
from minisplit.controller.core.interlocks import InterlockLimits
from minisplit.controller.core.observation import NO_ODU, HeadReport, Observer, ZoneSetup
from minisplit.controller.core.room_sensor import SensorSource
from minisplit.controller.core.settings import Preset, UnitSettings, ZoneMode, ZoneSettings
from minisplit.controller.core.zone import HEAT
from minisplit.controller.service.setpoint_heads import (
    ExternalFeed,
    head_command,
    strategy_inputs,
    supplies_external,
)
from minisplit.drivers.records import HeadCommand, HeadInfo, OduCommand
from minisplit.drivers.vocabulary import FanSpeed, HeadMode, OduMode, VanePosition, ZoneAction
from tests.controller.test_observation import Head

ECO = ZoneSettings(mode=ZoneMode.HEAT, target_temperature=21.0, preset=Preset.ECO)
INFO = HeadInfo(None, None, None, False, False, False)
SETUPS = {"a": ZoneSetup((16.0, 30.0), sensor_offset_k=-0.5), "b": ZoneSetup((16.0, 30.0))}


def _output(setpoint: float) -> ControlOutput:
    head = HeadCommand(
        True, HeadMode.HEAT, FanSpeed.AUTO, VanePosition.AUTO, VanePosition.AUTO, 0, 21
    )
    zone = ZoneOutput(head, ZoneAction.HEATING, 0.5, HEAT, False, Preset.ECO, setpoint)
    return ControlOutput(OduCommand(OduMode.OFF, 0.0), {"a": zone, "b": zone}, HEAT)


def test_the_loop_gets_the_presets_setpoint_the_followed_sensor_and_thermo_on() -> None:
    heads = {"a": HeadReport(INFO, Head(20.0), True), "b": HeadReport(INFO, Head(19.0), True)}
    seen = Observer(SETUPS, InterlockLimits()).observe(
        NO_ODU, heads, dict.fromkeys("ab", ECO), UnitSettings(), 0.0
    )
    followed = {
        "a": seen.zones["a"],  # the head's own reading, with its offset
        "b": replace(seen.zones["b"], temperature=18.4, sensor=SensorSource.REMOTE),
    }
    inputs = strategy_inputs(seen, followed, _output(19.0), {"a": True, "b": None})
    a, b = inputs["a"], inputs["b"]
    assert (a.settings.target_temperature, a.settings.preset) == (19.0, Preset.ECO)
    assert (a.head_temperature, a.remote_temperature, a.thermo_on) == (19.5, None, True)
    assert (b.head_temperature, b.remote_temperature, b.thermo_on) == (19.0, 18.4, None)
    # Without the control's output (its first tick) the zone's own setpoint.
    first = strategy_inputs(seen, followed, None, {})
    assert first["a"].settings.target_temperature == 21.0


def test_a_head_reading_the_sensor_check_refused_is_no_reading_for_the_loop() -> None:
    # 150 °C read: the control follows no sensor (the check refused it); a loop given the
    # reading would switch the heating head off as far past its target.
    heads = {"a": HeadReport(INFO, Head(150.0), True), "b": HeadReport(INFO, Head(19.0), True)}
    seen = Observer(SETUPS, InterlockLimits()).observe(
        NO_ODU, heads, dict.fromkeys("ab", ECO), UnitSettings(), 0.0
    )
    followed = {"a": replace(seen.zones["a"], temperature=None), "b": seen.zones["b"]}
    inputs = strategy_inputs(seen, followed, _output(19.0), {})
    assert (inputs["a"].head_temperature, inputs["a"].remote_temperature) == (None, None)
    assert inputs["b"].head_temperature == 19.0
    # Nor does a zone the control follows nothing for get one.
    assert strategy_inputs(seen, {"b": seen.zones["b"]}, None, {})["a"].head_temperature is None


def test_a_heat_cool_zone_keeps_its_two_setpoints() -> None:
    both = ZoneSettings(mode=ZoneMode.HEAT_COOL, target_temperature_low=20.0)
    heads = {z: HeadReport(INFO, Head(20.0), True) for z in "ab"}
    seen = Observer(SETUPS, InterlockLimits()).observe(
        NO_ODU, heads, dict.fromkeys("ab", both), UnitSettings(), 0.0
    )
    inputs = strategy_inputs(seen, dict(seen.zones), _output(17.0), {})
    assert inputs["a"].settings == both


def test_the_head_command_is_the_loops_setting_at_the_homeowners_fan_and_vanes() -> None:
    settings = ZoneSettings(
        mode=ZoneMode.HEAT, fan_mode=FanSpeed.LOW, swing_mode=VanePosition.SWING
    )
    setting = HeadSetting(True, HeadMode.HEAT, 23.5, 20.1, 60.0, 20.1, False)
    command = head_command(setting, settings)
    assert command == HeadCommand(
        True, HeadMode.HEAT, FanSpeed.LOW, VanePosition.SWING, VanePosition.AUTO, 0.0, 23.5
    )


class ExternalRegister:
    """A head's external-temperature register: what was written, in order."""

    def __init__(self, releases: bool = True) -> None:
        self.writes: list[float | str] = []
        self.releases = releases

    async def write_external_temperature(self, celsius: float) -> None:
        self.writes.append(celsius)

    async def release_external_temperature(self) -> bool:
        if self.releases:
            self.writes.append("release")
        return self.releases


def _feeding(external: float | None, at: float | None, room: float | None = 20.0) -> HeadSetting:
    return HeadSetting(True, HeadMode.HEAT, 22.0, external, at, room, False)


async def test_the_external_temperature_is_released_once_the_loop_stops_supplying_it() -> None:
    feed, head = ExternalFeed(), ExternalRegister()
    await feed.write("a", head, _feeding(20.1, 0.0))
    await feed.write("a", head, _feeding(20.1, 0.0))  # the loop did not rewrite it: nothing
    assert head.writes == [20.1]
    await feed.write("a", head, _feeding(20.1, 0.0, room=None))  # no reading: stale from now
    await feed.write("a", head, _feeding(20.1, 0.0, room=None))  # released once
    assert head.writes == [20.1, "release"]
    await feed.write("a", head, _feeding(20.1, 0.0))  # supplied again: the value goes back
    assert head.writes == [20.1, "release", 20.1]
    standby = _feeding(20.1, 0.0)._replace(mode=HeadMode.FAN_ONLY)
    await feed.write("a", head, standby)  # a mode the loop does not regulate in
    assert head.writes[-1] == "release"


async def test_a_head_never_given_one_is_not_released_and_a_failed_release_is_retried() -> None:
    feed, head = ExternalFeed(), ExternalRegister(releases=False)
    await feed.write("a", head, _feeding(None, None))
    assert head.writes == []
    await feed.write("a", head, _feeding(20.1, 0.0))
    await feed.write("a", head, _feeding(20.1, 0.0, room=None))
    head.releases = True
    await feed.write("a", head, _feeding(20.1, 0.0, room=None))  # tried again
    assert head.writes == [20.1, "release"]
    assert supplies_external(_feeding(20.1, 0.0)) and not supplies_external(_feeding(None, None))


def test_a_switch_point_the_control_met_early_reaches_the_setpoint_heads() -> None:
    # The zone is off until its program switches it on; optimal start runs it on the coming
    # settings already: the setpoint head is switched on in heat at the loop's setpoint.
    off = ZoneSettings(mode=ZoneMode.OFF)
    morning = ZoneSettings(mode=ZoneMode.HEAT, target_temperature=21.0)
    heads = {z: HeadReport(INFO, Head(19.0), True) for z in "ab"}
    seen = Observer(SETUPS, InterlockLimits()).observe(
        NO_ODU, heads, dict.fromkeys("ab", off), UnitSettings(), 0.0
    )
    output = _output(21.0)
    early = output._replace(
        zones={**output.zones, "a": output.zones["a"]._replace(settings=morning)}
    )
    inputs = strategy_inputs(seen, dict(seen.zones), early, {})
    assert inputs["a"].settings.mode is ZoneMode.HEAT
    assert inputs["a"].settings.target_temperature == 21.0
    assert inputs["b"].settings.mode is ZoneMode.OFF  # no settings given: the zone's own
