"""First start: a zone's configured `initial_mode` is what the real supervisor runs when no
settings were saved for it, and never over settings that were (docs/install.md, 'First start')."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from minisplit.controller.config import LoadedConfig, parse_config
from minisplit.controller.core.settings import ZoneMode
from minisplit.controller.service.persistence import SavedState, StateStore
from minisplit.controller.service.supervisor import Supervisor
from minisplit.drivers.vocabulary import HeadMode
from minisplit.hil.broker import free_port
from minisplit.hil.simulator import Simulator
from minisplit.testing.harness import DEMO, running, wait_until

pytestmark = pytest.mark.integration

SPEED = 60.0


def starting_in_heat(port: int, state_file: Path, *unit_ids: int) -> LoadedConfig:
    """The demo house on the simulator at ``port``, no MQTT, the heads at ``unit_ids`` set to
    start in heat."""
    text = DEMO.replace("port = 5020", f"port = {port}").replace(
        'state_file = ".minisplit-state/demo.json"', f'state_file = "{state_file}"'
    )
    for unit_id in unit_ids:
        text = text.replace(
            f"unit_id = {unit_id}\n", f'unit_id = {unit_id}\ninitial_mode = "heat"\n'
        )
    head, _, sim = text.partition("[mqtt]")
    return parse_config(head + sim[sim.index("[simulator]") :], "first-start.toml")


async def test_the_first_start_heats_the_zone_configured_to(tmp_path: Path) -> None:
    port = free_port()
    state_file = tmp_path / "state.json"
    loaded = starting_in_heat(port, state_file, 11)
    async with (
        asyncio.timeout(30),
        Simulator(loaded, speed=SPEED).running(tcp=("127.0.0.1", port)),
        running(Supervisor(loaded, time_scale=SPEED)) as supervisor,
    ):

        def heating() -> bool:
            output = supervisor.output
            return output is not None and output.zones["living"].head.power

        await wait_until(heating, 10, "the living room's head to run")
        assert supervisor.output is not None
        living = supervisor.output.zones["living"].head
        assert living.mode is HeadMode.HEAT
        assert not supervisor.output.zones["kitchen"].head.power  # no initial_mode: off
        assert supervisor.settings.zones["living"].mode is ZoneMode.HEAT


def test_saved_settings_win_over_the_initial_mode_and_an_added_zone_takes_it(
    tmp_path: Path,
) -> None:
    state_file = tmp_path / "state.json"
    # A house that ran before, without the office: its living room was turned off since.
    before = parse_config(
        DEMO.replace('".minisplit-state/demo.json"', f'"{state_file}"'), "before.toml"
    )
    saved = Supervisor(before).settings.zones
    saved.pop("office")
    saved["living"] = replace(saved["living"], mode=ZoneMode.OFF, target_temperature=20.0)
    StateStore(state_file).save(SavedState(saved))
    # Now the config starts the living room and the (new) office in heat.
    settings = Supervisor(starting_in_heat(free_port(), state_file, 11, 14)).settings.zones
    assert (settings["living"].mode, settings["living"].target_temperature) == (ZoneMode.OFF, 20.0)
    assert settings["office"].mode is ZoneMode.HEAT
    assert settings["kitchen"].mode is ZoneMode.OFF
