"""What the supervisor keeps beyond the settings, through the real supervisor, simulator and
broker: a boost that ends is saved, then shown, as comfort; a restart keeps what was left of a
boost; the learned defrost interval is saved when it changes (once per defrost) and restored."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import aiomqtt
import pytest

from minisplit.controller.config import MAIN_SYSTEM, LoadedConfig
from minisplit.controller.core.frost import FrostState
from minisplit.controller.core.settings import Preset, ZoneMode, ZoneSettings
from minisplit.controller.service.persistence import (
    SavedState,
    StateStore,
    decode_state,
    default_zone_settings,
)
from minisplit.controller.service.supervisor import Supervisor
from minisplit.hil.broker import free_port
from minisplit.hil.faults import Fault, FaultKind
from minisplit.hil.simulator import Simulator
from minisplit.testing.broker import Mosquitto
from minisplit.testing.harness import DEMO, running, tcp_config, wait_until

pytestmark = pytest.mark.integration

SPEED = 60.0  # a 10 s control period is 1/6 wall second
BASE = "minisplit/demo"
HEATING = ZoneSettings(mode=ZoneMode.HEAT, target_temperature=22.0)


def showing(preset: str) -> Callable[[aiomqtt.Message], bool]:
    return lambda message: json.loads(message.payload)["preset"] == preset


def save_state(loaded: LoadedConfig, zones: dict[str, ZoneSettings], **learned: object) -> None:
    """The state file as a controller that ran before wrote it: ``zones`` over the defaults."""
    every = {zone.id: default_zone_settings(zone) for zone in loaded.config.zones} | zones
    state = SavedState(every, {}, **learned)  # type: ignore[arg-type]
    StateStore(loaded.config.state_file).save(state)


async def test_a_boost_that_ends_is_saved_then_shown_as_comfort(
    tmp_path: Path, mosquitto: Mosquitto, hil_factory
) -> None:
    config = tmp_path / "demo-short-boost.toml"
    config.write_text(f"{DEMO}\n[control.presets.boost]\nduration_s = 60\n")
    topic = f"{BASE}/zone/living/state"
    async with (
        asyncio.timeout(30),
        hil_factory(mosquitto, config=config, speed=SPEED) as rig,
        mosquitto.client() as client,
    ):
        recorder, supervisor = rig.recorder, rig.supervisor
        loaded, state_file = rig.loaded, rig.loaded.config.state_file
        await recorder.wait_for(f"{BASE}/status", lambda m: m.payload == b"online", timeout=10)
        await client.publish(f"{BASE}/zone/living/set/preset_mode", b"boost", qos=1)
        boosted = await recorder.wait_for(topic, showing("boost"), timeout=10)
        boosted_at = supervisor.now()
        await recorder.wait_for(
            topic, showing("comfort"), after=recorder.messages.index(boosted), timeout=10
        )
        # Shown once on disk: a restart (or power cut) from here on does not boost again.
        on_disk = decode_state(state_file.read_bytes())
        assert on_disk.zones["living"].preset is Preset.COMFORT
        assert on_disk.boost_started == {}
        # It ran its course (60 s, less the moments between its start and its first showing).
        assert supervisor.now() - boosted_at > 30.0
        assert Supervisor(loaded).settings.zones["living"].preset is Preset.COMFORT


async def test_a_restart_keeps_what_was_left_of_a_boost_and_ends_one_that_is_over(
    tmp_path: Path,
) -> None:
    port = free_port()
    state_file = tmp_path / "state.json"
    boosting = replace(HEATING, preset=Preset.BOOST)
    calendar = time.time()
    # living: boosted 5 wall s (300 s of the controller's time) ago, 1800 s to run; kitchen:
    # boosted before a power cut of an hour; bedroom: in boost with no start (an older file).
    started = {"living": calendar - 5.0, "kitchen": calendar - 3600.0}
    loaded = tcp_config(port, state_file)
    save_state(
        loaded,
        {"living": boosting, "kitchen": boosting, "bedroom": boosting},
        boost_started=started,
    )
    async with (
        asyncio.timeout(30),
        Simulator(loaded, speed=SPEED).running(tcp=("127.0.0.1", port)),
        running(Supervisor(loaded, time_scale=SPEED)) as supervisor,
    ):
        await wait_until(lambda: supervisor.output is not None, 10, "a control tick")
        assert supervisor.output is not None
        assert supervisor.output.zones["living"].preset is Preset.BOOST
        boosted_for = supervisor.now() - supervisor.controller.state.boost_since["living"]
        assert 300.0 <= boosted_for < 1800.0  # neither begun again nor over

        def over() -> bool:
            zones = supervisor.settings.zones
            return all(zones[z].preset is Preset.COMFORT for z in ("kitchen", "bedroom"))

        await wait_until(over, 10, "the boosts that are over to end")
        on_disk = decode_state(state_file.read_bytes())
        assert {zone_id: s.preset for zone_id, s in on_disk.zones.items()} == {
            "living": Preset.BOOST,
            "kitchen": Preset.COMFORT,
            "bedroom": Preset.COMFORT,
            "office": Preset.NONE,
        }
        assert on_disk.boost_started == {"living": started["living"]}


async def test_the_learned_defrost_interval_is_saved_once_per_defrost_and_restored(
    tmp_path: Path,
) -> None:
    port = free_port()
    state_file = tmp_path / "state.json"
    loaded = tcp_config(port, state_file)
    save_state(loaded, {"living": HEATING}, defrost_intervals_s={MAIN_SYSTEM: 3000.0})
    simulator = Simulator(loaded, speed=SPEED)
    supervisor = Supervisor(loaded, time_scale=SPEED)
    assert supervisor.controller.state.frost.interval_s == 3000.0  # restored before the first tick
    writes: list[SavedState] = []
    save = supervisor.store.save

    def counted(state: SavedState) -> bool:
        written = save(state)
        if written:
            writes.append(state)
        return written

    supervisor.store.save = counted  # type: ignore[method-assign]

    def frost() -> FrostState:
        return supervisor.controller.state.frost

    async def defrost() -> None:
        simulator.faults.add(Fault(FaultKind.DEFROST, "odu", duration_s=1.0))
        await wait_until(lambda: frost().defrosting, 10, "the controller to see a defrost")
        await wait_until(lambda: not frost().defrosting, 20, "the defrost to end")

    async with (
        asyncio.timeout(60),
        simulator.running(tcp=("127.0.0.1", port)),
        running(supervisor),
    ):
        await wait_until(
            lambda: simulator.odu_register("compressor_frequency"), 20, "the compressor on"
        )
        # The first defrost after the start: its count began at the start, not at a defrost,
        # so it teaches nothing (and nothing is written).
        await defrost()
        assert frost().interval_s == 3000.0 and writes == []
        # The second: a short interval, taken as half the learned one at the least (1500 s),
        # moves it halfway there.
        await defrost()
        await wait_until(lambda: writes, 5, "the learned interval written")
        cycles = supervisor.cycles
        await wait_until(lambda: supervisor.cycles >= cycles + 10, 10, "ten more cycles")
        learned = [state.defrost_intervals_s for state in writes]
        assert learned == [{MAIN_SYSTEM: 2250.0}]  # once, not per tick
    assert decode_state(state_file.read_bytes()).defrost_intervals_s == {MAIN_SYSTEM: 2250.0}
    assert Supervisor(loaded).controller.state.frost.interval_s == 2250.0
