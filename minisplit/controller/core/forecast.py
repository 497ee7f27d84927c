"""The weather forecast's use (pure): hold a room at the cheap side of its comfort band when
the weather of the next hours will take it past the far side anyway.

On a sunny mild day a south room overheats in the afternoon whatever the heating does: the sun
brings more than the room loses. Every tenth of a kelvin the heating stored in it beforehand
comes back on top of that peak, for hours (the room's mass holds it). A room cooled on a summer
evening before a cool night is the mirror: it falls below its band in the night. So when the
forecast's sun and outdoor temperature, run through what the room has shown of itself, say the
room will pass the far side of its band even when held at the cheap side, the zone aims at the
cheap side (`ForecastTuning.hold_k` from the setpoint) instead of near the setpoint.

A room's response to the sun is learned (`learn_sun`) from the windows in which it drifted
with no refrigerant under a known sun: what its loss toward the outdoors does not explain,
per kW/m² of the forecast's global horizontal irradiance (before any is learned: the prior of
`optimal_start.PRIOR`). docs/architecture.md, "Forecast"."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from minisplit.controller.core.presets import PresetTable, preset_setpoints
from minisplit.controller.core.schedule import Switch
from minisplit.controller.core.settings import ZoneMode, ZoneSettings

if TYPE_CHECKING:  # optimal_start imports this module (the sun is learned with its windows)
    from minisplit.controller.core.optimal_start import RoomRates

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
    # While held, a zone aims this far on the cheap side of its setpoint (the band's edge,
    # `band_k` from it, less a margin), and during an early start this far short of the new
    # one (a recovery counts as on time within 0.3 K).
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


def passes_band(
    temperature: float,
    setpoints: tuple[tuple[float, float], ...],
    heating: bool,
    loss: float,
    sun: float,
    forecast: Forecast,
    now: float,
    tuning: ForecastTuning,
) -> bool:
    """Whether a room held at the cheap side of its band still passes the far side within the
    horizon: heated and held at ``setpoint − hold_k``, it passes ``setpoint + band_k`` (the sun
    overheats it); cooled and held at ``setpoint + hold_k``, it passes ``setpoint − band_k`` (a
    cool night chills it). ``setpoints``: the setpoint in effect from each moment on, ascending
    (``(now, setpoint)`` first, then the next switch point's, if it is in the same mode). The
    room follows the forecast: it warms by ``sun`` × the forecast's sun (kW/m²) and loses
    ``loss`` × its difference to the forecast's outdoor temperature, per hour."""
    if heating and sun <= 0.0:
        return False
    times, outdoor, solar = forecast
    hold = tuning.hold_k if heating else -tuning.hold_k
    band = tuning.band_k
    step = tuning.step_s
    hours = step / HOUR_S
    end = now + tuning.horizon_s
    k = 0
    setpoint = setpoints[0][1]
    t = now
    room = max(temperature, setpoint - hold) if heating else min(temperature, setpoint - hold)
    while t < end:
        while k + 1 < len(setpoints) and setpoints[k + 1][0] <= t:
            k += 1
            setpoint = setpoints[k][1]
        out = value_at(times, outdoor, t)
        if out is None:
            return False  # the forecast does not reach so far: no hold on a guess
        light = value_at(times, solar, t)
        light = 0.0 if light is None else max(light, 0.0) / 1000.0
        room += hours * (sun * light - loss * (room - out))
        if heating:
            room = max(room, setpoint - hold)
            if room > setpoint + band:
                return True
        else:
            room = min(room, setpoint - hold)
            if room < setpoint - band:
                return True
        t += step
    return False


def zone_held(
    settings: ZoneSettings,
    in_force: tuple[float, float],
    upcoming: Switch | None,
    temperature: float,
    rates: RoomRates,
    forecast: Forecast,
    now: float,
    presets: PresetTable,
    tuning: ForecastTuning,
) -> bool:
    """Whether a zone in heat or cool mode is held (`passes_band`): its setpoint in effect from
    ``in_force`` (heating, cooling), the next switch point's from its moment when that is in
    the same mode, the room's learned loss and sun."""
    mode = settings.mode
    if mode is ZoneMode.HEAT:
        side = 0
    elif mode is ZoneMode.COOL:
        side = 1
    else:
        return False
    setpoints = [(now, in_force[side])]
    if upcoming is not None and upcoming.settings.mode is mode and upcoming.at_s > now:
        setpoints.append((upcoming.at_s, preset_setpoints(upcoming.settings, presets)[side]))
    return passes_band(
        temperature, tuple(setpoints), side == 0, rates.loss, rates.sun, forecast, now, tuning
    )
