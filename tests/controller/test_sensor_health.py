"""The room sensors' plausibility check: missing, out of range, stuck, and recovery."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minisplit.controller.config import ControlConfig
from minisplit.controller.core.control import elapsed_s
from minisplit.controller.core.observation import UnitRatings, unit_input, zone_input
from minisplit.controller.core.sensor_health import (
    FULL_DEMAND,
    MISSING,
    OK,
    OUT_OF_RANGE,
    STUCK,
    RemoteReading,
    SensorCheck,
    SensorTrack,
    ZoneSensors,
    check_zone_sensors,
    track_sensor,
)
from minisplit.controller.core.settings import UnitSettings, ZoneMode, ZoneSettings
from minisplit.controller.core.tick import Controller
from minisplit.controller.tuning import control_tuning_from

CHECK = SensorCheck(settle_s=600.0, stuck_switches=3, stuck_full_demand_s=7200.0)
TICK_S = 10.0
NEW = SensorTrack()


def run(readings, delivering=False, full=False, track=NEW):
    for reading in readings:
        track = track_sensor(track, reading, TICK_S, delivering, full, CHECK)
    return track


def test_sentinel_and_range():
    assert run([None]).verdict is MISSING
    assert run([21.0]).verdict is OK
    assert run([80.0]).verdict is OUT_OF_RANGE
    assert run([-10.1]).verdict is OUT_OF_RANGE
    assert run([-10.0, 50.0]).verdict is OK
    # Back in range, or a value again after the sentinel: ok at once.
    assert run([80.0, 80.0, 21.0]).verdict is OK
    assert run([None, None, 21.0]).verdict is OK


def test_a_steady_room_is_not_stuck_however_long():
    """Twelve hours of one value with the head delivering steadily, below full demand."""
    assert run([20.1] * 4320, delivering=True).verdict is OK
    assert run([20.1] * 4320, delivering=False).verdict is OK


def test_stuck_after_settled_delivery_switches_and_fine_once_it_moves():
    track = run([20.1])
    for delivering in (True, False, True):
        track = run([20.1] * 61, delivering=delivering, track=track)  # held > settle_s
    assert track.verdict is STUCK
    # Stuck until the value changes, whatever the plant does meanwhile.
    assert run([20.1] * 100, track=track).verdict is STUCK
    assert run([20.2], track=track).verdict is OK


def test_switches_that_do_not_settle_are_no_evidence():
    track = run([20.1])
    for i in range(200):  # the head flips every 5 min: never held for settle_s
        track = run([20.1] * 30, delivering=i % 2 == 0, track=track)
    assert track.verdict is OK


def test_stuck_after_hours_at_full_demand():
    almost = run([17.0] * 720, delivering=True, full=True)  # the first tick counts no time
    assert almost.verdict is OK
    assert run([17.0], delivering=True, full=True, track=almost).verdict is STUCK
    # Full demand that the head did not get (no refrigerant) is no evidence.
    assert run([17.0] * 2000, delivering=False, full=True).verdict is OK


def test_a_remote_reading_counts_while_fresh_only():
    remote = RemoteReading(20.5, at=100.0, timeout_s=900.0)
    assert remote.fresh(1000.0) == 20.5
    assert remote.fresh(1000.1) is None
    assert RemoteReading(None, None, 900.0).fresh(0.0) is None


def test_zone_fault_names():
    def zone(head, remote):
        return check_zone_sensors(ZoneSensors(), head, remote, 100.0, TICK_S, False, False, CHECK)

    fresh = RemoteReading(20.5, 90.0, 900.0)
    stale = RemoteReading(20.5, -1000.0, 900.0)
    assert zone(21.0, None).faults() == ()
    assert zone(21.0, fresh).faults() == ()
    assert zone(21.0, stale).faults() == ("sensor_remote_missing",)
    assert zone(80.0, fresh).faults() == ("sensor_head_out_of_range",)
    assert zone(None, None).faults() == ("sensor_head_missing", "sensor_none")
    assert zone(None, RemoteReading(99.0, 90.0, 900.0)).faults() == (
        "sensor_remote_out_of_range",
        "sensor_head_missing",
        "sensor_none",
    )


def test_bad_limits_are_refused():
    with pytest.raises(ValueError, match="below"):
        SensorCheck(min_c=30.0, max_c=20.0)
    with pytest.raises(ValueError, match="positive"):
        SensorCheck(stuck_switches=0)


readings = st.one_of(st.none(), st.floats(-50.0, 100.0, allow_nan=False), st.sampled_from([20.1]))
ticks = st.lists(st.tuples(readings, st.booleans(), st.booleans()), max_size=300)


@given(ticks, st.floats(-10.0, 50.0, allow_nan=False))
def test_no_usable_reading_from_a_missing_or_implausible_sensor_and_recovery(sequence, good):
    """Whatever the readings were, a sensor is ok only on a plausible value it actually read,
    and the first plausible new value after any sequence makes it ok again."""
    track = SensorTrack()
    for reading, delivering, full in sequence:
        track = track_sensor(track, reading, TICK_S, delivering, full, CHECK)
        if reading is None or not CHECK.min_c <= reading <= CHECK.max_c:
            assert track.verdict is not OK
        if track.verdict is OK:
            assert track.value == reading and reading is not None
    # A new value, inside the plausible range (a step up from just below its top is not).
    fresh = good if good != track.value else good + 0.1 if good + 0.1 <= CHECK.max_c else good - 0.1
    assert track_sensor(track, fresh, TICK_S, False, False, CHECK).verdict is OK


class _Odu:
    allowed_max_frequency_hz = 90.0
    outdoor_temperature = 0.0
    outdoor_coil_temperature = -5.0
    defrost = False
    fault = False


head_readings = st.lists(
    st.one_of(st.none(), st.sampled_from([-40.0, 80.0, 3276.7]), st.floats(15.0, 25.0)),
    min_size=1,
    max_size=60,
)


@settings(max_examples=40, deadline=None)
@given(head_readings)
def test_the_loop_never_asks_for_refrigerant_on_a_missing_or_implausible_reading(sequence):
    tuning = control_tuning_from(ControlConfig())
    loop = Controller(tuning)
    ratings = UnitRatings(7000.0, 6500.0, 20.0, 90.0)
    unit = unit_input(ratings, _Odu(), True, UnitSettings())
    heat = ZoneSettings(mode=ZoneMode.HEAT, target_temperature=22.0)
    now = 0.0
    for reading in sequence:
        zones = {"a": zone_input(heat, reading, True, 2500.0, False)}
        zone = loop.step(zones, unit, now).output.zones["a"]
        if reading is None or not -10.0 <= reading <= 50.0:
            assert zone.demand == 0.0 and zone.head.capacity_request_pct == 0.0
            assert zone.action == "idle" and loop.sensors["a"].faults()[-1] == "sensor_none"
        now += 10.0
    # A cold room read plausibly again: followed at once, and (through the loop's 60 s
    # filter) it calls for heat within minutes.
    for i in range(30):
        zones = {"a": zone_input(heat, 16.0 + 0.1 * (i % 2), True, 2500.0, False)}
        zone = loop.step(zones, unit, now).output.zones["a"]
        assert loop.sensors["a"].faults() == ()
        now += 10.0
    assert zone.demand > 0.0


def _full_check(loop: Controller, expected: dict, zones: dict, now: float) -> None:
    """The sensors after a tick by `check_zone_sensors` for every zone (the loop's slow path)."""
    state = loop.state
    dt = elapsed_s(state.last_time, now)
    for zone_id, zone in zones.items():
        delivering = zone_id in state.served
        zone_loop = state.zones.get(zone_id)
        full = delivering and zone_loop is not None and zone_loop.demand >= FULL_DEMAND
        before = expected.get(zone_id, ZoneSensors())
        expected[zone_id] = check_zone_sensors(
            before, zone.temperature, None, now, dt, delivering, full, loop.sensor_check
        )


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.sampled_from([None, 16.0, 16.1, 23.0, 80.0]), min_size=1, max_size=12),
    st.sampled_from(
        [  # stuck by switches, or by full demand
            SensorCheck(settle_s=30.0, stuck_switches=2, stuck_full_demand_s=7200.0),
            SensorCheck(settle_s=1000.0, stuck_switches=3, stuck_full_demand_s=100.0),
        ]
    ),
)
def test_the_loops_shortcut_leaves_the_sensors_the_full_check_gives(changes, check):
    """A zone without a remote whose ok reading holds skips the check: the sensors must be
    exactly those the full check gives, through settling, full demand, stuck and recovery."""
    loop = Controller(control_tuning_from(ControlConfig()), sensor_check=check)
    unit = unit_input(UnitRatings(7000.0, 6500.0, 20.0, 90.0), _Odu(), True, UnitSettings())
    heat = ZoneSettings(mode=ZoneMode.HEAT, target_temperature=22.0)
    expected: dict[str, ZoneSensors] = {}
    now = 0.0
    for reading in changes:
        for _ in range(20):  # each reading held for a while: the shortcut's ticks
            zones = {
                "a": zone_input(heat, reading, True, 2500.0, False),
                "b": zone_input(heat, 21.0, True, 2500.0, False),
            }
            _full_check(loop, expected, zones, now)
            before = loop.sensors
            loop.step(zones, unit, now)
            assert loop.sensors == expected
            if all(before.get(z) is expected[z] for z in zones) and len(before) == len(zones):
                assert loop.sensors is before  # nothing changed: the mapping is kept
            now += 10.0


def test_the_sensors_follow_zones_that_come_and_go():
    loop = Controller(control_tuning_from(ControlConfig()))
    unit = unit_input(UnitRatings(7000.0, 6500.0, 20.0, 90.0), _Odu(), True, UnitSettings())
    heat = ZoneSettings(mode=ZoneMode.HEAT, target_temperature=22.0)
    both = {z: zone_input(heat, 21.0, True, 2500.0, False) for z in ("a", "b")}
    loop.step(both, unit, 0.0)
    loop.step({"a": both["a"]}, unit, 10.0)
    assert list(loop.sensors) == ["a"]
    loop.step(both, unit, 20.0)
    assert list(loop.sensors) == ["a", "b"] and loop.sensors["b"].head.verdict is OK
