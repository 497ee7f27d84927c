"""One control tick across zones, coordinator and head commands; and random fault sequences."""

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minisplit.controller.core.compressor import UnitInput, UnitObservation, frequency_cap_hz
from minisplit.controller.core.control import (
    ControlState,
    ControlTuning,
    ZoneInput,
    control_step,
)
from minisplit.controller.core.interlocks import CompressorHistory, check_command
from minisplit.controller.core.room_sensor import HeadSensorBias, SensorSource
from minisplit.controller.core.settings import Preset, UnitSettings, ZoneMode, ZoneSettings
from minisplit.drivers.vocabulary import FanSpeed, HeadMode, OduMode, VanePosition, ZoneAction

OBSERVATION = UnitObservation(7000.0, 6500.0, 20.0, 90.0, 90.0, 5.0)
UNIT = UnitInput(
    OBSERVATION,
    available=True,
    defrost=False,
    settings=UnitSettings(quiet=True, demand_limit_pct=80),
)
TUNING = ControlTuning()
REMOTE = SensorSource.REMOTE


def zone(mode: ZoneMode, temperature: float | None, target: float = 21.0, **kw) -> ZoneInput:
    sensor = kw.pop("sensor", REMOTE)
    limits = kw.pop("limits", None)
    settings = ZoneSettings(mode=mode, target_temperature=target, **kw)
    return ZoneInput(settings, temperature, True, 2500.0, sensor=sensor, setpoint_limits=limits)


def ticks(zones, seconds, state=None, start=0.0, unit=UNIT, tuning=TUNING):
    state = state or ControlState()
    out = None
    for i in range(int(seconds // 10) + 1):
        state, out = control_step(state, zones, unit, start + 10.0 * i, tuning)
    return state, out


def test_cold_room_in_heat_gets_refrigerant_and_others_do_not():
    zones = {
        "a": zone(ZoneMode.HEAT, 18.0, fan_mode=FanSpeed.HIGH, swing_mode=VanePosition.SWING),
        "b": zone(ZoneMode.OFF, 18.0),
        "c": zone(ZoneMode.FAN_ONLY, 18.0),
    }
    _, out = control_step(ControlState(), zones, UNIT, 0.0, TUNING)
    assert out.odu.mode == "heat" and out.odu.frequency_hz >= 20.0
    assert out.odu.quiet and out.odu.demand_limit_pct == 80
    a, b, c = out.zones["a"], out.zones["b"], out.zones["c"]
    assert a.action == "heating" and a.head.capacity_request_pct > 0
    assert a.head.power and a.head.mode == "heat" and a.head.fan == "high"
    assert a.head.vane_vertical == "swing" and a.head.display_setpoint == 21.0
    assert a.temperature == 18.0 and a.setpoint == 21.0
    assert not b.head.power and b.action == "off" and b.head.capacity_request_pct == 0
    assert c.head.power and c.head.mode == "fan_only" and c.action == "fan"
    # The core speaks the shared vocabulary's members (the MQTT edge words them for HA).
    assert a.action is ZoneAction.HEATING and b.action is ZoneAction.OFF
    assert a.head.mode is HeadMode.HEAT and a.head.fan is FanSpeed.HIGH
    assert a.head.vane_vertical is VanePosition.SWING and out.odu.mode is OduMode.HEAT


def test_opposite_call_waits_with_mode_conflict():
    zones = {"a": zone(ZoneMode.HEAT, 18.0), "b": zone(ZoneMode.COOL, 28.0, target=24.0)}
    _, out = control_step(ControlState(), zones, UNIT, 0.0, TUNING)
    assert out.odu.mode == "heat"
    assert out.zones["b"].mode_conflict and out.zones["b"].action == "idle"
    assert out.zones["b"].head.capacity_request_pct == 0


def test_defrost_reports_defrosting_and_holds_integrators():
    zones = {"a": zone(ZoneMode.HEAT, 20.0)}
    state, _ = ticks(zones, 600)
    defrosting = UnitInput(OBSERVATION, True, True, UNIT.settings)
    held, out = control_step(state, zones, defrosting, 610.0, TUNING)
    assert out.zones["a"].action == "defrosting"
    assert held.zones["a"].integral == state.zones["a"].integral
    assert out.odu.frequency_hz == state.compressor.frequency_hz


def test_unavailable_head_contributes_no_demand():
    zones = {"a": ZoneInput(ZoneSettings(mode=ZoneMode.HEAT), 15.0, False, 2500.0)}
    _, out = control_step(ControlState(), zones, UNIT, 0.0, TUNING)
    assert out.odu.frequency_hz == 0 and out.zones["a"].demand == 0


def test_unavailable_unit_stops_the_compressor_with_a_forced_stop():
    zones = {"a": zone(ZoneMode.HEAT, 18.0)}
    state, out = ticks(zones, 60)
    assert out.odu.frequency_hz > 0
    gone = UnitInput(OBSERVATION, False, False)
    state, out = control_step(state, zones, gone, 70.0, TUNING)
    assert out.odu.frequency_hz == 0 and out.forced_stop


def test_a_fault_does_not_stop_the_unit():
    zones = {"a": zone(ZoneMode.HEAT, 18.0)}
    faulty = UnitInput(OBSERVATION, True, False, fault=True)
    _, out = ticks(zones, 60, unit=faulty)
    assert out.odu.frequency_hz > 0


def test_heat_cool_shows_the_setpoint_in_use_on_the_head():
    zones = {
        "a": zone(
            ZoneMode.HEAT_COOL, 27.0, target_temperature_low=20.0, target_temperature_high=24.0
        )
    }
    _, out = control_step(ControlState(), zones, UNIT, 0.0, TUNING)
    assert out.odu.mode == "cool" and out.zones["a"].head.display_setpoint == 24.0


def test_presets_move_the_setpoint_shown_and_tracked():
    eco = {"a": zone(ZoneMode.HEAT, 20.0, preset=Preset.ECO)}
    _, out = control_step(ControlState(), eco, UNIT, 0.0, TUNING)
    assert out.zones["a"].setpoint == 19.0 and out.zones["a"].head.display_setpoint == 19.0
    assert out.odu.frequency_hz == 0  # 20 °C is warm enough for eco
    away = {"a": zone(ZoneMode.HEAT, 20.0, preset=Preset.AWAY, limits=(17.0, 28.0))}
    _, out = control_step(ControlState(), away, UNIT, 0.0, TUNING)
    assert out.zones["a"].setpoint == 17.0  # 16 °C, kept within the zone's limits


def test_boost_asks_for_full_capacity_then_ends_in_comfort():
    zones = {"a": zone(ZoneMode.HEAT, 20.6, preset=Preset.BOOST)}
    state, out = ticks(zones, 60)
    assert out.zones["a"].demand == 1.0 and out.zones["a"].preset is Preset.BOOST
    state, out = ticks(zones, 1800, state, start=70.0)
    assert out.zones["a"].preset is Preset.COMFORT and out.zones["a"].demand < 1.0


def test_a_cooling_head_in_auto_runs_its_fan_quietly_and_is_off_while_idle():
    zones = {
        "cool": zone(ZoneMode.COOL, 22.0, target=24.0),
        "warm": zone(ZoneMode.COOL, 27.0, target=24.0),
        "chosen": zone(ZoneMode.COOL, 22.0, target=24.0, fan_mode=FanSpeed.HIGH),
        "both": zone(ZoneMode.HEAT_COOL, 22.0, target_temperature_low=18.0),
    }
    state, out = control_step(ControlState(), zones, UNIT, 0.0, TUNING)
    warm, cool = out.zones["warm"], out.zones["cool"]
    assert warm.head.capacity_request_pct > 0 and warm.head.power and warm.head.fan == "quiet"
    # Idle in cooling with fan auto: the head is off (its fan would run on at thermo-off),
    # while the zone stays in cool mode; a fan speed the homeowner chose keeps it running.
    assert not cool.head.power and cool.head.mode == "cool" and cool.action == "idle"
    assert out.zones["both"].head.mode == "cool" and not out.zones["both"].head.power
    assert out.zones["chosen"].head.power and out.zones["chosen"].head.fan == "high"
    # Once the room warms past its call, the head is on again and gets refrigerant.
    zones["cool"] = zone(ZoneMode.COOL, 25.5, target=24.0)
    _, out = ticks(zones, 300.0, state, start=10.0)
    assert out.zones["cool"].head.power and out.zones["cool"].head.capacity_request_pct > 0
    # The other way: idle cooling heads keep running their fan quietly.
    kept = ControlTuning(idle_cooling_off=False)
    _, out = control_step(ControlState(), {"cool": zone(ZoneMode.COOL, 22.0)}, UNIT, 0.0, kept)
    assert out.zones["cool"].head.power and out.zones["cool"].head.fan == "quiet"


def test_a_heating_head_in_auto_runs_its_fan_quietly_while_it_gets_refrigerant():
    zones = {
        "cold": zone(ZoneMode.HEAT, 19.0),
        "chosen": zone(ZoneMode.HEAT, 19.0, fan_mode=FanSpeed.LOW),
    }
    _, out = control_step(ControlState(), zones, UNIT, 0.0, TUNING)
    assert out.zones["cold"].head.capacity_request_pct > 0
    assert out.zones["cold"].head.fan == "quiet"
    assert out.zones["chosen"].head.fan == "low"


def test_an_idle_heating_head_stays_on_auto_so_the_head_stops_its_fan():
    zones = {"warm": zone(ZoneMode.HEAT, 21.5), "cold": zone(ZoneMode.HEAT, 19.0)}
    _, out = control_step(ControlState(), zones, UNIT, 0.0, TUNING)
    assert out.zones["warm"].head.capacity_request_pct == 0
    assert out.zones["warm"].head.fan == "auto"


def test_unchanged_head_commands_are_reused():
    zones = {"a": zone(ZoneMode.HEAT, 21.5)}
    state, out = control_step(ControlState(), zones, UNIT, 0.0, TUNING)
    _, again = control_step(state, zones, UNIT, 10.0, TUNING)
    assert again.zones["a"].head is out.zones["a"].head


def test_the_head_sensor_bias_is_taken_off_while_the_head_heats():
    tuning = ControlTuning(head_sensor_bias=HeadSensorBias(heating_k=1.5, tau_s=300.0))
    zones = {"a": zone(ZoneMode.HEAT, 19.0, sensor=SensorSource.HEAD)}
    state, out = ticks(zones, 3000, tuning=tuning)
    assert out.zones["a"].action == "heating"
    # After ten time constants of heating the head reads 1.5 K warm: the loop sees 17.5.
    assert out.zones["a"].temperature == pytest.approx(17.5, abs=0.01)
    remote = {"a": zone(ZoneMode.HEAT, 19.0)}
    _, out = ticks(remote, 600, state, start=3010.0, tuning=tuning)
    assert out.zones["a"].temperature == pytest.approx(19.0, abs=0.01)  # taken as it is


# ---- random sequences through the whole tick ------------------------------------------

zone_tick = st.tuples(
    st.sampled_from(list(ZoneMode)),
    st.one_of(st.none(), st.floats(10.0, 32.0)),  # None: no reading (stale/broken sensor)
    st.booleans(),  # head available
    st.sampled_from([SensorSource.REMOTE, SensorSource.HEAD]),
)
tick = st.tuples(
    st.lists(zone_tick, min_size=4, max_size=4),
    st.sampled_from([5.0, 10.0, 10.0, 10.0, 30.0, 120.0, 600.0]),
    st.floats(0.0, 90.0),  # the unit's allowed max
    st.booleans(),  # unit available
    st.booleans(),  # defrost
    st.booleans(),  # quiet
    st.sampled_from([100, 100, 80, 40, 10]),  # demand limit
)


@settings(max_examples=200, deadline=None)
@given(st.floats(0.0, 3e7), st.lists(tick, min_size=1, max_size=200))
def test_random_demand_mode_and_fault_sequences_never_break_an_interlock(start, sequence):
    """Property, for any sequence of zone modes, readings (missing, remote or head), head and
    unit availability, defrost, allowed-max, quiet and demand-limit changes:
    - every ODU command passes `interlocks.check_command` (given the forced-stop flag);
    - the frequency is 0 or within [min, cap] (cap: allowed max, quiet, demand limit);
    - between running ticks it moves by at most ramp × dt, except down to a lowered cap;
    - each start begins at the minimum frequency;
    - at most `max_starts_per_hour` starts in every calendar hour (floor(now / 3600)): the
      coordinator defers a start rather than exceed it, so this holds for every sequence;
    - a zone never both gets refrigerant and waits in mode conflict."""
    coordinator = TUNING.coordinator
    state, history, now = ControlState(), CompressorHistory(), start
    previous_hz = 0.0
    starts: dict[int, int] = {}
    for zones_now, dt, allowed_max, available, defrost, quiet, limit in sequence:
        now += dt
        zones = {
            f"z{i}": ZoneInput(
                ZoneSettings(mode=mode, target_temperature_low=20.0, target_temperature_high=24.0),
                temperature,
                head_available,
                2500.0,
                sensor=sensor,
            )
            for i, (mode, temperature, head_available, sensor) in enumerate(zones_now)
        }
        observation = UnitObservation(7000.0, 6500.0, 20.0, 90.0, allowed_max, 3.0)
        unit = UnitInput(observation, available, defrost, UnitSettings(quiet, limit))
        state, out = control_step(state, zones, unit, now, TUNING)
        history = check_command(
            history, out.odu, now, coordinator.limits, forced_stop=out.forced_stop
        )
        hz = out.odu.frequency_hz
        cap = frequency_cap_hz(observation, coordinator, quiet, limit)
        assert hz == 0 or 20.0 <= hz <= cap
        if hz and previous_hz:
            assert hz <= previous_hz + coordinator.ramp_hz_per_s * dt + 1e-9
            assert hz >= min(previous_hz - coordinator.ramp_hz_per_s * dt, cap) - 0.1
        if hz and not previous_hz:
            assert hz == 20.0
            hour = int(now // 3600)
            starts[hour] = starts.get(hour, 0) + 1
        for output in out.zones.values():
            assert not (output.mode_conflict and output.head.capacity_request_pct > 0)
            assert 0.0 <= output.head.capacity_request_pct <= 100.0
        previous_hz = hz
    assert max(starts.values(), default=0) <= coordinator.max_starts_per_hour


HEAD_SETTINGS = [
    ZoneSettings(mode=ZoneMode.HEAT, target_temperature=21.0),
    ZoneSettings(mode=ZoneMode.HEAT, target_temperature=21.0, fan_mode=FanSpeed.HIGH),
    ZoneSettings(mode=ZoneMode.HEAT, target_temperature=21.0, swing_mode=VanePosition.P2),
    ZoneSettings(mode=ZoneMode.HEAT, target_temperature=22.5, fan_mode=FanSpeed.HIGH),
    ZoneSettings(mode=ZoneMode.COOL, target_temperature=24.0, swing_mode=VanePosition.SWING),
    ZoneSettings(mode=ZoneMode.HEAT_COOL, preset=Preset.ECO),
    ZoneSettings(mode=ZoneMode.DRY, target_temperature=23.0),
    ZoneSettings(mode=ZoneMode.FAN_ONLY),
    ZoneSettings(mode=ZoneMode.OFF),
]


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(HEAD_SETTINGS),
            st.sampled_from([None, (16.0, 20.5), (22.0, 30.0)]),  # the zone's setpoint limits
            st.floats(17.0, 27.0),
            st.integers(1, 30),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_a_head_keeps_its_command_exactly_as_working_it_out_again_would(spans):
    """With the very same settings object as last tick a head's command is reused without
    being worked out again; without last tick's settings (kept with the setpoints), or with an
    equal copy of them, it takes the full way. All must agree."""
    shortcut, full, copied = ControlState(), ControlState(), ControlState()
    now = 0.0
    for settings_, limits, temperature, length in spans:
        for _ in range(length):
            zones = {"z": ZoneInput(settings_, temperature, True, 2500.0, setpoint_limits=limits)}
            copy = {"z": replace(zones["z"], settings=replace(settings_))}
            shortcut, fast = control_step(shortcut, zones, UNIT, now, TUNING)
            full, slow = control_step(full._replace(setpoints={}), zones, UNIT, now, TUNING)
            copied, other = control_step(copied, copy, UNIT, now, TUNING)
            assert fast == slow == other
            now += 10.0


def test_every_record_a_tick_builds_has_all_its_fields():
    """The hot paths build these NamedTuples from a tuple of every field: none may be short."""
    zones = {
        "heat": zone(ZoneMode.HEAT, 18.0, sensor=SensorSource.HEAD),
        "cool": zone(ZoneMode.COOL, 27.0),
        "dry": zone(ZoneMode.DRY, 25.0),
        "boost": zone(ZoneMode.HEAT, 19.0, preset=Preset.BOOST),
        "off": zone(ZoneMode.OFF, 20.0),
        "warm": zone(ZoneMode.HEAT, 23.0),
    }
    state = ControlState()
    for i in range(400):  # starts, runs, a mode conflict, boost ending, stops
        state, out = control_step(state, zones, UNIT, 10.0 * i, TUNING)
        records: list[Any] = [
            state,
            state.compressor,
            out,
            *state.zones.values(),
            *out.zones.values(),
        ]
        for record in records:
            assert len(record) == len(type(record)._fields)
