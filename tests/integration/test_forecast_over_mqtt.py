"""A weather forecast as Home Assistant's `weather.get_forecasts` gives it, sent to
`<base>/set/forecast` of the real controller running against the real simulator over a real
mosquitto: its cloud cover made sun at the config's site, published at `<base>/forecast`,
handed to the control, the zones' state saying whether the forecast holds them; a bad one
refused on the error topic with the forecast in use kept."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiomqtt
import pytest

from minisplit.controller.config import LoadedConfig, parse_config
from minisplit.controller.service.supervisor import Supervisor
from minisplit.hil.broker import free_port
from minisplit.testing.broker import Mosquitto, recording
from minisplit.testing.harness import running
from minisplit.testing.processes import (
    BASE,
    START_TIMEOUT_S,
    SimulatorProcess,
    controller_config,
)

pytestmark = pytest.mark.integration

SPEED = 30.0  # cycles a third of a wall second apart
FORECAST = f"{BASE}/forecast"
SITE = "[site]\nlatitude = 47.37\nlongitude = 8.54\n\n"


def with_site(config: Path) -> LoadedConfig:
    text = config.read_text().replace("[mqtt]", SITE + "[mqtt]", 1)
    config.write_text(text)
    return parse_config(text, str(config))


def home_assistant_forecast(hours: int) -> dict[str, list[dict[str, object]]]:
    """One weather entity's part of `weather.get_forecasts`' response: hourly, from the
    current hour, in local time with its offset."""
    hour = datetime.now(timezone(timedelta(hours=1))).replace(minute=0, second=0, microsecond=0)
    return {
        "forecast": [
            {
                "condition": "partlycloudy",
                "datetime": (hour + timedelta(hours=h)).isoformat(),
                "temperature": 3.0 + h / 4,
                "cloud_coverage": 50,
                "humidity": 70,
                "wind_speed": 11.2,
            }
            for h in range(hours)
        ]
    }


def listed(length: int) -> Callable[[aiomqtt.Message], bool]:
    def matches(message: aiomqtt.Message) -> bool:
        assert isinstance(message.payload, bytes)
        return len(json.loads(message.payload)) == length

    return matches


def forecast_hold(*values: object) -> Callable[[aiomqtt.Message], bool]:
    def matches(message: aiomqtt.Message) -> bool:
        assert isinstance(message.payload, bytes)
        return json.loads(message.payload).get("forecast_hold", "absent") in values

    return matches


async def test_a_forecast_sent_over_mqtt_reaches_the_control_and_is_published(
    tmp_path: Path, mosquitto: Mosquitto
):
    modbus_port = free_port()
    config, _ = controller_config(tmp_path, modbus_port, mosquitto.port)
    loaded = with_site(config)
    living = f"{BASE}/zone/living/state"
    sim = SimulatorProcess(config, "sim")
    async with recording(mosquitto) as recorder:
        await sim.start("--tcp", f"127.0.0.1:{modbus_port}", "--speed", str(SPEED))
        try:
            async with running(Supervisor(loaded, time_scale=SPEED)) as supervisor:
                # No forecast yet: none published, none held.
                await recorder.wait_for(FORECAST, listed(0), timeout=START_TIMEOUT_S)
                await recorder.wait_for(living, forecast_hold(None), timeout=START_TIMEOUT_S)
                assert supervisor.only_system.forecast is None

                mark = len(recorder.messages)
                async with mosquitto.client() as client:
                    payload = json.dumps(home_assistant_forecast(24))
                    await client.publish(f"{BASE}/set/forecast", payload, qos=1)
                message = await recorder.wait_for(
                    FORECAST, listed(24), after=mark, timeout=START_TIMEOUT_S
                )
                assert isinstance(message.payload, bytes)
                published = json.loads(message.payload)
                assert published[0]["temperature"] == 3.0
                assert all(point["solar_w_m2"] is not None for point in published)  # the site's
                await recorder.wait_for(
                    living, forecast_hold(True, False), after=mark, timeout=START_TIMEOUT_S
                )
                given = supervisor.only_system.forecast
                assert given is not None and len(given.times_s) == 24
                assert given.outdoor_c[:2] == (3.0, 3.25)

                # A bad one is refused; the forecast in use stays, and is not published again.
                mark = len(recorder.messages)
                async with mosquitto.client() as client:
                    bad = home_assistant_forecast(3)
                    bad["forecast"][2]["temperature"] = 75
                    await client.publish(f"{BASE}/set/forecast", json.dumps(bad), qos=1)
                error = await recorder.wait_for(f"{BASE}/error", after=mark)
                assert isinstance(error.payload, bytes)
                report = json.loads(error.payload)
                assert "[2].temperature: 75 is outside -60..60 °C" in report["error"]
                async with asyncio.timeout(START_TIMEOUT_S):
                    await supervisor.cycle_done.wait()  # a tick after it
                assert supervisor.only_system.forecast is given
                forecasts = [m for m in recorder.messages[mark:] if m.topic.matches(FORECAST)]
                assert not forecasts
        finally:
            await sim.stop()
