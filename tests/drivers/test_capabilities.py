"""What a profile gives the product (drivers/capabilities.py): the levers and readings derived
from its registers' roles, the profiles refused for a role they declare in a way nothing can
use, and a head with few registers served by the simulator over Modbus TCP and driven by the
real driver (docs/profiles.md, 'Roles')."""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from minisplit.controller.config import ConfigError, parse_config
from minisplit.drivers.bus import BusScheduler
from minisplit.drivers.capabilities import HEAD_ROLES, ODU_ROLES, capabilities
from minisplit.drivers.head import HeadDriver
from minisplit.drivers.profile import ProfileError, load_profile
from minisplit.drivers.records import HeadCommand
from minisplit.drivers.vocabulary import FanSpeed, HeadMode, VanePosition
from minisplit.hil.simulator import Simulator
from tests.drivers.conftest import running, tcp_bus
from tests.fixtures.profiles import (
    INTERFACE_HEAD,
    MINIMAL_HEAD,
    profile,
)

# ---- capabilities from the profile alone ----------------------------------------------------


def test_the_reference_head_has_every_lever_of_the_direct_control() -> None:
    can = capabilities(load_profile("reference-head"))
    assert {"power", "mode", "fan", "capacity_request", "display_setpoint"} <= can.levers
    assert "external_temperature" not in can.levers and not can.has("thermo_on")
    assert can.modes == (HeadMode.HEAT, HeadMode.COOL, HeadMode.DRY, HeadMode.FAN_ONLY)
    assert can.fans == (
        FanSpeed.AUTO,
        FanSpeed.QUIET,
        FanSpeed.LOW,
        FanSpeed.MEDIUM,
        FanSpeed.HIGH,
        FanSpeed.TURBO,
    )
    assert can.vanes("vane_vertical")[-1] is VanePosition.SWING
    # Flags come from the status register's bits; the identity's from the capabilities bits.
    assert {"fan_running", "cold_draft_prevention", "humidity_sensor"} <= can.readings
    assert can.unused == ()  # device_kind is the identity check's


def test_the_reference_outdoor_unit_is_directly_controlled() -> None:
    can = capabilities(load_profile("reference-odu"))
    assert {"frequency_setpoint", "mode", "demand_limit", "quiet_mode"} <= can.levers
    assert {"compressor_frequency", "outdoor_temperature", "defrost", "energy"} <= can.readings


def test_a_minimal_head_has_power_mode_with_auto_and_a_setpoint() -> None:
    can = capabilities(profile(MINIMAL_HEAD))
    assert can.levers == {"power", "mode", "display_setpoint"}
    assert can.readings == {"return_air_temperature"}
    assert can.modes == (
        HeadMode.AUTO,
        HeadMode.HEAT,
        HeadMode.DRY,
        HeadMode.FAN_ONLY,
        HeadMode.COOL,
    )
    assert can.fans == () and can.vanes("vane_vertical") == ()
    assert can.unused == ("filter_hours",)  # allowed, and said by check-config
    assert can.summary() == (
        "levers: power, mode (auto/heat/dry/fan_only/cool), display_setpoint; "
        "readings: return_air_temperature"
    )


@pytest.mark.parametrize(
    ("enum", "fans"),
    [
        ('{ 1 = "low", 2 = "medium", 3 = "high" }', ["low", "medium", "high"]),
        (
            '{ 0 = "auto", 1 = "low", 2 = "medium_low", 3 = "medium", 4 = "medium_high", '
            '5 = "high" }',
            ["auto", "low", "medium_low", "medium", "medium_high", "high"],
        ),
        (
            '{ 7 = "quiet", 9 = "low", 11 = "high", 12 = "turbo" }',
            ["quiet", "low", "high", "turbo"],
        ),
    ],
)
def test_a_fan_enum_maps_any_codes_to_any_steps(enum: str, fans: list[str]) -> None:
    """3-, 4- and 5-step units: the head's capability lists its subset in the profile's order."""
    text = (
        MINIMAL_HEAD
        + f"""
[registers.fan]
address = 2
table = "holding"
type = "u16"
enum = {enum}
writable = true
"""
    )
    assert [fan.value for fan in capabilities(profile(text)).fans] == fans


# ---- profiles refused for a role declared unusably --------------------------------------------

_HEAD = """
[device]
name = "bad"
kind = "indoor_head"
default_unit_id = 1
"""
_POWER = """
[registers.power]
address = 0
table = "holding"
type = "u16"
writable = true
"""


@pytest.mark.parametrize(
    ("registers", "message"),
    [
        (
            """
[registers.return_air_temperature]
address = 5
table = "input"
type = "s16"
""",
            "lacks a writable registers.power: every control must be able to switch a head",
        ),
        (
            """
[registers.power]
address = 0
table = "holding"
type = "u16"
""",
            "registers.power: the power lever must be writable (writable = true)",
        ),
        (
            _POWER
            + """
[registers.mode]
address = 1
table = "holding"
type = "u16"
enum = { 0 = "auto", 1 = "heat_pump_boost" }
writable = true
""",
            "registers.mode: enum label(s) 'heat_pump_boost' unknown: mode takes heat, cool, dry, "
            "fan_only, auto",
        ),
        (
            _POWER
            + """
[registers.fan]
address = 2
table = "holding"
type = "u16"
writable = true
""",
            "registers.fan: give its enum: labels out of auto, quiet, low, medium_low",
        ),
        (
            _POWER
            + """
[registers.display_setpoint]
address = 4
table = "holding"
type = "u16"
enum = { 0 = "low", 1 = "high" }
writable = true
""",
            "registers.display_setpoint: display_setpoint is a number: it takes no enum",
        ),
        (
            _POWER
            + """
[registers.status]
address = 10
table = "input"
type = "u16"
""",
            "registers.status: a bit field: name its bits",
        ),
        (
            _POWER
            + """
[registers.status]
address = 10
table = "input"
type = "u16"
bits = { 0 = "thermo_on" }

[registers.thermo_on]
address = 0
table = "discrete_input"
type = "bool"
""",
            "registers.thermo_on: thermo_on is also a bit of registers.status: keep one",
        ),
        (
            """
[registers.power]
address = 0
table = "holding"
type = "u16"
enum = { 0 = "off", 1 = "standby" }
writable = true
""",
            "registers.power: enum label(s) 'standby' unknown",
        ),
        (
            """
[registers.power]
address = 0
table = "holding"
type = "u16"
enum = { 1 = "on" }
writable = true
""",
            "registers.power: a power lever's enum needs both off and on",
        ),
    ],
)
def test_a_head_profile_declaring_a_role_unusably_is_refused(registers: str, message: str) -> None:
    bad = profile(_HEAD + registers, "bad.toml")
    with pytest.raises(ProfileError, match=re.escape(message)) as err:
        capabilities(bad)
    assert "profile 'bad' (bad.toml)" in str(err.value)


def test_an_outdoor_unit_profile_without_any_role_is_refused() -> None:
    bad = profile(
        """
[device]
name = "nothing"
kind = "outdoor_unit"
default_unit_id = 1

[registers.filter_hours]
address = 0
table = "input"
type = "u16"
""",
        "nothing.toml",
    )
    with pytest.raises(ProfileError, match=r"'nothing' \(nothing.toml\): declares none of the"):
        capabilities(bad)


def test_check_config_refuses_such_a_profile_naming_the_zones_key(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text(_HEAD + _POWER.replace("writable = true\n", ""))
    with pytest.raises(ConfigError) as err:
        parse_config(_config("bad.toml"), "house.toml", tmp_path)
    assert "zones" in str(err.value) and "the power lever must be writable" in str(err.value)


def test_the_roles_table_in_the_docs_names_every_role() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "profiles.md").read_text()
    rows = {
        (match[1], match[2])
        for match in re.finditer(r"^\| `(\w+)` \| (head|outdoor unit) \|", docs, re.MULTILINE)
    }
    wanted = {(role.name, "head") for role in HEAD_ROLES}
    wanted |= {(role.name, "outdoor unit") for role in ODU_ROLES}
    assert rows == wanted


# ---- a minimal head served by the simulator, driven over Modbus TCP -------------------------


def _config(head_profile: str) -> str:
    return f"""
controller_id = "test"

[buses.sim]
type = "tcp"
host = "127.0.0.1"
port = 5020

[[zones]]
id = "living"
name = "Living room"
bus = "sim"
unit_id = 21
profile = "{head_profile}"

[simulator]
start = "01-15 06:00"
"""


@contextlib.asynccontextmanager
async def _served(tmp_path: Path, text: str) -> AsyncIterator[tuple[Simulator, HeadDriver]]:
    """The simulator serving one head of profile ``text`` over Modbus TCP, and its driver."""
    (tmp_path / "head.toml").write_text(text)
    loaded = parse_config(_config("head.toml"), "house.toml", tmp_path)
    sim = Simulator(loaded)
    async with sim.running(tcp=("127.0.0.1", 0)):
        assert sim.tcp_address is not None
        scheduler = BusScheduler("sim", tcp_bus(sim.tcp_address[1]))
        async with running(scheduler):
            yield sim, HeadDriver(scheduler, 21, loaded.head_profile(loaded.config.zones[0]))


@pytest.fixture
async def served_interface(tmp_path: Path) -> AsyncIterator[tuple[Simulator, HeadDriver]]:
    async with _served(tmp_path, INTERFACE_HEAD) as served:
        yield served


async def test_a_head_with_few_registers_is_probed_polled_and_written_over_modbus(
    served_interface: tuple[Simulator, HeadDriver],
) -> None:
    sim, head = served_interface
    info = await head.probe()
    assert (info.firmware_version, info.serial_number, info.rated_capacity_w) == (None,) * 3
    assert not (info.has_humidity_sensor or info.has_vertical_vane or info.has_horizontal_vane)

    status = await head.poll()
    assert head.reads_per_poll == 2  # the holding block and the discrete input
    firmware = sim.head("living").firmware
    assert status.return_air_temperature == pytest.approx(firmware.status().return_air_temperature)
    assert (status.power, status.mode, status.display_setpoint) == (False, HeadMode.HEAT, 21.0)
    assert status.thermo_on is False
    # What the profile lacks is None, never a made-up value.
    assert status.fan is None and status.capacity_request_pct is None
    assert status.coil_temperature is None and status.fault is None and status.fault_code is None
    assert status.heartbeat_lost is None and status.remote_request is None

    await head.apply(
        HeadCommand(
            power=True,
            mode=HeadMode.COOL,
            fan=FanSpeed.TURBO,  # no fan lever: not written
            vane_vertical=VanePosition.SWING,
            vane_horizontal=VanePosition.SWING,
            capacity_request_pct=80.0,  # no direct lever: not written
            display_setpoint=24.5,
        )
    )
    command = firmware.command
    assert (command.power, command.mode, command.display_setpoint) == (True, HeadMode.COOL, 24.5)
    assert command.fan is FanSpeed.AUTO and command.capacity_request_pct == 0.0  # as at power-on
    status = await head.poll()
    assert (status.power, status.mode, status.display_setpoint) == (True, HeadMode.COOL, 24.5)

    await head.write_external_temperature(19.5)
    assert firmware.external_temperature == 19.5
    assert (await head.poll()).external_temperature == 19.5
    # No heartbeat, no acknowledgement: nothing is sent, and nothing fails.
    assert await head.heartbeat() is None
    await head.set_heartbeat_timeout(30)
    await head.ack_remote()
    # A register no role uses is read by name.
    assert await head.read_values(["filter_hours"]) == {"filter_hours": 0}


async def test_a_head_with_only_power_mode_setpoint_and_room_temperature_is_served(
    tmp_path: Path,
) -> None:
    """`minisplit sim` used to crash on such a profile."""
    async with _served(tmp_path, MINIMAL_HEAD) as (_, head):
        await head.probe()
        await head.apply(
            HeadCommand(
                True, HeadMode.HEAT, FanSpeed.AUTO, VanePosition.AUTO, VanePosition.AUTO, 0, 23
            )
        )
        status = await head.poll()
    assert (status.power, status.mode, status.display_setpoint) == (True, HeadMode.HEAT, 23.0)
    assert status.return_air_temperature is not None and status.thermo_on is None


async def test_a_read_only_holding_bit_field_is_served_with_the_heads_flags(
    tmp_path: Path,
) -> None:
    """Interfaces put their status in holding registers: the simulator fills it as it fills an
    input register, with the bits the profile names."""
    text = (
        MINIMAL_HEAD
        + """
[registers.status]
address = 7
table = "holding"
type = "u16"
bits = { 0 = "fault", 3 = "thermo_on" }
"""
    )
    async with _served(tmp_path, text) as (sim, head):
        await head.probe()
        await head.apply(
            HeadCommand(
                True, HeadMode.HEAT, FanSpeed.AUTO, VanePosition.AUTO, VanePosition.AUTO, 0, 30
            )
        )
        # The head asks for refrigerant (set on the firmware: this profile has no lever for it).
        firmware = sim.head("living").firmware
        firmware.apply(dataclasses.replace(firmware.command, capacity_request_pct=50.0))
        sim.step(10.0)
        assert firmware.status().thermo_on
        status = await head.poll()
    assert (status.thermo_on, status.fault, status.fan_running) == (True, False, None)
