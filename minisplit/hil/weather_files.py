"""Reading hourly weather files: NREL's TMY3 CSV, EnergyPlus EPW, and the shipped column subset.

The format is told from the content (the first lines), never from the file's name. Only what
the plant uses is read (docs/benchmark.md, 'Weather'): dry bulb, dew point, relative humidity
and global horizontal irradiance, hour by hour in local standard time, hour ending 1..24. Every
problem is one WeatherFileError naming the file, the line and the field."""

from __future__ import annotations

import csv
import math
import re
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date

from minisplit.hil.psychrometrics import dew_point_c, relative_humidity_pct

HOURS_PER_YEAR = 8760
# Any non-leap year: TMY years have no Feb 29.
CALENDAR_YEAR = 2001
# A year of EPW is ≈ 1.6 MB, of TMY3 ≈ 1.7 MB.
WEATHER_MAX_BYTES = 8 << 20

TMY3 = "TMY3"
EPW = "EPW"
SUBSET = "minisplit CSV"

# The TMY3 columns read (NREL/TP-581-43156, the TMY3 user's manual), and its missing-data code.
_TMY3_DATE = "Date (MM/DD/YYYY)"
_TMY3_TIME = "Time (HH:MM)"
_TMY3_DRY_BULB = "Dry-bulb (C)"
_TMY3_DEW_POINT = "Dew-point (C)"
_TMY3_RH = "RHum (%)"
_TMY3_GHI = "GHI (W/m^2)"
_TMY3_MISSING = -9900.0
_TMY3_STATION = re.compile(r"\d{6},")
_TMY3_STATION_FIELDS = ("USAF", "name", "state", "time zone", "latitude", "longitude", "elevation")

# EPW (EnergyPlus Auxiliary Programs, 'EnergyPlus Weather File (EPW) Data Dictionary'): the
# 8 header lines, then one row per hour; the fields read, 0-based, with their missing codes.
_EPW_HEADERS = (
    "LOCATION",
    "DESIGN CONDITIONS",
    "TYPICAL/EXTREME PERIODS",
    "GROUND TEMPERATURES",
    "HOLIDAYS/DAYLIGHT SAVINGS",
    "COMMENTS 1",
    "COMMENTS 2",
    "DATA PERIODS",
)
_EPW_LOCATION_FIELDS = (
    "LOCATION",
    "city",
    "state",
    "country",
    "source",
    "WMO",
    "latitude",
    "longitude",
    "time zone",
    "elevation",
)
_STATION_NUMBERS = frozenset(_TMY3_STATION_FIELDS[-4:])
_EPW_DRY_BULB = (6, "Dry Bulb Temperature", 99.9)
_EPW_DEW_POINT = (7, "Dew Point Temperature", 99.9)
_EPW_RH = (8, "Relative Humidity", 999.0)
_EPW_GHI = (13, "Global Horizontal Radiation", 9999.0)
_EPW_FIELDS = 35

_SUBSET_COLUMNS = ("month", "day", "hour", "dry_bulb_c", "dew_point_c", "rel_humidity_pct")
_SUBSET_GHI = "ghi_w_m2"

_DAY_ONE = date(CALENDAR_YEAR, 1, 1).toordinal()


class WeatherFileError(ValueError):
    """A weather file that cannot be used: one line naming the file, the line and the field."""

    def __init__(self, source: str, line: int | None, problem: str) -> None:
        where = f"{source}: line {line}" if line is not None else source
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class HourlyWeather:
    """The rows of a weather file: consecutive hours, the first being hour ``first_hour`` of the
    year (0 = Jan 1, hour ending 1), found on ``first_line``; ``end_line`` is the line after the
    last row."""

    format: str
    station: str
    first_hour: int
    first_line: int
    end_line: int
    dry_bulb_c: array[float]
    dew_point_c: array[float]
    rel_humidity_pct: array[float]
    ghi_w_m2: array[float]


@dataclass(frozen=True)
class _Row:
    line: int
    month: int
    day: int
    hour: int
    dry_bulb_c: float
    dew_point_c: float
    rel_humidity_pct: float
    ghi_w_m2: float


def read_weather(text: str, source: str = "<weather>") -> HourlyWeather:
    """The hourly rows of a TMY3, EPW or shipped-subset file, told apart by their first lines.

    Rows must follow each other hour by hour (a Feb 29 of a leap-year file is skipped); the
    source year of a row is not read (typical years mix them)."""
    lines = text.removeprefix("\ufeff").splitlines()
    if not lines or not lines[0].strip():
        raise WeatherFileError(source, 1, "the file is empty, or its first line is")
    first = lines[0]
    if first.startswith("LOCATION,"):
        return _collect(EPW, *_epw(lines, source), source)
    if _TMY3_STATION.match(first):
        return _collect(TMY3, *_tmy3(lines, source), source)
    if first.split(",")[:3] == ["month", "day", "hour"]:
        return _collect(SUBSET, "", _subset(lines, source), source)
    raise WeatherFileError(
        source,
        1,
        f"{_quote(first)} starts neither a TMY3 CSV (a station line such as "
        "'723170,\"GREENSBORO PIEDMONT TRIAD INT\",NC,-5.0,36.100,-79.950,273', then column "
        "names), an EnergyPlus EPW ('LOCATION,...'), nor the shipped subset ('month,day,hour,...')",
    )


def _collect(format_: str, station: str, rows: Iterator[_Row], source: str) -> HourlyWeather:
    columns: tuple[array[float], ...] = tuple(array("d") for _ in range(4))
    first_hour = previous = -1
    first_line = end_line = 0
    for row in rows:
        if (row.month, row.day) == (2, 29):
            continue
        index = _hour_index(row, source)
        if previous < 0:
            first_hour, first_line = index, row.line
        elif index != previous + 1:
            raise WeatherFileError(
                source,
                row.line,
                f"{hour_text(index)} follows {hour_text(previous)}: rows must run hour by hour",
            )
        previous, end_line = index, row.line + 1
        for column, value in zip(
            columns,
            (row.dry_bulb_c, row.dew_point_c, row.rel_humidity_pct, row.ghi_w_m2),
            strict=True,
        ):
            column.append(value)
    if previous < 0:
        raise WeatherFileError(source, None, "no hourly rows after the header")
    return HourlyWeather(format_, station, first_hour, first_line, end_line, *columns)


def _hour_index(row: _Row, source: str) -> int:
    if not 1 <= row.hour <= 24:
        raise WeatherFileError(source, row.line, f"hour {row.hour} is not an hour ending 1..24")
    try:
        day = date(CALENDAR_YEAR, row.month, row.day).toordinal() - _DAY_ONE
    except ValueError:
        raise WeatherFileError(
            source, row.line, f"month {row.month}, day {row.day} is no day of the year"
        ) from None
    return day * 24 + row.hour - 1


def hour_text(index: int) -> str:
    """Hour ``index`` of the year as the files write it: MM/DD HH:00, hour ending 1..24."""
    moment = date.fromordinal(_DAY_ONE + index // 24)
    return f"{moment.month:02d}/{moment.day:02d} {index % 24 + 1:02d}:00"


def _quote(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:60] + "…")


def _number(source: str, line: int, field: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise WeatherFileError(source, line, f"{field}: {_quote(text)} is not a number")
    return value


def _integer(source: str, line: int, field: str, text: str) -> int:
    value = _number(source, line, field, text)
    if value != int(value):
        raise WeatherFileError(source, line, f"{field}: {_quote(text)} is not a whole number")
    return int(value)


def _humidity(
    source: str,
    line: int,
    dry_bulb_c: float,
    dew_point: tuple[str, float | None],
    rh: tuple[str, float | None],
) -> tuple[float, float]:
    """Dew point and relative humidity, one worked out from the other when it is missing."""
    (dew_name, dew), (rh_name, rh_pct) = dew_point, rh
    if dew is None and rh_pct is None:
        raise WeatherFileError(
            source, line, f"{dew_name} and {rh_name} are both missing: one of them is needed"
        )
    if dew is None:
        assert rh_pct is not None
        return dew_point_c(dry_bulb_c, max(rh_pct, 1.0)), rh_pct
    if rh_pct is None:
        return dew, min(100.0, relative_humidity_pct(dry_bulb_c, dew))
    return dew, rh_pct


def _check_station(source: str, fields: list[str], what: str, names: tuple[str, ...]) -> None:
    """Line 1's station fields: all there, and the location and time zone numbers."""
    if len(fields) < len(names):
        raise WeatherFileError(
            source, 1, f"{what} has {len(fields)} fields of {len(names)}: {', '.join(names)}"
        )
    for name, text in zip(names, fields, strict=False):
        if name in _STATION_NUMBERS:
            _number(source, 1, f"{what}: {name}", text)


def _required(source: str, line: int, field: str, value: float | None, code: float) -> float:
    if value is None:
        raise WeatherFileError(
            source,
            line,
            f"{field}: {code:g} is the code for missing data; the simulator needs every hour's"
            " value (fill the gap, e.g. from a neighbouring hour)",
        )
    return value


# ---------------------------------------------------------------------------------------------
# TMY3
# ---------------------------------------------------------------------------------------------


def _tmy3(lines: Sequence[str], source: str) -> tuple[str, Iterator[_Row]]:
    rows = csv.reader(lines)
    station = next(rows)
    _check_station(source, station, "the TMY3 station line", _TMY3_STATION_FIELDS)
    names = next(rows, None)
    if names is None:
        raise WeatherFileError(
            source, 2, "the file ends after the station line: TMY3 has its column names on line 2"
        )
    position = {name: i for i, name in enumerate(names)}
    for name in (_TMY3_DATE, _TMY3_TIME, _TMY3_DRY_BULB, _TMY3_DEW_POINT, _TMY3_RH, _TMY3_GHI):
        if name not in position:
            raise WeatherFileError(source, 2, f"no column {name!r} among the column names")
    name = f"{station[1]}, {station[2]} (TMY3 {station[0]})"
    return name, _tmy3_rows(rows, position, len(names), source)


def _tmy3_rows(
    rows: Iterator[list[str]], position: dict[str, int], width: int, source: str
) -> Iterator[_Row]:
    for line, fields in enumerate(rows, start=3):
        if not fields:
            continue
        if len(fields) < width:
            raise WeatherFileError(
                source, line, f"{len(fields)} fields, where line 2 names {width} columns"
            )

        def value(name: str, line: int = line, fields: list[str] = fields) -> float | None:
            number = _number(source, line, name, fields[position[name]])
            return None if number == _TMY3_MISSING else number

        when = re.fullmatch(r"(\d\d)/(\d\d)/\d{4}", fields[position[_TMY3_DATE]])
        if when is None:
            raise WeatherFileError(
                source, line, f"{_TMY3_DATE}: {_quote(fields[position[_TMY3_DATE]])} is no date"
            )
        clock = re.fullmatch(r"(\d\d):00", fields[position[_TMY3_TIME]])
        if clock is None:
            raise WeatherFileError(
                source,
                line,
                f"{_TMY3_TIME}: {_quote(fields[position[_TMY3_TIME]])} is not a whole hour"
                " 01:00..24:00",
            )
        dry_bulb = _required(source, line, _TMY3_DRY_BULB, value(_TMY3_DRY_BULB), _TMY3_MISSING)
        dew, rh = _humidity(
            source,
            line,
            dry_bulb,
            (_TMY3_DEW_POINT, value(_TMY3_DEW_POINT)),
            (_TMY3_RH, value(_TMY3_RH)),
        )
        yield _Row(
            line,
            int(when[1]),
            int(when[2]),
            int(clock[1]),
            dry_bulb,
            dew,
            rh,
            _required(source, line, _TMY3_GHI, value(_TMY3_GHI), _TMY3_MISSING),
        )


# ---------------------------------------------------------------------------------------------
# EPW
# ---------------------------------------------------------------------------------------------


def _epw(lines: Sequence[str], source: str) -> tuple[str, Iterator[_Row]]:
    rows = csv.reader(lines)
    header: list[list[str]] = []
    for line, keyword in enumerate(_EPW_HEADERS, start=1):
        fields = next(rows, None)
        if fields is None:
            after = f" (after {_EPW_HEADERS[line - 2]})" if line > 1 else ""
            raise WeatherFileError(
                source,
                line,
                f"the file ends inside the EPW header{after}: it has 8 lines, LOCATION to"
                " DATA PERIODS",
            )
        if not fields or fields[0].strip().upper() != keyword:
            raise WeatherFileError(
                source,
                line,
                f"{_quote(lines[line - 1])} is not the EPW header line {keyword!r}"
                " (an EPW has 8 header lines, LOCATION to DATA PERIODS)",
            )
        header.append(fields)
    location = header[0]
    _check_station(source, location, "LOCATION", _EPW_LOCATION_FIELDS)
    periods = header[7]
    if len(periods) < 3:
        raise WeatherFileError(source, 8, "DATA PERIODS: no count of periods and records per hour")
    count = _integer(source, 8, "DATA PERIODS number of periods", periods[1])
    per_hour = _integer(source, 8, "DATA PERIODS records per hour", periods[2])
    if (count, per_hour) != (1, 1):
        raise WeatherFileError(
            source,
            8,
            f"DATA PERIODS: {count} period(s) of {per_hour} record(s) per hour; only files of"
            " one period of hourly records are read",
        )
    name = f"{location[1].strip()}, {location[2].strip()} (EPW {location[5].strip()})"
    return name, _epw_rows(rows, source)


def _epw_rows(rows: Iterator[list[str]], source: str) -> Iterator[_Row]:
    for line, fields in enumerate(rows, start=len(_EPW_HEADERS) + 1):
        if not fields:
            continue
        if len(fields) <= _EPW_GHI[0]:
            raise WeatherFileError(
                source,
                line,
                f"{len(fields)} fields; an EPW row has {_EPW_FIELDS}, and"
                f" {_EPW_GHI[1]} is field {_EPW_GHI[0] + 1}",
            )

        def value(
            spec: tuple[int, str, float], line: int = line, fields: list[str] = fields
        ) -> float | None:
            index, name, missing = spec
            number = _number(source, line, name, fields[index])
            return None if number >= missing else number

        month, day, hour, minute = (
            _integer(source, line, name, fields[i])
            for i, name in enumerate(("Month", "Day", "Hour", "Minute"), start=1)
        )
        if minute not in (0, 60):
            raise WeatherFileError(
                source, line, f"Minute: {minute}; only hourly rows (minute 0 or 60) are read"
            )
        dry_bulb = _required(source, line, _EPW_DRY_BULB[1], value(_EPW_DRY_BULB), _EPW_DRY_BULB[2])
        dew, rh = _humidity(
            source,
            line,
            dry_bulb,
            (_EPW_DEW_POINT[1], value(_EPW_DEW_POINT)),
            (_EPW_RH[1], value(_EPW_RH)),
        )
        ghi = _required(source, line, _EPW_GHI[1], value(_EPW_GHI), _EPW_GHI[2])
        yield _Row(line, month, day, hour, dry_bulb, dew, rh, ghi)


# ---------------------------------------------------------------------------------------------
# The shipped subset
# ---------------------------------------------------------------------------------------------


def _subset(lines: Sequence[str], source: str) -> Iterator[_Row]:
    rows = csv.reader(lines)
    names = next(rows)
    position = {name: i for i, name in enumerate(names)}
    for name in (*_SUBSET_COLUMNS, _SUBSET_GHI):
        if name not in position:
            raise WeatherFileError(source, 1, f"no column {name!r} among the column names")
    return _subset_rows(rows, position, source)


def _subset_rows(
    rows: Iterator[list[str]], position: dict[str, int], source: str
) -> Iterator[_Row]:
    for line, fields in enumerate(rows, start=2):
        if not fields:
            continue
        if len(fields) < len(position):
            raise WeatherFileError(
                source, line, f"{len(fields)} fields, where line 1 names {len(position)} columns"
            )
        month, day, hour = (
            _integer(source, line, name, fields[position[name]]) for name in _SUBSET_COLUMNS[:3]
        )
        dry, dew, rh, ghi = (
            _number(source, line, name, fields[position[name]])
            for name in (*_SUBSET_COLUMNS[3:], _SUBSET_GHI)
        )
        yield _Row(line, month, day, hour, dry, dew, rh, ghi)
