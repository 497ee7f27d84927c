"""The plant as a whole: rooms + heat pump + weather, driven directly (no firmware)."""

from __future__ import annotations

import pytest

from minisplit.drivers.vocabulary import HeadMode, OduMode
from minisplit.hil.building import Adjacency, Building, Disturbance, Room, RoomParameters
from minisplit.hil.plant import CompressorDrive, HeadDrive, Plant
from minisplit.hil.psychrometrics import indoor_relative_humidity
from minisplit.hil.weather import Weather, load_weather, time_of_year
from tests.hil.climate import constant_weather


def one_room_plant(
    start: tuple[int, int, int] = (1, 15, 6),
    weather: Weather | None = None,
    disturbances: tuple[Disturbance, ...] = (),
    **room: float,
) -> Plant:
    params = RoomParameters.for_floor(25.0, **room)  # type: ignore[arg-type]
    building = Building((Room("living", params, 18.0),), disturbances=disturbances)
    return Plant(building, weather or load_weather(), time_of_year(*start))


HEAT_HEAD = HeadDrive(on=True, mode=HeadMode.HEAT, fan_speed=3, request_w=2500.0)
COOL_HEAD = HeadDrive(on=True, mode=HeadMode.COOL, fan_speed=3, request_w=2500.0)


def run(plant: Plant, seconds: float, compressor: CompressorDrive, heads: dict) -> None:
    for _ in range(round(seconds / 10.0)):
        plant.step(10.0, compressor, heads)


def test_heating_warms_the_room_and_costs_power():
    idle, heated = one_room_plant(), one_room_plant()
    run(idle, 3600.0, CompressorDrive(), {"living": HeadDrive()})
    run(heated, 3600.0, CompressorDrive(OduMode.HEAT, 30.0), {"living": HEAT_HEAD})
    assert idle.air_c("living") < 18.0  # −8 °C outdoors
    assert heated.air_c("living") > 20.0
    head = heated.head_state("living")
    assert head.heat_to_room_w == pytest.approx(heated.capacity_w)
    assert heated.compressor_power_w == pytest.approx(heated.capacity_w / heated.cop)
    assert heated.input_power_w == pytest.approx(heated.compressor_power_w + 30.0 + 10.0)
    assert heated.outdoor_state().input_power_w == pytest.approx(heated.input_power_w)
    assert idle.input_power_w == pytest.approx(10.0)  # standby only


def test_start_up_costs_full_power_for_partial_heat():
    plant = one_room_plant()
    heating = CompressorDrive(OduMode.HEAT, 40.0)
    plant.step(20.0, heating, {"living": HEAT_HEAD})
    early_w, early_power = plant.capacity_w, plant.compressor_power_w
    run(plant, 120.0, heating, {"living": HEAT_HEAD})
    assert early_w < 0.3 * plant.capacity_w
    assert early_power == pytest.approx(plant.compressor_power_w, rel=0.05)
    # A stop and a new start ramp again.
    plant.step(60.0, CompressorDrive(), {"living": HEAT_HEAD})
    plant.step(20.0, heating, {"living": HEAT_HEAD})
    assert plant.capacity_w == pytest.approx(early_w, rel=0.05)


def test_capacity_is_shared_by_request_among_serving_heads():
    rooms = tuple(Room(z, RoomParameters.for_floor(20.0), 20.0) for z in "abcd")
    plant = Plant(Building(rooms), load_weather(), time_of_year(1, 15, 6))
    drives = {
        "a": HeadDrive(on=True, mode=HeadMode.HEAT, fan_speed=3, request_w=2000.0),
        "b": HeadDrive(on=True, mode=HeadMode.HEAT, fan_speed=3, request_w=1000.0),
        "c": HeadDrive(on=True, mode=HeadMode.COOL, fan_speed=3, request_w=2500.0),
        "d": HeadDrive(on=False, mode=HeadMode.HEAT, request_w=2500.0),
    }
    run(plant, 300.0, CompressorDrive(OduMode.HEAT, 40.0), drives)
    a, b, c, d = (plant.head_state(z) for z in "abcd")
    assert a.heat_to_room_w == pytest.approx(2 * b.heat_to_room_w)
    assert a.heat_to_room_w + b.heat_to_room_w == pytest.approx(plant.capacity_w)
    assert c.heat_to_room_w == 0.0  # a cooling head gets nothing from a heating unit
    assert d.heat_to_room_w == 0.0  # nor does a head that is off
    assert plant.fan_power_w == pytest.approx(3 * 30.0)
    assert a.valve_pct > b.valve_pct > 0.0 == c.valve_pct


def test_cooling_removes_sensible_heat_only():
    plant = one_room_plant((7, 9, 14))
    run(plant, 300.0, CompressorDrive(OduMode.COOL, 30.0), {"living": COOL_HEAD})
    head = plant.head_state("living")
    assert head.heat_to_room_w < 0
    assert -head.heat_to_room_w == pytest.approx(0.75 * plant.capacity_w)
    assert plant.frost_kg == 0.0


def test_head_sensor_reads_warm_while_heating_and_cool_while_cooling():
    plant = one_room_plant()
    run(plant, 1800.0, CompressorDrive(OduMode.HEAT, 30.0), {"living": HEAT_HEAD})
    assert plant.sensor_bias_k("living") == pytest.approx(1.5, abs=0.05)
    run(plant, 1800.0, CompressorDrive(OduMode.COOL, 30.0), {"living": COOL_HEAD})
    assert plant.sensor_bias_k("living") == pytest.approx(-0.5, abs=0.05)
    run(plant, 1800.0, CompressorDrive(), {"living": HeadDrive(on=True, fan_speed=3)})
    assert plant.sensor_bias_k("living") == pytest.approx(0.0, abs=0.05)
    # Warm refrigerant with the fan held (cold-draft prevention): no warm jet, no bias.
    still = HeadDrive(on=True, mode=HeadMode.HEAT, fan_speed=0, request_w=2500.0)
    run(plant, 1800.0, CompressorDrive(OduMode.HEAT, 30.0), {"living": still})
    assert plant.sensor_bias_k("living") == pytest.approx(0.0, abs=0.05)


def test_sun_through_the_aperture_warms_the_room():
    shaded = one_room_plant((7, 4, 10), aperture_m2=0.0)
    sunny = one_room_plant((7, 4, 10), aperture_m2=3.0)
    for plant in (shaded, sunny):
        assert plant.outdoor().ghi_w_m2 > 300
        run(plant, 7200.0, CompressorDrive(), {})
    assert sunny.air_c("living") > shaded.air_c("living") + 1.0


def test_an_open_window_cools_the_room_while_it_is_open():
    start = time_of_year(1, 15, 6)
    window = Disturbance("living", start + 600.0, start + 1200.0, conductance_w_per_k=150.0)
    closed, aired = one_room_plant(), one_room_plant(disturbances=(window,))
    for seconds in (600.0, 600.0, 600.0):
        before = (closed.air_c("living"), aired.air_c("living"))
        run(closed, seconds, CompressorDrive(), {})
        run(aired, seconds, CompressorDrive(), {})
        drop_closed = before[0] - closed.air_c("living")
        drop_aired = before[1] - aired.air_c("living")
        if closed.time_s <= window.start_s:
            assert drop_aired == pytest.approx(drop_closed)
        elif closed.time_s <= window.end_s:
            assert drop_aired > drop_closed + 1.0  # 150 W/K × 26 K for 10 min
        else:
            assert drop_aired < drop_closed  # the cold room now loses less
    guests = Disturbance("living", start, start + 3600.0, gains_w=500.0)
    quiet, party = one_room_plant(), one_room_plant(disturbances=(guests,))
    run(quiet, 3600.0, CompressorDrive(), {})
    run(party, 3600.0, CompressorDrive(), {})
    assert party.air_c("living") > quiet.air_c("living") + 0.3


def test_long_steps_agree_with_short_ones():
    one, many = one_room_plant(), one_room_plant()
    drive = CompressorDrive(OduMode.HEAT, 30.0)
    one.step(3600.0, drive, {"living": HEAT_HEAD})
    for _ in range(360):
        many.step(10.0, drive, {"living": HEAT_HEAD})
    assert one.time_s == pytest.approx(many.time_s)
    assert one.air_c("living") == pytest.approx(many.air_c("living"), abs=0.02)


def test_unheated_room_beside_a_heated_one_is_warmed_through_the_wall():
    rooms = (
        Room("heated", RoomParameters.for_floor(20.0), 20.0),
        Room("hall", RoomParameters.for_floor(10.0), 20.0),
    )
    linked = Plant(
        Building(rooms, (Adjacency.through_wall("heated", "hall", 12.0),)),
        load_weather(),
        time_of_year(1, 15),
    )
    apart = Plant(Building(rooms), load_weather(), time_of_year(1, 15))
    head = {"heated": HEAT_HEAD}
    for plant in (linked, apart):
        run(plant, 6 * 3600.0, CompressorDrive(OduMode.HEAT, 25.0), head)
    assert linked.air_c("hall") > apart.air_c("hall") + 2.0
    assert linked.air_c("heated") < apart.air_c("heated")


def test_frost_builds_in_humid_air_and_a_reverse_cycle_melts_it():
    plant = one_room_plant(weather=constant_weather(0.0, 90.0))
    run(plant, 1800.0, CompressorDrive(OduMode.HEAT, 60.0), {"living": HEAT_HEAD})
    frost = plant.frost_kg
    assert 0.3 * plant.ratings.frost_limit_kg < frost < plant.ratings.frost_limit_kg
    air = plant.air_c("living")
    defrost = CompressorDrive(OduMode.HEAT, 60.0, defrost=True)
    still = HeadDrive(on=True, mode=HeadMode.HEAT, fan_speed=0, request_w=2500.0)
    plant.step(60.0, defrost, {"living": still})
    assert plant.defrosting
    assert plant.capacity_w == 0.0 and plant.cop == 0.0
    assert 0 < plant.compressor_power_w < 0.7 * 2060.0
    assert plant.head_state("living").heat_to_room_w < 0  # a little heat from the room
    assert plant.air_c("living") < air
    assert plant.frost_kg < frost
    run(plant, 600.0, defrost, {"living": still})
    assert plant.frost_kg == 0.0
    # Heating again starts with the ramp: the indoor coil has to warm first.
    plant.step(10.0, CompressorDrive(OduMode.HEAT, 60.0), {"living": HEAT_HEAD})
    assert not plant.defrosting
    assert plant.seconds_delivering == 10.0
    assert plant.capacity_w < 0.2 * 6000.0


def test_no_frost_in_mild_or_dry_weather_and_it_melts_while_idle():
    mild = one_room_plant(weather=constant_weather(10.0, 90.0))
    dry = one_room_plant(weather=constant_weather(-5.0, 30.0))
    for plant in (mild, dry):
        run(plant, 3600.0, CompressorDrive(OduMode.HEAT, 40.0), {"living": HEAT_HEAD})
    assert mild.frost_kg == 0.0
    assert dry.frost_kg < 0.05
    thawing = one_room_plant(weather=constant_weather(4.0, 90.0))
    thawing.frost_kg = 1.0
    run(thawing, 600.0, CompressorDrive(), {})
    assert 0.0 < thawing.frost_kg < 1.0


def test_indoor_humidity_is_plausible_in_winter():
    winter = load_weather().at(time_of_year(1, 15, 6))
    assert winter.rel_humidity_pct > 60  # outdoors
    rh = indoor_relative_humidity(21.0, winter.temperature_c, winter.dew_point_c)
    assert 20.0 < rh < 50.0  # heated outdoor air is dry even with the household's moisture
    assert indoor_relative_humidity(18.0, winter.temperature_c, winter.dew_point_c) > rh


def test_unknown_room_is_named():
    with pytest.raises(KeyError, match="garage"):
        one_room_plant().air_c("garage")


# ---- what the plant caches between steps ----


def test_gains_follow_the_hour_and_the_weekend_across_steps():
    from minisplit.hil.building import GainSchedule, gains_slot

    weekday = tuple(float(h) for h in range(24))
    weekend = tuple(100.0 + h for h in range(24))
    params = RoomParameters.for_floor(10.0, aperture_m2=0.0)
    room = Room("r", params, 20.0, GainSchedule(weekday, weekend))
    start = time_of_year(1, 12, 22)  # Friday 22:00: through midnight into Saturday
    plant = Plant(Building((room,)), constant_weather(0.0), start)
    for _ in range(3 * 360):
        mid = plant.time_s + 5.0
        heat = plant._free_loads(10.0)
        assert heat == [10.0 * GainSchedule(weekday, weekend).table()[gains_slot(mid)]]
        plant.step(10.0, CompressorDrive(), {})


def test_a_drive_changed_in_the_same_mapping_takes_effect():
    heads = {"living": HeadDrive()}
    plant = one_room_plant(weather=constant_weather(5.0))
    compressor = CompressorDrive(OduMode.HEAT, 40.0)
    run(plant, 600.0, compressor, heads)
    assert plant.capacity_w == 0.0
    heads["living"] = HEAT_HEAD  # the same dict, changed in place
    run(plant, 600.0, compressor, heads)
    assert plant.capacity_w > 0.0


def test_moved_shares_divide_the_capacity_as_if_the_drives_were_new():
    # A move of the requests alone re-divides the plant's cached layout (`Plant._reshared`);
    # a twin whose off head changes its fan setting too (nothing physical) works it out anew.
    rooms = tuple(Room(z, RoomParameters.for_floor(20.0), 20.0) for z in "abcd")
    plants = [Plant(Building(rooms), load_weather(), time_of_year(1, 15, 6)) for _ in range(2)]
    heating = CompressorDrive(OduMode.HEAT, 40.0)
    before = {
        "a": HeadDrive(on=True, mode=HeadMode.HEAT, fan_speed=3, request_w=2000.0),
        "b": HeadDrive(on=True, mode=HeadMode.HEAT, fan_speed=3, request_w=1000.0),
        "c": HeadDrive(on=True, mode=HeadMode.COOL, fan_speed=3, request_w=2500.0),
        "d": HeadDrive(on=False, mode=HeadMode.HEAT),
    }
    moved = {
        **before,
        "a": HeadDrive(on=True, mode=HeadMode.HEAT, fan_speed=3, request_w=1000.0),
        "b": HeadDrive(on=True, mode=HeadMode.HEAT, fan_speed=3, request_w=3000.0),
    }
    anew = {**moved, "d": HeadDrive(on=False, mode=HeadMode.HEAT, fan_speed=1)}
    for plant, after in zip(plants, (moved, anew), strict=True):
        run(plant, 300.0, heating, before)
        run(plant, 300.0, heating, after)
    shared, worked_out = plants
    a, b = shared.head_state("a"), shared.head_state("b")
    assert b.heat_to_room_w == pytest.approx(3 * a.heat_to_room_w)
    for zone in "abcd":
        assert shared.head_state(zone) == worked_out.head_state(zone)
    assert shared.air_c("a") == worked_out.air_c("a") and shared.cop == worked_out.cop
