"""The weather forecast through the MQTT bridge against a real mosquitto: taken from
`<base>/set/forecast` (retained too), published at `<base>/forecast`, each bad one refused on
the error topic while the forecast in use is kept."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from minisplit.controller.config import SiteConfig
from minisplit.controller.service.rate_limit import ReportLimiter
from minisplit.controller.service.weather import ForecastInput, WeatherForecast
from minisplit.testing.broker import MessageRecorder, Mosquitto
from tests.controller.test_mqtt_bridge import BASE, Commands, ready, retained, running

pytestmark = pytest.mark.integration

SET = f"{BASE}/set/forecast"
SITE = SiteConfig(latitude=47.37, longitude=8.54)
ZURICH = timezone(timedelta(hours=1))


class Forecasts:
    """The bridge's on_forecast, as the supervisor's: the forecast is taken on the calendar
    (refused if all past), and each one taken is recorded for the test to wait for."""

    def __init__(self) -> None:
        self.weather = ForecastInput()
        self.taken: asyncio.Queue[WeatherForecast] = asyncio.Queue()

    def __call__(self, forecast: WeatherForecast) -> None:
        self.weather.take(forecast, time.time())
        self.taken.put_nowait(forecast)

    async def next(self) -> WeatherForecast:
        async with asyncio.timeout(5):
            return await self.taken.get()


def home_assistant_points(hours: int, start_h: int = 0, **values: object) -> list[dict]:
    """Hourly points from the current hour on, as Home Assistant gives them (local offset)."""
    hour = datetime.now(ZURICH).replace(minute=0, second=0, microsecond=0)
    return [
        {"datetime": (hour + timedelta(hours=start_h + i)).isoformat(), "condition": "sunny"}
        | {"temperature": 4.0 + i, "cloud_coverage": 20.0}
        | values
        for i in range(hours)
    ]


async def test_a_forecast_is_taken_and_the_bad_ones_refused_keeping_it(
    mosquitto: Mosquitto, mqtt_recorder: MessageRecorder
) -> None:
    forecasts = Forecasts()
    good = home_assistant_points(24)
    bad: list[tuple[bytes, str]] = [
        (b"{not json", "not valid JSON"),
        (json.dumps({"points": good}).encode(), "not a list of points"),
        (json.dumps(home_assistant_points(201)).encode(), "more than 200 points"),
        (json.dumps([{**good[0], "datetime": "2026-12-07 25:00"}]).encode(), "not an ISO 8601"),
        (json.dumps([{**good[0], "temperature": 99}]).encode(), "outside -60..60 °C"),
        (json.dumps([{**good[0], "cloud_coverage": 120}]).encode(), "outside 0..100"),
        (json.dumps([good[1], good[0]]).encode(), "not after the point before it"),
        (json.dumps(home_assistant_points(3, start_h=-6)).encode(), "every point is in the past"),
    ]
    reports = ReportLimiter(burst=len(bad))
    async with (
        running(mosquitto, Commands(), on_forecast=forecasts, site=SITE, reports=reports) as bridge,
        mosquitto.client() as client,
    ):
        await ready(mqtt_recorder)
        await client.publish(SET, json.dumps({"forecast": good}), qos=1)
        taken = await forecasts.next()
        assert len(taken.points) == 24 and not taken.unlit
        assert [p.outdoor_c for p in taken.points] == [4.0 + i for i in range(24)]
        assert all(p.solar_w_m2 is not None for p in taken.points)
        in_use = forecasts.weather.points
        assert in_use == taken.points

        bridge.publish_forecast(in_use)
        published = json.loads(await retained(mosquitto, f"{BASE}/forecast"))
        first = datetime.fromisoformat(good[0]["datetime"]).astimezone(UTC).isoformat()
        assert published[0] == {
            "datetime": first,
            "temperature": 4.0,
            "solar_w_m2": in_use[0].solar_w_m2,
        }
        assert len(published) == 24

        for payload, why in bad:
            mark = len(mqtt_recorder.messages)
            await client.publish(SET, payload, qos=1)
            error = await mqtt_recorder.wait_for(f"{BASE}/error", after=mark)
            report = json.loads(error.payload)
            assert report["topic"] == SET and why in report["error"], (why, report)
            assert forecasts.weather.points == in_use  # nothing lost
        assert forecasts.taken.empty()
        assert bridge.rejected == len(bad)

        # An empty payload (a retained one cleared) is no forecast and no reject.
        await client.publish(SET, b"", qos=1)
        await client.publish(SET, b"[]", qos=1)
        assert (await forecasts.next()).points == ()
        assert forecasts.weather.points == () and bridge.rejected == len(bad)


async def test_a_retained_forecast_is_taken_at_subscribe(
    mosquitto: Mosquitto, mqtt_recorder: MessageRecorder
) -> None:
    forecasts = Forecasts()
    async with mosquitto.client() as client:
        payload = json.dumps(home_assistant_points(6, solar_w_m2=250.0))
        await client.publish(SET, payload, qos=1, retain=True)
    async with running(mosquitto, Commands(), on_forecast=forecasts):
        taken = await forecasts.next()
    assert [p.solar_w_m2 for p in taken.points] == [250.0] * 6


async def test_without_a_site_cloud_cover_is_no_sun_said_once(
    mosquitto: Mosquitto, mqtt_recorder: MessageRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    """Said once in the log; each forecast taken is logged as Home Assistant's `online` is, a
    few per window."""
    caplog.set_level(logging.INFO)
    forecasts = Forecasts()
    reports = ReportLimiter(burst=2)
    async with (
        running(mosquitto, Commands(), on_forecast=forecasts, reports=reports),
        mosquitto.client() as client,
    ):
        await ready(mqtt_recorder)
        for _ in range(3):
            await client.publish(SET, json.dumps(home_assistant_points(4)), qos=1)
            taken = await forecasts.next()
            assert taken.unlit and all(p.solar_w_m2 is None for p in taken.points)
    said = [r for r in caplog.records if "no [site] latitude and longitude" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.WARNING
    logged = [r for r in caplog.records if "weather forecast taken: 4 points" in r.getMessage()]
    assert [r.levelno for r in logged] == [logging.INFO] * 2


async def test_without_a_taker_the_forecast_topic_is_not_listened_to(
    mosquitto: Mosquitto, mqtt_recorder: MessageRecorder
) -> None:
    async with running(mosquitto, Commands()) as bridge:
        assert SET not in bridge.subscriptions
    async with running(mosquitto, Commands(), on_forecast=Forecasts()) as bridge:
        assert SET in bridge.subscriptions
