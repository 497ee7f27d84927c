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
from minisplit.drivers.profile import (
    DeviceProfile,
    ProfileError,
    Table,
    load_profile,
    load_profile_file,
)
from minisplit.hil.server import start_tcp_server, tcp_address
from tests.drivers.conftest import running, tcp_bus
from tests.fixtures.bare_unit import BareHead

ROOT = Path(__file__).resolve().parents[2]
HEAD_ID = 11


# The setpoint the unit really runs on, which its command register does not follow (a remote's
# change shows here only): DIII-net style.
STATE = """
[registers.setpoint_state]
address = 30
table = "input"
type = "s16"
scale = 0.1
"""


def copying_text(registers: str = "", device: str = "copy_before_write = true") -> str:
    text = (ROOT / "config" / "profiles" / "reference-head.toml").read_text(encoding="utf-8")
    return text.replace("[device]\n", f"[device]\n{device}\n", 1) + registers


@pytest.fixture
def copying(tmp_path: Path) -> DeviceProfile:
    path = tmp_path / "copying-head.toml"
    path.write_text(copying_text())
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


async def test_copy_from_carries_the_units_state_not_its_stale_command(tmp_path: Path) -> None:
    path = tmp_path / "state-head.toml"
    text = copying_text(STATE).replace(
        "[registers.display_setpoint]\n",
        '[registers.display_setpoint]\ncopy_from = "setpoint_state"\n',
    )
    path.write_text(text)
    profile = load_profile_file(path)
    assert profile["display_setpoint"].copy_from == "setpoint_state"
    async with served(profile) as (unit, head, _):
        await head.poll()  # reads back the command register: 19.0
        unit.overrides["setpoint_state"] = 24.0  # the remote set 24 °C; the command shows 19
        await head.write_values({"power": "on"})
        assert unit.holding("display_setpoint") == 24.0
        assert unit.holding("fan") == 3 and unit.holding("power") == 1


@pytest.mark.parametrize(
    ("device", "copy_from", "expected"),
    [
        ("", "setpoint_state", "copy_from needs [device] copy_before_write = true"),
        ("copy_before_write = true", "nowhere", "register 'nowhere' is not in [registers]"),
        (
            "copy_before_write = true",
            "serial_number",
            "register 'serial_number' (input u32) cannot carry the words of a holding s16",
        ),
    ],
)
def test_a_bad_copy_source_is_refused_naming_the_key(
    tmp_path: Path, device: str, copy_from: str, expected: str
) -> None:
    path = tmp_path / "bad.toml"
    text = copying_text(STATE, device).replace(
        "[registers.display_setpoint]\n",
        f'[registers.display_setpoint]\ncopy_from = "{copy_from}"\n',
    )
    path.write_text(text)
    with pytest.raises(ProfileError) as caught:
        load_profile_file(path)
    assert "registers.display_setpoint.copy_from: " + expected in str(caught.value)
    assert f"{path}: line " in str(caught.value)


def test_copy_from_on_a_read_only_register_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        copying_text(STATE).replace(
            "[registers.coil_temperature]\n",
            '[registers.coil_temperature]\ncopy_from = "setpoint_state"\n',
        )
    )
    with pytest.raises(ProfileError, match="only meaningful on a writable register"):
        load_profile_file(path)
