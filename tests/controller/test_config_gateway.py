"""Zones behind a gateway in the config (issue 13): several heads share a unit id at distinct
`unit_index`es of a gateway profile; every other sharing, a missing or stray index and one the
gateway does not serve are refused naming the keys and their lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from minisplit.controller.cli import check_config
from minisplit.controller.config import ConfigError, LoadedConfig, parse_config
from tests.fixtures.gateway import manual_address, write_gateway_profile

CONFIG = """controller_id = "t"

[buses.line]
type = "tcp"
host = "127.0.0.1"
port = 5020

[outdoor_unit]
bus = "line"
unit_id = 1

[[zones]]
id = "living"
name = "Living"
bus = "line"
unit_id = 2
profile = "{profile}"
unit_index = 0

[[zones]]
id = "bedroom"
name = "Bedroom"
bus = "line"
unit_id = 2
profile = "{profile}"
unit_index = 3

[[zones]]
id = "office"
name = "Office"
bus = "line"
unit_id = 11
"""


@pytest.fixture
def profile(tmp_path: Path) -> str:
    return str(write_gateway_profile(tmp_path))


def parse(text: str) -> LoadedConfig:
    return parse_config(text, "test.toml")


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    return caught.value.problems


def test_zones_at_distinct_indices_share_a_unit_id(profile: str) -> None:
    loaded = parse(CONFIG.format(profile=profile))
    living, bedroom, office = loaded.config.zones
    assert (living.unit_id, living.unit_index) == (2, 0)
    assert (bedroom.unit_id, bedroom.unit_index) == (2, 3)
    assert office.unit_index is None
    assert loaded.head_profile(bedroom)["power"].address == manual_address("holding", 3, 0)
    assert loaded.head_profile(bedroom) is loaded.head_profile(bedroom)  # moved once
    assert loaded.head_profile(living)["power"].address == 100
    assert loaded.head_profile(office).unit_index is None


def test_the_same_index_twice_names_both_zones_keys_and_lines(profile: str) -> None:
    text = CONFIG.format(profile=profile).replace("unit_index = 3", "unit_index = 0")
    assert problems(text) == [
        "line 18: zones[0].unit_index, line 26: zones[1].unit_index: zone 'bedroom' and zone "
        "'living' share unit id 2, unit_index 0, on bus 'line'"
    ]


def test_an_index_the_gateway_does_not_serve(profile: str) -> None:
    text = CONFIG.format(profile=profile).replace("unit_index = 3", "unit_index = 16")
    assert problems(text) == [
        f"line 26: zones[1].unit_index: unit_index 16 is outside 0..15, the indices profile "
        f"'{profile}' serves"
    ]


def test_a_gateway_zone_without_an_index(profile: str) -> None:
    text = CONFIG.format(profile=profile).replace("unit_index = 3\n", "")
    assert problems(text) == [
        f"line 24: zones[1].unit_id: profile '{profile}' is of a gateway serving units 0..15 "
        "behind unit id 2: give the zone's unit_index",
        "line 24: zones[1].unit_id: zone 'bedroom' shares unit id 2 on bus 'line' with zone "
        "'living': only the units of one gateway (one profile, each at its own unit_index) "
        "share a unit id",
    ]


def test_an_index_on_a_unit_with_an_address_of_its_own(profile: str) -> None:
    text = CONFIG.format(profile=profile) + "unit_index = 1\n"
    assert problems(text) == [
        "line 33: zones[2].unit_index: profile 'reference-head' is of a unit with an address of "
        "its own: unit_index applies to a gateway's profile (unit_stride)"
    ]


def test_a_unit_of_its_own_on_a_gateways_unit_id(profile: str) -> None:
    text = CONFIG.format(profile=profile).replace("unit_id = 11", "unit_id = 2")
    assert problems(text) == [
        "line 32: zones[2].unit_id: zone 'office' shares unit id 2 on bus 'line' with zone "
        "'living': only the units of one gateway (one profile, each at its own unit_index) "
        "share a unit id"
    ]
    # The outdoor unit on the gateway's id likewise.
    text = CONFIG.format(profile=profile).replace("unit_id = 1\n", "unit_id = 2\n", 1)
    living, bedroom = problems(text)
    assert living.startswith("line 16: zones[0].unit_id: zone 'living' shares unit id 2")
    assert bedroom.startswith("line 24: zones[1].unit_id: zone 'bedroom' shares unit id 2")
    assert "with outdoor_unit" in living and "with outdoor_unit" in bedroom


def test_units_of_two_gateway_profiles_do_not_share_a_unit_id(tmp_path: Path) -> None:
    first = str(write_gateway_profile(tmp_path))
    second = str(write_gateway_profile(tmp_path, name="other.toml"))
    text = CONFIG.format(profile=first).replace(
        f'"{first}"\nunit_index = 3', f'"{second}"\nunit_index = 3'
    )
    (found,) = problems(text)
    assert found.startswith("line 24: zones[1].unit_id: zone 'bedroom' shares unit id 2")


def test_units_with_their_own_address_still_may_not_share_one() -> None:
    text = CONFIG.format(profile="reference-head").replace("unit_index = 0\n", "")
    text = text.replace("unit_index = 3\n", "")
    assert problems(text) == [
        "line 16: zones[0].unit_id, line 23: zones[1].unit_id: zone 'bedroom' and zone "
        "'living' share unit id 2 on bus 'line'"
    ]


def test_an_outdoor_unit_profile_with_a_unit_layout_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "odu.toml"
    text = (Path(__file__).resolve().parents[2] / "config/profiles/reference-odu.toml").read_text()
    path.write_text(
        text.replace(
            "max_read_registers = 32\n",
            "max_read_registers = 32\nunit_stride = 128\nunit_indices = [0, 3]\n",
            1,
        )
    )
    config = CONFIG.format(profile="reference-head").replace("unit_index = 0\n", "")
    config = config.replace("unit_index = 3\n", "").replace(
        "unit_id = 2\nprofile", "unit_id = 3\nprofile", 1
    )
    config = config.replace("unit_id = 1\n", f'unit_id = 1\nprofile = "{path}"\n', 1)
    (found,) = problems(config)
    assert "outdoor_unit.profile" in found and "lays out units behind a gateway" in found


def test_check_config_shows_each_heads_index(
    profile: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "minisplit.toml"
    state = tmp_path / "state.json"
    path.write_text(f'state_file = "{state}"\n' + CONFIG.format(profile=profile))
    assert check_config(path) == 0
    out = capsys.readouterr().out
    assert "zone bedroom (Bedroom): bus line unit 2 index 3 setpoints" in out
    assert "zone office (Office): bus line unit 11 setpoints" in out
