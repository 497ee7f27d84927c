"""`--time-scale` with the real simulator at the same speed: a unit that does not answer must not
cost the others their heartbeat. Its re-probes time out; were those timeouts wall seconds, each
would hold the line for 60 simulated seconds at 60x, and the heartbeat window of every other
unit (60 simulated seconds) would lapse about once a wall second."""

from __future__ import annotations

import asyncio
import logging

import pytest

from minisplit.controller.service.state_report import ODU_UNIT
from minisplit.controller.service.supervisor import Supervisor
from minisplit.testing.harness import wait_until

SPEED = 60.0
ABSENT = "office"
WATCH_CYCLES = 60  # 10 simulated minutes of the default 10 s period: ten heartbeat windows
LAPSED = "reports its heartbeat lapsed"


def autonomous(supervisor: Supervisor) -> set[str]:
    """The units that report their heartbeat lapsed."""
    return {link.name for link in supervisor.links if link.autonomous}


@pytest.mark.integration
async def test_an_absent_unit_does_not_lapse_the_other_units_heartbeats_at_60x(
    tmp_path, hil_factory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="minisplit.controller")
    never_answers = tmp_path / "faults.toml"
    never_answers.write_text(f'[[faults]]\nkind = "vanish"\ntarget = "{ABSENT}"\n')
    async with (
        asyncio.timeout(120),
        hil_factory(config="demo", faults=never_answers, speed=SPEED) as rig,
    ):
        supervisor = rig.supervisor
        others = [ODU_UNIT, *(zone.id for zone in rig.loaded.config.zones if zone.id != ABSENT)]
        # At start every unit runs on its own until the first heartbeat reaches it.
        await wait_until(
            lambda: supervisor.odu.available and not autonomous(supervisor),
            30,
            "every present unit following the controller",
        )
        settled, first = len(caplog.records), supervisor.cycles
        lapsed: set[str] = set()
        while supervisor.cycles < first + WATCH_CYCLES:
            await supervisor.cycle_done.wait()
            lapsed |= autonomous(supervisor)
            assert supervisor.odu.available
            assert all(supervisor.heads[z].available for z in others if z != ODU_UNIT)
        assert not supervisor.heads[ABSENT].available
    assert not lapsed & set(others), f"heartbeats lapsed at {SPEED:g}x: {sorted(lapsed)}"
    assert not [r for r in caplog.records[settled:] if LAPSED in r.getMessage()]
