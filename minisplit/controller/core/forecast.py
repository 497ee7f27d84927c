"""The weather forecast's use (pure): hold a heated room at the bottom of its comfort band
when the sun coming in the next hours will take it above the band anyway.

On a sunny mild day a south room overheats in the afternoon whatever the heating does: the sun
brings more than the room loses. Every tenth of a kelvin the heating stored in it beforehand
comes back on top of that peak, for hours (the room's mass holds it). So when the forecast's
sun and outdoor temperature, run through what the room has shown of itself, say the room will
pass the top of its band even when held at the bottom, the zone aims at the bottom
(`ForecastTuning.hold_k` below the setpoint) instead of near the setpoint.

A room's response to the sun is learned (`learn_sun`) from the windows in which it drifted
with no refrigerant under a known sun: what its loss toward the outdoors does not explain,
per kW/m² of the forecast's global horizontal irradiance. Until one is learned it is 0 and
nothing is held. docs/architecture.md, "Forecast"."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import NamedTuple

HOUR_S = 3600.0


class Forecast(NamedTuple):
    """Hourly (or any spacing) outdoor temperature and sun ahead, on the controller's clock:
    ``times_s`` ascending, the values at those moments (None: not given). Between two points
    a value is interpolated; before the first and after the last it is not known."""

    times_s: tuple[float, ...]
    outdoor_c: tuple[float | None, ...]
    solar_w_m2: tuple[float | None, ...]


@dataclass(frozen=True, slots=True)
class ForecastTuning:
    """How a forecast is used (config `[control] forecast`)."""

    enabled: bool = True
    # How far ahead the sun is looked for, and how often a zone's hold is worked out again.
    horizon_s: float = 8 * HOUR_S
    recheck_s: float = 600.0
    step_s: float = 900.0  # the room's course is followed in steps this long
    # While held, a heating zone aims this far below its setpoint (the band's bottom edge,
    # `band_k` below it, less a margin), and during an early start this far below the new one
    # (a recovery counts as on time within 0.3 K).
    hold_k: float = 0.4
    start_hold_k: float = 0.25
    band_k: float = 0.5
    # Learning the sun: windows under at least this much sun (kW/m²) teach; the response is
    # kept between 0 and this (K/h per kW/m²), and one window moves it by this share.
    min_sun_kw: float = 0.15
    max_sun: float = 6.0
    learn_weight: float = 0.25
    fall_weight: float = 0.05


def value_at(times: tuple[float, ...], values: tuple[float | None, ...], t: float) -> float | None:
    """``values`` at ``t``, interpolated between the two points around it (None outside them,
    or where one of them is None)."""
    i = bisect_right(times, t)
    if i == 0:
        return None
    if i == len(times):
        return values[-1] if times[-1] == t else None
    a, b = values[i - 1], values[i]
    if a is None or b is None:
        return None
    t0, t1 = times[i - 1], times[i]
    return a + (b - a) * (t - t0) / (t1 - t0)


def solar_kw(forecast: Forecast | None, t: float) -> float | None:
    """The forecast's sun at ``t``, kW/m² (None: no forecast, or none for then)."""
    if forecast is None:
        return None
    value = value_at(forecast.times_s, forecast.solar_w_m2, t)
    return None if value is None else max(value, 0.0) / 1000.0


def learn_sun(
    sun: float,
    loss: float,
    slope_k_h: float,
    difference_k: float,
    solar_kw_m2: float,
    tuning: ForecastTuning,
) -> float:
    """The room's response to the sun after a drifting window under ``solar_kw_m2`` of sun in
    which it moved ``slope_k_h`` while ``difference_k`` warmer than the outdoors on average:
    what the loss does not explain, per kW/m²."""
    if solar_kw_m2 < tuning.min_sun_kw:
        return sun
    seen = (slope_k_h + loss * difference_k) / solar_kw_m2
    seen = min(max(seen, 0.0), tuning.max_sun)
    weight = tuning.learn_weight if seen > sun else tuning.fall_weight
    return sun + weight * (seen - sun)


def sun_overheats(
    temperature: float,
    floors: tuple[tuple[float, float], ...],
    loss: float,
    sun: float,
    forecast: Forecast,
    now: float,
    tuning: ForecastTuning,
) -> bool:
    """Whether a room held at the bottom of its band still passes the top of it within the
    horizon. ``floors``: the heating setpoints in effect from each moment on, ascending
    (``(now, setpoint)`` first, then the next switch point's, if it heats); the heating keeps
    the room at ``setpoint − hold_k``, and the band's top is ``setpoint + band_k``."""
    if sun <= 0.0:
        return False
    times, outdoor, solar = forecast
    hold, band = tuning.hold_k, tuning.band_k
    step = tuning.step_s
    hours = step / HOUR_S
    end = now + tuning.horizon_s
    k = 0
    setpoint = floors[0][1]
    t = now
    room = max(temperature, setpoint - hold)
    while t < end:
        while k + 1 < len(floors) and floors[k + 1][0] <= t:
            k += 1
            setpoint = floors[k][1]
        out = value_at(times, outdoor, t)
        if out is None:
            return False  # the forecast does not reach so far: no hold on a guess
        light = value_at(times, solar, t)
        light = 0.0 if light is None else max(light, 0.0) / 1000.0
        room += hours * (sun * light - loss * (room - out))
        room = max(room, setpoint - hold)
        if room > setpoint + band:
            return True
        t += step
    return False
