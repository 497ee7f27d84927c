"""MQTT and Home Assistant with several systems (docs/mqtt.md, 'Several systems'): every zone
stays in the one tree; each system's unit has its own state and command topics and its own
entities (unique_ids and names carry the system); a system without an outdoor unit announces
none; a command for no configured system is rejected on `<base>/error`."""

from __future__ import annotations

import asyncio
import json

from minisplit.controller.config import MqttConfig, ZoneConfig
from minisplit.controller.core.transitions import SetDemandLimit, SetQuiet
from minisplit.controller.service.commands import CommandError, UnitCommand
from minisplit.controller.service.discovery import Topics, UnitSystem, discovery_messages
from minisplit.controller.service.mqtt_bridge import MqttBridge
from minisplit.testing.broker import MessageRecorder, Mosquitto
from tests.controller.test_discovery import SPARSE_ODU

BASE = "minisplit/house"
ZONES = [
    ZoneConfig(id="bedroom", name="Bedroom", bus="line", unit_id=11, system="upstairs"),
    ZoneConfig(id="living", name="Living room", bus="line", unit_id=21, system="downstairs"),
]
SYSTEMS = [UnitSystem("upstairs", "Upstairs", True), UnitSystem("downstairs", "Downstairs", False)]
TOPICS = Topics.for_controller(MqttConfig(), "house")


def bridge(config: MqttConfig, commands: list[object], **options: object) -> MqttBridge:
    return MqttBridge(
        config,
        "house",
        ZONES,
        commands.append,
        lambda zone_id, celsius: None,
        systems=SYSTEMS,
        backoff_initial_s=0.05,
        backoff_max_s=0.4,
        **options,  # type: ignore[arg-type]
    )


def test_each_system_with_an_outdoor_unit_has_its_own_unit_entities() -> None:
    messages = discovery_messages(TOPICS, ZONES, systems=SYSTEMS)
    units = {topic: p for topic, p in messages.items() if "-unit-" in topic}
    assert units and all("-unit-upstairs-" in topic for topic in units)
    quiet = messages["homeassistant/switch/house-unit-upstairs-quiet/config"]
    assert quiet["unique_id"] == "minisplit-house-unit-upstairs-quiet"
    assert quiet["name"] == "Upstairs quiet mode"
    assert quiet["command_topic"] == f"{BASE}/unit/upstairs/set/quiet"
    assert quiet["state_topic"] == f"{BASE}/unit/upstairs/state"
    assert quiet["default_entity_id"] == "switch.house_unit_upstairs_quiet"
    availability = quiet["availability"]
    assert isinstance(availability, list) and availability[1]["topic"] == quiet["state_topic"]
    # Both systems' zones are in the one tree.
    assert {"homeassistant/climate/house-bedroom/config"} | {
        "homeassistant/climate/house-living/config"
    } <= set(messages)


def test_the_single_system_keeps_todays_unit_topics_and_ids() -> None:
    messages = discovery_messages(TOPICS, ZONES[:1], systems=[UnitSystem()])
    quiet = messages["homeassistant/switch/house-unit-quiet/config"]
    assert quiet["unique_id"] == "minisplit-house-unit-quiet" and quiet["name"] == "Quiet mode"
    assert quiet["command_topic"] == f"{BASE}/unit/set/quiet"
    assert quiet["state_topic"] == f"{BASE}/unit/state"


def test_unit_commands_name_their_system_and_an_unknown_one_is_rejected() -> None:
    commands: list[object] = []
    mqtt = bridge(MqttConfig(), commands, clock=lambda: 0.0)
    assert f"{BASE}/unit/+/set/+" in mqtt.subscriptions
    assert f"{BASE}/unit/set/+" not in mqtt.subscriptions
    mqtt.dispatch(f"{BASE}/unit/upstairs/set/quiet", b"ON")
    mqtt.dispatch(f"{BASE}/unit/upstairs/set/demand_limit", b"60")
    assert commands == [
        UnitCommand("upstairs", SetQuiet(True)),
        UnitCommand("upstairs", SetDemandLimit(60)),
    ]
    # Downstairs has no outdoor unit the controller reaches: a lever of it would move nothing.
    (error,) = mqtt.dispatch(f"{BASE}/unit/downstairs/set/demand_limit", b"60")
    assert isinstance(error, CommandError)
    assert str(error) == (
        "system 'downstairs''s outdoor unit has no demand_limit lever: the controller reaches "
        "none (payload '60')"
    )
    (error,) = mqtt.dispatch(f"{BASE}/unit/attic/set/quiet", b"ON")
    assert isinstance(error, CommandError)
    assert str(error) == "unknown system 'attic' (payload 'ON'); configured: upstairs, downstairs"
    (error,) = mqtt.dispatch(f"{BASE}/unit/upstairs/set/quiet", b"maybe")
    assert isinstance(error, CommandError) and "allowed: ON, OFF" in str(error)
    # The unit entities of the config as it was with one system are cleared (where they
    # carry their unique_id), and its command topic names no system: not a command here.
    assert "homeassistant/switch/house-unit-quiet/config" in mqtt.subscriptions
    assert mqtt.dispatch(f"{BASE}/unit/set/quiet", b"ON") == []
    assert len(commands) == 2


def test_a_unit_lever_its_profile_lacks_is_rejected() -> None:
    """Home Assistant is not offered the entity; a command sent by hand is refused, not taken
    into the unit's settings where it would show and move nothing."""
    commands: list[object] = []
    mqtt = MqttBridge(
        MqttConfig(),
        "house",
        ZONES[:1],
        commands.append,
        lambda zone_id, celsius: None,
        systems=[UnitSystem(odu=SPARSE_ODU)],
        clock=lambda: 0.0,
    )
    for field, payload in (("quiet", b"ON"), ("demand_limit", b"50")):
        (error,) = mqtt.dispatch(f"{BASE}/unit/set/{field}", payload)
        assert isinstance(error, CommandError)
        assert f"the outdoor unit has no {field} lever: its profile has none" in str(error)
    assert commands == []


async def test_each_systems_unit_state_and_rejects_go_over_the_broker(
    mosquitto: Mosquitto, mqtt_recorder: MessageRecorder
) -> None:
    commands: list[object] = []
    config = MqttConfig(host=mosquitto.host, port=mosquitto.port, keepalive_s=5)
    mqtt = bridge(config, commands)
    mqtt.publish_unit_state({"available": True, "quiet": True}, "upstairs")
    mqtt.publish_unit_state({"available": False, "quiet": False}, "downstairs")
    task = asyncio.create_task(mqtt.run())
    async with mosquitto.client() as client:
        up = await mqtt_recorder.wait_for(f"{BASE}/unit/upstairs/state")
        down = await mqtt_recorder.wait_for(f"{BASE}/unit/downstairs/state")
        assert json.loads(up.payload)["quiet"] is True
        assert json.loads(down.payload)["available"] is False
        await mqtt_recorder.wait_for(f"{BASE}/status", lambda m: m.payload == b"online")
        await client.publish(f"{BASE}/unit/attic/set/quiet", b"ON", qos=1)
        error = json.loads((await mqtt_recorder.wait_for(f"{BASE}/error")).payload)
        assert error["topic"] == f"{BASE}/unit/attic/set/quiet"
        assert "unknown system 'attic'" in error["error"]
    async with asyncio.timeout(10):
        await mqtt.close()
        await task
    assert commands == []
