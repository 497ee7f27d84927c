"""The bench's weather forecasts (`hil.forecasts`) and `minisplit bench --forecast`."""

from __future__ import annotations

import json

import pytest

from minisplit.controller.cli import main
from minisplit.controller.core.forecast import Forecast
from minisplit.hil.bench import bench_entries, run_direct
from minisplit.hil.controllers import BenchUnit, Commands, Reports, ShippedController
from minisplit.hil.forecasts import AHEAD_H, FORECASTS, ForecastFeed
from minisplit.hil.scenario import parse_scenario
from minisplit.hil.weather import load_weather
from tests.hil.conftest import SHIPPED_SCENARIOS

HOUR = 3600.0
NOON_MAR_20 = (31 + 28 + 19) * 24 * HOUR + 12 * HOUR


def test_a_perfect_forecast_is_the_weather_file_hour_by_hour_from_the_last_full_hour():
    weather = load_weather()
    feed = ForecastFeed(weather, "perfect")
    forecast = feed.at(NOON_MAR_20 + 1234.0)
    assert isinstance(forecast, Forecast)
    assert forecast.times_s[0] == NOON_MAR_20 and len(forecast.times_s) == AHEAD_H + 1
    assert forecast.times_s[1] - forecast.times_s[0] == HOUR
    for t, outdoor, sun in zip(*forecast, strict=True):
        assert outdoor == weather.at(t).temperature_c and sun == weather.at(t).ghi_w_m2
    # The same object all the hour (the controller compares objects), a new one the next.
    assert feed.at(NOON_MAR_20 + 3599.0) is forecast
    assert feed.at(NOON_MAR_20 + HOUR) is not forecast


def test_a_noisy_forecast_errs_more_further_ahead_and_is_the_same_every_run():
    weather = load_weather()
    perfect = ForecastFeed(weather, "perfect")
    errors_near, errors_far = [], []
    for day in range(60):
        t = NOON_MAR_20 + day * 24 * HOUR
        noisy = ForecastFeed(weather, "noisy").at(t)
        again = ForecastFeed(weather, "noisy").at(t)
        assert noisy == again  # seeded by the hour: every controller gets the same
        exact = perfect.at(t)
        assert noisy is not None and exact is not None
        near, far = noisy.outdoor_c[1], noisy.outdoor_c[AHEAD_H]
        assert near is not None and far is not None
        errors_near.append(abs(near - weather.at(exact.times_s[1]).temperature_c))
        errors_far.append(abs(far - weather.at(exact.times_s[AHEAD_H]).temperature_c))
        assert all(sun is not None and sun >= 0.0 for sun in noisy.solar_w_m2)
    assert 0.0 < sum(errors_near) < sum(errors_far)


def test_no_forecast_and_an_unknown_kind():
    assert ForecastFeed(load_weather(), "none").at(NOON_MAR_20) is None
    with pytest.raises(ValueError, match="one of none, perfect, noisy"):
        ForecastFeed(load_weather(), "crystal-ball")


def test_each_forecast_kind_adds_a_row_of_minisplit_on_the_direct_unit():
    rows = bench_entries(["minisplit", "onoff", "ideal"], ["direct"], forecasts=["perfect", "none"])
    assert [(e.row, e.forecast) for e in rows] == [
        ("minisplit", "none"),
        ("minisplit+perfect", "perfect"),
        ("onoff", "none"),
        ("ideal", "none"),
    ]


def test_the_cli_offers_the_kinds_and_refuses_others(capsys):
    assert FORECASTS == ("none", "perfect", "noisy")
    with pytest.raises(SystemExit) as stop:
        main(["bench", "--forecast", "crystal-ball"])
    assert stop.value.code == 2
    assert "invalid choice: 'crystal-ball'" in capsys.readouterr().err


# The shoulder week's first morning, 6 hours.
SUNNY_MORNING = (
    SHIPPED_SCENARIOS["unrenovated-shoulder.toml"]
    .read_text()
    .replace("duration_days = 7", "duration_hours = 6")
)


@pytest.fixture(scope="module")
def sunny_morning():
    return parse_scenario(SUNNY_MORNING, "sunny-morning")


def test_the_shipped_controller_is_given_the_forecast_each_period(sunny_morning):
    given: list[tuple[float, Forecast | None]] = []

    class Watching(ShippedController):
        def step(self, now: float, reports: Reports) -> Commands:
            given.append((now, reports.forecast))
            return super().step(now, reports)

    def build(unit: BenchUnit) -> Watching:
        return Watching(unit)

    run_direct(sunny_morning, build, forecast="perfect")
    assert len(given) == 6 * 360  # every 10 s period
    for now, forecast in given:
        assert forecast is not None and forecast.times_s[0] <= now < forecast.times_s[1]
    given.clear()
    run_direct(sunny_morning, build, forecast="none")
    assert given and all(forecast is None for _, forecast in given)


def test_bench_forecast_rows_in_the_json(tmp_path, capsys):
    path = tmp_path / "sunny.toml"
    path.write_text(SUNNY_MORNING)
    args = ["bench", "--scenario", str(path), "--controller", "minisplit", "--json"]
    assert main([*args, "--forecast", "perfect", "--forecast", "noisy"]) == 0
    (scenario,) = json.loads(capsys.readouterr().out)["scenarios"]
    assert list(scenario["controllers"]) == ["minisplit", "minisplit+perfect", "minisplit+noisy"]
    for row in scenario["controllers"].values():
        assert row["energy_kwh"] > 0
