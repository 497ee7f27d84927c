"""Handing the external temperature back (`release`, issue 13; Intesis: -32768 to register 22):
the driver writes the profile's release value outside the register's range, the simulated head
takes it and regulates on its own sensor again; a profile's bad release is refused."""

from __future__ import annotations

import pytest

from minisplit.controller.config import parse_config
from minisplit.drivers.bus import BusScheduler
from minisplit.drivers.head import HeadDriver
from minisplit.drivers.profile import ProfileError
from minisplit.hil.simulator import Simulator
from tests.drivers.conftest import running, tcp_bus
from tests.fixtures.profiles import INTERFACE_HEAD, profile
from tests.fixtures.systems import system_config

TCP = 'type = "tcp"\nhost = "127.0.0.1"\nport = 5020\n'


async def test_a_released_external_temperature_hands_the_head_back_its_own_sensor() -> None:
    loaded = parse_config(system_config("intesis-mitsubishi", TCP), "house.toml")
    sim = Simulator(loaded)
    zone = loaded.config.zone("living")
    firmware = sim.head("living").firmware
    async with sim.running(tcp=("127.0.0.1", 0)):
        assert sim.tcp_address is not None
        async with running(BusScheduler("t", tcp_bus(sim.tcp_address[1]))) as bus:
            head = HeadDriver(bus, zone.unit_id, loaded.head_profile(zone))
            await head.write_external_temperature(18.5)
            assert firmware.external_temperature == 18.5
            assert await head.release_external_temperature()
            assert firmware.external_temperature is None
            assert sim.head_register("living", "external_temperature") is None  # 0x8000
            assert (await head.poll()).external_temperature is None
            await head.write_external_temperature(18.5)  # differs from what it holds: sent
            assert firmware.external_temperature == 18.5


async def test_a_profile_without_a_release_value_writes_nothing() -> None:
    head = HeadDriver(BusScheduler("t", tcp_bus(1)), 21, profile(INTERFACE_HEAD))
    assert not await head.release_external_temperature()  # no bus needed: nothing sent


EXTERNAL = "writable = true\nrange = [-10.0, 50.0]"


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        (EXTERNAL + "\nrelease = 70000", "release 70000 does not fit in s16"),
        ("release = -32768", "'release' is only meaningful on a writable"),
    ],
)
def test_a_bad_release_is_refused_naming_the_key(by: str, expected: str) -> None:
    assert EXTERNAL in INTERFACE_HEAD
    with pytest.raises(ProfileError) as caught:
        profile(INTERFACE_HEAD.replace(EXTERNAL, by, 1))
    assert "registers.external_temperature.release: " + expected in str(caught.value)
