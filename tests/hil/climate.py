"""Made-up weather for physics tests: a year of one constant condition."""

from __future__ import annotations

from array import array

from minisplit.hil.psychrometrics import dew_point_c
from minisplit.hil.weather import HOURS_PER_YEAR, Weather


def constant_weather(t_c: float, rh_pct: float = 80.0, ghi_w_m2: float = 0.0) -> Weather:
    def column(value: float) -> array[float]:
        return array("d", [value] * HOURS_PER_YEAR)

    return Weather(column(t_c), column(dew_point_c(t_c, rh_pct)), column(rh_pct), column(ghi_w_m2))
