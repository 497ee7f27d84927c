"""Weather files as their publishers write them: NREL TMY3 CSV and EnergyPlus EPW, told apart by
their content, giving the same hours as the shipped subset, and each kind of bad file refused in
one line that names the file, the line and the field."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from minisplit.hil.psychrometrics import dew_point_c
from minisplit.hil.scenario import ScenarioError, load_scenario
from minisplit.hil.weather import (
    HOUR_S,
    HOURS_PER_YEAR,
    Weather,
    WeatherFileError,
    load_weather,
    load_weather_file,
    shipped_weather_path,
)
from minisplit.hil.weather_files import EPW, SUBSET, TMY3, HourlyWeather, read_weather
from tests.hil.test_scenario import MINIMAL

SAMPLES = Path(__file__).parent / "weather_samples"
GREENSBORO_TMY3 = SAMPLES / "greensboro-723170-tmy3-jan31.csv"
GREENSBORO_EPW = SAMPLES / "greensboro-723170-jan31.epw"
DULLES_EPW = SAMPLES / "dulles-724030-tmy3-jan1.epw"
JAN31 = 30 * 24  # the samples' first hour of the year: Jan 31, hour ending 1
# A whole TMY3 year to check against the shipped subset, when one is at hand (the file the
# subset was cut from: NREL's 723170TYA.CSV, e.g. from pvlib's test data).
WHOLE_TMY3 = os.environ.get("MINISPLIT_TMY3_FILE")


def subset_rows() -> list[dict[str, str]]:
    with shipped_weather_path().open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def read(path: Path) -> HourlyWeather:
    return read_weather(path.read_text(encoding="utf-8"), path.name)


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize(("path", "kind"), [(GREENSBORO_TMY3, TMY3), (GREENSBORO_EPW, EPW)])
def test_tmy3_and_epw_give_the_shipped_subset_s_hours_where_they_overlap(path, kind):
    hours = read(path)
    assert hours.format == kind
    assert "723170" in hours.station
    assert hours.first_hour == JAN31
    assert len(hours.dry_bulb_c) == 48
    shipped = subset_rows()[JAN31 : JAN31 + 48]
    for i, row in enumerate(shipped):
        # Both files carry the subset's own rounding (0.1 °C, 1 %, 1 W/m²): equal to the bit.
        assert hours.dry_bulb_c[i] == float(row["dry_bulb_c"])
        assert hours.dew_point_c[i] == float(row["dew_point_c"])
        assert hours.rel_humidity_pct[i] == float(row["rel_humidity_pct"])
        assert hours.ghi_w_m2[i] == float(row["ghi_w_m2"])
    # The year column changes with the month (Jan from 1988, Feb from 1996): not read.
    assert {line.split(",")[0][-4:] for line in lines(GREENSBORO_TMY3)[2:]} == {"1988", "1996"}


def test_an_epw_of_another_station_reads_as_published():
    hours = read(DULLES_EPW)
    assert (hours.format, hours.station) == (EPW, "Washington Dc Dulles IntL Ar, VA (EPW 724030)")
    assert (hours.first_hour, hours.first_line, len(hours.dry_bulb_c)) == (0, 9, 24)
    # Hour ending 1 and hour ending 13 of Jan 1, as in the file (minute 0, hour 1..24).
    assert (hours.dry_bulb_c[0], hours.dew_point_c[0], hours.rel_humidity_pct[0]) == (0.0, -5.0, 66)
    assert (hours.dry_bulb_c[12], hours.ghi_w_m2[12], hours.ghi_w_m2[23]) == (0.0, 133.0, 0.0)


def test_the_shipped_subset_is_read_as_before():
    hours = read(shipped_weather_path())
    assert (hours.format, hours.first_hour, len(hours.dry_bulb_c)) == (SUBSET, 0, HOURS_PER_YEAR)


@pytest.mark.skipif(WHOLE_TMY3 is None, reason="set MINISPLIT_TMY3_FILE to NREL's 723170TYA.CSV")
def test_the_whole_tmy3_file_is_the_shipped_year():
    assert WHOLE_TMY3 is not None
    weather, shipped = load_weather_file(Path(WHOLE_TMY3)), load_weather()
    for hour in range(HOURS_PER_YEAR):
        assert weather.at(hour * HOUR_S) == shipped.at(hour * HOUR_S)


# ---- whole years in each format, through a scenario --------------------------------------------


def whole_year_tmy3() -> str:
    """The shipped year written as a TMY3 file: the sample's header, and its first row's
    layout for every hour with date, time and the four fields the simulator reads replaced."""
    header, template = lines(GREENSBORO_TMY3)[:2], next(csv.reader(lines(GREENSBORO_TMY3)[2:3]))
    names = next(csv.reader(header[1:]))
    at = {name: names.index(name) for name in names}
    out = list(header)
    for row in subset_rows():
        fields = list(template)
        fields[at["Date (MM/DD/YYYY)"]] = f"{int(row['month']):02d}/{int(row['day']):02d}/1990"
        fields[at["Time (HH:MM)"]] = f"{int(row['hour']):02d}:00"
        fields[at["Dry-bulb (C)"]] = row["dry_bulb_c"]
        fields[at["Dew-point (C)"]] = row["dew_point_c"]
        fields[at["RHum (%)"]] = row["rel_humidity_pct"]
        fields[at["GHI (W/m^2)"]] = row["ghi_w_m2"]
        out.append(",".join(fields))
    return "\n".join(out) + "\n"


def whole_year_epw() -> str:
    """The shipped year written as an EPW file, the sample's header and row layout (CRLF)."""
    header = lines(GREENSBORO_EPW)[:8]
    header[7] = "DATA PERIODS,1,1,Data,Monday, 1/ 1,12/31"
    template = lines(GREENSBORO_EPW)[8].split(",")
    out = list(header)
    for row in subset_rows():
        fields = list(template)
        fields[1:4] = [row["month"], row["day"], row["hour"]]
        fields[6:9] = [row["dry_bulb_c"], row["dew_point_c"], row["rel_humidity_pct"]]
        fields[13] = row["ghi_w_m2"]
        out.append(",".join(fields))
    return "\r\n".join(out) + "\r\n"


@pytest.mark.parametrize(
    ("name", "text"),
    # The extension says nothing: each file is named as the other format's would be.
    [("greensboro.epw", whole_year_tmy3), ("greensboro.csv", whole_year_epw)],
)
def test_a_scenario_runs_on_any_station_s_tmy3_or_epw_file(tmp_path, name, text):
    (tmp_path / name).write_text(text(), encoding="utf-8", newline="")
    (tmp_path / "s.toml").write_text(
        MINIMAL.replace("[weather]", f'[weather]\nfile = "{name}"'), encoding="utf-8"
    )
    weather = load_scenario(tmp_path / "s.toml").weather()
    shipped = load_weather()
    for hour in range(0, HOURS_PER_YEAR, 7):
        assert weather.at(hour * HOUR_S) == shipped.at(hour * HOUR_S)


def test_a_scenario_names_the_bad_weather_file_s_line(tmp_path):
    text = whole_year_epw().replace(",-1.7,-7.2,63,", ",99.9,-7.2,63,", 1)
    (tmp_path / "w.epw").write_text(text, encoding="utf-8")
    (tmp_path / "s.toml").write_text(
        MINIMAL.replace("[weather]", '[weather]\nfile = "w.epw"'), encoding="utf-8"
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenario(tmp_path / "s.toml")
    (problem,) = caught.value.problems
    assert problem.startswith(f"weather.file: {tmp_path / 'w.epw'}: line ")
    assert "Dry Bulb Temperature: 99.9 is the code for missing data" in problem


# ---- humidity: either one will do -----------------------------------------------------------


def test_a_missing_dew_point_is_worked_out_from_the_relative_humidity():
    text = lines(DULLES_EPW)
    text[8] = text[8].replace(",0.0,-5.0,66,", ",0.0,99.9,66,")
    hours = read_weather("\n".join(text), "d.epw")
    assert hours.dew_point_c[0] == pytest.approx(dew_point_c(0.0, 66.0))
    # What the file's source said, within the RH's rounding to 1 % and the formula's choice.
    assert hours.dew_point_c[0] == pytest.approx(-5.0, abs=0.7)


# ---- rejections: one line, naming file, line and field ---------------------------------------


def edit(path: Path, change: Callable[[list[str]], list[str]]) -> str:
    return "\n".join(change(lines(path)))


def replace_on(number: int, old: str, new: str) -> Callable[[list[str]], list[str]]:
    """Replace ``old`` by ``new`` once on line ``number`` (1-based)."""

    def change(text: list[str]) -> list[str]:
        assert old in text[number - 1]
        text[number - 1] = text[number - 1].replace(old, new, 1)
        return text

    return change


REJECTIONS = {
    "TMY3 header truncated": (
        GREENSBORO_TMY3,
        lambda text: text[:1],
        "line 2: the file ends after the station line",
    ),
    "EPW header truncated": (
        GREENSBORO_EPW,
        lambda text: text[:5],
        "line 6: the file ends inside the EPW header (after HOLIDAYS/DAYLIGHT SAVINGS)",
    ),
    "EPW header line out of place": (
        DULLES_EPW,
        lambda text: text[:2] + text[3:],
        "line 3: 'GROUND TEMPERATURES,3,.5,,,,2.77,1.80,3.52,6.21,13.25,18.67,…' is not the EPW "
        "header line 'TYPICAL/EXTREME PERIODS'",
    ),
    "TMY3 column missing": (
        GREENSBORO_TMY3,
        replace_on(2, "RHum (%)", "RH"),
        "line 2: no column 'RHum (%)'",
    ),
    "TMY3 row short of columns": (
        GREENSBORO_TMY3,
        lambda text: [*text[:4], ",".join(text[4].split(",")[:30]), *text[5:]],
        "line 5: 30 fields, where line 2 names 71 columns",
    ),
    "EPW row short of fields": (
        DULLES_EPW,
        lambda text: [*text[:9], ",".join(text[9].split(",")[:10]), *text[10:]],
        "line 10: 10 fields; an EPW row has 35, and Global Horizontal Radiation is field 14",
    ),
    "TMY3 value not a number": (
        GREENSBORO_TMY3,
        replace_on(7, ",6.7,A,7,5.6,", ",6.7C,A,7,5.6,"),
        "line 7: Dry-bulb (C): '6.7C' is not a number",
    ),
    "EPW value not a number": (
        DULLES_EPW,
        replace_on(19, ",562,1415,280,108,", ",562,1415,280,n/a,"),
        "line 19: Global Horizontal Radiation: 'n/a' is not a number",
    ),
    "EPW value NaN": (
        DULLES_EPW,
        replace_on(12, ",-0.6,-5.6,66,", ",nan,-5.6,66,"),
        "line 12: Dry Bulb Temperature: 'nan' is not a number",
    ),
    "TMY3 hour skipped": (
        GREENSBORO_TMY3,
        lambda text: text[:5] + text[6:],
        "line 6: 01/31 05:00 follows 01/31 03:00: rows must run hour by hour",
    ),
    "TMY3 hour 00:00": (
        GREENSBORO_TMY3,
        replace_on(3, "01/31/1988,01:00,", "01/31/1988,00:00,"),
        "line 3: hour 0 is not an hour ending 1..24",
    ),
    "EPW hours 0..23": (
        DULLES_EPW,
        replace_on(9, "1997,1,1,1,0,", "1997,1,1,0,0,"),
        "line 9: hour 0 is not an hour ending 1..24",
    ),
    "EPW no such day": (
        DULLES_EPW,
        replace_on(9, "1997,1,1,1,0,", "1997,2,30,1,0,"),
        "line 9: month 2, day 30 is no day of the year",
    ),
    "EPW sub-hourly rows": (
        DULLES_EPW,
        replace_on(9, "1997,1,1,1,0,", "1997,1,1,1,30,"),
        "line 9: Minute: 30; only hourly rows (minute 0 or 60) are read",
    ),
    "EPW sub-hourly data period": (
        DULLES_EPW,
        replace_on(8, "DATA PERIODS,1,1,", "DATA PERIODS,1,4,"),
        "line 8: DATA PERIODS: 1 period(s) of 4 record(s) per hour",
    ),
    "EPW location without latitude": (
        DULLES_EPW,
        replace_on(1, ",38.98,", ",N38.98,"),
        "line 1: LOCATION: latitude: 'N38.98' is not a number",
    ),
    "EPW dry bulb missing": (
        DULLES_EPW,
        replace_on(10, ",0.0,-5.6,62,", ",99.9,-5.6,62,"),
        "line 10: Dry Bulb Temperature: 99.9 is the code for missing data",
    ),
    "EPW humidity missing": (
        DULLES_EPW,
        replace_on(10, ",0.0,-5.6,62,", ",0.0,99.9,999,"),
        "line 10: Dew Point Temperature and Relative Humidity are both missing",
    ),
    "EPW irradiance missing": (
        DULLES_EPW,
        replace_on(17, ",101700,221,1415,275,32,", ",101700,221,1415,275,9999,"),
        "line 17: Global Horizontal Radiation: 9999 is the code for missing data",
    ),
    "TMY3 irradiance missing": (
        GREENSBORO_TMY3,
        replace_on(3, "01/31/1988,01:00,0,0,0,", "01/31/1988,01:00,0,0,-9900,"),
        "line 3: GHI (W/m^2): -9900 is the code for missing data",
    ),
    "neither format": (
        GREENSBORO_TMY3,
        lambda text: ["station,name", *text[1:]],
        "line 1: 'station,name' starts neither a TMY3 CSV",
    ),
    "empty": (GREENSBORO_EPW, lambda text: [], "line 1: the file is empty"),
    "header only": (DULLES_EPW, lambda text: text[:8], "no hourly rows after the header"),
}


@pytest.mark.parametrize("case", REJECTIONS)
def test_each_kind_of_bad_file_is_one_line_naming_file_line_and_field(case):
    path, change, message = REJECTIONS[case]
    with pytest.raises(WeatherFileError) as caught:
        read_weather(edit(path, change), path.name)
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(f"{path.name}: ")
    assert message in text


def test_a_part_of_a_year_is_no_year():
    with pytest.raises(WeatherFileError, match=r"line 3: the data start at 01/31 01:00; the"):
        Weather.from_text(GREENSBORO_TMY3.read_text(encoding="utf-8"), "jan31.csv")
    short = "\n".join(whole_year_epw().splitlines()[:-1])
    with pytest.raises(
        WeatherFileError, match=r"^x\.epw: line 8768: the data end after 8759 hours, at 12/31 23:00"
    ):
        Weather.from_text(short, "x.epw")


def test_a_leap_year_s_feb_29_is_skipped():
    text = whole_year_epw().splitlines()
    feb28 = 8 + (31 + 27) * 24  # the first row of Feb 28
    leap_day = [line.replace(",2,28,", ",2,29,", 1) for line in text[feb28 : feb28 + 24]]
    weather = Weather.from_text("\n".join(text[: feb28 + 24] + leap_day + text[feb28 + 24 :]), "l")
    assert weather.at(1234.0 * HOUR_S) == load_weather().at(1234.0 * HOUR_S)
