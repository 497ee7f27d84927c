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
def test_the_reference_units_know_every_word_and_no_other(
    profile: str, register: str, vocabulary: type[StrEnum]
) -> None:
    """A word the units lack could be commanded but not written; one the vocabulary lacks could
    be read but not decoded."""
    assert sorted(load_profile(profile)[register].enum.values()) == sorted(vocabulary)
