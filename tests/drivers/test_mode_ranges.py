"""Setpoint ranges by mode (`mode_ranges`, issue 13; Intesis Daikin takes heat 16-30 °C, cool
18-32 °C): the driver sends a setpoint at the present mode's nearest end, the simulated unit
refuses one outside its mode's range and brings its own into a new mode's, and each way a
profile can get them wrong is refused naming the key."""

from __future__ import annotations

import pytest

from minisplit.controller.config import parse_config
from minisplit.drivers.bus import BusScheduler
from minisplit.drivers.head import HeadDriver
from minisplit.drivers.profile import ProfileError, load_profile
from minisplit.drivers.records import HeadCommand
from minisplit.drivers.registers import RegisterValueError
from minisplit.drivers.vocabulary import FanSpeed, HeadMode, VanePosition
from minisplit.hil.register_map import RegisterAccessError
from minisplit.hil.server import start_tcp_server, tcp_address
from minisplit.hil.simulator import Simulator
from tests.drivers.conftest import running, tcp_bus
from tests.fixtures.bare_unit import BareHead
from tests.fixtures.profiles import MINIMAL_HEAD, profile
from tests.fixtures.systems import system_config

HEAD_ID = 11
TCP = 'type = "tcp"\nhost = "127.0.0.1"\nport = 5020\n'


def command(mode: HeadMode, setpoint: float, power: bool = True) -> HeadCommand:
    return HeadCommand(
        power, mode, FanSpeed.AUTO, VanePosition.AUTO, VanePosition.AUTO, 0.0, setpoint
    )


async def test_the_driver_sends_a_setpoint_within_the_modes_range() -> None:
    unit = BareHead(load_profile("intesis-daikin"))
    server = await start_tcp_server({HEAD_ID: unit}, "127.0.0.1", 0, lambda: None)
    try:
        async with running(BusScheduler("t", tcp_bus(tcp_address(server)[1]))) as bus:
            head = HeadDriver(bus, HEAD_ID, unit.profile)
            await head.apply(command(HeadMode.HEAT, 31.0))
            assert unit.holding("display_setpoint") == 30.0  # heat: 16..30
            await head.apply(command(HeadMode.COOL, 17.0, power=False))
            assert unit.holding("display_setpoint") == 18.0  # cool: 18..32, and switched off
            assert unit.holding("power") == 0
            await head.apply(command(HeadMode.DRY, 31.5))  # no range of its own: `range`
            assert unit.holding("display_setpoint") == 31.5
            with pytest.raises(RegisterValueError, match=r"outside 16\.0\.\.32\.0"):
                await head.apply(command(HeadMode.HEAT, 33.0))  # outside every mode's
    finally:
        await server.shutdown()


def test_the_simulated_unit_keeps_its_setpoint_in_its_modes_range() -> None:
    sim = Simulator(parse_config(system_config("intesis-daikin", TCP), "house.toml"))
    head = sim.head("living")
    head.write("mode", 4)  # cool (the manual's code)
    head.write("display_setpoint", 32.0)
    head.write("mode", 1)  # heat: the unit brings 32 into 16..30
    assert head.holding("display_setpoint") == 30.0
    with pytest.raises(RegisterAccessError, match=r"31\.0 is outside 16\.0\.\.30\.0 in heat"):
        head.write("display_setpoint", 31.0)
    assert head.holding("display_setpoint") == 30.0
    assert head.firmware.thermostat is not None
    assert head.firmware.thermostat.heat_range_c == (16.0, 30.0)


SETPOINT = "writable = true\nrange = [16.0, 30.0]"


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        (
            "writable = true\nmode_ranges = { heat = [16.0, 30.0] }",
            "registers.display_setpoint.mode_ranges: mode_ranges narrow the register's range",
        ),
        (
            SETPOINT + "\nmode_ranges = { heat = [20.0, 18.0] }",
            "registers.display_setpoint.mode_ranges.heat: range [20.0, 18.0] is empty",
        ),
        (
            SETPOINT + "\nmode_ranges = { cool = [18.0, 32.0] }",
            "registers.display_setpoint.mode_ranges.cool: [18.0, 32.0] reaches outside the "
            "register's range [16.0, 30.0]",
        ),
        (
            SETPOINT + "\nmode_ranges = { turbo = [18.0, 30.0] }",
            "registers.display_setpoint.mode_ranges.turbo: 'turbo' is not a label of "
            "registers.mode's enum",
        ),
    ],
)
def test_bad_mode_ranges_are_refused_naming_the_key(by: str, expected: str) -> None:
    assert SETPOINT in MINIMAL_HEAD
    with pytest.raises(ProfileError) as caught:
        profile(MINIMAL_HEAD.replace(SETPOINT, by, 1))
    assert expected in str(caught.value)


def test_fahrenheit_mode_ranges_are_read_as_printed() -> None:
    text = MINIMAL_HEAD.replace(
        SETPOINT,
        'unit = "°F"\nwritable = true\nrange = [60.0, 90.0]\nmode_ranges = { heat = [60.0, 86.0] }',
        1,
    )
    assert profile(text)["display_setpoint"].mode_ranges == {"heat": (15.555556, 30.0)}
