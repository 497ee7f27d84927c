"""Outdoor weather for the plant: a year of hourly weather (the shipped Greensboro TMY3 year, or
any station's TMY3 or EPW file: `hil.weather_files`), interpolated in time.

Simulated time is seconds since Jan 1 00:00 (local standard time) of a 365-day year that
starts on a Monday; it may run past the year's end, and the weather wraps around."""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

from minisplit.drivers.textfile import UnreadableFile, read_text
from minisplit.hil.weather_files import CALENDAR_YEAR as _CALENDAR_YEAR
from minisplit.hil.weather_files import HOURS_PER_YEAR as HOURS_PER_YEAR
from minisplit.hil.weather_files import WEATHER_MAX_BYTES, hour_text, read_weather
from minisplit.hil.weather_files import WeatherFileError as WeatherFileError

HOUR_S = 3600.0
DAY_S = 86400.0
WEEK_S = 7 * DAY_S
YEAR_S = HOURS_PER_YEAR * HOUR_S
TMY3_FILE = "greensboro-723170-tmy3.csv"


@dataclass(frozen=True)
class WeatherSample:
    """The outdoor conditions at one instant."""

    temperature_c: float
    dew_point_c: float
    rel_humidity_pct: float
    ghi_w_m2: float


class Weather:
    """A typical year of hourly weather (8760 rows, Jan 1 hour-ending 1 first)."""

    def __init__(
        self,
        temperature_c: array[float],
        dew_point_c: array[float],
        rel_humidity_pct: array[float],
        ghi_w_m2: array[float],
    ) -> None:
        for name, column in (
            ("temperature_c", temperature_c),
            ("dew_point_c", dew_point_c),
            ("rel_humidity_pct", rel_humidity_pct),
            ("ghi_w_m2", ghi_w_m2),
        ):
            if len(column) != HOURS_PER_YEAR:
                raise ValueError(f"{name}: {len(column)} hourly values, need {HOURS_PER_YEAR}")
        self._temperature = temperature_c
        self._dew_point = dew_point_c
        self._rel_humidity = rel_humidity_pct
        self._ghi = ghi_w_m2
        # The hour pairs `drivers` interpolated between last: a step of seconds stays within
        # the same pair for hundreds of calls.
        self._instant_span = _NO_SPAN
        self._sun_span = _NO_SPAN

    @classmethod
    def from_text(cls, text: str, source: str = "<weather>") -> Weather:
        """A whole year from a weather file's text in any format `read_weather` reads; the rows
        must run from Jan 1 hour ending 1 to Dec 31 hour ending 24 (WeatherFileError if not)."""
        hours = read_weather(text, source)
        if hours.first_hour != 0:
            raise WeatherFileError(
                source,
                hours.first_line,
                f"the data start at {hour_text(hours.first_hour)}; the simulator needs a whole"
                " year, from 01/01 01:00 (hour ending 1) to 12/31 24:00",
            )
        if len(hours.dry_bulb_c) != HOURS_PER_YEAR:
            raise WeatherFileError(
                source,
                hours.end_line,
                f"the data end after {len(hours.dry_bulb_c)} hours, at"
                f" {hour_text(len(hours.dry_bulb_c) - 1)}; a year has {HOURS_PER_YEAR}, to"
                " 12/31 24:00",
            )
        return cls(hours.dry_bulb_c, hours.dew_point_c, hours.rel_humidity_pct, hours.ghi_w_m2)

    def at(self, time_s: float) -> WeatherSample:
        """Conditions at ``time_s`` seconds after Jan 1 00:00, linearly interpolated."""
        return WeatherSample(
            temperature_c=self.temperature(time_s),
            dew_point_c=_interpolate(self._dew_point, time_s, _INSTANT_OFFSET_H),
            rel_humidity_pct=_interpolate(self._rel_humidity, time_s, _INSTANT_OFFSET_H),
            ghi_w_m2=_interpolate(self._ghi, time_s, _HOUR_MEAN_OFFSET_H),
        )

    def drivers(self, time_s: float) -> tuple[float, float, float]:
        """Dry bulb (°C), dew point (°C) and irradiance (W/m²): what the plant reads each step."""
        # `_interpolate` three times over (the plant asks every step), with the hour pair's
        # values and differences kept while the time stays between the same two hours: the
        # pair starts at floor(position), i.e. at `first` exactly when first <= position <
        # first + 1, and `position - first` is the very `frac` that `_interpolate` works out.
        hours = (time_s % YEAR_S) / HOUR_S
        position = hours - _INSTANT_OFFSET_H
        span = self._instant_span
        if not span[0] <= position < span[1]:
            span = self._instant_span = _span(position, self._temperature, self._dew_point)
        first, _, t0, t_rise, d0, d_rise = span
        frac = position - first
        position = hours - _HOUR_MEAN_OFFSET_H
        sun = self._sun_span
        if not sun[0] <= position < sun[1]:
            sun = self._sun_span = _span(position, self._ghi, self._ghi)
        return t0 + t_rise * frac, d0 + d_rise * frac, sun[2] + sun[3] * (position - sun[0])

    def temperature(self, time_s: float) -> float:
        """Dry-bulb temperature (°C) at ``time_s``."""
        return _interpolate(self._temperature, time_s, _INSTANT_OFFSET_H)


# TMY3 dry bulb, dew point and humidity are readings at the end of each hour, so row i (hour
# ending i+1 of the year) belongs at (i+1) h. Irradiance is the total over the hour that ends
# there, so it belongs at the hour's middle, (i+0.5) h.
_INSTANT_OFFSET_H = 1.0
_HOUR_MEAN_OFFSET_H = 0.5


def _interpolate(column: array[float], time_s: float, offset_h: float) -> float:
    # Reduce to the year first so that long runs keep full sub-second resolution.
    position = (time_s % YEAR_S) / HOUR_S - offset_h
    first, _, value, rise, _, _ = _span(position, column, column)
    return value + rise * (position - first)


# (first hour's position, the next one's, then per column its value there and the rise to the
# next hour) for the hour pair around a position; `_NO_SPAN` holds no position.
_Span = tuple[float, float, float, float, float, float]
_NO_SPAN: _Span = (math.inf, -math.inf, 0.0, 0.0, 0.0, 0.0)


def _span(position: float, a: array[float], b: array[float]) -> _Span:
    """The hour pair that `_interpolate` uses at ``position`` (hours past the offset), for
    columns ``a`` and ``b``: the same rows and the same differences."""
    base = math.floor(position)
    i0 = base % HOURS_PER_YEAR
    i1 = (i0 + 1) % HOURS_PER_YEAR
    return (float(base), float(base + 1), a[i0], a[i1] - a[i0], b[i0], b[i1] - b[i0])


def shipped_weather_path() -> Path:
    # Next to this module (installed as package data): independent of how `hil` was imported.
    return Path(__file__).parent / "weather" / TMY3_FILE


def load_weather() -> Weather:
    """The shipped Greensboro, NC TMY3 year (read once per process)."""
    return load_weather_file(shipped_weather_path())


@cache
def load_weather_file(path: Path) -> Weather:
    """A year of hourly weather from a TMY3, EPW or the shipped subset's file (read once per
    process); WeatherFileError names the file, line and field of what is wrong."""
    try:
        text = read_text(path, WEATHER_MAX_BYTES)
    except UnreadableFile as err:
        raise WeatherFileError(str(path), None, err.reason) from None
    return Weather.from_text(text, str(path))


def time_of_year(month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    """Seconds from Jan 1 00:00 to the given local standard time; ValueError if no such date."""
    moment = datetime(_CALENDAR_YEAR, month, day, hour, minute)
    return (moment - datetime(_CALENDAR_YEAR, 1, 1)).total_seconds()


def parse_time_of_year(text: str) -> float:
    """Seconds since Jan 1 00:00 for "MM-DD" or "MM-DD HH:MM" (the simulator's `start`)."""
    try:
        moment = datetime.strptime(
            f"{_CALENDAR_YEAR}-{text}", "%Y-%m-%d %H:%M" if " " in text else "%Y-%m-%d"
        )
    except ValueError:
        raise ValueError(f"{text!r} is not a date of the year as MM-DD or MM-DD HH:MM") from None
    return time_of_year(moment.month, moment.day, moment.hour, moment.minute)


def weekday(time_s: float) -> int:
    """Day of the week, 0 = Monday: the simulated year starts on a Monday, as 2001 did."""
    return int(time_s // DAY_S) % 7


def format_time_of_year(time_s: float) -> str:
    """The date and time as MM-DD HH:MM for a simulated time (the year wraps), for log lines."""
    moment = datetime(_CALENDAR_YEAR, 1, 1) + timedelta(seconds=time_s % YEAR_S)
    return moment.strftime("%m-%d %H:%M")
