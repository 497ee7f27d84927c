"""The real `minisplit run` process killed with SIGKILL: the broker announces it offline (the
last will), and every setting it had published comes back after a restart; a torn state file
at start falls back to the last good copy. The long version is `python -m
tests.bench_durability` (100 cycles)."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import pytest
import pytest_asyncio

from controller.config import LoadedConfig
from controller.persistence import SavedState, StateStore
from controller.settings import FanMode, UnitSettings, ZoneMode, ZoneSettings
from hil.broker import free_port
from hil.simulator import Simulator
from tests.fixtures.broker import MessageRecorder, Mosquitto, recording
from tests.integration.processes import (
    BASE,
    ControllerProcess,
    controller_config,
    durability_trial,
    latest_state,
    wait_online,
)

pytestmark = pytest.mark.integration


@dataclass
class House:
    config: Path
    loaded: LoadedConfig
    recorder: MessageRecorder
    client: aiomqtt.Client
    broker: Mosquitto


@pytest_asyncio.fixture
async def house(tmp_path: Path, mosquitto: Mosquitto) -> AsyncIterator[House]:
    """The simulated house served in this process, a recorder on the broker, and the config
    of a controller to run as a subprocess."""
    port = free_port()
    config, loaded = controller_config(tmp_path, port, mosquitto.port)
    async with (
        Simulator(loaded).running(tcp=("127.0.0.1", port)),
        recording(mosquitto) as recorder,
        mosquitto.client() as client,
    ):
        yield House(config, loaded, recorder, client, mosquitto)


async def test_kill_9_right_after_a_setting_change(house: House) -> None:
    recorder = house.recorder
    process = ControllerProcess(house.config)
    await process.start()
    try:
        online = await wait_online(recorder, process, 0)
        await house.client.publish(f"{BASE}/zone/bedroom/set/temperature", b"23.5", qos=1)
        await house.client.publish(f"{BASE}/zone/bedroom/set/fan_mode", b"quiet", qos=1)
        topic = f"{BASE}/zone/bedroom/state"
        await recorder.wait_for(
            topic,
            lambda m: json.loads(m.payload)["fan_mode"] == "quiet",
            after=online,
            timeout=10,
        )
        process.kill()  # the moment the change was shown
        assert await process.wait() == -9

        # The broker tells everyone, through the will, and keeps saying it (retained).
        offline = await recorder.wait_for(
            f"{BASE}/status", lambda m: m.payload == b"offline", after=online
        )
        async with recording(house.broker, f"{BASE}/status") as newcomer:
            seen = await newcomer.wait_for(f"{BASE}/status")
            assert (seen.payload, seen.retain) == (b"offline", True)

        await process.start()
        online = await wait_online(recorder, process, recorder.messages.index(offline))
        restored = latest_state(recorder, topic, online, len(recorder.messages))
        assert restored is not None
        assert (restored["target_temperature"], restored["fan_mode"]) == (23.5, "quiet")
    finally:
        await process.stop()


async def test_randomized_kill_9_cycles_lose_nothing(house: House) -> None:
    report = await durability_trial(
        5, house.config, house.loaded, house.recorder, house.client, random.Random(5)
    )
    assert report.cycles == 5
    assert report.lost == 0, report.problems
    assert not house.recorder.on(f"{BASE}/error")


async def test_a_torn_state_file_at_start_uses_the_last_good_copy(house: House) -> None:
    store = StateStore(house.loaded.config.state_file)
    office = ZoneSettings(mode=ZoneMode.COOL, target_temperature=25.5, fan_mode=FanMode.LOW)
    zones = {z.id: ZoneSettings() for z in house.loaded.config.zones} | {"office": office}
    store.save(SavedState(zones, UnitSettings(demand_limit_pct=70)))
    store.save(SavedState({**zones, "office": ZoneSettings()}, UnitSettings()))
    store.path.write_bytes(store.path.read_bytes()[:100])  # torn

    process = ControllerProcess(house.config)
    await process.start()
    try:
        online = await wait_online(house.recorder, process, 0)
        end = len(house.recorder.messages)
        state = latest_state(house.recorder, f"{BASE}/zone/office/state", online, end)
        unit = latest_state(house.recorder, f"{BASE}/unit/state", online, end)
        assert state is not None and unit is not None
        assert (state["mode"], state["target_temperature"], state["fan_mode"]) == (
            "cool",
            25.5,
            "low",
        )
        assert unit["demand_limit"] == 70
        assert "unusable" in process.output() and "last good copy" in process.output()
    finally:
        await process.stop()
