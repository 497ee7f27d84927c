"""Plant physics: plausibility of the heat pump figures and of the rooms' thermal behaviour."""

from __future__ import annotations

import pytest

from hil.plant import (
    REFERENCE_HEAD,
    REFERENCE_ODU,
    CompressorDrive,
    HeadDrive,
    HeadMode,
    OduMode,
    Plant,
    RoomModel,
    RoomParameters,
    capacity_factor,
    indoor_relative_humidity,
    operating_point,
    startup_fraction,
)
from hil.weather import load_weather, time_of_year

ODU = REFERENCE_ODU
MATCHED = ODU.rated_heating_w  # head coils worth the unit's rated capacity


def heating_cop(hz: float, outdoor_c: float, coil_w: float = MATCHED) -> float:
    return operating_point(ODU, OduMode.HEAT, hz, outdoor_c, 20.0, coil_w).cop


@pytest.mark.parametrize(
    ("hz", "outdoor_c", "expected"),
    [(60.0, 7.0, 3.4), (30.0, 7.0, 4.3), (90.0, -10.0, 2.0)],
    ids=["rated", "half-speed", "cold-full-speed"],
)
def test_heating_cop_matches_published_figures(hz, outdoor_c, expected):
    assert heating_cop(hz, outdoor_c) == pytest.approx(expected, abs=0.1)


def test_rated_point_delivers_rated_capacity():
    point = operating_point(ODU, OduMode.HEAT, 60.0, 7.0, 20.0, MATCHED)
    assert point.capacity_w == pytest.approx(7000.0)
    assert point.compressor_power_w == pytest.approx(7000.0 / point.cop)
    cooling = operating_point(ODU, OduMode.COOL, 60.0, 35.0, 27.0, ODU.rated_cooling_w)
    assert cooling.capacity_w == pytest.approx(6500.0)
    assert 3.0 < cooling.cop < 4.2  # typical EER of a ductless unit at the AHRI point


def test_heating_capacity_derates_in_the_cold():
    assert capacity_factor(OduMode.HEAT, 7.0) == pytest.approx(1.0)
    assert capacity_factor(OduMode.HEAT, -15.0) == pytest.approx(0.6, abs=0.02)
    temps = [15.0, 7.0, 0.0, -7.0, -15.0]
    factors = [capacity_factor(OduMode.HEAT, t) for t in temps]
    assert factors == sorted(factors, reverse=True)


def test_cooling_derates_mildly_when_hot():
    assert capacity_factor(OduMode.COOL, 35.0) == pytest.approx(1.0)
    assert 0.85 < capacity_factor(OduMode.COOL, 45.0) < 1.0
    assert capacity_factor(OduMode.COOL, 25.0) > 1.0


def test_efficiency_falls_with_load_and_lift():
    speeds = [30.0, 45.0, 60.0, 75.0, 90.0]
    cops = [heating_cop(hz, 7.0) for hz in speeds]
    assert cops == sorted(cops, reverse=True)
    assert heating_cop(60.0, -10.0) < heating_cop(60.0, 0.0) < heating_cop(60.0, 7.0)


def test_more_head_coil_lowers_condensing_temperature():
    one_head = operating_point(ODU, OduMode.HEAT, 40.0, 7.0, 20.0, REFERENCE_HEAD.rated_w)
    four_heads = operating_point(ODU, OduMode.HEAT, 40.0, 7.0, 20.0, 4 * REFERENCE_HEAD.rated_w)
    assert one_head.condensing_c > four_heads.condensing_c + 5
    assert one_head.cop < four_heads.cop


def test_capacity_ramps_after_a_start():
    assert startup_fraction(ODU, 0.0) == 0.0
    assert startup_fraction(ODU, 45.0) == pytest.approx(0.5)
    assert startup_fraction(ODU, 90.0) == 1.0
    assert startup_fraction(ODU, 3600.0) == 1.0


def test_unrenovated_house_loses_more():
    renovated = RoomParameters.for_floor(20.0)
    old = RoomParameters.for_floor(20.0, unrenovated=True)
    # DESIGN §8: 0.26 + (12·0.5)/(12+0.5) ≈ 0.74 W/K per m² for the renovated house.
    assert renovated.loss_coefficient_w_per_k == pytest.approx(0.74 * 20.0, rel=0.01)
    assert 2.0 < old.loss_coefficient_w_per_k / renovated.loss_coefficient_w_per_k < 3.0
    assert old.interior_capacity_j_per_k == renovated.interior_capacity_j_per_k


def test_unheated_room_cools_toward_outdoors():
    room = RoomModel(RoomParameters.for_floor(20.0), air_c=20.0)
    room.settle_envelope(0.0)
    temps = []
    for _ in range(30):
        room.step(86400.0, outdoor_c=0.0, heat_to_air_w=0.0)
        temps.append(room.air_c)
    assert temps == sorted(temps, reverse=True)
    assert 0.0 < temps[0] < 19.0
    assert temps[-1] < 1.0


def test_constant_heat_settles_at_heat_over_ua():
    params = RoomParameters.for_floor(20.0)
    room = RoomModel(params, air_c=0.0, envelope_c=0.0)
    for _ in range(120):
        room.step(86400.0, outdoor_c=0.0, heat_to_air_w=500.0)
    assert room.air_c == pytest.approx(500.0 / params.loss_coefficient_w_per_k, rel=0.01)


def one_room_plant(start: str = "01-15 06:00", **room) -> Plant:
    month, day = int(start[:2]), int(start[3:5])
    hour = int(start[6:8])
    rooms = {"living": RoomModel(RoomParameters.for_floor(25.0, **room), air_c=18.0)}
    return Plant(rooms, load_weather(), time_of_year(month, day, hour))


HEAT_HEAD = HeadDrive(on=True, mode=HeadMode.HEAT, fan_speed=3, request_w=2500.0)


def test_heating_warms_the_room_and_costs_power():
    idle, heated = one_room_plant(), one_room_plant()
    for _ in range(60):
        idle.step(60.0, CompressorDrive(), {"living": HeadDrive()})
        heated.step(
            60.0,
            CompressorDrive(OduMode.HEAT, 30.0, seconds_running=1e6),
            {"living": HEAT_HEAD},
        )
    assert idle.rooms["living"].air_c < 18.0  # −8 °C outdoors
    assert heated.rooms["living"].air_c > 20.0
    odu = heated.outdoor_state
    head = heated.head_states["living"]
    assert head.heat_to_room_w == pytest.approx(odu.capacity_w)
    assert odu.compressor_power_w == pytest.approx(odu.capacity_w / odu.cop)
    assert odu.input_power_w == pytest.approx(odu.compressor_power_w + 30.0 + 10.0)
    assert idle.outdoor_state.input_power_w == pytest.approx(10.0)  # standby only


def test_start_up_costs_full_power_for_partial_heat():
    plant = one_room_plant()
    plant.step(30.0, CompressorDrive(OduMode.HEAT, 40.0, 0.0), {"living": HEAT_HEAD})
    early = plant.outdoor_state
    plant.step(120.0, CompressorDrive(OduMode.HEAT, 40.0, 30.0), {"living": HEAT_HEAD})
    steady = plant.outdoor_state
    assert early.capacity_w < 0.5 * steady.capacity_w
    assert early.compressor_power_w == pytest.approx(steady.compressor_power_w, rel=0.05)


def test_capacity_is_shared_by_request_among_serving_heads():
    rooms = {z: RoomModel(RoomParameters.for_floor(20.0), air_c=20.0) for z in "abcd"}
    plant = Plant(rooms, load_weather(), time_of_year(1, 15, 6))
    drives = {
        "a": HeadDrive(on=True, mode=HeadMode.HEAT, fan_speed=3, request_w=2000.0),
        "b": HeadDrive(on=True, mode=HeadMode.HEAT, fan_speed=3, request_w=1000.0),
        "c": HeadDrive(on=True, mode=HeadMode.COOL, fan_speed=3, request_w=2500.0),
        "d": HeadDrive(on=False, mode=HeadMode.HEAT, request_w=2500.0),
    }
    plant.step(60.0, CompressorDrive(OduMode.HEAT, 40.0, 1e6), drives)
    heads = plant.head_states
    assert heads["a"].heat_to_room_w == pytest.approx(2 * heads["b"].heat_to_room_w)
    assert heads["a"].heat_to_room_w + heads["b"].heat_to_room_w == pytest.approx(
        plant.outdoor_state.capacity_w
    )
    assert heads["c"].heat_to_room_w == 0.0  # a cooling head gets nothing from a heating unit
    assert heads["d"].heat_to_room_w == 0.0  # nor does a head that is off
    assert plant.outdoor_state.fan_power_w == pytest.approx(3 * 30.0)


def test_cooling_removes_sensible_heat_only():
    plant = one_room_plant("07-09 14:00")
    cool = HeadDrive(on=True, mode=HeadMode.COOL, fan_speed=3, request_w=2500.0)
    plant.step(60.0, CompressorDrive(OduMode.COOL, 30.0, 1e6), {"living": cool})
    head = plant.head_states["living"]
    assert head.heat_to_room_w < 0
    assert -head.heat_to_room_w == pytest.approx(0.75 * plant.outdoor_state.capacity_w)


def test_head_sensor_reads_warm_while_heating_and_cool_while_cooling():
    plant = one_room_plant()
    for _ in range(30):
        plant.step(60.0, CompressorDrive(OduMode.HEAT, 30.0, 1e6), {"living": HEAT_HEAD})
    assert plant.head_states["living"].sensor_bias_k == pytest.approx(1.5, abs=0.05)
    cool = HeadDrive(on=True, mode=HeadMode.COOL, fan_speed=3, request_w=2500.0)
    for _ in range(30):
        plant.step(60.0, CompressorDrive(OduMode.COOL, 30.0, 1e6), {"living": cool})
    assert plant.head_states["living"].sensor_bias_k == pytest.approx(-0.5, abs=0.05)
    for _ in range(30):
        plant.step(60.0, CompressorDrive(), {"living": HeadDrive(on=True, fan_speed=3)})
    assert plant.head_states["living"].sensor_bias_k == pytest.approx(0.0, abs=0.05)


def test_sun_through_the_aperture_warms_the_room():
    shaded = one_room_plant("07-04 10:00", aperture_m2=0.0)
    sunny = one_room_plant("07-04 10:00", aperture_m2=3.0)
    for plant in (shaded, sunny):
        assert plant.outdoor().ghi_w_m2 > 300
        for _ in range(120):
            plant.step(60.0, CompressorDrive(), {"living": HeadDrive()})
    assert sunny.rooms["living"].air_c > shaded.rooms["living"].air_c + 1.0


def test_plant_sub_steps_long_steps():
    one, many = one_room_plant(), one_room_plant()
    drive = CompressorDrive(OduMode.HEAT, 30.0, 1e6)
    one.step(3600.0, drive, {"living": HEAT_HEAD})
    for _ in range(60):
        many.step(60.0, CompressorDrive(OduMode.HEAT, 30.0, 1e6), {"living": HEAT_HEAD})
    assert one.time_s == pytest.approx(many.time_s)
    assert one.rooms["living"].air_c == pytest.approx(many.rooms["living"].air_c, abs=1e-9)


def test_indoor_humidity_is_plausible_in_winter():
    winter = load_weather().at(time_of_year(1, 15, 6))
    assert winter.rel_humidity_pct > 60  # outdoors
    rh = indoor_relative_humidity(21.0, winter)
    assert 20.0 < rh < 50.0  # heated outdoor air is dry even with the household's moisture
    assert indoor_relative_humidity(18.0, winter) > rh
