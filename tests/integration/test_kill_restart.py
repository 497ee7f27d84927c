"""The real `minisplit run` process killed with SIGKILL: the broker announces it offline (the
last will), and every setting it had published comes back after a restart; killed mid-cycle
while a head is gone, the units run on their own heartbeat fallback through the gap and come
back under control; a torn state file at start falls back to the last good copy. A setting a
failed write left unsaved says so, is written when the disk recovers, and is saved when the
process is stopped (SIGTERM, SIGINT) before that. The long version is
`python -m tests.bench_durability` (100 cycles)."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import socket
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import pytest
import pytest_asyncio

from minisplit.controller.config import MAIN_SYSTEM, LoadedConfig
from minisplit.controller.core.settings import UnitSettings, ZoneMode, ZoneSettings
from minisplit.controller.service.persistence import SavedState, StateStore
from minisplit.drivers.vocabulary import FanSpeed
from minisplit.hil.broker import free_port
from minisplit.hil.faults import Fault, FaultKind
from minisplit.hil.simulator import Simulator
from minisplit.testing.broker import MessageRecorder, Mosquitto, recording
from minisplit.testing.harness import wait_until
from minisplit.testing.processes import (
    BASE,
    ZONES,
    ControllerProcess,
    controller_config,
    latest_state,
    unwritable,
    wait_online,
)
from tests.controller.test_notify import received
from tests.integration.durability import durability_trial
from tests.soak import observe_polls

pytestmark = pytest.mark.integration

HEARTBEAT_LOST = 0x40  # status bit 6 of the outdoor unit and of every head (docs/reference-unit.md)


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


async def test_kill_9_mid_cycle_with_a_head_gone_the_units_fall_back_then_resume(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    speed = 60.0  # a 10 s period is 1/6 wall second; the 60 s heartbeat timeout is 1 s
    gap_s = 300.0  # simulated seconds the controller stays dead
    port = free_port()
    config, loaded = controller_config(
        tmp_path, port, mosquitto.port, bus_extra="timeout_s = 0.1\nretries = 1"
    )
    simulator = Simulator(loaded, speed=speed)
    polled = asyncio.Event()
    observe_polls(simulator.odu, "status", polled.set)
    process = ControllerProcess(config)

    def lost(unit: str) -> bool:
        if unit == "odu":
            return bool(int(simulator.odu_register("status") or 0) & HEARTBEAT_LOST)
        return bool(int(simulator.head_register(unit, "status") or 0) & HEARTBEAT_LOST)

    async with (
        asyncio.timeout(60),
        simulator.running(tcp=("127.0.0.1", port)),
        recording(mosquitto) as recorder,
        mosquitto.client() as client,
    ):
        await process.start("--time-scale", f"{speed:g}")
        try:
            online = await wait_online(recorder, process, 0)
            for zone, payload in (("living", b"17.5"), ("bedroom", b"16.5")):
                await client.publish(f"{BASE}/zone/{zone}/set/mode", b"heat", qos=1)
                await client.publish(f"{BASE}/zone/{zone}/set/temperature", payload, qos=1)
            await client.publish(f"{BASE}/zone/bedroom/set/fan_mode", b"quiet", qos=1)
            await recorder.wait_for(
                f"{BASE}/zone/bedroom/state",
                lambda m: json.loads(m.payload)["fan_mode"] == "quiet",
                after=online,
                timeout=10,
            )
            await wait_until(
                lambda: simulator.odu_register("compressor_frequency"), 20, "the compressor on"
            )
            simulator.faults.add(Fault(FaultKind.VANISH, "bedroom"))
            await recorder.wait_for(
                f"{BASE}/zone/bedroom/availability", lambda m: m.payload == b"offline", after=online
            )
            assert not any(lost(unit) for unit in ("odu", "living", "kitchen", "office"))

            polled.clear()
            await polled.wait()  # the controller is reading the outdoor unit: mid-cycle
            process.kill()
            assert await process.wait() == -9
            killed_at = simulator.sim_time_s
            offline = await recorder.wait_for(
                f"{BASE}/status", lambda m: m.payload == b"offline", after=online
            )

            # The gap: no controller. Every unit's watchdog lapses and it runs on its own.
            rooms: dict[str, list[float]] = {zone: [] for zone in ZONES}
            autonomous_running = False
            while simulator.sim_time_s < killed_at + gap_s:
                for zone in ZONES:
                    rooms[zone].append(simulator.room_temperature(zone))
                if all(lost(unit) for unit in ("odu", *ZONES)):
                    running = bool(simulator.odu_register("compressor_frequency"))
                    autonomous_running = autonomous_running or running
                await asyncio.sleep(0.05)
            assert all(lost(unit) for unit in ("odu", *ZONES))
            assert autonomous_running, "the outdoor unit never ran on the heads' own requests"
            for zone, target in (("living", 17.5), ("bedroom", 16.5)):
                low = min(rooms[zone])
                assert low >= target - 1.0, f"{zone} fell to {low:.1f} °C (set {target})"
                assert low >= rooms[zone][0] - 0.5, f"{zone} cooled down in the fallback"

            await process.start("--time-scale", f"{speed:g}")
            online = await wait_online(recorder, process, recorder.messages.index(offline))
            state = latest_state(
                recorder, f"{BASE}/zone/bedroom/state", online, len(recorder.messages)
            )
            assert state is not None
            assert (state["mode"], state["target_temperature"], state["fan_mode"]) == (
                "heat",
                16.5,
                "quiet",
            )
            assert state["available"] is False  # its head is still gone
            living = latest_state(
                recorder, f"{BASE}/zone/living/state", online, len(recorder.messages)
            )
            assert living is not None and (living["mode"], living["target_temperature"]) == (
                "heat",
                17.5,
            )
            reachable = ("odu", "living", "kitchen", "office")
            await wait_until(
                lambda: not any(lost(unit) for unit in reachable), 10, "heartbeats resumed"
            )
            assert lost("bedroom")

            simulator.faults.clear()  # the bedroom head is back
            await recorder.wait_for(
                f"{BASE}/zone/bedroom/availability",
                lambda m: m.payload == b"online",
                after=online,
                timeout=10,
            )
            await wait_until(lambda: not lost("bedroom"), 10, "the bedroom head under control")
            assert simulator.head_register("bedroom", "display_setpoint") == 16.5
        finally:
            await process.stop()


async def test_a_torn_state_file_at_start_uses_the_last_good_copy(house: House) -> None:
    store = StateStore(house.loaded.config.state_file)
    office = ZoneSettings(mode=ZoneMode.COOL, target_temperature=25.5, fan_mode=FanSpeed.LOW)
    zones = {z.id: ZoneSettings() for z in house.loaded.config.zones} | {"office": office}
    store.save(SavedState(zones, {MAIN_SYSTEM: UnitSettings(demand_limit_pct=70)}))
    store.save(SavedState({**zones, "office": ZoneSettings()}, {MAIN_SYSTEM: UnitSettings()}))
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


def _unsaved(payload: bytes) -> bool:
    return "state_unsaved" in (json.loads(payload)["fault"] or "")


async def _set_while_the_disk_fails(house: House, process: ControllerProcess, online: int) -> None:
    """With the state directory unwritable, set the bedroom to 26 °C; return once the
    controller has published it, and published that it is not saved."""
    recorder = house.recorder
    await house.client.publish(f"{BASE}/zone/bedroom/set/temperature", b"26", qos=1)
    await recorder.wait_for(
        f"{BASE}/zone/bedroom/state",
        lambda m: json.loads(m.payload)["target_temperature"] == 26.0,
        after=online,
        timeout=10,
    )
    await recorder.wait_for(f"{BASE}/unit/state", lambda m: _unsaved(m.payload), after=online)
    assert process.output().count("cannot write state file") == 1


async def _restarted_bedroom_target(house: House, process: ControllerProcess, died: int) -> float:
    await process.start()
    online = await wait_online(house.recorder, process, died)
    state = latest_state(
        house.recorder, f"{BASE}/zone/bedroom/state", online, len(house.recorder.messages)
    )
    assert state is not None
    return state["target_temperature"]


async def test_a_setting_a_failed_write_left_unsaved_is_written_once_the_disk_recovers(
    house: House, tmp_path: Path
) -> None:
    recorder = house.recorder
    state_dir = house.loaded.config.state_file.parent
    # systemd's side of the notify protocol: a STATUS= line with every watchdog ping (0.5 s).
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.setblocking(False)
    statuses: list[str] = []

    def status_says(unsaved: bool) -> bool:
        statuses.extend(m for m in received(notify) if "STATUS=" in m)
        return bool(statuses) and ("settings not saved" in statuses[-1]) == unsaved

    env = {"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "1000000"}
    process = ControllerProcess(house.config, env=env)
    await process.start()
    try:
        online = await wait_online(recorder, process, 0)
        await house.client.publish(f"{BASE}/zone/bedroom/set/temperature", b"22", qos=1)
        await recorder.wait_for(
            f"{BASE}/zone/bedroom/state",
            lambda m: json.loads(m.payload)["target_temperature"] == 22.0,
            after=online,
        )
        with unwritable(state_dir):
            await _set_while_the_disk_fails(house, process, online)
            unsaved = len(recorder.messages)
            await wait_until(lambda: status_says(unsaved=True), 10, "STATUS: not saved")
        # The disk is back: the retry writes the setting and the fault clears.
        await recorder.wait_for(
            f"{BASE}/unit/state", lambda m: not _unsaved(m.payload), after=unsaved, timeout=15
        )
        await wait_until(lambda: status_says(unsaved=False), 10, "STATUS: saved again")
        assert "written again" in process.output()
        process.kill()
        await process.wait()
        offline = await recorder.wait_for(
            f"{BASE}/status", lambda m: m.payload == b"offline", after=online
        )
        died = recorder.messages.index(offline)
        assert await _restarted_bedroom_target(house, process, died) == 26.0, "setting lost"
        # The directory the controller made for its state is the owner's alone.
        assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    finally:
        await process.stop()
        notify.close()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_stopped_while_a_setting_is_unsaved_it_saves_it_on_the_way_out(
    house: House, stop: signal.Signals
) -> None:
    recorder = house.recorder
    process = ControllerProcess(house.config)
    await process.start()
    try:
        online = await wait_online(recorder, process, 0)
        with unwritable(house.loaded.config.state_file.parent):
            await _set_while_the_disk_fails(house, process, online)
            # Pin the moment: the disk recovers while the retry waits, and the service is
            # stopped before the retry comes (as `systemctl restart` after freeing the disk).
            process.send(signal.SIGSTOP)
        process.send(stop)
        process.send(signal.SIGCONT)
        exit_code = await process.wait()
        offline = await recorder.wait_for(
            f"{BASE}/status", lambda m: m.payload == b"offline", after=online
        )
        died = recorder.messages.index(offline)
        assert await _restarted_bedroom_target(house, process, died) == 26.0, "setting lost"
        assert exit_code == 0  # a stop, not a failure
    finally:
        await process.stop()
