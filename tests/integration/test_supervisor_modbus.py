"""The real supervisor against the real simulator, over Modbus TCP and over RTU on a pty pair."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from minisplit.controller.core.settings import ZoneMode
from minisplit.controller.service.supervisor import Supervisor
from minisplit.controller.service.unit_link import HeadLink
from minisplit.hil.broker import free_port
from minisplit.hil.faults import Fault, FaultKind
from minisplit.hil.simulator import Simulator
from minisplit.testing.harness import put_settings, rtu_config, running, tcp_config, wait_until

SPEED = 60.0  # one wall second is one simulated minute


class _WatchedZone(HeadLink):
    """A zone that notes (failed polls, available, every other zone available) at each change
    of the two, and clears the simulator's faults the moment it has lost `clear_after` polls in
    a row: the test sees every state, not only those a waiter happens to catch between polls."""

    simulator: Simulator
    others: list[HeadLink]
    clear_after: int
    seen: list[tuple[int, bool, bool]]

    def __setattr__(self, name: str, value: object) -> None:
        super().__setattr__(name, value)
        if name in ("failed_polls", "available") and "seen" in self.__dict__:
            others = all(z.available for z in self.others)
            self.seen.append((self.failed_polls, self.available, others))
            if name == "failed_polls" and value == self.clear_after:
                self.simulator.faults.clear()


def watch(zone: HeadLink, supervisor: Supervisor, simulator: Simulator) -> _WatchedZone:
    zone.__class__ = _WatchedZone
    assert isinstance(zone, _WatchedZone)
    zone.simulator = simulator
    zone.others = [z for z in supervisor.heads.values() if z is not zone]
    zone.clear_after = 0
    zone.seen = []
    return zone


async def heat_living_room(supervisor: Supervisor, simulator: Simulator) -> None:
    """A cold room in heat mode: the ODU starts and the room warms."""
    living = supervisor.settings.zones["living"]
    put_settings(supervisor, "living", replace(living, mode=ZoneMode.HEAT, target_temperature=22.0))
    start_temperature = simulator.room_temperature("living")
    assert start_temperature < 20.0
    await wait_until(lambda: supervisor.cycles >= 2, 20, "the first control cycles")
    await wait_until(
        lambda: (simulator.odu_register("frequency_setpoint") or 0) > 0, 20, "a frequency setpoint"
    )
    assert simulator.odu_register("mode") == 1  # heat
    assert simulator.head_register("living", "power") == 1
    assert (simulator.head_register("living", "capacity_request") or 0) > 0
    await wait_until(
        lambda: simulator.room_temperature("living") > start_temperature + 1.0,
        30,
        "the living room to warm by 1 K",
    )
    # Rooms left off get no refrigerant.
    assert simulator.head_register("kitchen", "capacity_request") == 0


@pytest.mark.integration
async def test_supervisor_heats_a_room_over_modbus_tcp(hil_factory):
    async with hil_factory(config="demo", speed=SPEED) as rig:
        supervisor, simulator = rig.supervisor, rig.sim
        await heat_living_room(supervisor, simulator)
        # The controller keeps the heartbeat alive: no unit falls back to autonomy.
        status = simulator.odu_register("status")
        assert isinstance(status, int) and status & 0x40 == 0
        assert supervisor.odu.available
        assert all(z.available for z in supervisor.heads.values())


@pytest.mark.integration
async def test_supervisor_heats_a_room_over_modbus_rtu(tmp_path, pty_pair):
    controller_end, simulator_end = pty_pair
    loaded = rtu_config(controller_end, tmp_path / "state.json")
    simulator = Simulator(loaded, speed=SPEED)
    async with (
        simulator.running(serial=simulator_end, baudrate=19200, parity="N"),
        running(Supervisor(loaded, time_scale=SPEED)) as supervisor,
    ):
        await heat_living_room(supervisor, simulator)


Outage = Callable[[int], Awaitable[list[tuple[int, bool, bool]]]]


@contextlib.asynccontextmanager
async def kitchen_outages(tmp_path: Path, tolerated: int | None = None) -> AsyncIterator[Outage]:
    """The demo house running; yields `outage`: the kitchen head vanishes for exactly so many
    polls, and what the zone went through comes back. ``tolerated``: the bus's lost polls
    tolerated (default: the config's)."""
    port = free_port()
    loaded = tcp_config(port, tmp_path / "state.json")
    if tolerated is not None:
        bus = loaded.config.buses["sim"].model_copy(update={"failed_polls_tolerated": tolerated})
        loaded.config = loaded.config.model_copy(update={"buses": {"sim": bus}})
    simulator = Simulator(loaded, speed=SPEED)
    async with (
        asyncio.timeout(60),
        simulator.running(tcp=("127.0.0.1", port)),
        running(Supervisor(loaded, time_scale=SPEED)) as supervisor,
    ):
        kitchen = supervisor.heads["kitchen"]
        await wait_until(lambda: kitchen.available, 20, "the kitchen head")
        watched = watch(kitchen, supervisor, simulator)

        async def outage(lost_polls: int) -> list[tuple[int, bool, bool]]:
            watched.seen, watched.clear_after = [], lost_polls
            simulator.faults.add(Fault(FaultKind.VANISH, "kitchen"))
            await wait_until(
                lambda: not simulator.faults.active and watched.failed_polls == 0,
                20,
                "the head answering again",
            )
            await wait_until(lambda: watched.available, 20, "the kitchen head back")
            return watched.seen

        yield outage


@pytest.mark.integration
async def test_one_lost_poll_is_held_over_and_the_second_makes_a_zone_unavailable(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="minisplit.controller")
    async with kitchen_outages(tmp_path) as outage:
        seen = await outage(2)
        # The first lost poll is held over (the last status stands), the second makes the zone
        # unavailable while every other zone stays available; the next answer brings it back.
        assert seen[0] == (1, True, True)
        assert all(available for polls, available, _ in seen if polls == 1)
        assert (2, False, True) in seen and seen[-1][:2] == (0, True)
        seen = await outage(1)
        assert seen[0] == (1, True, True) and all(available for _, available, _ in seen)
    # (At 60x a wall-second timeout lapses heartbeats: those lines are not about availability.)
    changes = [
        message
        for message in (r.getMessage() for r in caplog.records)
        if message.startswith("zone kitchen head") and "heartbeat" not in message
    ]
    # Found at start is no news (INFO "found"); one outage is logged once each way, and the
    # single lost poll was none.
    assert changes == ["zone kitchen head does not answer", "zone kitchen head answers again"]


@pytest.mark.integration
async def test_a_bus_that_tolerates_no_lost_poll_makes_the_zone_unavailable_at_the_first(tmp_path):
    async with kitchen_outages(tmp_path, tolerated=0) as outage:
        seen = await outage(1)
    assert (1, False, True) in seen  # unavailable at the first lost poll, the others not


@pytest.mark.integration
async def test_a_bus_that_tolerates_three_lost_polls_holds_three_over_and_not_a_fourth(tmp_path):
    async with kitchen_outages(tmp_path, tolerated=3) as outage:
        seen = await outage(3)
        assert (3, True, True) in seen and all(available for _, available, _ in seen)
        seen = await outage(4)
    assert all(available for polls, available, _ in seen if 0 < polls <= 3)
    assert (4, False, True) in seen and seen[-1][:2] == (0, True)


@pytest.mark.integration
async def test_a_normal_start_warns_of_nothing_and_a_return_warns(hil_factory, caplog):
    """Every start logged "outdoor unit answers again" and "zone … head answers" as WARNING,
    though nothing had been lost: the first answer is no return."""
    caplog.set_level(logging.INFO, logger="minisplit.controller")
    async with asyncio.timeout(60), hil_factory(config="demo", speed=10.0) as rig:
        supervisor, simulator = rig.supervisor, rig.sim
        await wait_until(
            lambda: (
                supervisor.odu.available and all(z.available for z in supervisor.heads.values())
            ),
            20,
            "every unit",
        )
        cycles = supervisor.cycles
        await wait_until(lambda: supervisor.cycles >= cycles + 2, 20, "two more cycles")
        records = [r for r in caplog.records if r.name == "minisplit.controller.service.unit_link"]
        assert [r.getMessage() for r in records if r.levelno >= logging.WARNING] == []
        found = {r.getMessage().partition(" found: ")[0] for r in records if " found: " in r.msg}
        assert found == {"outdoor unit", *(f"zone {z} head" for z in supervisor.heads)}
        # A real outage of the outdoor unit, and its return, still warn.
        caplog.clear()
        simulator.faults.add(Fault(FaultKind.VANISH, "odu"))
        await wait_until(lambda: not supervisor.odu.available, 20, "the outdoor unit lost")
        simulator.faults.clear()
        await wait_until(lambda: supervisor.odu.available, 20, "the outdoor unit back")
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.name == "minisplit.controller.service.unit_link" and r.levelno >= logging.WARNING
    ]
    assert warnings == ["outdoor unit does not answer", "outdoor unit answers again"]
