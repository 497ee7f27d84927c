"""The weather forecast sent over MQTT: parsed strictly (a test per kind of rejection), kept on
the calendar, and handed to the control on its clock."""

import json
from datetime import UTC, datetime

import pytest

from minisplit.controller.config import SiteConfig
from minisplit.controller.core.forecast import Forecast
from minisplit.controller.core.sun import solar_from_cloud
from minisplit.controller.service.commands import CommandError
from minisplit.controller.service.temperature_units import TemperatureUnit
from minisplit.controller.service.weather import (
    MAX_FORECAST_PAYLOAD_BYTES,
    ForecastInput,
    ForecastPoint,
    WeatherForecast,
    ahead,
    forecast_document,
    parse_forecast,
)

C, F = TemperatureUnit.CELSIUS, TemperatureUnit.FAHRENHEIT
SITE = SiteConfig(latitude=47.37, longitude=8.54)
NOON = datetime(2026, 6, 21, 11, 0, tzinfo=UTC).timestamp()
# One point of Home Assistant's hourly forecast, as `weather.get_forecasts` gives it.
HA_POINT = {
    "condition": "partlycloudy",
    "datetime": "2026-06-21T13:00:00+02:00",
    "wind_bearing": 223.5,
    "cloud_coverage": 40.0,
    "temperature": 24.3,
    "templow": 15.1,
    "wind_speed": 9.4,
    "precipitation": 0.0,
    "humidity": 52,
}


def parse(data: object, unit: TemperatureUnit = C, site: SiteConfig | None = SITE):
    return parse_forecast(json.dumps(data).encode(), unit, site)


def hourly(count: int, first: str = "2026-06-21T10:00:00+00:00", **values: object) -> list:
    start = datetime.fromisoformat(first).timestamp()
    return [
        {"datetime": datetime.fromtimestamp(start + 3600 * i, UTC).isoformat()} | values
        for i in range(count)
    ]


def rejected(payload: bytes | object, unit: TemperatureUnit = C) -> str:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    with pytest.raises(CommandError) as caught:
        parse_forecast(raw, unit, SITE)
    message = str(caught.value)
    assert message.startswith("forecast: payload ")
    return message


# ---- what is taken ---------------------------------------------------------------------


def test_home_assistants_forecast_is_taken_with_its_cloud_cover_made_sun_at_the_site():
    forecast = parse({"forecast": [HA_POINT]})
    (point,) = forecast.points
    assert point.at_s == NOON
    assert point.outdoor_c == 24.3
    assert point.solar_w_m2 == pytest.approx(solar_from_cloud(47.37, 8.54, NOON, 40.0), abs=0.1)
    assert 800 < point.solar_w_m2 < solar_from_cloud(47.37, 8.54, NOON, 0.0)
    assert not forecast.unlit


def test_a_list_with_the_sun_given_in_w_m2_is_taken_as_it_is():
    forecast = parse(hourly(3, temperature=5.0, solar_w_m2=420.5, cloud_coverage=100))
    assert [p.solar_w_m2 for p in forecast.points] == [420.5] * 3  # the irradiance wins
    assert [p.at_s for p in forecast.points] == [NOON - 3600 + 3600 * i for i in range(3)]


def test_without_a_site_cloud_cover_gives_no_sun_and_says_so():
    forecast = parse([HA_POINT], site=None)
    assert forecast.points[0].solar_w_m2 is None and forecast.points[0].outdoor_c == 24.3
    assert forecast.unlit


def test_temperatures_come_in_the_houses_unit():
    forecast = parse(hourly(1, temperature=41.0), unit=F)
    assert forecast.points[0].outdoor_c == pytest.approx(5.0)


def test_a_value_left_out_or_null_is_not_known():
    forecast = parse(
        hourly(1, temperature=None, solar_w_m2=300) + hourly(1, "2026-06-21T12:00Z", temperature=4)
    )
    assert forecast.points == (
        ForecastPoint(NOON - 3600, None, 300.0),
        ForecastPoint(NOON + 3600, 4.0, None),
    )


def test_an_empty_list_is_no_forecast():
    assert parse([]) == WeatherForecast(())


# ---- what is refused, each kind with its reason ------------------------------------------


def test_not_json_is_refused():
    assert "not valid JSON" in rejected(b"[{'datetime': 1}]")
    assert "not valid JSON" in rejected(b'[{"datetime": "2026-06-21T10:00Z", "temperature": NaN}]')


def test_not_utf8_empty_or_too_long_is_refused():
    assert "UTF-8" in rejected(b"\xff[]")
    assert "empty" in rejected(b"  ")
    assert "longer than" in rejected(b" " * (MAX_FORECAST_PAYLOAD_BYTES + 1))


def test_not_a_list_is_refused():
    assert "not a list of points" in rejected({"points": []})
    assert "not a list of points" in rejected({"forecast": {"datetime": "2026-06-21T10:00Z"}})
    assert "not a list of points" in rejected(21.5)


def test_more_than_200_points_are_refused():
    assert parse(hourly(200, temperature=5.0)).points
    assert "more than 200 points" in rejected(hourly(201, temperature=5.0))


def test_a_point_that_is_no_object_is_refused():
    assert "[1] is not an object" in rejected([*hourly(1, temperature=5.0), 7])


def test_a_bad_datetime_is_refused():
    good = hourly(1, temperature=5.0)
    assert "[1].datetime: missing" in rejected([*good, {"temperature": 5.0}])
    assert "[0].datetime: missing" in rejected([{"datetime": 1781006400, "temperature": 5.0}])
    assert "not an ISO 8601" in rejected([{"datetime": "tomorrow noon", "temperature": 5.0}])
    assert "not an ISO 8601" in rejected([{"datetime": "2026-02-30T10:00Z", "temperature": 5.0}])
    assert "has no UTC offset" in rejected([{"datetime": "2026-06-21T10:00", "temperature": 5.0}])


def test_a_value_that_is_no_number_is_refused():
    assert "[0].temperature: '5' is not a number" in rejected(hourly(1, temperature="5"))
    assert "[0].solar_w_m2: True is not a number" in rejected(hourly(1, solar_w_m2=True))


def test_a_value_that_is_not_finite_is_refused():
    payload = b'[{"datetime": "2026-06-21T10:00Z", "temperature": 1e400}]'
    assert "[0].temperature: not a finite number" in rejected(payload)
    payload = b'[{"datetime": "2026-06-21T10:00Z", "cloud_coverage": 1' + b"0" * 400 + b"}]"
    assert "[0].cloud_coverage: not a finite number" in rejected(payload)


def test_an_absurd_temperature_is_refused_in_the_houses_unit():
    assert "[0].temperature: 61 is outside -60..60 °C" in rejected(hourly(1, temperature=61))
    assert "outside -76..140 °F" in rejected(hourly(1, temperature=150), F)
    assert parse(hourly(1, temperature=-60.0)).points


def test_absurd_sun_is_refused():
    assert "[0].solar_w_m2: 1600 is outside 0..1500" in rejected(hourly(1, solar_w_m2=1600))
    assert "[0].solar_w_m2: -1 is outside 0..1500" in rejected(hourly(1, solar_w_m2=-1))


def test_absurd_cloud_cover_is_refused():
    assert "[0].cloud_coverage: 101 is outside 0..100" in rejected(hourly(1, cloud_coverage=101))


def test_a_point_with_nothing_to_say_is_refused():
    assert "no temperature, solar_w_m2 or cloud_coverage" in rejected(hourly(1, condition="sunny"))


def test_points_out_of_order_are_refused():
    points = hourly(3, temperature=5.0)
    message = rejected([points[0], points[2], points[1]])
    assert "[2].datetime: not after the point before it" in message


def test_a_moment_given_twice_is_refused_in_any_spelling():
    same = [
        {"datetime": "2026-06-21T12:00:00+02:00", "temperature": 5.0},
        {"datetime": "2026-06-21T10:00:00Z", "temperature": 6.0},
    ]
    assert "[1].datetime: not after the point before it" in rejected(same)


# ---- kept on the calendar, handed on the control's clock ---------------------------------


def points_at(*hours: float) -> tuple[ForecastPoint, ...]:
    return tuple(ForecastPoint(NOON + 3600 * h, 10.0 + h, 100.0 * h) for h in hours)


def test_points_past_are_dropped_but_the_one_that_holds_now():
    points = points_at(-3, -2, -1, 0, 1, 2)
    assert ahead(points, NOON + 1800) == points[3:]
    assert ahead(points, NOON) == points[3:]
    assert ahead(points, NOON - 5 * 3600) == points
    assert ahead(points, NOON + 2 * 3600) == points[5:]
    assert ahead(points, NOON + 2 * 3600 + 1) == ()


def test_the_control_gets_the_forecast_on_its_own_clock_the_same_object_while_nothing_moved():
    weather = ForecastInput()
    assert weather.for_control(500.0, NOON) is None
    weather.take(WeatherForecast(points_at(-2, -1, 1, 2)), NOON)
    assert weather.points == points_at(-1, 1, 2)
    given = weather.for_control(500.0, NOON)
    assert given == Forecast((-3100.0, 4100.0, 7700.0), (9.0, 11.0, 12.0), (-100.0, 100.0, 200.0))
    # A tick later, both clocks moved alike (give or take a few seconds of jitter): the same.
    assert weather.for_control(510.0, NOON + 10.2) is given
    assert weather.for_control(530.0, NOON + 26.0) is given
    # The clocks drifted apart (the calendar was stepped): moved again.
    moved = weather.for_control(540.0, NOON + 60.0)
    assert moved is not None and moved.times_s[0] == -3100.0 - 20.0


def test_a_forecast_run_out_is_none_and_a_new_revision():
    weather = ForecastInput()
    weather.take(WeatherForecast(points_at(0, 1)), NOON)
    revision = weather.revision
    assert weather.for_control(0.0, NOON + 3600) is not None
    assert weather.revision == revision
    assert weather.for_control(1.0, NOON + 3601) is None
    assert weather.points == () and weather.revision == revision + 1


def test_a_forecast_all_in_the_past_is_refused_and_the_one_in_use_kept():
    weather = ForecastInput()
    weather.take(WeatherForecast(points_at(0, 1, 2)), NOON)
    revision = weather.revision
    with pytest.raises(CommandError, match=r"every point is in the past .* in use is kept"):
        weather.take(WeatherForecast(points_at(-3, -2)), NOON)
    assert weather.points == points_at(0, 1, 2) and weather.revision == revision


def test_an_empty_forecast_clears_the_one_in_use():
    weather = ForecastInput()
    weather.take(WeatherForecast(points_at(0, 1)), NOON)
    weather.take(WeatherForecast(()), NOON)
    assert weather.points == () and weather.for_control(0.0, NOON) is None


def test_the_published_forecast_is_in_utc_and_the_houses_unit():
    points = (ForecastPoint(NOON, 5.0, 312.4), ForecastPoint(NOON + 3600, None, None))
    assert forecast_document(points, F) == [
        {"datetime": "2026-06-21T11:00:00+00:00", "temperature": 41.0, "solar_w_m2": 312.4},
        {"datetime": "2026-06-21T12:00:00+00:00", "temperature": None, "solar_w_m2": None},
    ]
