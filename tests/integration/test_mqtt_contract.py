"""The MQTT contract of docs/mqtt.md end to end: a real mosquitto, the real supervisor and the
simulator. Commands reach the heads at once, settings are durable before they are shown, the
handheld remote and remote room sensors work, and state and discovery survive a broker
restart."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import pytest

from minisplit.controller.config import MAIN_SYSTEM, LoadedConfig
from minisplit.controller.core.settings import UnitSettings, ZoneMode, ZoneSettings
from minisplit.controller.core.transitions import apply_unit, apply_zone
from minisplit.controller.service.commands import (
    ZONE_FIELDS,
    CommandError,
    ZoneCommand,
    parse_unit_command,
    parse_zone_command,
)
from minisplit.controller.service.persistence import SavedState, StateStore, decode_state
from minisplit.controller.service.supervisor import Supervisor
from minisplit.drivers.vocabulary import FanSpeed
from minisplit.hil.broker import free_port
from minisplit.hil.simulator import Simulator
from minisplit.testing.broker import MessageRecorder, Mosquitto, recording
from minisplit.testing.harness import running, wait_until
from minisplit.testing.processes import BASE, controller_config

pytestmark = pytest.mark.integration

SPEED = 10.0  # the control period of 10 s is one wall second


@dataclass
class System:
    supervisor: Supervisor
    simulator: Simulator
    recorder: MessageRecorder
    client: aiomqtt.Client
    loaded: LoadedConfig

    def state(self, zone: str) -> dict:
        messages = self.recorder.on(f"{BASE}/zone/{zone}/state")
        return json.loads(messages[-1].payload) if messages else {}

    def saved(self) -> SavedState:
        return decode_state(self.loaded.config.state_file.read_bytes())


@contextlib.asynccontextmanager
async def system(
    directory: Path,
    broker: Mosquitto,
    *,
    speed: float = SPEED,
    extra: str = "",
    zone_extra: dict[str, str] | None = None,
) -> AsyncIterator[System]:
    port = free_port()
    _, loaded = controller_config(directory, port, broker.port, extra=extra, zone_extra=zone_extra)
    simulator = Simulator(loaded, speed=speed)
    supervisor = Supervisor(loaded, time_scale=speed)
    async with (
        recording(broker) as recorder,
        simulator.running(tcp=("127.0.0.1", port)),
        running(supervisor),
        broker.client() as client,
    ):
        # The publishing client reads its (empty) message stream, so that a broker restart
        # ends it quietly instead of leaving aiomqtt's disconnection error unretrieved.
        drain = asyncio.create_task(_drain(client))
        found = System(supervisor, simulator, recorder, client, loaded)
        try:
            await wait_until(
                lambda: (
                    all(z.available for z in supervisor.heads.values())
                    and supervisor.odu.available
                    and found.state("living").get("available")
                ),
                15,
                "every unit answering and the state published",
            )
            yield found
        finally:
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain


async def _drain(client: aiomqtt.Client) -> None:
    with contextlib.suppress(aiomqtt.MqttError):
        async for _ in client.messages:
            pass


async def test_commands_reach_the_units_at_once_durably(tmp_path: Path, mosquitto: Mosquitto):
    # At speed 1 a poll cycle takes 10 s: anything quicker is the command's own write.
    async with system(tmp_path, mosquitto, speed=1.0) as s:
        loop = asyncio.get_running_loop()
        sent = loop.time()
        await s.client.publish(f"{BASE}/zone/living/set/temperature", b"23.5", qos=1)
        await wait_until(
            lambda: s.simulator.head_register("living", "display_setpoint") == 23.5,
            2,
            "the setpoint on the head",
        )
        assert loop.time() - sent < 1.0
        # What is shown is already on disk.
        await wait_until(lambda: s.state("living").get("target_temperature") == 23.5, 2, "state")
        assert s.saved().zones["living"].target_temperature == 23.5

        await s.client.publish(f"{BASE}/zone/kitchen/set/fan_mode", b"high", qos=1)
        await s.client.publish(f"{BASE}/unit/set/quiet", b"ON", qos=1)
        await s.client.publish(f"{BASE}/unit/set/demand_limit", b"60", qos=1)
        await wait_until(
            lambda: (
                s.simulator.head_register("kitchen", "fan") == 4
                and s.simulator.odu_register("quiet_mode") == 1
                and s.simulator.odu_register("demand_limit") == 60
            ),
            2,
            "the fan, quiet mode and demand limit on the units",
        )
        assert loop.time() - sent < 2.0
        await wait_until(
            lambda: (
                json.loads(s.recorder.on(f"{BASE}/unit/state")[-1].payload)["demand_limit"] == 60
            ),
            2,
            "the unit state",
        )
        unit = json.loads(s.recorder.on(f"{BASE}/unit/state")[-1].payload)
        assert unit["quiet"] is True
        assert s.saved().unit_of(MAIN_SYSTEM) == UnitSettings(quiet=True, demand_limit_pct=60)


async def test_handheld_remote_and_remote_sensor(tmp_path: Path, mosquitto: Mosquitto) -> None:
    sensor = 'remote_sensor_topic = "zigbee2mqtt/living"\nremote_sensor_field = "temperature"'
    sensor += "\nremote_sensor_timeout_s = 30"  # 3 wall seconds at SPEED
    async with system(tmp_path, mosquitto, zone_extra={"living": sensor}) as s:
        # Someone turns the bedroom on and up with the IR remote.
        s.simulator.press_remote("bedroom", power=True, mode="heat", setpoint=23.0, fan="high")
        await wait_until(
            lambda: (
                s.state("bedroom").get("target_temperature") == 23.0
                and s.state("bedroom").get("fan_mode") == "high"
                and s.state("bedroom").get("mode") == "heat"
            ),
            5,
            "the remote's change published as the zone's setting",
        )
        saved = s.saved().zones["bedroom"]
        assert (saved.mode, saved.target_temperature, saved.fan_mode) == (
            ZoneMode.HEAT,
            23.0,
            FanSpeed.HIGH,
        )
        await wait_until(
            lambda: int(s.simulator.head_register("bedroom", "status") or 0) & 0x10 == 0,
            5,
            "the head's remote-change flag (status b4) acknowledged",
        )

        # A Zigbee2MQTT room sensor takes over from the head's ceiling sensor while fresh.
        reading = {"temperature": 19.3, "humidity": 45, "battery": 98}
        await s.client.publish("zigbee2mqtt/living", json.dumps(reading).encode(), qos=1)
        await wait_until(
            lambda: (
                s.state("living").get("sensor") == "remote"
                and s.state("living").get("current_temperature") == 19.3
            ),
            5,
            "the remote sensor in use",
        )
        await s.client.publish(f"{BASE}/zone/office/set/remote_temperature", b"18.2", qos=1)
        await wait_until(
            lambda: s.state("office").get("current_temperature") == 18.2, 5, "office sensor"
        )
        await wait_until(
            lambda: s.state("living").get("sensor") == "head", 10, "the stale sensor dropped"
        )
        assert s.state("living")["current_temperature"] != 19.3


async def test_state_and_discovery_survive_a_broker_restart(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    async with system(tmp_path, mosquitto) as s:
        await s.client.publish(f"{BASE}/zone/office/set/mode", b"cool", qos=1)
        await wait_until(lambda: s.state("office").get("mode") == "cool", 5, "office cooling")
        bridge = s.supervisor.bridge
        assert bridge is not None
        mosquitto.stop()  # no persistence: the broker forgets every retained message
        await wait_until(lambda: not bridge.connected, 10, "the bridge to notice")
        mosquitto.start()
        await wait_until(lambda: bridge.connected, 15, "the bridge to reconnect")
        async with recording(mosquitto) as fresh:  # the broker has forgotten everything
            await fresh.wait_for(f"{BASE}/status", lambda m: m.payload == b"online")
            state = await fresh.wait_for(f"{BASE}/zone/office/state")
            assert json.loads(state.payload)["mode"] == "cool"
            climate = await fresh.wait_for("homeassistant/climate/demo-office/config")
            assert json.loads(climate.payload)["unique_id"] == "minisplit-demo-office-climate"
            assert "swing_modes" in json.loads(climate.payload)  # the head's vanes are known
            await fresh.wait_for(f"{BASE}/unit/state")
            await fresh.wait_for(f"{BASE}/zone/office/availability")
            async with recording(mosquitto, "homeassistant/climate/#") as newcomer:
                again = await newcomer.wait_for("homeassistant/climate/demo-office/config")
                assert again.retain and again.payload == climate.payload

            # Home Assistant restarts and says so: discovery and state come again.
            mark = len(fresh.messages)
            async with mosquitto.client() as client:
                await client.publish("homeassistant/status", b"online", qos=1)
            await fresh.wait_for("homeassistant/climate/demo-office/config", after=mark)
            await fresh.wait_for(f"{BASE}/zone/office/state", after=mark)


async def test_a_fahrenheit_house(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with system(tmp_path, mosquitto, extra='temperature_unit = "F"') as s:
        await s.client.publish(f"{BASE}/zone/living/set/temperature", b"72", qos=1)
        await wait_until(
            lambda: s.simulator.head_register("living", "display_setpoint") == 22.2,
            5,
            "72 °F on the head as 22.2 °C",
        )
        await wait_until(
            lambda: s.state("living").get("target_temperature") == 72.0, 5, "72 °F shown"
        )
        assert 40 < s.state("living")["current_temperature"] < 90  # a room, in °F
        await s.client.publish(f"{BASE}/zone/living/set/temperature", b"22", qos=1)
        error = await s.recorder.wait_for(f"{BASE}/error")
        assert "outside 60.8..86 °F" in json.loads(error.payload)["error"]


async def test_random_commands_through_the_broker_to_the_units(
    tmp_path: Path, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    """Valid and invalid commands at random: the settings end as the valid ones say, and every
    register written is one the profile marks writable, within its range."""
    rng = random.Random(11)
    fields = [f for f in ZONE_FIELDS if f != "remote_temperature"]  # a sensor, not a setting
    words = ["heat", "cool", "off", "dry", "fan_only", "heat_cool", "auto", "high", "turbo"]
    words += ["swing", "3", "eco", "away", "none", "ON", "OFF", "hot", "", "99", "-4"]
    async with system(tmp_path, mosquitto) as s:
        zones = {zone.id: zone for zone in s.loaded.config.zones}
        expected = dict(s.supervisor.settings.zones)
        unit = s.supervisor.settings.unit_of(MAIN_SYSTEM)
        for _ in range(150):
            zone_id = rng.choice(list(zones))
            if rng.random() < 0.1:
                field = rng.choice(["quiet", "demand_limit"])
                payload = rng.choice(["ON", "OFF", str(rng.randrange(-10, 120))]).encode()
                topic = f"{BASE}/unit/set/{field}"
            else:
                field = rng.choice(fields)
                payload = rng.choice([rng.choice(words), f"{rng.uniform(10, 35):.1f}"]).encode()
                topic = f"{BASE}/zone/{zone_id}/set/{field}"
            try:
                if topic.startswith(f"{BASE}/unit/"):
                    unit = apply_unit(unit, parse_unit_command(field, payload).change)
                else:
                    command = parse_zone_command(zones[zone_id], field, payload)
                    assert isinstance(command, ZoneCommand)  # no reading among these fields
                    expected[zone_id] = apply_zone(expected[zone_id], command.change)
            except CommandError:
                pass
            await s.client.publish(topic, payload, qos=1)
        await wait_until(
            lambda: (
                s.supervisor.committer.pending is None
                and s.supervisor.settings.zones == expected
                and s.supervisor.settings.unit_of(MAIN_SYSTEM) == unit
            ),
            10,
            "the supervisor's settings to match the valid commands",
        )
        cycles = s.supervisor.cycles
        await wait_until(lambda: s.supervisor.cycles >= cycles + 2, 5, "two more cycles")
        assert s.saved() == SavedState(expected, {MAIN_SYSTEM: unit})
        for zone_id, zone in zones.items():
            profile = s.loaded.head_profile(zone)
            for spec in profile.registers.values():
                if spec.writable and spec.range is not None:
                    value = s.simulator.head_register(zone_id, spec.name)
                    assert value is not None and spec.range[0] <= value <= spec.range[1]
    refused = [r for r in caplog.records if "refused" in r.getMessage()]
    assert not refused, refused[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_truncated_state_file_falls_back_to_the_last_good_copy(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, loaded = controller_config(tmp_path, free_port(), free_port())
    store = StateStore(loaded.config.state_file)
    zones = {
        z.id: ZoneSettings(mode=ZoneMode.COOL, target_temperature=24.0) for z in loaded.config.zones
    }
    store.save(SavedState(zones, {MAIN_SYSTEM: UnitSettings(quiet=True)}))
    newer = {**zones, "living": ZoneSettings(mode=ZoneMode.HEAT, target_temperature=22.0)}
    store.save(SavedState(newer, {MAIN_SYSTEM: UnitSettings(quiet=True)}))
    data = store.path.read_bytes()
    store.path.write_bytes(data[: len(data) // 2])  # torn by a broken SD card
    with caplog.at_level(logging.WARNING):
        supervisor = Supervisor(loaded)
    assert supervisor.settings.zones["living"] == zones["living"]
    assert supervisor.settings.unit_of(MAIN_SYSTEM).quiet
    assert "unusable" in caplog.text and "last good copy" in caplog.text
    # Both files unusable: the configured defaults, and still no crash.
    store.backup.write_bytes(b"\x00" * 10)
    supervisor = Supervisor(loaded)
    assert supervisor.settings.zones["living"].mode is ZoneMode.OFF
