"""A weekly program as a file writes it: the switch points of a zone's `[[zones.schedule]]` in
the controller's config, of a bench scenario's `[[schedules.<zone>]]` and of the JSON list sent
to `<base>/zone/<id>/set/program`, read alike, checked against what a zone's head can run, put
in one canonical order, and turned into the core's `WeeklySchedule`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from minisplit.controller.core.schedule import (
    WEEKDAYS,
    Weekday,
    WeeklySchedule,
    settings_transitions,
    week_offset_s,
)
from minisplit.controller.core.settings import Preset, ZoneMode, ZoneSettings
from minisplit.controller.core.transitions import (
    HEAT_COOL_DEADBAND_K,
    Side,
    ZoneTransition,
    apply_zone,
    setpoint_range,
)
from minisplit.drivers.tomlerrors import describe, key_path
from minisplit.drivers.vocabulary import FanSpeed

Celsius = Annotated[float, Field(ge=-40.0, le=60.0)]
# A program sent over MQTT (or saved from one) holds at most this many switch points: four a
# day on every day apart is 28; a list far longer is a mistake, and each point costs memory.
MAX_PROGRAM_POINTS = 64
# The setpoints of a switch point, by key.
SETPOINT_KEYS = ("temperature", "temperature_low", "temperature_high")


def _clock_time(text: str) -> str:
    hours, sep, minutes = text.partition(":")
    if not (
        sep
        and len(hours) == len(minutes) == 2
        and hours.isdigit()
        and minutes.isdigit()
        and int(hours) < 24
        and int(minutes) < 60
    ):
        raise ValueError("not a time of day: write HH:MM, from 00:00 to 23:59")
    return text


ClockTime = Annotated[str, AfterValidator(_clock_time)]


class SwitchPoint(BaseModel):
    """From this time of day on (on these weekdays) the zone runs with these settings: the
    changes of `transitions` made to the defaults, as a homeowner would make them over MQTT."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: ClockTime
    days: Annotated[list[Weekday], Field(min_length=1)] = list(WEEKDAYS)
    mode: ZoneMode
    temperature: Celsius = 21.0
    temperature_low: Celsius = 20.0
    temperature_high: Celsius = 24.0
    fan: FanSpeed = FanSpeed.AUTO
    preset: Preset = Preset.NONE

    @model_validator(mode="after")
    def _band(self) -> SwitchPoint:
        # The band the controller keeps in heat_cool: a narrower one would be pushed apart.
        # (A tolerance, as 21.3 - 20.3 is a hair below 1.0 in floating point.)
        if self.temperature_high - self.temperature_low < HEAT_COOL_DEADBAND_K - 1e-9:
            raise ValueError(
                f"temperature_low {self.temperature_low} must be below temperature_high "
                f"{self.temperature_high} by at least {HEAT_COOL_DEADBAND_K:g} K"
            )
        return self

    def transitions(self) -> list[ZoneTransition]:
        """The changes that make a zone's default settings this point's."""
        return settings_transitions(
            ZoneSettings(
                mode=self.mode,
                target_temperature=self.temperature,
                target_temperature_low=self.temperature_low,
                target_temperature_high=self.temperature_high,
                fan_mode=self.fan,
                preset=self.preset,
            )
        )

    def summary(self) -> str:
        """One line for `check-config`: when, and what it sets."""
        days = "every day" if list(self.days) == list(WEEKDAYS) else ",".join(self.days)
        match self.mode:
            case ZoneMode.OFF:
                what = "off"
            case ZoneMode.HEAT_COOL:
                what = f"heat_cool {self.temperature_low:g}-{self.temperature_high:g} °C"
            case ZoneMode.FAN_ONLY:
                what = "fan_only"
            case _:
                what = f"{self.mode.value} {self.temperature:g} °C"
        extras = [f"fan {self.fan.value}"] if self.fan is not FanSpeed.AUTO else []
        extras += [f"preset {self.preset.value}"] if self.preset is not Preset.NONE else []
        return " ".join([self.at, days + ":", what, *extras])


_POINTS: TypeAdapter[list[SwitchPoint]] = TypeAdapter(list[SwitchPoint])


def parse_program(data: object) -> tuple[SwitchPoint, ...]:
    """A program as JSON carries it (a list of switch points' tables, the keys of
    `[[zones.schedule]]`), checked as the config's entries are, in the order given; raise
    ValueError naming each bad point (by its place in the list, from 0) and key."""
    if not isinstance(data, list):
        raise ValueError(
            'not a JSON list of switch points (e.g. [{"at": "07:00", "mode": "heat", '
            '"temperature": 21}]; [] clears the program)'
        )
    if len(data) > MAX_PROGRAM_POINTS:
        raise ValueError(f"{len(data)} switch points: at most {MAX_PROGRAM_POINTS} are taken")
    try:
        points = _POINTS.validate_python(data)
    except ValidationError as err:
        raise ValueError("; ".join(describe(err.errors(), ""))) from None
    return tuple(points)


def canonical_program(points: Sequence[SwitchPoint]) -> tuple[SwitchPoint, ...]:
    """The same program written one way: its points by time of day, each one's days in the
    week's order and once. (The sort is stable: of two points at one moment the later in the
    list still wins, as `weekly_schedule` says.)"""
    return tuple(
        point.model_copy(update={"days": [day for day in WEEKDAYS if day in point.days]})
        for point in sorted(points, key=lambda point: point.at)
    )


def program_document(points: Sequence[SwitchPoint]) -> list[dict[str, object]]:
    """A program as JSON carries it: each point with every key, defaults included."""
    return [point.model_dump(mode="json") for point in points]


def weekly_schedule(points: Sequence[SwitchPoint]) -> WeeklySchedule:
    """The program of ``points``: each point's settings made from the defaults, on each of its
    days; at one moment the later point in the list wins."""
    entries = []
    for point in points:
        settings = apply_zone(ZoneSettings(), *point.transitions())
        entries += [(week_offset_s(day, point.at), settings) for day in point.days]
    return WeeklySchedule.of(entries)


def program_problem_lines(
    points: Sequence[SwitchPoint],
    modes: Sequence[ZoneMode],
    min_temperature: float,
    max_temperature: float,
) -> list[str]:
    """`program_problems` as lines naming the point (by its place in the list) and key."""
    problems = program_problems(points, modes, min_temperature, max_temperature)
    return [f"{key_path(loc)}: {message}" for loc, message in problems]


def program_problems(
    points: Sequence[SwitchPoint],
    modes: Sequence[ZoneMode],
    min_temperature: float,
    max_temperature: float,
) -> list[tuple[tuple[int, str], str]]:
    """What in a zone's program its head cannot run or its limits refuse, as ((index of the
    point, key), message): a mode outside ``modes``, a setpoint outside the zone's range (a
    heat_cool end leaves room for the deadband, as `setpoint_range` says)."""
    problems: list[tuple[tuple[int, str], str]] = []
    offered = ", ".join(mode.value for mode in modes)
    for i, point in enumerate(points):
        if point.mode not in modes:
            problems.append(
                ((i, "mode"), f"{point.mode.value!r} is not a mode the head runs ({offered})")
            )
        for key, side in (
            ("temperature", Side.TARGET),
            ("temperature_low", Side.LOW),
            ("temperature_high", Side.HIGH),
        ):
            low, high = setpoint_range(min_temperature, max_temperature, side)
            value = getattr(point, key)
            if not low <= value <= high:
                # A default the file did not write is set too: say so, or the key would puzzle.
                default = "" if key in point.model_fields_set else " (the default)"
                problems.append(
                    (
                        (i, key),
                        f"{value:g} °C{default} is outside the zone's range {low:g}..{high:g} °C",
                    )
                )
    return problems
