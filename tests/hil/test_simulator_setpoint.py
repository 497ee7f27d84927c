"""The simulator serves setpoint-driven heads from a config whose head profiles have no
capacity_request (issue 13): each head runs its own thermostat within its profile's setpoint
range, the outdoor unit follows the heads, and without [outdoor_unit] it is not served."""

from __future__ import annotations

import pytest

from minisplit.controller.config import parse_config
from minisplit.hil.scenario import load_scenario, scenario_file
from minisplit.hil.simulator import Simulator, endpoint_from_config
from tests.fixtures.systems import system_config

TCP = 'type = "tcp"\nhost = "127.0.0.1"\nport = 5020\n'


@pytest.mark.parametrize("profile", ["intesis-mitsubishi", "coolmasternet"])
def test_interface_heads_run_their_own_thermostat_and_no_outdoor_unit_is_served(
    profile: str,
) -> None:
    loaded = parse_config(system_config(profile, TCP), "house.toml")
    sim = Simulator(loaded)
    assert sim.served_odu is None
    with pytest.raises(KeyError, match=r"no \[outdoor_unit\]"):
        sim.odu_register("compressor_frequency")
    assert sorted(sim.units) == sorted({zone.unit_id for zone in loaded.config.zones})
    for head in sim.heads.values():
        thermostat = head.firmware.thermostat
        assert thermostat is not None
        assert (thermostat.heat_range_c, thermostat.cool_range_c) == ((16.0, 32.0),) * 2
    assert sim.house.odu.follows_heads
    assert endpoint_from_config(loaded) == ("127.0.0.1", 5020)  # the heads' bus


def test_a_head_switched_on_heats_its_room_with_the_unit_following() -> None:
    loaded = parse_config(system_config("intesis-daikin", TCP), "house.toml")
    sim = Simulator(loaded)
    head = sim.head("living")
    head.write("power", 1)
    head.write("mode", 1)  # heat (the manual's code)
    head.write("display_setpoint", 24.0)
    start = sim.room_temperature("living")
    sim.step(1800.0)
    assert sim.room_temperature("living") > start + 1.0
    assert sim.room_temperature("bedroom") < start + 0.5


def test_direct_heads_keep_the_served_reference_unit() -> None:
    loaded = parse_config(system_config("reference-head", TCP), "house.toml")
    sim = Simulator(loaded)
    assert sim.served_odu is not None and 1 in sim.units
    assert all(head.firmware.thermostat is None for head in sim.heads.values())
    assert not sim.house.odu.follows_heads


def test_a_scenario_house_gets_the_configs_kind_of_head() -> None:
    scenario = load_scenario(scenario_file("renovated-january"))
    text = 'controller_id = "house"\n\n[buses.line]\n' + TCP + "\n"
    for i, zone in enumerate(scenario.zones):
        text += (
            f'[[zones]]\nid = "{zone}"\nname = "{zone}"\nbus = "line"\nunit_id = {11 + i}\n'
            'profile = "intesis-mitsubishi"\n\n'
        )
    sim = Simulator(parse_config(text, "house.toml"), scenario=scenario)
    assert sim.served_odu is None and sim.house.odu.follows_heads
    assert all(head.firmware.thermostat is not None for head in sim.heads.values())
