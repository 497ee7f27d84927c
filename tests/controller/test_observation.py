"""The observation step: device reports → the control's inputs, with unchanged inputs kept."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from minisplit.controller.core.control import ControlOutput
from minisplit.controller.core.head_setpoint import HeadSetting
from minisplit.controller.core.interlocks import InterlockLimits
from minisplit.controller.core.observation import (
    NO_ODU,
    HeadReport,
    Observer,
    OduReport,
    RemoteSample,
    ZoneSetup,
)
from minisplit.controller.core.sensor_health import RemoteReading
from minisplit.controller.core.settings import UnitSettings, ZoneMode, ZoneSettings
from minisplit.controller.service.setpoint_heads import SetpointZone, zone_action
from minisplit.controller.service.state_report import (
    UNIT_STATE_FIELDS,
    ZONE_STATE_FIELDS,
    status_line,
    unit_state,
    zone_state,
)
from minisplit.drivers.records import HeadInfo, OduInfo
from minisplit.drivers.vocabulary import HeadMode, OduMode, ZoneAction


@dataclass(frozen=True)
class Odu:
    compressor_running: bool = False
    allowed_max_frequency_hz: float = 90.0
    outdoor_temperature: float | None = 2.0
    outdoor_coil_temperature: float | None = -1.0
    defrost: bool = False
    fault: bool = False
    fault_code: str = "none"
    mode: OduMode = OduMode.HEAT
    compressor_frequency_hz: float = 0.0
    input_power_w: float = 10.0
    energy_wh: float = 1500.0


@dataclass(frozen=True)
class Head:
    return_air_temperature: float | None = 20.0
    cold_draft_prevention: bool = False
    humidity: float | None = 45.0
    fault: bool = False
    fault_code: str = "none"


ODU_INFO = OduInfo(1, 2, 7000.0, 6500.0, 20.0, 90.0, 8)
HEAD_INFO = HeadInfo(1, 2, 2500.0, True, True, False)
HEAT = ZoneSettings(mode=ZoneMode.HEAT, target_temperature=21.0)
LIMITS = InterlockLimits(min_frequency_hz=20.0, max_frequency_hz=90.0)
SETUPS = {
    "a": ZoneSetup((16.0, 30.0), sensor_offset_k=-0.5),
    "b": ZoneSetup((18.0, 26.0), remote_sensor=True, remote_sensor_timeout_s=600.0),
}


def reports(a: Head | None = None, available: bool = True) -> dict[str, HeadReport]:
    return {
        "a": HeadReport(HEAD_INFO, a or Head(), available),
        "b": HeadReport(HEAD_INFO, Head(21.0), True),
    }


def odu(status: Odu | None = None, available: bool = True, autonomous: bool = False) -> OduReport:
    return OduReport(ODU_INFO, status or Odu(), available, autonomous=autonomous)


def test_the_heads_readings_with_their_offset_limits_and_the_unit_running():
    observer = Observer(SETUPS, LIMITS)
    seen = observer.observe(
        odu(Odu(compressor_running=True)), reports(), dict.fromkeys("ab", HEAT), UnitSettings(), 0.0
    )
    a, b = seen.zones["a"], seen.zones["b"]
    assert (a.temperature, a.setpoint_limits, a.available) == (19.5, (16.0, 30.0), True)
    assert (b.temperature, b.setpoint_limits) == (21.0, (18.0, 26.0))
    assert seen.unit.compressor_running is True
    assert seen.unit.coil_below_freezing is True
    assert seen.unit.observation.rated_heating_w == 7000.0


def test_unchanged_reports_give_last_ticks_very_inputs_and_a_change_only_its_own():
    observer = Observer(SETUPS, LIMITS)
    settings = dict.fromkeys("ab", HEAT)
    first = observer.observe(odu(), reports(), settings, UnitSettings(), 0.0)
    again = observer.observe(odu(), reports(), settings, UnitSettings(), 10.0)
    assert again.zones is first.zones and again.unit is first.unit
    moved = observer.observe(odu(), reports(Head(20.1)), settings, UnitSettings(), 20.0)
    assert moved.zones is not first.zones
    assert moved.zones["a"].temperature == 20.1 - 0.5
    assert moved.zones["b"] is first.zones["b"]
    assert first.zones["a"].temperature == 19.5  # last tick's mapping is left as it was


def test_a_reading_that_comes_back_gives_the_input_made_for_it_before():
    observer = Observer(SETUPS, LIMITS)
    settings = dict.fromkeys("ab", HEAT)
    first = observer.observe(odu(), reports(), settings, UnitSettings(), 0.0).zones["a"]
    observer.observe(odu(), reports(Head(20.1)), settings, UnitSettings(), 10.0)
    back = observer.observe(odu(), reports(), settings, UnitSettings(), 20.0).zones["a"]
    assert back is first
    # Other settings (even equal ones, as another object) make the input anew.
    other = {**settings, "a": ZoneSettings(mode=ZoneMode.HEAT, target_temperature=21.0)}
    observer.observe(odu(), reports(Head(20.1)), other, UnitSettings(), 30.0)
    again = observer.observe(odu(), reports(), other, UnitSettings(), 40.0).zones["a"]
    assert again is not first and again == first


def test_the_unit_input_follows_each_reading_and_the_units_ratings():
    observer = Observer(SETUPS, LIMITS)
    first = observer.observe(odu(), reports(), dict.fromkeys("ab", HEAT), UnitSettings(), 0.0)
    warmer = Odu(outdoor_temperature=3.0, defrost=True, allowed_max_frequency_hz=None)  # type: ignore[arg-type]
    seen = observer.observe(odu(warmer), reports(), dict.fromkeys("ab", HEAT), UnitSettings(), 10.0)
    assert seen.unit is not first.unit
    assert (seen.unit.observation.outdoor_temperature, seen.unit.defrost) == (3.0, True)
    assert seen.unit.observation.allowed_max_frequency_hz == 90.0  # not reported: the maximum
    bigger = OduReport(OduInfo(1, 2, 9000.0, 8000.0, 15.0, None, 8), Odu(), True)
    seen = observer.observe(bigger, reports(), dict.fromkeys("ab", HEAT), UnitSettings(), 20.0)
    rated = seen.unit.observation
    assert (rated.rated_heating_w, rated.min_frequency_hz, rated.max_frequency_hz) == (
        9000.0,
        15.0,
        90.0,  # not reported: the control's own
    )


def test_the_inputs_it_keeps_cannot_be_changed_by_whoever_it_hands_them_to():
    observer = Observer(SETUPS, LIMITS)
    settings = dict.fromkeys("ab", HEAT)
    seen = observer.observe(odu(), reports(), settings, UnitSettings(), 0.0)
    handed_out: Any = seen.zones
    with pytest.raises(TypeError):
        handed_out["a"] = seen.zones["b"]
    assert observer.observe(odu(), reports(), settings, UnitSettings(), 10.0).zones == seen.zones


def test_a_head_that_does_not_answer_and_a_unit_never_reached():
    observer = Observer(SETUPS, LIMITS)
    never = OduReport(None, None, False, refused="wrong_device: device_kind=7")
    seen = observer.observe(
        never, reports(available=False), dict.fromkeys("ab", HEAT), UnitSettings(), 0.0
    )
    assert seen.zones["a"].available is False
    assert seen.unit.available is False
    assert seen.unit.observation.min_frequency_hz == 20.0
    state = zone_state("a", seen, None, seen.zones["a"], ())
    assert tuple(state) == ZONE_STATE_FIELDS  # what discovery's templates may name
    assert tuple(unit_state(seen, None, unsaved=False)) == UNIT_STATE_FIELDS
    assert (state["available"], state["fault"], state["action"]) == (False, None, "off")
    assert (
        unit_state(seen, None, unsaved=True)["fault"]
        == "wrong_device: device_kind=7, state_unsaved"
    )
    line = status_line(seen, {}, unsaved=False)
    assert line.startswith("zones 1/2 ok; ODU refused (wrong_device: device_kind=7)")
    assert "a offline" in line


def test_a_remote_sensor_counts_from_its_first_value_or_once_its_timeout_passed():
    observer = Observer(SETUPS, LIMITS)
    settings = dict.fromkeys("ab", HEAT)

    def remotes(now: float, samples: dict[str, RemoteSample]) -> dict[str, RemoteReading]:
        seen = observer.observe(
            odu(), reports(), settings, UnitSettings(), now, samples=samples, started_at=0.0
        )
        return dict(seen.remotes)

    assert remotes(600.0, {}) == {}  # not due yet
    (missing,) = remotes(601.0, {}).values()
    assert missing.value is None  # due, and none came: missing
    (fresh,) = remotes(700.0, {"b": RemoteSample(22.5, 650.0)}).values()
    assert (fresh.value, fresh.at, fresh.timeout_s) == (22.5, 650.0, 600.0)
    # A zone without a configured sensor follows readings sent to it all the same.
    sent = remotes(700.0, {"a": RemoteSample(19.0, 690.0), "b": RemoteSample(22.5, 650.0)})
    assert sent["a"].value == 19.0 and sent["a"].timeout_s == 900.0


def test_the_published_zone_state_says_why_a_head_asks_for_nothing():
    observer = Observer(SETUPS, LIMITS)
    lost = odu(available=False, autonomous=True)
    seen = observer.observe(lost, reports(), dict.fromkeys("ab", HEAT), UnitSettings(), 0.0)
    output: ControlOutput | None = None
    state = zone_state("b", seen, output, seen.zones["b"], ())
    assert (state["fault"], state["humidity"], state["current_temperature"]) == (
        "odu_comms",
        45.0,
        21.0,
    )
    assert unit_state(seen, output, unsaved=False)["fault"] == "autonomous"


@dataclass(frozen=True)
class BareOdu:
    """An outdoor unit whose profile has only the outdoor temperature (drivers.capabilities)."""

    compressor_running: bool | None = None
    allowed_max_frequency_hz: float | None = None
    outdoor_temperature: float | None = 4.0
    outdoor_coil_temperature: float | None = None
    defrost: bool | None = None
    fault: bool | None = None
    fault_code: str | None = None
    mode: OduMode | None = None
    compressor_frequency_hz: float | None = None
    input_power_w: float | None = None
    energy_wh: float | None = None


@dataclass(frozen=True)
class BareHead:
    return_air_temperature: float | None = 20.0
    cold_draft_prevention: bool | None = None
    humidity: float | None = None
    fault: bool | None = True  # a fault flag, but no fault code register
    fault_code: str | None = None


def test_what_a_unit_does_not_report_is_none_of_it_and_its_ratings_the_controls():
    """Roles a profile lacks: no defrost, no fault, running unknown; ratings of 0 W and the
    control's own frequency range; a head without a rated capacity counts 0 W."""
    observer = Observer(SETUPS, LIMITS)
    bare = OduReport(OduInfo(None, None, None, None, None, None, None), BareOdu(), True)
    heads = {
        zone: HeadReport(HeadInfo(None, None, None, False, False, False), BareHead(), True)
        for zone in "ab"
    }
    seen = observer.observe(bare, heads, dict.fromkeys("ab", HEAT), UnitSettings(), 0.0)
    unit = seen.unit
    assert (unit.defrost, unit.fault, unit.compressor_running) == (False, False, None)
    assert unit.coil_below_freezing is None
    observation = unit.observation
    assert (observation.rated_heating_w, observation.rated_cooling_w) == (0.0, 0.0)
    assert (observation.min_frequency_hz, observation.max_frequency_hz) == (20.0, 90.0)
    assert observation.allowed_max_frequency_hz == 90.0
    assert observation.outdoor_temperature == 4.0
    assert seen.zones["a"].rated_capacity_w == 0.0 and not seen.zones["a"].preheating
    # Published: a fault without a code says `fault`; what the unit lacks is null.
    assert zone_state("a", seen, None, None, ())["fault"] == "fault"
    state = unit_state(seen, None, False)
    assert (state["energy"], state["power"], state["defrost"]) == (None, None, False)
    assert status_line(seen, {}, False).startswith(
        "zones 2/2 ok; ODU online; faults: a fault fault"
    )


# ---- setpoint-driven heads without an outdoor unit (issue 13) --------------------------------


def _setting(power: bool = True, mode: HeadMode = HeadMode.HEAT, conflict: bool = False):
    return HeadSetting(power, mode, 24.5, None, None, 20.0, conflict)


@pytest.mark.parametrize(
    ("setting", "thermo_on", "action"),
    [
        (_setting(), True, ZoneAction.HEATING),
        (_setting(), False, ZoneAction.IDLE),  # its thermostat is satisfied
        (_setting(), None, ZoneAction.HEATING),  # not reported: the head is taken to heat
        (_setting(mode=HeadMode.COOL), True, ZoneAction.COOLING),
        (_setting(power=False), True, ZoneAction.OFF),
        (_setting(mode=HeadMode.FAN_ONLY), None, ZoneAction.FAN),
        (_setting(conflict=True), True, ZoneAction.IDLE),
    ],
)
def test_a_setpoint_driven_zones_action_follows_power_mode_and_thermo_on(
    setting: HeadSetting, thermo_on: bool | None, action: ZoneAction
) -> None:
    assert zone_action(setting, thermo_on) is action


def test_a_setpoint_driven_zone_shows_its_target_and_the_head_setpoint_beside_it():
    seen = Observer(SETUPS, LIMITS).observe(
        NO_ODU, reports(), dict.fromkeys("ab", HEAT), UnitSettings(), 0.0
    )
    setpoint = SetpointZone(_setting(), ZoneAction.IDLE)
    state = zone_state("a", seen, None, seen.zones["a"], (), setpoint)
    assert (state["target_temperature"], state["head_setpoint"]) == (21.0, 24.5)
    # No outdoor unit configured: not a fault of the heads (`odu_comms`), nor offline.
    assert (state["action"], state["demand"], state["fault"]) == ("idle", 0.0, None)
    heating = SetpointZone(_setting(), ZoneAction.HEATING)
    assert zone_state("a", seen, None, seen.zones["a"], (), heating)["demand"] == 100.0
    direct = zone_state("a", seen, None, seen.zones["a"], ())
    assert direct["head_setpoint"] is None
    assert status_line(seen, {}, unsaved=False) == (
        "zones 2/2 ok; ODU follows the heads; faults: none"
    )
