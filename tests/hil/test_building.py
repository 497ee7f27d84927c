"""The rooms' thermal network: published parameters, exact steps, heat between rooms, gains."""

from __future__ import annotations

import pytest

from minisplit.hil.building import (
    Adjacency,
    Building,
    Disturbance,
    GainSchedule,
    Room,
    RoomParameters,
    ThermalNetwork,
    gains_slot,
)
from minisplit.hil.weather import DAY_S, HOUR_S


def test_renovated_room_has_the_published_parameters_and_unrenovated_loses_more():
    renovated = RoomParameters.for_floor(20.0)
    old = RoomParameters.for_floor(20.0, unrenovated=True)
    # docs/benchmark.md (Sperber et al. 2020): 0.26 + (12·0.5)/(12+0.5) ≈ 0.74 W/K per m².
    assert renovated.loss_coefficient_w_per_k == pytest.approx(0.74 * 20.0, rel=0.01)
    assert renovated.interior_capacity_j_per_k == pytest.approx(46e3 * 20.0)
    assert renovated.envelope_capacity_j_per_k == pytest.approx(370e3 * 20.0)
    assert 2.0 < old.loss_coefficient_w_per_k / renovated.loss_coefficient_w_per_k < 3.0
    assert old.envelope_outdoor_w_per_k == pytest.approx(2.5 * renovated.envelope_outdoor_w_per_k)
    assert old.interior_capacity_j_per_k == renovated.interior_capacity_j_per_k
    explicit = RoomParameters.for_floor(20.0, outdoor_factor=3.0)
    assert explicit.interior_outdoor_w_per_k == pytest.approx(
        3 * renovated.interior_outdoor_w_per_k
    )


def network(*rooms: Room, adjacency: tuple[Adjacency, ...] = (), outdoor_c: float = 0.0):
    return ThermalNetwork(Building(rooms, adjacency), outdoor_c)


def room(room_id: str = "r", area: float = 20.0, initial: float = 20.0) -> Room:
    return Room(room_id, RoomParameters.for_floor(area), initial)


def test_envelope_starts_in_steady_state_between_air_and_outdoors():
    net = network(room(initial=20.0), outdoor_c=0.0)
    # 12 W/K·m² inside, 0.5 W/K·m² outside: the envelope sits near the air.
    assert net.envelope_c[0] == pytest.approx(20.0 * 12.0 / 12.5)


def test_unheated_room_cools_toward_outdoors():
    net = network(room())
    temps = []
    for _ in range(30):
        net.step(86400.0, 0.0, [0.0])
        temps.append(net.air_c[0])
    assert temps == sorted(temps, reverse=True)
    assert 0.0 < temps[0] < 19.0
    assert temps[-1] < 1.0


def test_constant_heat_settles_at_heat_over_ua():
    params = RoomParameters.for_floor(20.0)
    net = network(Room("r", params, 0.0))
    for _ in range(60):
        net.step(2 * 86400.0, 0.0, [500.0])
    assert net.air_c[0] == pytest.approx(500.0 / params.loss_coefficient_w_per_k, rel=1e-3)


def test_steps_are_exact_for_any_length():
    one, many = network(room()), network(room())
    one.step(3600.0, -5.0, [800.0])
    for _ in range(360):
        many.step(10.0, -5.0, [800.0])
    assert one.air_c[0] == pytest.approx(many.air_c[0], abs=1e-9)
    assert one.envelope_c[0] == pytest.approx(many.envelope_c[0], abs=1e-9)


def test_heat_flows_between_adjacent_rooms():
    warm, cold = room("warm", initial=24.0), room("cold", initial=16.0)
    alone = network(warm, cold, outdoor_c=10.0)
    linked = network(warm, cold, adjacency=(Adjacency("warm", "cold", 50.0),), outdoor_c=10.0)
    for _ in range(60):
        alone.step(60.0, 10.0, [0.0, 0.0])
        linked.step(60.0, 10.0, [0.0, 0.0])
    assert linked.air_c[0] < alone.air_c[0]
    assert linked.air_c[1] > alone.air_c[1]
    # Heating one room of a linked pair warms the other; the link is symmetric.
    heated = network(room("a"), room("b"), adjacency=(Adjacency.through_wall("a", "b", 10.0),))
    for _ in range(48):
        heated.step(3600.0, 0.0, [1000.0, 0.0])
    unlinked = network(room("a"), room("b"))
    for _ in range(48):
        unlinked.step(3600.0, 0.0, [1000.0, 0.0])
    assert heated.air_c[1] > unlinked.air_c[1] + 2.0
    assert Adjacency.through_wall("a", "b", 10.0).conductance_w_per_k == pytest.approx(20.0)


def test_heat_is_conserved_between_linked_rooms():
    """With no path to outdoors the two rooms' stored heat stays what it was."""
    sealed = RoomParameters(
        area_m2=20.0,
        interior_capacity_j_per_k=1e6,
        envelope_capacity_j_per_k=5e6,
        interior_envelope_w_per_k=200.0,
        envelope_outdoor_w_per_k=1e-9,
        interior_outdoor_w_per_k=1e-9,
    )
    net = network(
        Room("a", sealed, 30.0), Room("b", sealed, 10.0), adjacency=(Adjacency("a", "b", 40.0),)
    )

    def stored() -> float:
        return sum(1e6 * a + 5e6 * e for a, e in zip(net.air_c, net.envelope_c, strict=True))

    before = stored()
    for _ in range(200):
        net.step(60.0, 0.0, [0.0, 0.0])
    assert stored() == pytest.approx(before, rel=1e-4)
    assert net.air_c[0] - net.air_c[1] < 15.0  # and it moved from the warm room to the cold


def test_building_refuses_unknown_rooms():
    with pytest.raises(ValueError, match="repeat"):
        Building((room("a"), room("a")))
    with pytest.raises(ValueError, match="'x'"):
        Building((room("a"),), (Adjacency("a", "x", 1.0),))
    with pytest.raises(ValueError, match="itself"):
        Building((room("a"),), (Adjacency("a", "a", 1.0),))
    with pytest.raises(ValueError, match="'y'"):
        Building((room("a"),), disturbances=(Disturbance("y", 0.0, 1.0, gains_w=1.0),))


def test_gain_schedules_follow_the_hour_and_the_weekend():
    schedule = GainSchedule(tuple(float(h) for h in range(24)), (9.0,) * 24)
    table = schedule.table()
    monday_7am = 7 * HOUR_S
    saturday_7am = 5 * DAY_S + 7 * HOUR_S
    assert table[gains_slot(monday_7am)] == 7.0
    assert table[gains_slot(saturday_7am)] == 9.0
    assert table[gains_slot(7 * DAY_S + 23.5 * HOUR_S)] == 23.0  # the next Monday
    every_day = GainSchedule((2.0,) * 24)
    assert every_day.table()[gains_slot(saturday_7am)] == 2.0
    with pytest.raises(ValueError, match="24"):
        GainSchedule((1.0,) * 23)


# ---- the per-step-length cache ----


def test_a_cached_step_length_advances_exactly_as_a_fresh_network():
    rooms = (room("a", 20.0, 21.0), room("b", 12.0, 17.0))
    link = (Adjacency.through_wall("a", "b", 8.0),)
    cached, fresh = network(*rooms, adjacency=link), network(*rooms, adjacency=link)
    for _ in range(50):
        cached.step(10.0, -3.0, [400.0, 0.0])
    for _ in range(50):
        fresh.step(10.0, -3.0, [400.0, 0.0])
        fresh._steps.clear()  # every step works its factors out again
    assert cached.air_c == fresh.air_c
    assert cached.envelope_c == fresh.envelope_c


def test_step_is_step_within_unbounded_bands():
    rooms = (room("a", 20.0, 21.0), room("b", 12.0, 17.0))
    link = (Adjacency.through_wall("a", "b", 8.0),)
    free, held = network(*rooms, adjacency=link), network(*rooms, adjacency=link)
    inf = float("inf")
    for dt in (10.0, 60.0, 7.5):
        free.step(dt, 5.0, [100.0, 50.0])
        extra = held.step_within(dt, 5.0, [100.0, 50.0], [-inf, -inf], [inf, inf])
        assert extra == [0.0, 0.0]
    assert free.air_c == held.air_c
    assert free.envelope_c == held.envelope_c


def test_the_cache_keeps_a_bounded_number_of_step_lengths():
    net = network(room())
    for k in range(40):
        net.step(1.0 + k, 0.0, [0.0])
    assert len(net._steps) == 16
