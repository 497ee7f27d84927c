"""The shipped TMY3 year: timing convention, interpolation, wrap-around, time-of-year text."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from minisplit.hil.weather import (
    HOUR_S,
    HOURS_PER_YEAR,
    YEAR_S,
    Weather,
    format_time_of_year,
    load_weather,
    parse_time_of_year,
    time_of_year,
    weekday,
)

CSV = Path(__file__).parents[2] / "minisplit" / "hil" / "weather" / "greensboro-723170-tmy3.csv"


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    with CSV.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_loads_once_and_has_a_full_year(rows):
    assert len(rows) == HOURS_PER_YEAR
    assert load_weather() is load_weather()


def test_readings_sit_at_the_end_of_their_hour(rows):
    weather = load_weather()
    # Row 0 is Jan 1, hour ending 1: the reading at 01:00.
    assert weather.temperature(HOUR_S) == pytest.approx(float(rows[0]["dry_bulb_c"]))
    # Jan 15 06:00 is row 14·24 + 5.
    jan15_6 = rows[14 * 24 + 5]
    assert (jan15_6["month"], jan15_6["day"], jan15_6["hour"]) == ("1", "15", "6")
    sample = weather.at(time_of_year(1, 15, 6))
    assert sample.temperature_c == pytest.approx(float(jan15_6["dry_bulb_c"]))
    assert sample.dew_point_c == pytest.approx(float(jan15_6["dew_point_c"]))
    assert sample.rel_humidity_pct == pytest.approx(float(jan15_6["rel_humidity_pct"]))


def test_interpolates_linearly_between_hours(rows):
    weather = load_weather()
    i = 24 * 180 + 12  # a summer afternoon, where temperatures move
    t0, t1 = float(rows[i]["dry_bulb_c"]), float(rows[i + 1]["dry_bulb_c"])
    assert t0 != t1
    at = (i + 1 + 0.25) * HOUR_S
    assert weather.temperature(at) == pytest.approx(t0 + 0.25 * (t1 - t0))


def test_irradiance_is_an_hourly_total_centred_on_its_hour(rows):
    weather = load_weather()
    noon = next(i for i, r in enumerate(rows) if float(r["ghi_w_m2"]) > 500)
    assert weather.at((noon + 0.5) * HOUR_S).ghi_w_m2 == pytest.approx(
        float(rows[noon]["ghi_w_m2"])
    )
    assert weather.at(time_of_year(1, 15, 2)).ghi_w_m2 == 0.0  # night


def test_wraps_at_year_end(rows):
    weather = load_weather()
    # Midnight Jan 1 is the reading of Dec 31, hour ending 24 (the last row).
    assert weather.temperature(0.0) == pytest.approx(float(rows[-1]["dry_bulb_c"]))
    # Half an hour into the year: between the last row and the first.
    halfway = (float(rows[-1]["dry_bulb_c"]) + float(rows[0]["dry_bulb_c"])) / 2
    assert weather.temperature(HOUR_S / 2) == pytest.approx(halfway)
    for t in (0.0, 1234.5, 200 * 86400.0):
        later, now = weather.at(t + YEAR_S), weather.at(t)
        assert later.temperature_c == pytest.approx(now.temperature_c)
        assert later.ghi_w_m2 == pytest.approx(now.ghi_w_m2)


def test_rejects_rows_out_of_order():
    text = CSV.read_text(encoding="utf-8").splitlines()
    swapped = [text[0], text[2], text[1], *text[3:]]
    with pytest.raises(ValueError, match="line 3: 01/01 01:00 follows 01/01 02:00"):
        Weather.from_text("\n".join(swapped))


def test_time_of_year_text():
    assert parse_time_of_year("01-15 06:00") == (14 * 24 + 6) * HOUR_S
    assert parse_time_of_year("03-01") == (31 + 28) * 86400.0
    assert format_time_of_year(parse_time_of_year("07-04 13:30")) == "07-04 13:30"
    assert format_time_of_year(YEAR_S + 90.0) == "01-01 00:01"
    with pytest.raises(ValueError, match="02-29"):
        parse_time_of_year("02-29 12:00")  # TMY years have no leap day


def test_the_year_starts_on_a_monday():
    assert weekday(0.0) == 0
    assert weekday(time_of_year(1, 13, 12)) == 5  # Saturday
    assert weekday(time_of_year(7, 9)) == 0
    assert weekday(YEAR_S) == 1  # 365 days later: a Tuesday, as in 2002


def test_plant_drivers_are_the_interpolated_sample():
    weather = load_weather()
    for t in (0.0, 1234.5, time_of_year(7, 4, 13, 30), YEAR_S + 99.0):
        sample = weather.at(t)
        assert weather.drivers(t) == pytest.approx(
            (sample.temperature_c, sample.dew_point_c, sample.ghi_w_m2)
        )


def test_the_plant_s_drivers_are_the_interpolated_sample_to_the_bit():
    weather = load_weather()
    for t in (0.0, 1.0, 1799.9, 3600.0, 5400.0, 123456.789, YEAR_S - 1.0, YEAR_S + 7200.5):
        sample = weather.at(t)
        assert weather.drivers(t) == (sample.temperature_c, sample.dew_point_c, sample.ghi_w_m2)
