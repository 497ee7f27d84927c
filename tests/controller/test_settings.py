"""The homeowner's settings: their vocabulary against the units'."""

from __future__ import annotations

import pytest

from minisplit.controller.core.settings import ZoneMode, ZoneSettings, zone_mode_of, zone_modes
from minisplit.controller.core.transitions import SetSchedule, apply_zone
from minisplit.drivers.vocabulary import FanSpeed, HeadMode, VanePosition


def test_each_head_mode_is_a_zone_mode_by_the_same_word_and_auto_is_heat_cool() -> None:
    own = [mode for mode in HeadMode if mode not in (HeadMode.AUTO, HeadMode.HEAT_AUX)]
    assert {zone_mode_of(mode).value for mode in own} == {mode.value for mode in own}
    assert zone_mode_of(HeadMode.AUTO) is ZoneMode.HEAT_COOL
    assert zone_mode_of(HeadMode.HEAT_AUX) is ZoneMode.HEAT
    assert set(ZoneMode) - set(HeadMode) == {ZoneMode.OFF, ZoneMode.HEAT_COOL}


def test_a_zone_offers_the_modes_its_head_has() -> None:
    assert zone_modes((HeadMode.HEAT, HeadMode.COOL)) == (
        ZoneMode.OFF,
        ZoneMode.HEAT,
        ZoneMode.COOL,
        ZoneMode.HEAT_COOL,
    )
    assert zone_modes((HeadMode.AUTO, HeadMode.FAN_ONLY)) == (
        ZoneMode.OFF,
        ZoneMode.HEAT_COOL,
        ZoneMode.FAN_ONLY,
    )
    assert zone_modes((HeadMode.HEAT,)) == (ZoneMode.OFF, ZoneMode.HEAT)
    assert zone_modes((HeadMode.HEAT_AUX, HeadMode.COOL)) == (
        ZoneMode.OFF,
        ZoneMode.HEAT,
        ZoneMode.COOL,
    )
    assert zone_modes(()) == tuple(ZoneMode)  # no mode lever: the head is never told one


def test_the_fan_and_swing_settings_are_the_heads_own() -> None:
    assert FanSpeed is FanSpeed and VanePosition is VanePosition


def test_a_zones_schedule_switch_is_kept_and_an_older_record_follows_its_program() -> None:
    off = apply_zone(ZoneSettings(), SetSchedule(False))
    assert off.schedule is False and apply_zone(off, SetSchedule(True)).schedule is True
    assert ZoneSettings.from_dict(off.to_dict()) == off
    older = ZoneSettings().to_dict()
    del older["schedule"]
    assert ZoneSettings.from_dict(older).schedule is True
    with pytest.raises(ValueError, match="not true or false"):
        ZoneSettings.from_dict({**older, "schedule": "yes"})
