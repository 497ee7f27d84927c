"""A unit link's writes: none to a unit that missed its last poll (pure logic around the driver,
which is stood in for)."""

from __future__ import annotations

from typing import Any

from minisplit.controller.service.probing import RefusedUnits
from minisplit.controller.service.unit_link import UnitLink
from minisplit.drivers.bus import Backoff, DeviceTimeout


class Driver:
    """Records what the link asks of it."""

    def __init__(self) -> None:
        self.applied: list[str] = []
        self.beats = 0

    async def apply(self, command: str) -> None:
        self.applied.append(command)

    async def heartbeat(self) -> int:
        self.beats += 1
        return self.beats


def link(driver: Driver) -> UnitLink[Any, Any, Any]:
    unit: UnitLink[Any, Any, Any] = UnitLink(
        "kitchen",
        driver,  # type: ignore[arg-type]
        RefusedUnits(Backoff(10.0, 10.0)),
        failed_polls_tolerated=3,
        heartbeat_timeout_s=60,
    )
    unit.info = object()  # probed
    return unit


async def test_a_unit_that_missed_its_last_poll_gets_no_writes_until_it_answers() -> None:
    driver = Driver()
    unit = link(driver)
    unit.polled("status")
    await unit.write("heat")
    await unit.heartbeat()
    unit.polled(DeviceTimeout("unit 12: no answer"))
    assert unit.available  # held over: the link tolerates three lost polls
    await unit.write("cool")
    await unit.heartbeat()
    assert (driver.applied, driver.beats) == (["heat"], 1)
    unit.polled("status")  # it answers again: what was held back goes out
    await unit.write("cool")
    await unit.heartbeat()
    assert (driver.applied, driver.beats) == (["heat", "cool"], 2)
