"""A weekly program as a file writes it: the switch points of a zone's `[[zones.schedule]]` in
the controller's config and of a bench scenario's `[[schedules.<zone>]]`, read alike, checked
against what a zone's head can run, and turned into the core's `WeeklySchedule`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

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
from minisplit.drivers.vocabulary import FanSpeed

Celsius = Annotated[float, Field(ge=-40.0, le=60.0)]


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


def weekly_schedule(points: Sequence[SwitchPoint]) -> WeeklySchedule:
    """The program of ``points``: each point's settings made from the defaults, on each of its
    days; at one moment the later point in the list wins."""
    entries = []
    for point in points:
        settings = apply_zone(ZoneSettings(), *point.transitions())
        entries += [(week_offset_s(day, point.at), settings) for day in point.days]
    return WeeklySchedule.of(entries)


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
