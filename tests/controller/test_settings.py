"""The homeowner's settings: their vocabulary against the units'."""

from __future__ import annotations

from minisplit.controller.core.settings import ZoneMode
from minisplit.drivers.vocabulary import FanSpeed, HeadMode, VanePosition


def test_each_head_mode_is_a_zone_mode_by_the_same_word() -> None:
    assert {ZoneMode(mode).value for mode in HeadMode} == {mode.value for mode in HeadMode}
    assert set(ZoneMode) - set(HeadMode) == {ZoneMode.OFF, ZoneMode.HEAT_COOL}


def test_the_fan_and_swing_settings_are_the_heads_own() -> None:
    assert FanSpeed is FanSpeed and VanePosition is VanePosition
