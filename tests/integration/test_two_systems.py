"""Two systems on one controller, end to end (issue 13): the shipped `demo-two-systems` config
(upstairs the reference outdoor unit and heads, driven directly; downstairs Intesis interface
heads, driven by their setpoints), the simulator serving both over Modbus TCP, a real broker and
the real Supervisor. An MQTT command to a zone of each system reaches that system's head
register and comes back in the published state; each system is arbitrated on its own (one
heats while the other cools, neither in a mode conflict), and a unit setting reaches only its
system's outdoor unit."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from minisplit.controller.config import LoadedConfig, config_file, parse_config
from minisplit.controller.service.supervisor import Supervisor
from minisplit.hil.broker import free_port
from minisplit.hil.simulator import Simulator
from minisplit.testing.broker import Mosquitto, recording
from minisplit.testing.harness import running, wait_until
from minisplit.testing.rig import to_toml

SPEED = 240.0
BASE = "minisplit/demo"


def two_systems(tmp_path: Path, modbus_port: int, mqtt_port: int) -> LoadedConfig:
    data = tomllib.loads(config_file("demo-two-systems").read_text(encoding="utf-8"))
    data["state_file"] = str(tmp_path / "state.json")
    data["buses"]["sim"]["port"] = modbus_port
    data["mqtt"]["port"] = mqtt_port
    return parse_config(to_toml(data), "demo-two-systems.toml")


def word(simulator: Simulator, zone_id: str, register: str) -> str | None:
    """A head's enumerated register as its profile names the value."""
    value = simulator.head_register(zone_id, register)
    spec = simulator.head(zone_id).profile[register]
    return None if value is None or spec.enum is None else spec.enum[int(value)]


def shows(**fields: object):
    return lambda m: all(json.loads(m.payload)[k] == v for k, v in fields.items())


@pytest.mark.integration
async def test_each_system_is_driven_and_arbitrated_on_its_own(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    port = free_port()
    loaded = two_systems(tmp_path, port, mosquitto.port)
    simulator = Simulator(loaded, speed=SPEED)
    async with (
        simulator.running(tcp=("127.0.0.1", port)),
        recording(mosquitto, f"{BASE}/#") as states,
        running(Supervisor(loaded, time_scale=SPEED)) as supervisor,
        mosquitto.client() as client,
    ):
        await states.wait_for(f"{BASE}/status", lambda m: m.payload == b"online", timeout=30)
        # Upstairs heats the bedroom, downstairs cools the living room: in one system the
        # two would be in a mode conflict, here each system goes its own way.
        for topic, payload in [
            ("zone/bedroom/set/mode", "heat"),
            ("zone/bedroom/set/temperature", "23"),
            ("zone/living/set/mode", "cool"),
            ("zone/living/set/temperature", "16"),
            ("unit/upstairs/set/quiet", "ON"),
        ]:
            await client.publish(f"{BASE}/{topic}", payload, qos=1)
        await states.wait_for(
            f"{BASE}/zone/bedroom/state",
            shows(mode="heat", target_temperature=23.0, action="heating", mode_conflict=False),
            timeout=30,
        )
        await states.wait_for(
            f"{BASE}/zone/living/state",
            shows(mode="cool", target_temperature=16.0, mode_conflict=False),
            timeout=30,
        )
        # Each command reached its system's head register.
        await wait_until(
            lambda: (simulator.head_register("bedroom", "capacity_request") or 0) > 0,
            30,
            "a capacity request at the bedroom's head",
        )
        assert simulator.head_register("bedroom", "display_setpoint") == 23.0
        assert word(simulator, "bedroom", "mode") == "heat"
        assert (word(simulator, "living", "power"), word(simulator, "living", "mode")) == (
            "on",
            "cool",
        )
        for _ in range(100):  # bounded: the register and the state agree after a tick
            written = simulator.head_register("living", "display_setpoint")
            if written == supervisor.zone_state("living")["head_setpoint"]:
                break
            await supervisor.cycle_done.wait()
        assert written == supervisor.zone_state("living")["head_setpoint"]
        assert written is not None and written <= 16.0
        # The upstairs outdoor unit heats, quietly; the zones nobody turned on stay off.
        upstairs = simulator.odu_of("upstairs")
        await wait_until(lambda: upstairs.value("mode") == 1, 30, "the upstairs unit to heat")
        # The quiet command is written in the cycle after it is on disk: the unit may heat
        # before that (the bedroom's command came first).
        await wait_until(lambda: upstairs.value("quiet_mode") == 1, 30, "the upstairs unit quiet")
        for zone in ("office", "kitchen"):
            assert word(simulator, zone, "power") == "off", zone
        # Each system's unit state on its own topic: the quiet setting is upstairs' only.
        up = shows(quiet=True, available=True, mode="heat")
        await states.wait_for(f"{BASE}/unit/upstairs/state", up, timeout=30)
        down = json.loads(states.on(f"{BASE}/unit/downstairs/state")[-1].payload)
        assert down["quiet"] is False and down["compressor_target"] == 0.0
        assert not states.on(f"{BASE}/unit/state")  # no single-system unit topic
        assert supervisor.settings.unit_of("downstairs").quiet is False
