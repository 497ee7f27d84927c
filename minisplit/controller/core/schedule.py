"""A zone's weekly program: switch points through the week, the settings in effect at a moment,
when the next switch point comes, and the thermostat rule that a manual change holds until then.

Times are numbers the caller passes in: seconds on a clock whose multiples of a week fall on
Monday 00:00 (local time for the product, the weather year's clock for the benchmark)."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, get_args

from minisplit.controller.core.settings import ZoneSettings
from minisplit.controller.core.transitions import (
    SetFan,
    SetMode,
    SetPreset,
    SetTarget,
    Side,
    ZoneTransition,
)

HOUR_S = 3600.0
DAY_S = 24 * HOUR_S
WEEK_S = 7 * DAY_S

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = get_args(Weekday)


def clock_s(clock: str) -> float:
    """Seconds since midnight of ``clock`` ("HH:MM")."""
    hours, minutes = clock.split(":")
    return int(hours) * HOUR_S + int(minutes) * 60.0


def week_offset_s(day: Weekday, clock: str) -> float:
    """Seconds since Monday 00:00 of ``clock`` ("HH:MM") on ``day``."""
    return WEEKDAYS.index(day) * DAY_S + clock_s(clock)


def settings_transitions(settings: ZoneSettings) -> list[ZoneTransition]:
    """The changes that give any zone the mode, setpoints, fan and preset of ``settings``, as a
    homeowner makes them: the setpoints before the preset (a setpoint ends a preset). Either
    order of the heat_cool pair arrives: the one set second pushes the first no further."""
    return [
        SetMode(settings.mode),
        SetTarget(Side.TARGET, settings.target_temperature),
        SetTarget(Side.HIGH, settings.target_temperature_high),
        SetTarget(Side.LOW, settings.target_temperature_low),
        SetFan(settings.fan_mode),
        SetPreset(settings.preset),
    ]


@dataclass(frozen=True)
class Switch:
    """One switch point as it falls on the caller's clock: its moment and what it sets."""

    at_s: float
    settings: ZoneSettings


@dataclass(frozen=True)
class WeeklySchedule:
    """A zone's settings through the week: switch points in seconds since Monday 00:00, in
    order; ``settings[i]`` holds from ``times[i]`` until the next one (wrapping to next week)."""

    times: tuple[float, ...]
    settings: tuple[ZoneSettings, ...]

    def __post_init__(self) -> None:
        times = self.times
        if not times or len(times) != len(self.settings):
            raise ValueError("a weekly schedule needs switch points, each with its settings")
        if list(times) != sorted(times) or not 0.0 <= times[0] <= times[-1] < WEEK_S:
            raise ValueError("switch points must be in order within the week")

    @classmethod
    def of(cls, points: Iterable[tuple[float, ZoneSettings]]) -> WeeklySchedule:
        """The schedule of (seconds since Monday 00:00, settings) pairs in any order; of two at
        one moment, the later in ``points`` wins."""
        entries = sorted(enumerate(points), key=lambda e: (e[1][0], e[0]))
        return cls(tuple(e[1][0] for e in entries), tuple(e[1][1] for e in entries))

    def at(self, time_s: float) -> ZoneSettings:
        return self.span(time_s)[0]

    def span(self, time_s: float) -> tuple[ZoneSettings, float]:
        """The settings at ``time_s`` and the moment (same clock) of the next switch point,
        until which they hold: a runner need not look again before then."""
        offset = time_s % WEEK_S
        i = bisect.bisect_right(self.times, offset) - 1
        # Before the week's first switch point, last week's last one still holds (i = −1).
        times = self.times
        change = times[i + 1] if i + 1 < len(times) else WEEK_S + times[0]
        return self.settings[i], time_s - offset + change

    def current(self, time_s: float) -> Switch:
        """The switch point in effect at ``time_s``: the last one at or before it."""
        offset = time_s % WEEK_S
        i = bisect.bisect_right(self.times, offset) - 1
        start = self.times[i] if i >= 0 else self.times[-1] - WEEK_S
        return Switch(time_s - offset + start, self.settings[i])


def due_switch(schedule: WeeklySchedule, applied_s: float | None, now_s: float) -> Switch | None:
    """The switch point to apply at ``now_s``, or None while the settings in effect hold.

    ``applied_s`` is the moment of the last switch point applied (None: none yet, and the
    current point applies). Only a point after it is crossed: a manual change made since holds
    until the next one, several points missed (the controller was down) apply as the latest,
    and a clock set back (or an hour repeated in autumn) does not apply a point twice."""
    current = schedule.current(now_s)
    if applied_s is not None and current.at_s <= applied_s:
        return None
    return current
