"""Moist air: saturation pressures over water and ice, humidity ratio, indoor relative humidity.

The plant needs these twice: for what a head's humidity sensor reads, and for how fast frost
grows on the outdoor coil. Pure functions of temperatures in °C."""

from __future__ import annotations

import math

ZERO_C_K = 273.15
WATER_VAPOUR_GAS_CONSTANT = 461.5  # J/(kg·K)
# Greensboro sits at 273 m; the standard atmosphere there is ≈ 98 kPa.
AIR_PRESSURE_PA = 98_000.0
MOLAR_MASS_RATIO = 0.622  # water / dry air

# Moisture from people, cooking and plants: the indoor vapour density exceeds the outdoor one
# by 4 g/m³ in cold weather, falling to 0 at +20 °C outdoors (EN ISO 13788 Annex A, humidity
# class of dwellings with low occupancy). Dehumidification by cooling is not modelled.
MOISTURE_EXCESS_G_M3 = 4.0
MOISTURE_EXCESS_ZERO_C = 20.0


def saturation_pressure_pa(t_c: float) -> float:
    """Over liquid water: Magnus formula (Alduchov & Eskridge 1996 coefficients)."""
    return 610.94 * math.exp(17.625 * t_c / (t_c + 243.04))


def dew_point_c(t_c: float, rh_pct: float) -> float:
    """The dew point of air at ``t_c`` and ``rh_pct``: the Magnus formula above, inverted."""
    g = math.log(rh_pct / 100.0) + 17.625 * t_c / (t_c + 243.04)
    return 243.04 * g / (17.625 - g)


def relative_humidity_pct(t_c: float, dew_point_c: float) -> float:
    """The relative humidity (%) of air at ``t_c`` whose dew point is ``dew_point_c``."""
    return 100.0 * saturation_pressure_pa(dew_point_c) / saturation_pressure_pa(t_c)


def saturation_pressure_ice_pa(t_c: float) -> float:
    """Over ice, which is what frost on a coil below 0 °C is in equilibrium with (same source)."""
    return 611.21 * math.exp(22.587 * t_c / (t_c + 273.86))


def humidity_ratio(vapour_pressure_pa: float) -> float:
    """kg of water per kg of dry air."""
    return MOLAR_MASS_RATIO * vapour_pressure_pa / (AIR_PRESSURE_PA - vapour_pressure_pa)


def vapour_density_g_m3(pressure_pa: float, t_c: float) -> float:
    return 1000.0 * pressure_pa / (WATER_VAPOUR_GAS_CONSTANT * (t_c + ZERO_C_K))


def indoor_relative_humidity(air_c: float, outdoor_c: float, outdoor_dew_point_c: float) -> float:
    """Indoor RH (%) from the outdoor air's moisture plus the household's moisture excess."""
    excess = MOISTURE_EXCESS_G_M3 * min(1.0, max(0.0, 1.0 - outdoor_c / MOISTURE_EXCESS_ZERO_C))
    outdoor_g_m3 = vapour_density_g_m3(saturation_pressure_pa(outdoor_dew_point_c), outdoor_c)
    saturated_g_m3 = vapour_density_g_m3(saturation_pressure_pa(air_c), air_c)
    return min(100.0, 100.0 * (outdoor_g_m3 + excess) / saturated_g_m3)
