"""Presets: what each one does to the heating and cooling setpoints."""

from dataclasses import replace

import pytest

from minisplit.controller.core.presets import (
    PresetRule,
    PresetTable,
    boost_elapsed_s,
    preset_setpoints,
    zone_setpoints,
)
from minisplit.controller.core.settings import Preset, ZoneMode, ZoneSettings

TABLE = PresetTable()
HEAT = ZoneSettings(mode=ZoneMode.HEAT, target_temperature=21.0)
HEAT_COOL = ZoneSettings(
    mode=ZoneMode.HEAT_COOL, target_temperature_low=20.0, target_temperature_high=25.0
)


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        (Preset.NONE, (21.0, 21.0)),
        (Preset.COMFORT, (21.0, 21.0)),
        (Preset.ECO, (19.0, 23.0)),
        (Preset.AWAY, (16.0, 28.0)),
        (Preset.SLEEP, (20.0, 22.0)),
        (Preset.BOOST, (21.0, 21.0)),
    ],
)
def test_default_presets_on_a_single_setpoint(preset, expected):
    assert preset_setpoints(replace(HEAT, preset=preset), TABLE) == expected


def test_heat_cool_moves_each_side_by_its_own_rule():
    assert preset_setpoints(replace(HEAT_COOL, preset=Preset.ECO), TABLE) == (18.0, 27.0)
    assert preset_setpoints(replace(HEAT_COOL, preset=Preset.AWAY), TABLE) == (16.0, 28.0)


def test_an_explicit_preset_overrides_the_zone_one_and_limits_clamp():
    eco = replace(HEAT, preset=Preset.ECO)
    assert preset_setpoints(eco, TABLE, Preset.COMFORT) == (21.0, 21.0)
    assert preset_setpoints(eco, TABLE, limits=(19.5, 22.5)) == (19.5, 22.5)


def test_configured_rules_replace_a_side_by_temperature_or_offset():
    eco = TABLE.eco.overridden(heat_temperature=18.5)
    assert eco == PresetRule(heat_temperature=18.5, cool_offset_k=2.0)
    away = TABLE.away.overridden(cool_offset_k=5.0)
    assert away == PresetRule(heat_temperature=16.0, cool_offset_k=5.0)
    table = PresetTable(eco=eco, away=away)
    assert preset_setpoints(replace(HEAT, preset=Preset.ECO), table) == (18.5, 23.0)
    assert preset_setpoints(replace(HEAT, preset=Preset.AWAY), table) == (16.0, 26.0)


def test_a_boost_keeps_what_was_left_of_it_across_a_restart():
    assert boost_elapsed_s(1000.0, 1600.0, 1800.0) == 600.0
    # Back after a power cut longer than the boost: it is over.
    assert boost_elapsed_s(1000.0, 1000.0 + 7200.0, 1800.0) == 1800.0
    # A start nobody knows (an old state file): over, never begun again.
    assert boost_elapsed_s(None, 1600.0, 1800.0) == 1800.0
    # The calendar clock is behind the start (not set yet after a boot): one boost at most.
    assert boost_elapsed_s(1000.0, 400.0, 1800.0) == 0.0
    # Controller seconds run `time_scale` to a calendar second.
    assert boost_elapsed_s(1000.0, 1010.0, 1800.0, time_scale=60.0) == 600.0


def test_a_zones_setpoints_are_worked_out_again_only_when_what_they_come_from_changes():
    """Kept while the very same settings, table and limits come again; worked out anew, as
    `preset_setpoints` says, when any of them is another object."""
    eco = replace(HEAT, preset=Preset.ECO)
    known = zone_setpoints(None, eco, TABLE, (16.0, 30.0))
    assert known.values == preset_setpoints(eco, TABLE) == (19.0, 23.0)
    assert zone_setpoints(known, eco, TABLE, known.limits) is known
    narrower = zone_setpoints(known, eco, TABLE, (19.5, 22.5))
    assert narrower.values == (19.5, 22.5)
    away = zone_setpoints(narrower, replace(eco, preset=Preset.AWAY), TABLE, narrower.limits)
    assert away.values == (19.5, 22.5)  # 16 and 28 °C, within the limits
    warmer = PresetTable(away=PresetRule(heat_temperature=20.0, cool_temperature=22.0))
    assert zone_setpoints(away, away.settings, warmer, None).values == (20.0, 22.0)
