"""The soak (tests/soak.py) on config/demo-two-systems.toml: a system of reference units
driven directly and a system of Intesis heads driven by their setpoints, side by side for a
simulated hour of random faults against the real controller process. The long run is
`python -m tests.soak --config demo-two-systems --hours 24` (or `--config demo-intesis`,
`--config demo-gateway`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from minisplit.testing.broker import Mosquitto
from tests.integration.test_soak import BUS_TIMEOUT_S, SPEED
from tests.soak import RECOVERY_CYCLES, Soak

pytestmark = pytest.mark.integration

HOURS = 1.0
WALL_LIMIT_S = 90.0


async def test_an_hour_of_faults_on_a_direct_and_a_setpoint_system(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    soak = Soak(
        tmp_path,
        mosquitto,
        hours=HOURS,
        speed=SPEED,
        seed=5,
        bus_timeout_s=BUS_TIMEOUT_S,
        demo="demo-two-systems",
    )
    async with asyncio.timeout(WALL_LIMIT_S):
        report = await soak.run()
    print(report.summary())  # shown with -s, and on failure

    assert report.violations() == [], report.summary()
    assert sum(report.faults.values()) >= 0.7 * HOURS * 60
    assert report.interlocks is not None and report.interlocks.commands > 0
    heads = report.setpoint_heads
    assert heads is not None and heads.setpoint_changes > 0, report.summary()
    assert report.recoveries is not None and len(report.recoveries.delays) >= 10
    assert max(cycles for _, cycles, _ in report.recoveries.delays) <= RECOVERY_CYCLES
    # Every setpoint head was written to and polled under faults of its own.
    faulted = {i.fault.target for i in soak.plan.injected}
    assert soak.setpoint_zones <= faulted
