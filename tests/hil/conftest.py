"""Fixtures for the simulator tests."""

from __future__ import annotations

import pytest

from minisplit.hil.simulator import Simulator
from tests.hil.house import house


@pytest.fixture
def sim() -> Simulator:
    """A fresh simulator of the test house (not running: drive it with `step`)."""
    return Simulator(house())
