"""The refrigerant cycle: the published plausibility figures (docs/benchmark.md), start-up,
frost."""

from __future__ import annotations

import pytest

from minisplit.drivers.vocabulary import OduMode
from minisplit.hil.heatpump import (
    COOLING_DERATE_PER_K,
    COOLING_GAIN_PER_K,
    COOLING_RATING_C,
    HEATING_DERATE_PER_K,
    HEATING_RATING_C,
    REFERENCE_HEAD,
    REFERENCE_ODU,
    capacity_factor,
    capacity_per_hz,
    cycle,
    defrost_melt_rate_kg_s,
    defrost_power_w,
    frost_rate_kg_s,
    operating_point,
    passive_melt_rate_kg_s,
    rated_input_power_w,
    startup_fraction,
)
from minisplit.hil.psychrometrics import dew_point_c

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
    assert rated_input_power_w(ODU) == pytest.approx(point.compressor_power_w)
    cooling = operating_point(ODU, OduMode.COOL, 60.0, 35.0, 27.0, ODU.rated_cooling_w)
    assert cooling.capacity_w == pytest.approx(6500.0)
    assert 3.0 < cooling.cop < 4.2  # typical EER of a ductless unit at the AHRI point


def test_fast_path_is_the_operating_point():
    point = operating_point(ODU, OduMode.HEAT, 45.0, -3.0, 21.0, 5000.0, 0.5)
    assert cycle(ODU, OduMode.HEAT, 45.0, -3.0, 21.0, 5000.0, 0.5) == (
        point.capacity_w,
        point.compressor_power_w,
        point.cop,
        point.condensing_c,
        point.evaporating_c,
    )
    with pytest.raises(ValueError):
        operating_point(ODU, OduMode.OFF, 45.0, -3.0, 21.0, 5000.0)


def test_heating_capacity_derates_in_the_cold():
    assert capacity_factor(OduMode.HEAT, 7.0) == pytest.approx(1.0)
    assert capacity_factor(OduMode.HEAT, -15.0) == pytest.approx(0.6, abs=0.02)
    temps = [15.0, 7.0, 0.0, -7.0, -15.0]
    factors = [capacity_factor(OduMode.HEAT, t) for t in temps]
    assert factors == sorted(factors, reverse=True)
    assert capacity_per_hz(ODU, OduMode.HEAT, 7.0) == pytest.approx(7000.0 / 60.0)


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
    assert 60.0 <= ODU.startup_ramp_s <= 120.0  # docs/benchmark.md: 1–2 minutes
    assert startup_fraction(ODU, ODU.startup_ramp_s) == 1.0
    assert startup_fraction(ODU, 3600.0) == 1.0


def test_frost_costs_capacity_and_efficiency():
    clean = operating_point(ODU, OduMode.HEAT, 60.0, 0.0, 20.0, MATCHED)
    iced = operating_point(ODU, OduMode.HEAT, 60.0, 0.0, 20.0, MATCHED, frost_fraction=1.0)
    assert 0.9 < iced.capacity_w / clean.capacity_w < 0.97
    assert iced.cop < clean.cop
    assert iced.evaporating_c < clean.evaporating_c


# ---- frost and defrost ----


def frost_per_hour(hz: float, outdoor_c: float, rh_pct: float) -> float:
    capacity, power, _, _, evaporating = cycle(ODU, OduMode.HEAT, hz, outdoor_c, 20.0, MATCHED)
    return 3600.0 * frost_rate_kg_s(
        capacity - power, outdoor_c, dew_point_c(outdoor_c, rh_pct), evaporating
    )


def minutes_to_defrost(hz: float, outdoor_c: float, rh_pct: float) -> float:
    """Run at a fixed speed until the frost reaches the unit's limit (frost slows the coil)."""
    frost_kg, seconds = 0.0, 0.0
    while frost_kg < ODU.frost_limit_kg:
        capacity, power, _, _, evaporating = cycle(
            ODU, OduMode.HEAT, hz, outdoor_c, 20.0, MATCHED, frost_kg / ODU.frost_limit_kg
        )
        rate = frost_rate_kg_s(
            capacity - power, outdoor_c, dew_point_c(outdoor_c, rh_pct), evaporating
        )
        frost_kg += rate * 10.0
        seconds += 10.0
        if seconds > 24 * 3600:
            return float("inf")
    return seconds / 60.0


def test_rated_load_in_humid_air_at_zero_defrosts_after_about_45_min():
    assert 45.0 <= minutes_to_defrost(ODU.rated_hz, 0.0, 90.0) <= 60.0


def test_slow_running_frosts_less_per_hour():
    full = frost_per_hour(60.0, 0.0, 90.0)
    half = frost_per_hour(30.0, 0.0, 90.0)
    assert half < 0.7 * full
    assert minutes_to_defrost(30.0, 0.0, 90.0) > 1.5 * minutes_to_defrost(60.0, 0.0, 90.0)


def test_frost_grows_with_humidity_and_needs_a_coil_below_zero():
    assert frost_per_hour(60.0, 0.0, 95.0) > frost_per_hour(60.0, 0.0, 70.0) > 0
    assert frost_per_hour(60.0, -10.0, 70.0) < frost_per_hour(60.0, 0.0, 70.0)
    assert frost_rate_kg_s(4000.0, 10.0, 8.0, 1.0) == 0.0  # coil above 0 °C: condensate drains
    assert frost_rate_kg_s(4000.0, 0.0, -20.0, -8.0) == 0.0  # air drier than the coil's ice
    assert frost_rate_kg_s(0.0, 0.0, -1.0, -8.0) == 0.0


def test_defrost_melts_a_full_coil_in_minutes():
    compressor_w = defrost_power_w(ODU, 60.0)
    assert 0.3 * rated_input_power_w(ODU) < compressor_w < 0.7 * rated_input_power_w(ODU)
    indoor_w = 0.06 * 4 * REFERENCE_HEAD.rated_w
    minutes = ODU.frost_limit_kg / defrost_melt_rate_kg_s(compressor_w, indoor_w, 0.0) / 60.0
    assert 3.0 < minutes < 8.0  # plus the drain and the valve's switching: 5–10 min in all
    # Colder air takes some of the heat, so a defrost in the cold lasts longer.
    assert defrost_melt_rate_kg_s(compressor_w, indoor_w, -10.0) < defrost_melt_rate_kg_s(
        compressor_w, indoor_w, 0.0
    )
    assert passive_melt_rate_kg_s(5.0) > 0.0 == passive_melt_rate_kg_s(-5.0)


def test_the_spelled_out_limits_are_min_and_max():
    for tenth in range(-300, 500):
        t = tenth / 10.0
        heating = min(1.15, max(0.25, 1.0 + HEATING_DERATE_PER_K * (t - HEATING_RATING_C)))
        assert capacity_factor(OduMode.HEAT, t) == heating
        if t >= COOLING_RATING_C:
            cooling = max(0.7, 1.0 - COOLING_DERATE_PER_K * (t - COOLING_RATING_C))
        else:
            cooling = min(1.1, 1.0 + COOLING_GAIN_PER_K * (COOLING_RATING_C - t))
        assert capacity_factor(OduMode.COOL, t) == cooling
    for s in (-5.0, 0.0, 30.0, REFERENCE_ODU.startup_ramp_s, 500.0):
        expected = min(1.0, max(0.0, s / REFERENCE_ODU.startup_ramp_s))
        assert startup_fraction(REFERENCE_ODU, s) == expected
