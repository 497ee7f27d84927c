"""Weather forecasts for the bench, made from the scenario's weather file: what a controller is
given as `controllers.Reports.forecast` (the supervisor's comes over MQTT).

A forecast is issued every hour on the hour and reaches `AHEAD_H` hours ahead, one point an
hour (outdoor temperature, global horizontal irradiance), as a weather service's would. Kinds
(`FORECASTS`):

- ``perfect``: the weather file itself, what the simulated house will get;
- ``noisy``: the same with errors like a day-ahead forecast's: a temperature error of
  0.3 K growing by 0.05 K per hour of lead, and a sun error of 20 % growing by 0.5 % per hour,
  each part shared by the whole issue (a forecast that is too sunny stays so) and part per
  point; drawn from a generator seeded by the issue's hour, so that every run and controller
  gets the same forecasts;
- ``none``: no forecast.

docs/benchmark.md, "Forecasts"."""

from __future__ import annotations

import math
import random

from minisplit.controller.core.forecast import Forecast
from minisplit.hil.weather import Weather

FORECASTS = ("none", "perfect", "noisy")
HOUR_S = 3600.0
AHEAD_H = 48
# The noisy forecast's errors: (at no lead, growth per hour of lead), and how the error splits
# between the part shared by the issue and the part per point (their squares sum to 1).
TEMPERATURE_ERROR_K = (0.3, 0.05)
SUN_ERROR = (0.2, 0.005)
SHARED, OWN = 0.8, 0.6


class ForecastFeed:
    """The forecast in effect at any time of a run (the same object within an hour)."""

    def __init__(self, weather: Weather, kind: str) -> None:
        if kind not in FORECASTS:
            raise ValueError(f"forecast {kind!r}: one of {', '.join(FORECASTS)}")
        self.weather = weather
        self.kind = kind
        self._issued: float | None = None
        self._forecast: Forecast | None = None

    def at(self, t: float) -> Forecast | None:
        """The forecast issued at the last full hour before ``t`` (None for kind ``none``)."""
        if self.kind == "none":
            return None
        issued = math.floor(t / HOUR_S) * HOUR_S
        if issued != self._issued:
            self._issued = issued
            self._forecast = self._issue(issued)
        return self._forecast

    def _issue(self, issued: float) -> Forecast:
        weather = self.weather
        times = tuple(issued + h * HOUR_S for h in range(AHEAD_H + 1))
        samples = [weather.at(t) for t in times]
        outdoor: list[float | None] = [s.temperature_c for s in samples]
        solar: list[float | None] = [s.ghi_w_m2 for s in samples]
        if self.kind == "noisy":
            outdoor, solar = _noisy(issued, outdoor, solar)
        return Forecast(times, tuple(outdoor), tuple(solar))


def _noisy(
    issued: float, outdoor: list[float | None], solar: list[float | None]
) -> tuple[list[float | None], list[float | None]]:
    draw = random.Random(int(issued // HOUR_S))
    shared_t, shared_s = draw.gauss(), draw.gauss()
    t0, t_growth = TEMPERATURE_ERROR_K
    s0, s_growth = SUN_ERROR
    noisy_t: list[float | None] = []
    noisy_s: list[float | None] = []
    for lead, (temperature, sun) in enumerate(zip(outdoor, solar, strict=True)):
        assert temperature is not None and sun is not None  # the weather file's: all there
        t_error = (t0 + t_growth * lead) * (SHARED * shared_t + OWN * draw.gauss())
        s_error = (s0 + s_growth * lead) * (SHARED * shared_s + OWN * draw.gauss())
        noisy_t.append(round(temperature + t_error, 1))
        noisy_s.append(round(max(sun * (1.0 + s_error), 0.0)))
    return noisy_t, noisy_s
