"""The supervisor's side of the weather forecast: what it takes reaches every system's control
on the control's clock, the zones' state says whether the forecast holds them, `[control]
forecast = false` keeps it from the control, and a forecast run out is none."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from minisplit.controller.service.commands import CommandError
from minisplit.controller.service.supervisor import Supervisor
from minisplit.controller.service.weather import ForecastPoint, WeatherForecast
from tests.controller.test_system import shipped


def forecast(hours: int = 12, first_h: float = -0.5) -> WeatherForecast:
    start = time.time() + first_h * 3600
    return WeatherForecast(
        tuple(ForecastPoint(start + 3600 * h, 5.0 + h, 100.0 * h) for h in range(hours))
    )


async def test_a_forecast_taken_reaches_every_systems_control_on_its_clock(tmp_path: Path):
    supervisor = Supervisor(shipped("demo-two-systems", tmp_path / "state.json"))
    await supervisor.actuate()
    assert all(s.forecast is None for s in supervisor.systems.values())
    assert {supervisor.zone_state(z)["forecast_hold"] for z in supervisor.heads} == {None}

    sent = forecast()
    supervisor.on_forecast(sent)
    await supervisor.actuate()
    given = {name: s.forecast for name, s in supervisor.systems.items()}
    assert given["upstairs"] is not None and given["upstairs"] is given["downstairs"]
    # On the control's clock: the first point half an hour before its now.
    now = supervisor.now()
    assert given["upstairs"].times_s[0] == pytest.approx(now - 1800, abs=5)
    assert given["upstairs"].outdoor_c == tuple(5.0 + h for h in range(12))
    assert {supervisor.zone_state(z)["forecast_hold"] for z in supervisor.heads} == {False}
    # The next tick hands the very same object (the control compares them).
    await supervisor.actuate()
    assert supervisor.systems["upstairs"].forecast is given["upstairs"]


async def test_the_zone_state_says_a_zone_held_by_the_forecast(tmp_path: Path):
    supervisor = Supervisor(shipped("demo", tmp_path / "state.json"))
    supervisor.on_forecast(forecast())
    await supervisor.actuate()
    controller = supervisor.controller
    looks = dict(controller.state.lookahead)
    looks["living"] = looks["living"]._replace(held=True)
    controller.state = controller.state._replace(lookahead=looks)
    assert supervisor.zone_state("living")["forecast_hold"] is True
    assert supervisor.zone_state("kitchen")["forecast_hold"] is False


async def test_with_forecast_off_in_the_config_the_control_goes_without(tmp_path: Path):
    supervisor = Supervisor(shipped("demo", tmp_path / "state.json", control={"forecast": False}))
    supervisor.on_forecast(forecast())
    await supervisor.actuate()
    assert supervisor.weather.points  # taken (and published), but not used
    assert supervisor.only_system.forecast is None
    assert supervisor.zone_state("living")["forecast_hold"] is None


async def test_a_forecast_all_past_is_refused_and_one_run_out_is_none(tmp_path: Path):
    supervisor = Supervisor(shipped("demo", tmp_path / "state.json"))
    supervisor.on_forecast(forecast(hours=2, first_h=-0.9))
    kept = supervisor.weather.points
    with pytest.raises(CommandError, match="every point is in the past"):
        supervisor.on_forecast(forecast(hours=3, first_h=-5))
    assert supervisor.weather.points == kept
    await supervisor.actuate()
    assert supervisor.only_system.forecast is not None
    later = time.time() + 3600 + 60  # a minute after its last point
    supervisor.calendar_now = lambda: later  # type: ignore[method-assign]
    await supervisor.actuate()
    assert supervisor.only_system.forecast is None and supervisor.weather.points == ()
