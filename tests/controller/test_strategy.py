"""The control strategy is chosen from the heads' profiles at config load (issue 13): heads
with a capacity request and an outdoor unit with a frequency setpoint are driven directly;
heads with only a writable setpoint by their setpoints; any other mix is refused naming the
zone, the profile and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from minisplit.controller.config import ConfigError, Strategy, parse_config
from tests.fixtures.systems import drivable_head_profiles, system_config

TCP = 'type = "tcp"\nhost = "127.0.0.1"\nport = 5020\n'


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "house.toml")
    return caught.value.problems


def test_every_drivable_shipped_head_profile_is_known() -> None:
    assert drivable_head_profiles() == [
        "coolmasternet",
        "daikin-diii-net",
        "intesis-daikin",
        "intesis-mitsubishi",
        "reference-head",
    ]


@pytest.mark.parametrize("name", drivable_head_profiles())
def test_each_shipped_head_profile_gets_its_strategy(name: str) -> None:
    loaded = parse_config(system_config(name, TCP), "house.toml")
    expected = Strategy.DIRECT if name == "reference-head" else Strategy.SETPOINT
    assert loaded.strategy is expected
    assert (loaded.config.outdoor_unit is None) == (expected is Strategy.SETPOINT)


def test_the_setpoint_levers_come_from_the_profile() -> None:
    levers = parse_config(system_config("intesis-mitsubishi", TCP), "h.toml").head_levers
    assert (levers.heat_range_c, levers.cool_range_c) == ((16.0, 32.0), (16.0, 32.0))
    assert levers.external_temperature
    assert not parse_config(
        system_config("coolmasternet", TCP), "h.toml"
    ).head_levers.external_temperature


def test_the_setpoint_levers_take_the_profiles_ranges_by_mode() -> None:
    """Intesis Daikin: heat 16-30 °C, cool 18-32 °C (docs/interfaces.md)."""
    levers = parse_config(system_config("intesis-daikin", TCP), "h.toml").head_levers
    assert (levers.heat_range_c, levers.cool_range_c) == ((16.0, 30.0), (18.0, 32.0))
    assert (levers.setpoint(31.0, heating=True), levers.setpoint(17.0, heating=False)) == (
        30.0,
        18.0,
    )


def test_a_mix_of_direct_and_setpoint_heads_is_refused_naming_zone_and_profile() -> None:
    text = system_config("reference-head", TCP).replace(
        'unit_id = 12\nprofile = "reference-head"', 'unit_id = 12\nprofile = "intesis-mitsubishi"'
    )
    assert problems(text) == [
        "line 25: zones[1].profile: zone 'bedroom': profile 'intesis-mitsubishi' has no "
        "capacity_request, but zone 'living' (profile 'reference-head') is driven by its "
        "capacity_request: the heads of one system are all driven directly or all by their "
        "setpoints"
    ]


def test_direct_heads_without_an_outdoor_unit_are_refused() -> None:
    text = system_config("reference-head", TCP)
    text = text[: text.index("[outdoor_unit]")] + text[text.index("[[zones]]") :]
    (problem,) = problems(text)
    assert problem.startswith("line 13: zones[0].profile: zone 'living': profile 'reference-head'")
    assert "needs an [outdoor_unit] whose profile has frequency_setpoint" in problem


def test_setpoint_heads_with_a_directly_controlled_outdoor_unit_are_refused() -> None:
    text = system_config("intesis-daikin", TCP).replace(
        "[[zones]]", '[outdoor_unit]\nbus = "line"\nunit_id = 1\n\n[[zones]]', 1
    )
    (problem,) = problems(text)
    assert problem.startswith(
        "line 8: outdoor_unit.profile: profile 'reference-odu' has frequency_setpoint, "
        "but the heads"
    )


def test_setpoint_heads_that_take_different_setpoints_are_refused() -> None:
    text = system_config("intesis-mitsubishi", TCP).replace(
        'unit_id = 12\nprofile = "intesis-mitsubishi"', 'unit_id = 12\nprofile = "intesis-daikin"'
    )
    # Both with an external temperature, but the Daikin's ranges depend on the mode.
    (problem,) = problems(text)
    assert (
        "profile 'intesis-daikin' takes setpoints heat 16..30, cool 18..32 °C with an external "
        "temperature, zone 'living' (profile 'intesis-mitsubishi') 16..32 °C with" in problem
    )
    text = system_config("intesis-mitsubishi", TCP).replace(
        'unit_id = 12\nprofile = "intesis-mitsubishi"',
        'unit_id = 2\nprofile = "coolmasternet"\nunit_index = 1',
    )
    (problem,) = problems(text)
    assert (
        "zone 'bedroom': profile 'coolmasternet' takes setpoints 16..32 °C without an external "
        in problem
    )
    assert "the setpoint-driven heads of one system must take the same" in problem


def test_a_head_with_neither_lever_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bare.toml").write_text(
        '[device]\nkind = "indoor_head"\nname = "bare"\ndefault_unit_id = 1\n\n'
        '[registers.power]\naddress = 1\ntable = "holding"\ntype = "u16"\nwritable = true\n'
    )
    text = system_config("intesis-daikin", TCP).replace('"intesis-daikin"', '"bare.toml"')
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "house.toml", tmp_path)
    assert caught.value.problems[0] == (
        "line 13: zones[0].profile: zone 'living': profile 'bare.toml' has neither "
        "capacity_request nor a writable display_setpoint: the product cannot drive this head"
    )
