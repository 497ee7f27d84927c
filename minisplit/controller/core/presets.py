"""Presets (comfort, eco, away, sleep, boost): the setpoints each one means, pure.

A preset either replaces a zone's heating/cooling setpoint with an absolute temperature or
shifts the homeowner's own setpoint by an offset. Boost keeps the comfort setpoints and asks
for the head's full capacity for a limited time (the zone loop does that)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from minisplit.controller.core.settings import Preset, ZoneMode, ZoneSettings


@dataclass(frozen=True, slots=True)
class PresetRule:
    """How one preset moves the heating and the cooling setpoint.

    An absolute temperature wins over an offset for the same side."""

    heat_temperature: float | None = None
    cool_temperature: float | None = None
    heat_offset_k: float = 0.0
    cool_offset_k: float = 0.0

    def overridden(
        self,
        heat_temperature: float | None = None,
        cool_temperature: float | None = None,
        heat_offset_k: float | None = None,
        cool_offset_k: float | None = None,
    ) -> PresetRule:
        """This rule with the sides given replaced (an absolute temperature or an offset)."""
        heat = (self.heat_temperature, self.heat_offset_k)
        if heat_temperature is not None:
            heat = (heat_temperature, 0.0)
        elif heat_offset_k is not None:
            heat = (None, heat_offset_k)
        cool = (self.cool_temperature, self.cool_offset_k)
        if cool_temperature is not None:
            cool = (cool_temperature, 0.0)
        elif cool_offset_k is not None:
            cool = (None, cool_offset_k)
        return PresetRule(heat[0], cool[0], heat[1], cool[1])

    def heat(self, setpoint: float) -> float:
        if self.heat_temperature is not None:
            return self.heat_temperature
        return setpoint + self.heat_offset_k

    def cool(self, setpoint: float) -> float:
        if self.cool_temperature is not None:
            return self.cool_temperature
        return setpoint + self.cool_offset_k


UNCHANGED = PresetRule()


@dataclass(frozen=True, slots=True)
class PresetTable:
    """The meaning of every preset (config `[control.presets]`); defaults are common practice:
    eco 2 K and sleep 1 K toward the outdoors, away 16 °C heating / 28 °C cooling."""

    comfort: PresetRule = UNCHANGED
    eco: PresetRule = PresetRule(heat_offset_k=-2.0, cool_offset_k=2.0)
    away: PresetRule = PresetRule(heat_temperature=16.0, cool_temperature=28.0)
    sleep: PresetRule = PresetRule(heat_offset_k=-1.0, cool_offset_k=1.0)
    boost_duration_s: float = 1800.0
    rules: dict[Preset, PresetRule] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        rules = {
            Preset.NONE: UNCHANGED,
            Preset.COMFORT: self.comfort,
            Preset.ECO: self.eco,
            Preset.AWAY: self.away,
            Preset.SLEEP: self.sleep,
            Preset.BOOST: self.comfort,
        }
        object.__setattr__(self, "rules", rules)


def preset_setpoints(
    settings: ZoneSettings,
    presets: PresetTable,
    preset: Preset | None = None,
    limits: tuple[float, float] | None = None,
) -> tuple[float, float]:
    """The (heating, cooling) setpoints in effect under ``preset`` (default: the zone's own),
    kept within the zone's setpoint ``limits`` when given."""
    rule = presets.rules[settings.preset if preset is None else preset]
    if settings.mode is ZoneMode.HEAT_COOL:
        heat = rule.heat(settings.target_temperature_low)
        cool = rule.cool(settings.target_temperature_high)
    else:
        heat = rule.heat(settings.target_temperature)
        cool = rule.cool(settings.target_temperature)
    if limits is not None:
        low, high = limits
        heat = min(max(heat, low), high)
        cool = min(max(cool, low), high)
    return heat, cool


class ZoneSetpoints(NamedTuple):
    """A zone's (heating, cooling) setpoints in effect, with what they are worked out from:
    its settings (their preset), the preset table and its setpoint limits."""

    values: tuple[float, float]
    settings: ZoneSettings
    presets: PresetTable
    limits: tuple[float, float] | None


def zone_setpoints(
    known: ZoneSetpoints | None,
    settings: ZoneSettings,
    presets: PresetTable,
    limits: tuple[float, float] | None,
) -> ZoneSetpoints:
    """The zone's setpoints in effect: ``known`` again while it was worked out from these very
    settings, table and limits (all three immutable; they change seldom, and the zone loop
    needs its setpoints every tick). A boost's setpoints are comfort's, so they do not change
    when its time is up."""
    if (
        known is not None
        and known.settings is settings
        and known.presets is presets
        and known.limits is limits
    ):
        return known
    return ZoneSetpoints(
        preset_setpoints(settings, presets, None, limits), settings, presets, limits
    )


def boost_elapsed_s(
    started_at: float | None, calendar_now: float, duration_s: float, time_scale: float = 1.0
) -> float:
    """How much of a boost that began at ``started_at`` has passed at ``calendar_now`` (both
    calendar seconds), in controller seconds (``time_scale`` of them a calendar second),
    within 0..``duration_s``.

    A restart in the middle of a boost leaves the homeowner what was left of it, as a timer
    would; after a power cut longer than that, the boost is over. A start not known (a file
    from before boosts were timed, or damaged) counts as over: a restart must never begin a
    boost all over again. A calendar clock behind the start (not yet set after a boot)
    counts as no time passed: at worst one whole boost, never an endless one."""
    if started_at is None:
        return duration_s
    elapsed = (calendar_now - started_at) * time_scale
    return min(max(elapsed, 0.0), duration_s)
