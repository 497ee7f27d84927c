"""`mbpoll` reads the simulator at the manual's addresses (issue 13's goal): for each shipped head
profile, the real `mbpoll` CLI (Debian's package) reads registers numbered as the vendor's
manual numbers them, and what it prints is what the simulator holds in the register the profile
names there. A register the profile put one off, or a scale or field read wrongly, shows."""

from __future__ import annotations

import asyncio
import re
import shutil

import pytest

from minisplit.controller.config import parse_config
from minisplit.drivers.profile import shipped_profile_names
from minisplit.drivers.registers import decode
from minisplit.hil.broker import free_port
from minisplit.hil.simulator import Simulator
from tests.fixtures.systems import drivable_head_profiles, system_config

# Per profile: how its manual numbers registers (1: from 1, as mbpoll's default reference; 0:
# protocol addresses), and (mbpoll table, the manual's number, the profile's register there).
# Table 4: holding registers, 3: input registers. The zone `living` of `system_config`: a
# gateway's first index.
MANUAL: dict[str, tuple[int, list[tuple[int, int, str]]]] = {
    # docs/reference-unit.md: 0-based protocol addresses; holding 106, input 11.
    "reference-head": (0, [(4, 106, "display_setpoint"), (3, 11, "return_air_temperature")]),
    # The Intesis manuals print each register's PLC address, one above its protocol address.
    "intesis-mitsubishi": (1, [(4, 5, "display_setpoint"), (4, 6, "return_air_temperature")]),
    "intesis-daikin": (1, [(4, 5, "display_setpoint"), (4, 50, "device_id")]),
    # CoolMasterNet PRM §4.5.3: VA 1's objects from VA·16 + 1 = 17: setpoint +2, room +6.
    "coolmasternet": (1, [(4, 19, "display_setpoint"), (4, 23, "return_air_temperature")]),
    # DIII-net guide: holding 42001 + 3n (fan bits 12-14 of 42001, setpoint 42003), input
    # 32001 + 6n (room temperature 32005), the 3/4 prefix naming the table.
    "daikin-diii-net": (
        1,
        [(4, 2001, "fan"), (4, 2003, "display_setpoint"), (3, 2005, "return_air_temperature")],
    ),
}
PRINTED = re.compile(r"^\[(\d+)\]:\s+(-?\d+)", re.MULTILINE)


def test_every_shipped_head_profile_has_its_manuals_addresses_here() -> None:
    assert sorted(MANUAL) == sorted(drivable_head_profiles())
    assert set(MANUAL) <= set(shipped_profile_names())


async def mbpoll(port: int, unit_id: int, table: int, reference: int, base: int) -> int:
    """The raw word `mbpoll` prints for one register."""
    exe = shutil.which("mbpoll")
    assert exe is not None, "mbpoll is not installed (apt-get install mbpoll; make system-deps)"
    args = ["-m", "tcp", "-p", str(port), "-a", str(unit_id), "-t", str(table)]
    args += ["-r", str(reference), "-c", "1", "-1", "-o", "2"] + (["-0"] if base == 0 else [])
    process = await asyncio.create_subprocess_exec(
        exe, *args, "127.0.0.1", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    assert process.returncode == 0, (out + err).decode()
    (printed,) = PRINTED.findall(out.decode())
    assert int(printed[0]) == reference, out.decode()
    return int(printed[1]) & 0xFFFF


@pytest.mark.integration
@pytest.mark.parametrize("profile", sorted(MANUAL))
async def test_mbpoll_reads_the_simulator_at_the_manuals_addresses(profile: str) -> None:
    port = free_port()
    bus = f'type = "tcp"\nhost = "127.0.0.1"\nport = {port}\n'
    loaded = parse_config(system_config(profile, bus), f"{profile}.toml")
    simulator = Simulator(loaded)
    zone = loaded.config.zone("living")
    head = simulator.head("living")
    spec = loaded.head_profile(zone)
    head.write("display_setpoint", 23.5)  # a value no register starts with
    if "fan" in spec.registers:
        head.write("fan", max(spec["fan"].enum))
    base, registers = MANUAL[profile]
    async with simulator.running(tcp=("127.0.0.1", port)):
        for table, reference, name in registers:
            word = await mbpoll(port, zone.unit_id, table, reference, base)
            held = simulator.head_register("living", name)
            assert decode(spec[name], [word]) == held, (profile, reference, name)
            assert held not in (None, 0), (profile, name)  # a value that tells
