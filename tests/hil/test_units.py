"""The reference units' own rules (docs/reference-unit.md), driven through their registers."""

from __future__ import annotations

import dataclasses

import pytest
from pymodbus.constants import ExcCodes

from minisplit.drivers.profile import Table
from minisplit.hil.heatpump import HeadRatings, rated_input_power_w
from minisplit.hil.modbus_units import OutdoorUnit
from minisplit.hil.register_map import RegisterAccessError
from minisplit.hil.simulator import Simulator
from tests.hil.house import ZONES, heat, house, without_watchdog


def status(sim: Simulator, zone: str | None = None) -> int:
    value = sim.odu_register("status") if zone is None else sim.head_register(zone, "status")
    assert isinstance(value, int)
    return value


def bit(word: int, n: int) -> bool:
    return bool(word >> n & 1)


RUNNING, LOCKOUT, VALVE_HEATING, HEARTBEAT_LOST, QUIET = 0, 4, 5, 6, 7
FAN_RUNNING, FAULT, REMOTE_PENDING = 0, 3, 4


def refused(code: ExcCodes):
    return pytest.raises(RegisterAccessError, check=lambda err: err.code == code)


# ---- defaults and identity ----


def test_holding_defaults(sim):
    assert sim.odu_register("heartbeat_timeout") == 60
    assert sim.odu_register("demand_limit") == 100
    assert sim.odu_register("mode") == 0
    assert sim.odu_register("frequency_setpoint") == 0
    for zone in ZONES:
        assert sim.head_register(zone, "display_setpoint") == 21.0
        assert sim.head_register(zone, "heartbeat_timeout") == 60
        assert sim.head_register(zone, "power") == 0


def test_identity_registers(sim):
    assert sim.odu_register("device_kind") == 1
    assert sim.odu_register("rated_heating_capacity") == 7000
    assert sim.odu_register("rated_cooling_capacity") == 6500
    assert sim.odu_register("min_frequency") == 20.0
    assert sim.odu_register("max_frequency") == 90.0
    assert sim.odu_register("max_heads") == 8
    assert sim.head_register("living", "device_kind") == 2
    assert sim.head_register("living", "rated_capacity") == 2500
    assert sim.head_register("living", "capabilities") == 0b111
    assert sim.odu_register("serial_number") != sim.head_register("living", "serial_number")


def test_humidity_reads_no_sensor_sentinel_without_a_sensor(sim):
    humidity = sim.head_register("living", "humidity")
    assert isinstance(humidity, float) and 20.0 < humidity < 60.0
    head = sim.head("kitchen")
    head.firmware.ratings = HeadRatings(has_humidity_sensor=False)
    assert head.words(Table.INPUT, 13, 1) == [0xFFFF]
    assert sim.head_register("kitchen", "capabilities") == 0b110


# ---- writes ----


@pytest.mark.parametrize("hz", [0.1, 10.0, 19.9, 90.1, 6553.5])
def test_frequency_between_stop_and_minimum_is_illegal(sim, hz):
    with refused(ExcCodes.ILLEGAL_VALUE):
        sim.odu.write("frequency_setpoint", hz)
    assert sim.odu_register("frequency_setpoint") == 0


@pytest.mark.parametrize("hz", [0.0, 20.0, 45.5, 90.0])
def test_frequency_stop_or_in_range_is_accepted(sim, hz):
    sim.odu.write("frequency_setpoint", hz)
    assert sim.odu_register("frequency_setpoint") == hz


@pytest.mark.parametrize(
    ("unit", "name", "value"),
    [
        ("odu", "mode", 3),
        ("odu", "quiet_mode", 2),
        ("odu", "demand_limit", 101),
        ("head", "mode", 4),
        ("head", "fan", 6),
        ("head", "vane_vertical", 7),
        ("head", "capacity_request", 100.1),
        ("head", "display_setpoint", 35.1),
        ("head", "display_setpoint", -3.0),
        ("head", "remote_ack", 2),
    ],
)
def test_out_of_range_writes_are_illegal_values(sim, unit, name, value):
    target = sim.odu if unit == "odu" else sim.head("living")
    before = target.holding(name)
    with refused(ExcCodes.ILLEGAL_VALUE):
        target.write(name, value)
    assert target.holding(name) == before


def test_writes_outside_the_holding_map_are_illegal_addresses(sim):
    for address in (0, 10, 99, 106, 1000):
        with refused(ExcCodes.ILLEGAL_ADDRESS):
            sim.odu.write_words(address, [0])
    with refused(ExcCodes.ILLEGAL_ADDRESS):
        sim.head("living").write_words(108, [1, 60, 0])  # runs past heartbeat_timeout


def test_a_read_over_a_reserved_address_is_an_illegal_address(sim):
    profile = dataclasses.replace(sim.odu.profile, reserved=((9, 9),))
    odu = OutdoorUnit(profile, sim.odu.unit_id, sim.odu.firmware)
    assert len(odu.words(Table.INPUT, 0, 9)) == 9
    assert len(odu.words(Table.INPUT, 10, 12)) == 12
    for address, count in ((0, 10), (9, 1), (8, 5)):
        with refused(ExcCodes.ILLEGAL_ADDRESS):
            odu.words(Table.INPUT, address, count)


def test_a_bad_register_in_a_block_write_changes_nothing(sim):
    head = sim.head("living")
    with refused(ExcCodes.ILLEGAL_VALUE):
        head.write_words(100, [1, 0, 9])  # power, mode ok; fan 9 is not a fan speed
    assert head.holding("power") == 0


# ---- compressor rules ----


def test_compressor_starts_ramps_and_clamps_to_quiet_cap(sim):
    without_watchdog(sim)
    sim.odu.write("quiet_mode", 1)
    heat(sim, hz=90.0)
    sim.step(2.0)
    assert bit(status(sim), RUNNING)
    assert bit(status(sim), VALVE_HEATING)
    assert bit(status(sim), QUIET)
    assert sim.odu_register("allowed_max_frequency") == 60.0
    start_hz = sim.odu_register("compressor_frequency")
    sim.step(10.0)
    assert sim.odu_register("compressor_frequency") == pytest.approx(start_hz + 10.0, abs=0.11)
    sim.step(120.0)
    assert sim.odu_register("compressor_frequency") == 60.0  # clamped, not refused
    assert sim.odu_register("frequency_setpoint") == 90.0  # the command reads back as written
    sim.odu.write("quiet_mode", 0)
    sim.step(60.0)
    assert sim.odu_register("compressor_frequency") == 90.0


def test_restart_is_held_for_180_s_after_a_stop(sim):
    without_watchdog(sim)
    heat(sim, hz=40.0)
    sim.step(300.0)
    assert sim.odu_register("compressor_starts") == 1
    sim.odu.write("frequency_setpoint", 0)
    sim.step(2.0)
    assert not bit(status(sim), RUNNING)
    assert bit(status(sim), LOCKOUT)
    sim.odu.write("frequency_setpoint", 40.0)
    sim.step(170.0)
    assert not bit(status(sim), RUNNING)
    assert bit(status(sim), LOCKOUT)
    assert sim.odu_register("compressor_frequency") == 0
    sim.step(12.0)
    assert bit(status(sim), RUNNING)  # started by itself when the lockout ended
    assert not bit(status(sim), LOCKOUT)
    assert sim.odu_register("compressor_starts") == 2


def test_heat_to_cool_while_running_stops_and_locks_out(sim):
    without_watchdog(sim)
    heat(sim, hz=40.0)
    sim.step(300.0)
    for zone in ZONES:
        sim.head(zone).write("mode", 1)
    sim.odu.write("mode", 2)
    sim.step(2.0)
    assert not bit(status(sim), RUNNING)
    assert bit(status(sim), LOCKOUT)
    assert not bit(status(sim), VALVE_HEATING)
    sim.step(176.0)
    assert not bit(status(sim), RUNNING)
    sim.step(6.0)
    assert bit(status(sim), RUNNING)
    assert sim.plant.outdoor_state().capacity_w > 0
    assert all(sim.plant.head_state(z).heat_to_room_w < 0 for z in ZONES)


def test_compressor_stays_off_with_no_head_taking_refrigerant(sim):
    without_watchdog(sim)
    heat(sim, request_pct=0.0, hz=40.0)
    sim.step(60.0)
    assert not bit(status(sim), RUNNING)
    sim.head("office").write("capacity_request", 30.0)
    sim.step(4.0)
    assert bit(status(sim), RUNNING)


def test_speed_is_capped_by_the_heads_that_take_refrigerant(sim):
    without_watchdog(sim)
    heat(sim, hz=90.0, zones=("living",))
    sim.step(120.0)
    one_head = sim.odu_register("allowed_max_frequency")
    heat(sim, hz=90.0)
    sim.step(120.0)
    assert one_head < sim.odu_register("allowed_max_frequency") == 90.0
    assert 20.0 < one_head < 60.0


def test_demand_limit_caps_input_power(sim):
    without_watchdog(sim)
    heat(sim, hz=90.0)
    sim.step(300.0)
    full_power = sim.odu_register("input_power")
    sim.odu.write("demand_limit", 50)
    sim.step(300.0)
    limited = sim.odu_register("input_power")
    assert isinstance(full_power, int) and isinstance(limited, int)
    assert limited <= 0.5 * rated_input_power_w(sim.odu.ratings) + 1
    assert limited < full_power
    assert sim.odu_register("allowed_max_frequency") < 90.0


def test_meters_count_energy_starts_and_hours(sim):
    without_watchdog(sim)
    heat(sim, hz=50.0)
    sim.step(2 * 3600.0)
    energy = sim.odu_register("energy")
    assert isinstance(energy, int)
    mean_power = energy / 2.0
    assert 500 < mean_power < 4000
    assert sim.odu_register("operating_hours") == 2
    assert sim.odu_register("compressor_starts") == 1


def test_counters_wrap(sim):
    sim.odu.firmware.energy_wh = 2**32 - 0.5
    sim.odu.firmware.starts = 2**16 + 3
    sim.step(3600.0)  # standby alone adds 10 Wh
    assert sim.odu_register("energy") == 9
    assert sim.odu_register("compressor_starts") == 3


def test_broken_sensor_reads_sentinel_and_raises_fault(sim):
    sim.head("living").firmware.broken_sensors.add("return_air_temperature")
    assert sim.head_register("living", "return_air_temperature") is None
    assert sim.head("living").words(Table.INPUT, 11, 1) == [0x8000]
    assert sim.head_register("living", "fault_code") == 1
    assert bit(status(sim, "living"), FAULT)
    sim.odu.firmware.broken_sensors.add("outdoor_temperature")
    assert sim.odu_register("outdoor_temperature") is None
    assert sim.odu_register("fault_code") == 1


def test_head_sensor_reads_warm_while_heating(sim):
    without_watchdog(sim)
    heat(sim, hz=40.0)
    sim.step(1800.0)
    sensor = sim.head_register("living", "return_air_temperature")
    assert isinstance(sensor, float)
    assert sensor - sim.room_temperature("living") == pytest.approx(1.5, abs=0.1)
    assert bit(status(sim, "living"), FAN_RUNNING)
    assert sim.head_register("living", "fan_speed_actual") in range(1, 6)
    assert sim.head_register("living", "valve_position") > 0


# ---- heartbeat and autonomous fallback ----


def test_heartbeat_lapse_sets_b6_and_a_change_ends_it(sim):
    sim.step(58.0)
    assert not bit(status(sim), HEARTBEAT_LOST)
    sim.step(4.0)
    assert bit(status(sim), HEARTBEAT_LOST)
    assert bit(status(sim, "living"), HEARTBEAT_LOST)
    sim.odu.write("heartbeat", 0)  # unchanged value: not a sign of life
    assert bit(status(sim), HEARTBEAT_LOST)
    sim.odu.write("heartbeat", 1)
    assert not bit(status(sim), HEARTBEAT_LOST)
    assert bit(status(sim, "living"), HEARTBEAT_LOST)  # each unit watches its own
    sim.head("living").write("heartbeat_timeout", 0)
    assert not bit(status(sim, "living"), HEARTBEAT_LOST)
    sim.step(600.0)
    sim.head("living").write("heartbeat_timeout", 30)  # arming starts a fresh window
    assert not bit(status(sim, "living"), HEARTBEAT_LOST)
    sim.step(32.0)
    assert bit(status(sim, "living"), HEARTBEAT_LOST)


def test_dead_controller_leaves_a_warm_house():
    def run(heads_on: bool) -> tuple[Simulator, list[float]]:
        sim = Simulator(house())
        if heads_on:
            # What a controller leaves behind: heads on in heat, ODU stopped, then silence.
            for zone in ZONES:
                sim.head(zone).write("power", 1)
                sim.head(zone).write("display_setpoint", 21.0)
        lows = []
        for _ in range(8):
            sim.step(1800.0)
            lows.append(min(sim.room_temperature(z) for z in ZONES))
        return sim, lows

    cold, cold_lows = run(heads_on=False)
    warm, warm_lows = run(heads_on=True)
    assert bit(status(warm), HEARTBEAT_LOST)
    assert (warm.odu_register("compressor_starts") or 0) >= 1
    assert min(warm_lows[2:]) > 18.5  # near setpoint minus the ceiling sensor's bias
    assert all(w > c + 2.0 for w, c in zip(warm_lows[2:], cold_lows[2:], strict=True))
    assert cold.odu_register("compressor_starts") == 0
    sensor = warm.head_register("kitchen", "return_air_temperature")
    assert isinstance(sensor, float) and 19.5 < sensor < 22.0


def test_fallback_follows_display_setpoint(sim):
    for zone in ZONES:
        sim.head(zone).write("power", 1)
        sim.head(zone).write("display_setpoint", 16.0)
    sim.step(2 * 3600.0)
    cool_house = sim.room_temperature("living")
    for zone in ZONES:
        sim.head(zone).write("display_setpoint", 22.0)
    sim.step(2 * 3600.0)
    assert sim.room_temperature("living") > cool_house + 2.0


# ---- handheld remote ----


def test_remote_press_applies_latches_and_is_acknowledged(sim):
    sim.press_remote("bedroom", power=True, mode="cool", setpoint=23.5, fan="high")
    assert sim.head_register("bedroom", "power") == 1
    assert sim.head_register("bedroom", "mode") == 1
    assert sim.head_register("bedroom", "display_setpoint") == 23.5
    assert sim.head_register("bedroom", "fan") == 4
    assert bit(status(sim, "bedroom"), REMOTE_PENDING)
    assert not bit(status(sim, "living"), REMOTE_PENDING)
    assert sim.head_register("bedroom", "remote_power") == 1
    assert sim.head_register("bedroom", "remote_mode") == 1
    assert sim.head_register("bedroom", "remote_setpoint") == 23.5
    assert sim.head_register("bedroom", "remote_fan") == 4
    sim.head("bedroom").write("remote_ack", 0)
    assert bit(status(sim, "bedroom"), REMOTE_PENDING)
    sim.head("bedroom").write("remote_ack", 1)
    assert not bit(status(sim, "bedroom"), REMOTE_PENDING)
    assert sim.head_register("bedroom", "remote_setpoint") == 23.5


def test_remote_sends_its_whole_state(sim):
    sim.head("living").write("fan", 2)
    sim.press_remote("living", setpoint=19.0)
    assert sim.head_register("living", "remote_power") == 0
    assert sim.head_register("living", "remote_fan") == 2
    assert sim.head_register("living", "remote_setpoint") == 19.0


def test_remote_rejects_impossible_requests(sim):
    with pytest.raises(ValueError):
        sim.press_remote("living", setpoint=40.0)
    with pytest.raises(ValueError):
        sim.press_remote("living", mode="auto")
    assert not bit(status(sim, "living"), REMOTE_PENDING)
    assert sim.head_register("living", "remote_setpoint") is None


def compressor_runs(sim: Simulator, seconds: float, step_s: float = 5.0) -> list[float]:
    """The lengths of the compressor runs that began and ended within ``seconds``."""
    runs, started, t = [], None, 0.0
    while t < seconds:
        sim.step(step_s)
        t += step_s
        running = bit(status(sim), RUNNING)
        if running and started is None:
            started = t
        elif not running and started is not None:
            runs.append(t - started)
            started = None
    return runs[1:]  # the first may have begun before anyone watched


def test_the_units_own_cycling_keeps_the_minimum_run_time(sim):
    # One head on its own thermostat, just above the room: it is satisfied within a minute
    # or two of each start, and the unit still runs each time for its minimum run time.
    head = sim.head("bedroom")
    head.write("power", 1)
    head.write("display_setpoint", round(sim.room_temperature("bedroom") + 1.5, 1))
    runs = compressor_runs(sim, 3 * 3600.0)
    assert len(runs) >= 2  # it cycles
    assert min(runs) >= 180.0


def test_a_heat_cool_tug_of_war_still_keeps_the_minimum_run_time(sim):
    # Two heads on their own thermostats want opposite modes: the unit serves one at a time,
    # and a run in its minimum time keeps its mode even when the other side asks for more.
    warm = round(sim.room_temperature("bedroom") + 1.0, 1)
    cool = round(sim.room_temperature("kitchen") - 1.0, 1)
    for zone, mode, setpoint in (("bedroom", 0, warm), ("kitchen", 1, cool)):
        head = sim.head(zone)
        head.write("power", 1)
        head.write("mode", mode)
        head.write("display_setpoint", setpoint)
    runs = compressor_runs(sim, 3 * 3600.0)
    assert len(runs) >= 2
    assert min(runs) >= 180.0
