"""Benchmark scenarios: a building, a weather period, per-zone schedules and disturbances, read
from TOML files (`minisplit/hil/scenarios/*.toml`) and validated strictly (an unknown key is an
error that names its path).

Times: the weather year starts on Monday Jan 1 00:00; a scenario's `start_s`, `settings_at` and
its disturbances use that same clock (absolute simulated seconds), like `HouseSim.time_s`."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from minisplit.controller.core.schedule import WEEKDAYS, Switch, Weekday, WeeklySchedule, clock_s
from minisplit.controller.core.settings import ZoneSettings
from minisplit.controller.schedule_config import SwitchPoint, weekly_schedule
from minisplit.drivers.textfile import (
    TomlError,
    UnreadableFile,
    named_file,
    parse_toml,
    read_text,
    shipped_files,
    shipped_names,
)
from minisplit.hil.building import (
    CONSTANT_GAINS,
    Adjacency,
    Building,
    Disturbance,
    GainSchedule,
    Room,
    RoomParameters,
)
from minisplit.hil.firmware import HeadThermostat
from minisplit.hil.heatpump import REFERENCE_ODU, HeadRatings, OutdoorUnitRatings
from minisplit.hil.house import DEFAULT_MAX_STEP_S, HouseSim
from minisplit.hil.plant import Plant
from minisplit.hil.weather import (
    DAY_S,
    HOUR_S,
    WEEK_S,
    YEAR_S,
    Weather,
    WeatherFileError,
    load_weather_file,
    parse_time_of_year,
    shipped_weather_path,
)

Identifier = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_]{0,31}$")]
Celsius = Annotated[float, Field(ge=-40.0, le=60.0)]
Positive = Annotated[float, Field(gt=0)]
NonNegative = Annotated[float, Field(ge=0)]
DayOfYear = Annotated[str, Field(pattern=r"^\d{2}-\d{2} ([01]\d|2[0-3]):[0-5]\d$")]
Hourly = Annotated[list[NonNegative], Field(min_length=24, max_length=24)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WeatherSection(_Strict):
    # A TMY3 CSV or EPW file (or the shipped subset's format), relative to the scenario file;
    # default: the shipped Greensboro TMY3 year.
    file: str | None = None
    start: DayOfYear
    duration_days: Annotated[float, Field(gt=0, le=366)] | None = None
    duration_hours: Annotated[float, Field(gt=0, le=366 * 24)] | None = None

    @model_validator(mode="after")
    def _one_duration(self) -> WeatherSection:
        if (self.duration_days is None) == (self.duration_hours is None):
            raise ValueError("give exactly one of duration_days and duration_hours")
        return self


class UnitSection(_Strict):
    """Overrides of the reference outdoor unit's ratings (docs/reference-unit.md)."""

    rated_heating_w: Positive = REFERENCE_ODU.rated_heating_w
    rated_cooling_w: Positive = REFERENCE_ODU.rated_cooling_w
    min_hz: Positive = REFERENCE_ODU.min_hz
    max_hz: Positive = REFERENCE_ODU.max_hz
    max_heads: Annotated[int, Field(ge=1, le=16)] = REFERENCE_ODU.max_heads

    @model_validator(mode="after")
    def _speeds(self) -> UnitSection:
        if self.min_hz >= self.max_hz:
            raise ValueError(f"min_hz {self.min_hz} must be below max_hz {self.max_hz}")
        return self


Construction = Literal["renovated", "unrenovated"]


class RoomSection(_Strict):
    id: Identifier
    name: str | None = None
    area_m2: Annotated[float, Field(gt=0, le=500)]
    aperture_m2: Annotated[float, Field(ge=0, le=50)] = 1.0
    head_w: Annotated[float, Field(ge=0, le=10000)] = 2500.0  # 0 = no head: not a zone
    initial_temperature: Celsius = 20.0
    construction: Construction | None = None  # default: the building's
    outdoor_factor: Positive | None = None  # explicit factor on both outdoor conductances
    gains: Identifier | None = None  # a [gains.<name>] schedule; default "default" if defined
    # Explicit 2R2C parameters of the whole room, overriding the per-m² defaults.
    interior_capacity_j_per_k: Positive | None = None
    envelope_capacity_j_per_k: Positive | None = None
    interior_envelope_w_per_k: Positive | None = None
    envelope_outdoor_w_per_k: Positive | None = None
    interior_outdoor_w_per_k: Positive | None = None


class AdjacencySection(_Strict):
    rooms: Annotated[list[Identifier], Field(min_length=2, max_length=2)]
    conductance_w_per_k: Positive | None = None
    wall_area_m2: Positive | None = None  # a plastered partition, U = 2 W/(m²·K)

    @model_validator(mode="after")
    def _one_size(self) -> AdjacencySection:
        if (self.conductance_w_per_k is None) == (self.wall_area_m2 is None):
            raise ValueError("give exactly one of conductance_w_per_k and wall_area_m2")
        if self.rooms[0] == self.rooms[1]:
            raise ValueError(f"a room cannot be next to itself ({self.rooms[0]!r})")
        return self


class BuildingSection(_Strict):
    construction: Construction = "renovated"
    rooms: Annotated[list[RoomSection], Field(min_length=1)]
    adjacency: list[AdjacencySection] = []


class GainsSection(_Strict):
    """W per m² of floor for each hour of the day (hour 0 = 00:00–01:00)."""

    weekday: Hourly
    weekend: Hourly | None = None


class DisturbanceSection(_Strict):
    """Extra heat and/or an open window in one room, once ("MM-DD HH:MM") or daily ("HH:MM")."""

    room: Identifier
    start: str
    days: Annotated[list[Weekday], Field(min_length=1)] | None = None  # daily ones only
    duration_minutes: Annotated[float, Field(gt=0, le=7 * 24 * 60)]
    gains_w: Annotated[float, Field(ge=-10000, le=10000)] = 0.0
    conductance_w_per_k: Annotated[float, Field(ge=0, le=2000)] = 0.0

    @model_validator(mode="after")
    def _when(self) -> DisturbanceSection:
        daily = re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", self.start) is not None
        once = re.fullmatch(r"\d{2}-\d{2} ([01]\d|2[0-3]):[0-5]\d", self.start) is not None
        if not (daily or once):
            raise ValueError(f"start {self.start!r} is neither HH:MM (daily) nor MM-DD HH:MM")
        if once:
            parse_time_of_year(self.start)
            if self.days is not None:
                raise ValueError("days applies to daily disturbances (start HH:MM) only")
        if self.gains_w == 0 and self.conductance_w_per_k == 0:
            raise ValueError("a disturbance needs gains_w or conductance_w_per_k")
        return self


class ScenarioFile(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    description: str = ""
    weather: WeatherSection
    unit: UnitSection = UnitSection()
    building: BuildingSection
    gains: dict[Identifier, GainsSection] = {}
    schedules: dict[Identifier, Annotated[list[SwitchPoint], Field(min_length=1)]]
    disturbances: list[DisturbanceSection] = []

    @model_validator(mode="after")
    def _references(self) -> ScenarioFile:
        rooms = {room.id: room for room in self.building.rooms}
        if len(rooms) != len(self.building.rooms):
            ids = [room.id for room in self.building.rooms]
            twice = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"building.rooms: ids {', '.join(twice)} appear twice")
        zones = [room.id for room in self.building.rooms if room.head_w > 0]
        if not zones:
            raise ValueError("building.rooms: no room has a head (head_w > 0)")
        if len(zones) > self.unit.max_heads:
            raise ValueError(f"{len(zones)} heads, but the unit takes {self.unit.max_heads}")
        for i, link in enumerate(self.building.adjacency):
            for end in link.rooms:
                if end not in rooms:
                    raise ValueError(f"building.adjacency[{i}].rooms: no room {end!r}")
        for room in self.building.rooms:
            if room.gains is not None and room.gains not in self.gains:
                raise ValueError(f"room {room.id!r}: no gains schedule {room.gains!r}")
        for zone in self.schedules:
            if zone not in zones:
                raise ValueError(f"schedules.{zone}: no room {zone!r} with a head")
        missing = [zone for zone in zones if zone not in self.schedules]
        if missing:
            raise ValueError(f"schedules: zones without a schedule: {', '.join(missing)}")
        for i, event in enumerate(self.disturbances):
            if event.room not in rooms:
                raise ValueError(f"disturbances[{i}].room: no room {event.room!r}")
        return self


class ScenarioError(ValueError):
    """A scenario file that cannot be used. ``problems`` lists one message per bad key."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


def _key_path(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def _describe(err: Any) -> str:
    path = _key_path(tuple(err["loc"])) or "(top level)"
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        return f"{path}: unknown key (value {err['input']!r})"
    if err["type"] == "missing":
        return f"{path}: required key is missing"
    return f"{path}: {msg} (got {err['input']!r})"


# ---------------------------------------------------------------------------------------------
# The scenario as the benchmark uses it
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """A loaded scenario: everything `build_house` and the benchmark need."""

    name: str
    description: str
    source: str
    start_s: float
    duration_s: float
    zones: tuple[str, ...]  # the rooms with heads, in file order
    building: Building
    ratings: OutdoorUnitRatings
    heads: Mapping[str, HeadRatings]
    weather_path: Path
    schedules: Mapping[str, WeeklySchedule] = field(repr=False)
    room_names: Mapping[str, str] = field(default_factory=dict)

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    def settings_at(self, zone_id: str, t_s: float) -> ZoneSettings:
        """The zone's settings at absolute simulated time ``t_s`` (as `HouseSim.time_s`)."""
        try:
            schedule = self.schedules[zone_id]
        except KeyError:
            raise KeyError(f"no zone {zone_id!r} (zones: {', '.join(self.zones)})") from None
        return schedule.at(t_s)

    def settings_span(self, t_s: float) -> tuple[dict[str, ZoneSettings], float]:
        """Every zone's settings at ``t_s``, and until when (same clock) they all hold."""
        settings = {}
        until = math.inf
        for zone in self.zones:
            settings[zone], change = self.schedules[zone].span(t_s)
            until = min(until, change)
        return settings, until

    def upcoming(self, t_s: float) -> dict[str, Switch]:
        """Every zone's next switch point after ``t_s`` (same clock), with what it sets."""
        switches = {}
        for zone in self.zones:
            schedule = self.schedules[zone]
            at = schedule.span(t_s)[1]
            switches[zone] = Switch(at, schedule.at(at))
        return switches

    def weather(self) -> Weather:
        return load_weather_file(self.weather_path)


def parse_scenario(
    text: str, source: str = "<scenario>", base_dir: Path | None = None, shift_weeks: int = 0
) -> Scenario:
    """Parse and validate a scenario's TOML text; ScenarioError lists every problem.

    ``shift_weeks`` moves the period that many weeks later (earlier when negative) in the
    weather year, schedules and all, and names it so (``mixed-april+2w``): the same house and
    programme in other weather, to see whether a result holds beyond one week. Whole weeks keep
    the weekly schedules on their weekdays; dated disturbances stay on their dates."""
    try:
        data = parse_toml(text)
    except TomlError as err:
        raise ScenarioError(source, [str(err)]) from None
    try:
        spec = ScenarioFile.model_validate(data)
    except ValidationError as err:
        raise ScenarioError(source, [_describe(e) for e in err.errors(include_url=False)]) from None
    weather_path = shipped_weather_path()
    if spec.weather.file is not None:
        weather_path = Path(spec.weather.file)
        if not weather_path.is_absolute():
            weather_path = (base_dir or Path.cwd()) / weather_path
        if not weather_path.is_file():
            raise ScenarioError(source, [f"weather.file: no file {str(weather_path)!r}"])
        try:
            load_weather_file(weather_path)  # read (once) now: a bad file stops the loading
        except WeatherFileError as err:
            raise ScenarioError(source, [f"weather.file: {err}"]) from None
    start_s = parse_time_of_year(spec.weather.start) + shift_weeks * WEEK_S
    duration_s = (
        spec.weather.duration_days * DAY_S
        if spec.weather.duration_days is not None
        else (spec.weather.duration_hours or 0.0) * HOUR_S
    )
    name = spec.name
    if shift_weeks:
        # Within the weather year: across its end the weekdays would slip by a day.
        if not 0.0 <= start_s <= YEAR_S - duration_s:
            raise ScenarioError(
                source,
                [f"shifted by {shift_weeks:+d} weeks, its period leaves the weather year"],
            )
        name = f"{name}{shift_weeks:+d}w"
    zones = tuple(room.id for room in spec.building.rooms if room.head_w > 0)
    return Scenario(
        name=name,
        description=spec.description.strip(),
        source=source,
        start_s=start_s,
        duration_s=duration_s,
        zones=zones,
        building=_building(spec, start_s, start_s + duration_s),
        ratings=OutdoorUnitRatings(
            rated_heating_w=spec.unit.rated_heating_w,
            rated_cooling_w=spec.unit.rated_cooling_w,
            min_hz=spec.unit.min_hz,
            max_hz=spec.unit.max_hz,
            max_heads=spec.unit.max_heads,
        ),
        heads={
            room.id: HeadRatings(rated_w=room.head_w)
            for room in spec.building.rooms
            if room.head_w > 0
        },
        weather_path=weather_path,
        schedules={zone: weekly_schedule(spec.schedules[zone]) for zone in zones},
        room_names={room.id: room.name or room.id for room in spec.building.rooms},
    )


def load_scenario(path: Path | str, shift_weeks: int = 0) -> Scenario:
    """The scenario in ``path`` (``shift_weeks``: see `parse_scenario`)."""
    path = Path(path)
    try:
        text = read_text(path)
    except UnreadableFile as err:
        problems = [err.reason, *shipped_names(path, shipped_scenarios(), "scenario")]
        raise ScenarioError(str(path), problems) from None
    return parse_scenario(text, str(path), path.parent, shift_weeks)


def shipped_scenarios() -> list[Path]:
    """The scenario files that come with the package, by name."""
    return shipped_files("minisplit.hil", "scenarios")


def scenario_file(text: str) -> Path:
    """The scenario file that ``text`` names: a file, or a shipped scenario by its name
    (``renovated-january``) from any directory (`named_file`)."""
    return named_file(text, shipped_scenarios())


def build_house(
    scenario: Scenario,
    *,
    heartbeat_timeout_s: float = 0.0,
    max_step_s: float = DEFAULT_MAX_STEP_S,
    thermostat: HeadThermostat | None = None,
) -> HouseSim:
    """The scenario's house at its start, with the units' firmware powered up.

    The watchdog is off by default (a benchmark's controller is never silent); give a timeout
    to let the heads fall back to their own thermostats when nobody beats, or a ``thermostat``
    to put every head behind a setpoint-only interface (`hil.firmware.HeadThermostat`)."""
    plant = Plant(scenario.building, scenario.weather(), scenario.start_s, scenario.ratings)
    return HouseSim(
        plant,
        scenario.heads,
        heartbeat_timeout_s=heartbeat_timeout_s,
        max_step_s=max_step_s,
        thermostat=thermostat,
    )


def _building(spec: ScenarioFile, start_s: float, end_s: float) -> Building:
    rooms = []
    for room in spec.building.rooms:
        construction = room.construction or spec.building.construction
        params = RoomParameters.for_floor(
            room.area_m2,
            unrenovated=construction == "unrenovated",
            aperture_m2=room.aperture_m2,
            outdoor_factor=room.outdoor_factor,
        )
        overrides = {
            name: getattr(room, name)
            for name in (
                "interior_capacity_j_per_k",
                "envelope_capacity_j_per_k",
                "interior_envelope_w_per_k",
                "envelope_outdoor_w_per_k",
                "interior_outdoor_w_per_k",
            )
            if getattr(room, name) is not None
        }
        if overrides:
            params = RoomParameters(**{**params.__dict__, **overrides})
        gains_name = room.gains or ("default" if "default" in spec.gains else None)
        gains = CONSTANT_GAINS
        if gains_name is not None:
            section = spec.gains[gains_name]
            gains = GainSchedule(
                tuple(section.weekday), None if section.weekend is None else tuple(section.weekend)
            )
        rooms.append(Room(room.id, params, room.initial_temperature, gains))
    adjacency = tuple(
        Adjacency.through_wall(link.rooms[0], link.rooms[1], link.wall_area_m2)
        if link.wall_area_m2 is not None
        else Adjacency(link.rooms[0], link.rooms[1], link.conductance_w_per_k or 0.0)
        for link in spec.building.adjacency
    )
    disturbances = tuple(
        event for section in spec.disturbances for event in _occurrences(section, start_s, end_s)
    )
    return Building(tuple(rooms), adjacency, disturbances)


def _occurrences(section: DisturbanceSection, start_s: float, end_s: float) -> list[Disturbance]:
    """A disturbance's events within [start_s, end_s) (a daily one on each matching day)."""
    length = section.duration_minutes * 60.0
    if "-" in section.start:
        begin = parse_time_of_year(section.start)
        # A date before the scenario's start means the next year's (scenarios may wrap).
        if begin < start_s - DAY_S:
            begin += 365 * DAY_S
        moments = [begin]
    else:
        days = section.days or list(WEEKDAYS)
        first_day = int(start_s // DAY_S)
        moments = [
            day * DAY_S + clock_s(section.start)
            for day in range(first_day, int(end_s // DAY_S) + 1)
            if WEEKDAYS[day % 7] in days
        ]
    return [
        Disturbance(
            room=section.room,
            start_s=moment,
            end_s=moment + length,
            gains_w=section.gains_w,
            conductance_w_per_k=section.conductance_w_per_k,
        )
        for moment in moments
        if moment < end_s and moment + length > start_s
    ]
