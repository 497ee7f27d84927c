"""`[device] copy_before_write` (issue 13; DIII-net-style adapters take a unit's command block
whole): over a real Modbus TCP link, a write of one lever carries every writable register, the
others as the unit last read back them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from minisplit.drivers.bus import BusScheduler
from minisplit.drivers.head import HeadDriver
from minisplit.drivers.profile import DeviceProfile, Table, load_profile, load_profile_file
from minisplit.hil.server import start_tcp_server, tcp_address
from tests.drivers.conftest import running, tcp_bus
from tests.fixtures.bare_unit import BareHead

ROOT = Path(__file__).resolve().parents[2]
HEAD_ID = 11


@pytest.fixture
def copying(tmp_path: Path) -> DeviceProfile:
    text = (ROOT / "config" / "profiles" / "reference-head.toml").read_text(encoding="utf-8")
    path = tmp_path / "copying-head.toml"
    path.write_text(text.replace("[device]\n", "[device]\ncopy_before_write = true\n", 1))
    return load_profile_file(path)


@contextlib.asynccontextmanager
async def served(
    profile: DeviceProfile,
) -> AsyncIterator[tuple[BareHead, HeadDriver, BusScheduler]]:
    unit = BareHead(profile)
    unit.write("fan", 3)  # set at the unit (its remote, its own app): the driver has not seen it
    unit.write("display_setpoint", 19.0)
    unit.written.clear()
    server = await start_tcp_server({HEAD_ID: unit}, "127.0.0.1", 0, lambda: None)
    try:
        async with running(BusScheduler("t", tcp_bus(tcp_address(server)[1]))) as bus:
            yield unit, HeadDriver(bus, HEAD_ID, profile), bus
    finally:
        await server.shutdown()


WRITABLE = {
    spec.name for spec in load_profile("reference-head").table(Table.HOLDING) if spec.writable
}


async def test_a_write_of_one_lever_carries_the_others_as_read_back(copying: DeviceProfile) -> None:
    async with served(copying) as (unit, head, bus):
        await head.write_values({"power": "on"})
        # Nothing read back yet: the driver reads the rest first, then writes it all at once.
        assert bus.stats(HEAD_ID).requests == 2
        (write,) = unit.written
        assert write.keys() == WRITABLE
        assert write["power"] == (0, 1)
        assert unit.holding("fan") == 3 and unit.holding("display_setpoint") == 19.0
        await head.write_values({"power": "on"})  # unchanged: nothing is sent
        assert len(unit.written) == 1
        await head.write_values({"display_setpoint": 22.5})  # the read-back is known: no read
        assert bus.stats(HEAD_ID).requests == 3
        assert unit.written[-1].keys() == WRITABLE
        assert unit.holding("fan") == 3 and unit.holding("power") == 1
        assert unit.holding("display_setpoint") == 22.5


async def test_the_copy_follows_the_latest_poll(copying: DeviceProfile) -> None:
    async with served(copying) as (unit, head, _):
        await head.poll()
        unit.write("fan", 4)  # changed at the unit after the driver's last read-back …
        await head.poll()  # … and seen by the next poll
        await head.write_values({"power": "on"})
        assert unit.holding("fan") == 4


async def test_without_it_a_write_carries_only_what_changed() -> None:
    async with served(load_profile("reference-head")) as (unit, head, bus):
        await head.write_values({"power": "on"})
        assert unit.written == [{"power": (0, 1)}]
        assert bus.stats(HEAD_ID).requests == 1
