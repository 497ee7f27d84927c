"""The weather forecast sent over MQTT (`<base>/set/forecast`): parsed strictly, kept on the
calendar, and handed to the control on its own clock as `core.forecast.Forecast`.

A forecast is a list of points, each with its moment (ISO 8601 with a UTC offset, as Home
Assistant's `weather.get_forecasts` gives it), the outdoor temperature and the sun: the global
horizontal irradiance, or a cloud cover turned into one from the sun's course at the site
(`core.sun`). docs/mqtt.md, "Weather forecast"."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import NamedTuple

from minisplit.controller.config import SiteConfig
from minisplit.controller.core.forecast import Forecast
from minisplit.controller.core.sun import solar_from_cloud
from minisplit.controller.service.commands import (
    CommandError,
    payload_error,
    payload_json,
    payload_text,
)
from minisplit.controller.service.json_values import finite_number
from minisplit.controller.service.temperature_units import (
    TemperatureUnit,
    from_celsius,
    published,
    to_celsius,
)

FIELD = "forecast"
MAX_FORECAST_POINTS = 200
# 200 of Home Assistant's points, each with its dozen keys, pretty-printed.
MAX_FORECAST_PAYLOAD_BYTES = 131072
# What a forecast may plausibly say; anything outside is a broken or misnamed source.
OUTDOOR_RANGE_C = (-60.0, 60.0)
SOLAR_RANGE_W_M2 = (0.0, 1500.0)
CLOUD_RANGE_PCT = (0.0, 100.0)
# The control's clock and the calendar drift apart by a few seconds a day (and jitter as they
# are read one after the other): the forecast is moved onto the control's clock again only
# when they have drifted this far, so that the control gets the same object meanwhile.
_CLOCK_SLACK_S = 5.0
_DATETIME_EXAMPLE = "e.g. 2026-12-07T10:00:00+01:00"


class ForecastPoint(NamedTuple):
    """One moment of a forecast: Unix seconds, °C, W/m² (None: not given)."""

    at_s: float
    outdoor_c: float | None
    solar_w_m2: float | None


class WeatherForecast(NamedTuple):
    """A forecast as taken from MQTT: its points in order of time. ``unlit``: some point gave
    only a cloud cover, which without the site's `[site]` gives no sun."""

    points: tuple[ForecastPoint, ...]
    unlit: bool = False


def parse_forecast(
    payload: bytes, unit: TemperatureUnit, site: SiteConfig | None
) -> WeatherForecast:
    """Validate the payload of ``<base>/set/forecast``: a JSON list of points, or an object
    holding it under ``forecast`` (one entity's part of `weather.get_forecasts`' response);
    temperatures in ``unit``. Raise CommandError naming the first bad point and key."""
    data = payload_json(FIELD, payload, payload_text(FIELD, payload, MAX_FORECAST_PAYLOAD_BYTES))
    if isinstance(data, dict) and "forecast" in data:
        data = data["forecast"]
    if not isinstance(data, list):
        raise payload_error(FIELD, payload, 'not a list of points, nor {"forecast": [...]}')
    if len(data) > MAX_FORECAST_POINTS:
        raise payload_error(FIELD, payload, f"more than {MAX_FORECAST_POINTS} points")
    points: list[ForecastPoint] = []
    unlit = False
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise payload_error(FIELD, payload, f"[{index}] is not an object")
        try:
            point, dark = _point(item, unit, site)
            if points and point.at_s <= points[-1].at_s:
                raise ValueError(
                    "datetime: not after the point before it (the points go in order of time, "
                    "each moment once)"
                )
        except ValueError as err:
            raise payload_error(FIELD, payload, f"[{index}].{err}") from None
        points.append(point)
        unlit = unlit or dark
    return WeatherForecast(tuple(points), unlit)


def _point(
    item: Mapping[str, object], unit: TemperatureUnit, site: SiteConfig | None
) -> tuple[ForecastPoint, bool]:
    """A point, and whether its cloud cover went unused (no site)."""
    at_s = _moment(item.get("datetime"))
    temperature = _value(item, "temperature", None)
    outdoor = None
    if temperature is not None:
        outdoor = to_celsius(temperature, unit)
        low, high = OUTDOOR_RANGE_C
        if not low <= outdoor <= high:
            shown = "..".join(f"{from_celsius(t, unit):g}" for t in OUTDOOR_RANGE_C)
            raise ValueError(f"temperature: {temperature:g} is outside {shown} {unit.symbol}")
    solar = _value(item, "solar_w_m2", SOLAR_RANGE_W_M2)
    cloud = _value(item, "cloud_coverage", CLOUD_RANGE_PCT)
    if temperature is None and solar is None and cloud is None:
        raise ValueError("temperature: the point has no temperature, solar_w_m2 or cloud_coverage")
    dark = False
    if solar is None and cloud is not None:
        if site is None:
            dark = True
        else:
            solar = round(solar_from_cloud(site.latitude, site.longitude, at_s, cloud), 1)
    return ForecastPoint(at_s, outdoor, solar), dark


def _moment(value: object) -> float:
    if not isinstance(value, str):
        raise ValueError(f"datetime: missing or not a string ({_DATETIME_EXAMPLE})")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"datetime: {value!r} is not an ISO 8601 date and time ({_DATETIME_EXAMPLE})"
        ) from None
    if moment.utcoffset() is None:
        raise ValueError(f"datetime: {value!r} has no UTC offset ({_DATETIME_EXAMPLE})")
    return moment.timestamp()


def _value(
    item: Mapping[str, object], key: str, limits: tuple[float, float] | None
) -> float | None:
    """The point's number under ``key`` (None: left out or null), finite and within
    ``limits``."""
    raw = item.get(key)
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValueError(f"{key}: {raw!r} is not a number")
    value = finite_number(raw)
    if value is None:
        raise ValueError(f"{key}: not a finite number")
    if limits is not None and not limits[0] <= value <= limits[1]:
        raise ValueError(f"{key}: {value:g} is outside {limits[0]:g}..{limits[1]:g}")
    return value


def ahead(points: tuple[ForecastPoint, ...], calendar_s: float) -> tuple[ForecastPoint, ...]:
    """The points that still matter at ``calendar_s``: from the last one at or before it (the
    weather now lies between it and the next) on; none once the last point is past."""
    if not points or points[-1].at_s < calendar_s:
        return ()
    first = bisect_right([point.at_s for point in points], calendar_s)
    return points[max(first - 1, 0) :]


def forecast_document(
    points: tuple[ForecastPoint, ...], unit: TemperatureUnit
) -> list[dict[str, object]]:
    """The forecast in use as `<base>/forecast` publishes it: each point's moment (UTC), its
    outdoor temperature in ``unit`` and the sun the control uses (W/m²)."""
    return [
        {
            "datetime": datetime.fromtimestamp(point.at_s, UTC).isoformat(),
            "temperature": None if point.outdoor_c is None else published(point.outdoor_c, unit),
            "solar_w_m2": point.solar_w_m2,
        }
        for point in points
    ]


class ForecastInput:
    """The latest forecast taken, on the calendar, and what the control is handed of it.
    ``revision`` counts its changes (taken, run out), for the one who publishes it."""

    def __init__(self) -> None:
        self.points: tuple[ForecastPoint, ...] = ()
        self.revision = 0
        self._control: Forecast | None = None
        self._offset_s = 0.0

    def take(self, forecast: WeatherForecast, calendar_s: float) -> None:
        """Use ``forecast`` from now on (no points: none). One entirely in the past is refused
        (CommandError), and the forecast in use is kept."""
        points = ahead(forecast.points, calendar_s)
        if forecast.points and not points:
            last = datetime.fromtimestamp(forecast.points[-1].at_s, UTC).isoformat()
            raise CommandError(
                f"{FIELD}: rejected: every point is in the past (the last at {last}); the "
                "forecast in use is kept"
            )
        self._use(points)

    def for_control(self, now: float, calendar_s: float) -> Forecast | None:
        """The forecast on the control's clock, whose ``now`` is ``calendar_s`` here (the same
        object while neither it nor the clocks moved); None once its last point is past."""
        if not self.points:
            return None
        if self.points[-1].at_s < calendar_s:
            self._use(())
            return None
        offset = now - calendar_s
        if self._control is None or abs(offset - self._offset_s) > _CLOCK_SLACK_S:
            self._offset_s = round(offset)
            self._control = Forecast(
                tuple(point.at_s + self._offset_s for point in self.points),
                tuple(point.outdoor_c for point in self.points),
                tuple(point.solar_w_m2 for point in self.points),
            )
        return self._control

    def _use(self, points: tuple[ForecastPoint, ...]) -> None:
        self.points = points
        self._control = None
        self.revision += 1
