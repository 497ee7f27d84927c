"""The supervisor with several systems (service/system.py): one `SystemControl` per system,
each with its own links, control and unit settings; a unit command changes its system's only;
the status line says each system's; and a state file of one unit still loads."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from minisplit.controller.config import MAIN_SYSTEM, LoadedConfig, config_file, parse_config
from minisplit.controller.core.settings import UnitSettings
from minisplit.controller.core.transitions import SetDemandLimit, SetQuiet
from minisplit.controller.service.commands import UnitCommand
from minisplit.controller.service.supervisor import Supervisor
from minisplit.testing.rig import to_toml


def shipped(name: str, state_file: Path, **tables: object) -> LoadedConfig:
    """A shipped config without MQTT, with its state file and ``tables`` put in."""
    data = tomllib.loads(config_file(name).read_text(encoding="utf-8"))
    data["state_file"] = str(state_file)
    data.pop("mqtt")
    data |= tables
    return parse_config(to_toml(data), f"{name}.toml")


async def test_each_system_has_its_own_control_and_unit_settings(tmp_path: Path) -> None:
    supervisor = Supervisor(shipped("demo-two-systems", tmp_path / "state.json"))
    up, down = supervisor.systems["upstairs"], supervisor.systems["downstairs"]
    assert (list(up.heads), list(down.heads)) == (["bedroom", "office"], ["living", "kitchen"])
    assert up.odu_link is not None and down.odu_link is None
    assert up.setpoint_control is None and down.setpoint_control is not None
    assert up.controller is not down.controller
    assert list(supervisor.heads) == ["bedroom", "office", "living", "kitchen"]
    assert len(supervisor.links) == 5
    supervisor.on_command(UnitCommand("upstairs", SetQuiet(True)))
    supervisor.on_command(UnitCommand("downstairs", SetDemandLimit(40)))
    await supervisor.committer.flush()
    settings = supervisor.settings
    assert settings.unit_of("upstairs") == UnitSettings(quiet=True)
    assert settings.unit_of("downstairs") == UnitSettings(demand_limit_pct=40)
    assert up.unit_state(False)["quiet"] is False  # as observed at the last tick
    assert up.observe(settings, 0.0, {}, None).unit.settings.quiet is True
    assert down.observe(settings, 0.0, {}, None).unit.settings.quiet is False
    saved = json.loads((tmp_path / "state.json").read_text())
    assert saved["units"]["upstairs"]["quiet"] is True
    assert saved["units"]["downstairs"]["demand_limit_pct"] == 40


def test_the_status_line_says_each_systems_units(tmp_path: Path) -> None:
    supervisor = Supervisor(shipped("demo-two-systems", tmp_path / "state.json"))
    assert supervisor.status_line() == (
        "upstairs: zones 0/2 ok; ODU offline; faults: bedroom offline, office offline"
        " | downstairs: zones 0/2 ok; ODU follows the heads; faults: living offline,"
        " kitchen offline"
    )


def test_a_state_file_of_one_unit_gives_it_to_the_single_system(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    loaded = shipped("demo", state_file)
    unit = UnitSettings(quiet=True, demand_limit_pct=70)
    written = {"version": 1, "zones": {}, "unit": unit.to_dict(), "defrost_interval_s": 2800.0}
    state_file.write_text(json.dumps(written))
    supervisor = Supervisor(loaded)
    assert supervisor.settings.unit_of(MAIN_SYSTEM) == unit
    assert supervisor.unit_state()["quiet"] is True
    assert supervisor.controller.state.frost.interval_s == 2800.0
    assert set(supervisor.settings.zones) == {zone.id for zone in loaded.config.zones}
