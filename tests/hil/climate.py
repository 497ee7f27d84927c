"""Made-up weather for physics tests: a year of one constant condition."""

from __future__ import annotations

import math
from array import array

from minisplit.hil.weather import HOURS_PER_YEAR, Weather


def dew_point(t_c: float, rh_pct: float) -> float:
    """Inverse of the Magnus formula used in `hil.psychrometrics`."""
    g = math.log(rh_pct / 100.0) + 17.625 * t_c / (t_c + 243.04)
    return 243.04 * g / (17.625 - g)


def constant_weather(t_c: float, rh_pct: float = 80.0, ghi_w_m2: float = 0.0) -> Weather:
    def column(value: float) -> array[float]:
        return array("d", [value] * HOURS_PER_YEAR)

    return Weather(column(t_c), column(dew_point(t_c, rh_pct)), column(rh_pct), column(ghi_w_m2))
