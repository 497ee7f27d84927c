"""The real supervisor drives a head behind a gateway (issue 13): heads of one unit id at
distinct indices are polled and commanded each on its own, over Modbus TCP and over RTU on a pty
pair, beside a unit with an address of its own."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from minisplit.controller.config import LoadedConfig
from minisplit.controller.core.settings import ZoneMode
from minisplit.controller.service.supervisor import Supervisor
from minisplit.hil.broker import free_port
from minisplit.hil.simulator import Simulator
from minisplit.testing.harness import put_settings, running, wait_until
from tests.fixtures.gateway import INDICES, gateway_house, write_gateway_profile

SPEED = 60.0


async def heat_the_bedroom(supervisor: Supervisor, simulator: Simulator) -> None:
    """The bedroom (index 3 behind the gateway) heats; its neighbours behind the same unit id
    stay off, and every head stays available."""
    bedroom = supervisor.settings.zones["bedroom"]
    put_settings(
        supervisor, "bedroom", replace(bedroom, mode=ZoneMode.HEAT, target_temperature=23.0)
    )
    start = simulator.room_temperature("bedroom")
    await wait_until(
        lambda: (simulator.head_register("bedroom", "capacity_request") or 0) > 0,
        30,
        "a capacity request at the bedroom's head",
    )
    assert simulator.head_register("bedroom", "power") == 1
    await wait_until(
        lambda: simulator.room_temperature("bedroom") > start + 1.0, 40, "the bedroom to warm"
    )
    for zone in ("living", "office", "kitchen"):
        assert simulator.head_register(zone, "capacity_request") == 0, zone
        assert simulator.head_register(zone, "power") == 0, zone
    assert all(head.available for head in supervisor.heads.values())
    statuses = [supervisor.heads[zone].status for zone in INDICES]
    air = {status.return_air_temperature for status in statuses if status is not None}
    assert len(air) == len(INDICES)  # each head read at its own addresses


def config(tmp_path: Path, bus: str) -> LoadedConfig:
    return gateway_house(write_gateway_profile(tmp_path), bus, tmp_path / "state.json")


@pytest.mark.integration
async def test_the_supervisor_heats_a_room_behind_a_gateway_over_tcp(tmp_path: Path) -> None:
    port = free_port()
    loaded = config(tmp_path, f'type = "tcp"\nhost = "127.0.0.1"\nport = {port}')
    simulator = Simulator(loaded, speed=SPEED)
    async with (
        simulator.running(tcp=("127.0.0.1", port)),
        running(Supervisor(loaded, time_scale=SPEED)) as supervisor,
    ):
        await heat_the_bedroom(supervisor, simulator)


@pytest.mark.integration
async def test_the_supervisor_heats_a_room_behind_a_gateway_over_rtu(
    tmp_path: Path, pty_pair: tuple[str, str]
) -> None:
    controller_end, simulator_end = pty_pair
    bus = f'type = "rtu"\ndevice = "{controller_end}"\nparity = "N"\ntimeout_s = 0.5'
    loaded = config(tmp_path, bus)
    simulator = Simulator(loaded, speed=SPEED)
    async with (
        simulator.running(serial=simulator_end, baudrate=19200, parity="N"),
        running(Supervisor(loaded, time_scale=SPEED)) as supervisor,
    ):
        await heat_the_bedroom(supervisor, simulator)
