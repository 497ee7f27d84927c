"""The controller's model of the outdoor unit: capacity per hertz and input power (pure).

Feed-forward estimates only: Q = Q_rated · (f / 60 Hz) · k(T_out) with the datasheet's ratings
(docs/reference-unit.md) and the plant's derating (docs/benchmark.md), and input power growing a
little faster than speed (COP falls as the compressor speeds up). The zone loops and the
coordinator's trim correct what they miss."""

from __future__ import annotations

import math

from minisplit.drivers.vocabulary import OduMode

ODU_OFF, ODU_HEAT = OduMode.OFF, OduMode.HEAT

RATED_FREQUENCY_HZ = 60.0  # capacities on the datasheet are given at 60 Hz (docs/reference-unit.md)

# Heating capacity falls as it gets colder: 1.0 at the +7 °C rating point, ≈0.6 at −15 °C
# (docs/benchmark.md), a little more than 1 in mild weather. Cooling loses 1 %/K above the +35 °C
# rating point and gains a little below it.
HEATING_RATING_C = 7.0
HEATING_SLOPE_PER_K = 0.4 / 22.0
HEATING_FACTOR_RANGE = (0.4, 1.15)
COOLING_RATING_C = 35.0
COOLING_LOSS_PER_K = 0.01
COOLING_GAIN_PER_K = 0.004
COOLING_FACTOR_RANGE = (0.7, 1.1)
# Input power ∝ f^γ: capacity is proportional to speed and COP falls with it (≈3.4 at rated
# speed, ≈4.3 at half speed, docs/benchmark.md, gives γ ≈ 1.3–1.6 over the speed range).
POWER_EXPONENT = 1.5


def capacity_factor(mode: OduMode, outdoor_temperature: float | None) -> float:
    """k(T_out): the share of rated capacity the unit delivers at rated speed."""
    if outdoor_temperature is None or mode == ODU_OFF:
        return 1.0
    t = outdoor_temperature
    if mode == ODU_HEAT:
        low, high = HEATING_FACTOR_RANGE
        k = 1.0 + HEATING_SLOPE_PER_K * (t - HEATING_RATING_C)
    else:
        low, high = COOLING_FACTOR_RANGE
        if t >= COOLING_RATING_C:
            k = 1.0 - COOLING_LOSS_PER_K * (t - COOLING_RATING_C)
        else:
            k = 1.0 + COOLING_GAIN_PER_K * (COOLING_RATING_C - t)
    return low if k < low else high if k > high else k


def watts_per_hz(rated_w: float, mode: OduMode, outdoor_temperature: float | None) -> float:
    """Capacity per hertz of compressor speed now."""
    return rated_w * capacity_factor(mode, outdoor_temperature) / RATED_FREQUENCY_HZ


def demand_limit_cap_hz(demand_limit_pct: float, exponent: float = POWER_EXPONENT) -> float:
    """The highest speed whose estimated input power stays within ``demand_limit_pct`` % of the
    rated input power (that at 60 Hz); 100 % means no limit (docs/reference-unit.md)."""
    if demand_limit_pct >= 100:
        return math.inf
    if demand_limit_pct <= 0:
        return 0.0
    share: float = (demand_limit_pct / 100.0) ** (1.0 / exponent)  # a positive base: real
    return RATED_FREQUENCY_HZ * share
