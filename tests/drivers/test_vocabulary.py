"""The shared vocabulary and the register maps speak the same words."""

from __future__ import annotations

from enum import StrEnum

import pytest

from minisplit.drivers.profile import load_profile
from minisplit.drivers.vocabulary import FanSpeed, HeadMode, OduMode, VanePosition

# Each enum register of the reference profiles and the vocabulary that names its values.
REGISTERS: list[tuple[str, str, type[StrEnum]]] = [
    ("reference-odu", "mode", OduMode),
    ("reference-head", "mode", HeadMode),
    ("reference-head", "remote_mode", HeadMode),
    ("reference-head", "fan", FanSpeed),
    ("reference-head", "remote_fan", FanSpeed),
    ("reference-head", "vane_vertical", VanePosition),
    ("reference-head", "vane_horizontal", VanePosition),
]


@pytest.mark.parametrize(("profile", "register", "vocabulary"), REGISTERS)
def test_the_reference_units_words_are_the_vocabularys(
    profile: str, register: str, vocabulary: type[StrEnum]
) -> None:
    """A word the vocabulary lacks could be read but not decoded (the drivers refuse such a
    profile: tests/drivers/test_capabilities.py)."""
    assert set(load_profile(profile)[register].enum.values()) <= set(vocabulary)


def test_the_reference_head_has_four_modes_and_six_fan_steps() -> None:
    """The reference head has no `auto` mode and no medium_low or medium_high: the superset's
    other words are for other units."""
    head = load_profile("reference-head")
    assert list(head["mode"].enum.values()) == ["heat", "cool", "dry", "fan_only"]
    assert list(head["fan"].enum.values()) == ["auto", "quiet", "low", "medium", "high", "turbo"]


def test_fan_steps_run_slowest_to_fastest_after_auto() -> None:
    assert [fan.value for fan in FanSpeed] == [
        "auto",
        "quiet",
        "low",
        "medium_low",
        "medium",
        "medium_high",
        "high",
        "turbo",
    ]
