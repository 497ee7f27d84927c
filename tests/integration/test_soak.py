"""The soak (tests/soak.py) at a size that fits the suite: two simulated hours of random faults,
about one a simulated minute, against the real controller process. The long run is
`python -m tests.soak --hours 24`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from minisplit.testing.broker import Mosquitto
from tests.soak import RECOVERY_CYCLES, Soak

pytestmark = pytest.mark.integration

HOURS = 2.0
SPEED = 180.0
# At 180x one wall second is three simulated minutes: a short bus timeout keeps a silent unit
# from costing the others more simulated time than a real line's timeout would.
BUS_TIMEOUT_S = 0.05
WALL_LIMIT_S = 120.0


async def test_two_simulated_hours_of_random_faults(tmp_path: Path, mosquitto: Mosquitto) -> None:
    soak = Soak(tmp_path, mosquitto, hours=HOURS, speed=SPEED, seed=5, bus_timeout_s=BUS_TIMEOUT_S)
    async with asyncio.timeout(WALL_LIMIT_S):
        report = await soak.run()
    print(report.summary())  # shown with -s, and on failure

    assert report.violations() == [], report.summary()
    assert report.crash is None
    assert sum(report.faults.values()) >= 0.7 * HOURS * 60  # about one a simulated minute
    assert len(report.faults) >= 9  # every kind a TCP line can carry, or nearly
    assert report.interlocks is not None and report.interlocks.commands > 0
    assert report.recoveries is not None and len(report.recoveries.delays) >= 20
    assert max(cycles for _, cycles, _ in report.recoveries.delays) <= RECOVERY_CYCLES
    assert report.rss_kib[0][1] > 0
