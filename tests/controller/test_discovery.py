"""Home Assistant discovery payloads: documented options only, consistent topics, unique ids."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest

from minisplit.controller.config import MqttConfig, ZoneConfig
from minisplit.controller.core.head_setpoint import HeadSetting
from minisplit.controller.core.settings import ZoneMode
from minisplit.controller.schedule_config import SwitchPoint
from minisplit.controller.service.commands import UNIT_FIELDS, ZONE_FIELDS
from minisplit.controller.service.discovery import (
    HVAC_ACTIONS,
    Topics,
    UnitSystem,
    climate_config,
    discovery_messages,
    hvac_action,
    legacy_discovery_topics,
    retired_head_setpoint_sensors,
    retired_schedule_switches,
    retired_zone_discovery,
    retired_zone_topics,
    unit_entities_offered,
)
from minisplit.controller.service.mqtt_bridge import MqttBridge
from minisplit.controller.service.setpoint_heads import zone_action
from minisplit.controller.service.state_report import UNIT_STATE_FIELDS, ZONE_STATE_FIELDS
from minisplit.controller.service.temperature_units import TemperatureUnit
from minisplit.drivers.capabilities import capabilities
from minisplit.drivers.profile import load_profile
from minisplit.drivers.records import HeadInfo
from minisplit.drivers.vocabulary import HeadMode, ZoneAction
from tests.fixtures.profiles import head_with, profile

# Options documented for MQTT discovery on home-assistant.io (integrations climate.mqtt,
# sensor.mqtt, binary_sensor.mqtt, switch.mqtt, number.mqtt; "MQTT discovery" for `origin`
# and `device`). Anything else is silently dropped by Home Assistant, i.e. a bug here.
COMMON = {
    "availability",
    "availability_mode",
    "availability_template",
    "availability_topic",
    "default_entity_id",
    "device",
    "enabled_by_default",
    "encoding",
    "entity_category",
    "entity_picture",
    "icon",
    "json_attributes_template",
    "json_attributes_topic",
    "name",
    "object_id",
    "origin",
    "payload_available",
    "payload_not_available",
    "qos",
    "unique_id",
}
ALLOWED = {
    "climate": COMMON
    | {
        "action_template",
        "action_topic",
        "current_humidity_template",
        "current_humidity_topic",
        "current_temperature_template",
        "current_temperature_topic",
        "fan_mode_command_template",
        "fan_mode_command_topic",
        "fan_mode_state_template",
        "fan_mode_state_topic",
        "fan_modes",
        "initial",
        "max_humidity",
        "max_temp",
        "min_humidity",
        "min_temp",
        "mode_command_template",
        "mode_command_topic",
        "mode_state_template",
        "mode_state_topic",
        "modes",
        "optimistic",
        "payload_off",
        "payload_on",
        "power_command_template",
        "power_command_topic",
        "precision",
        "preset_mode_command_template",
        "preset_mode_command_topic",
        "preset_mode_state_topic",
        "preset_mode_value_template",
        "preset_modes",
        "retain",
        "swing_horizontal_mode_command_template",
        "swing_horizontal_mode_command_topic",
        "swing_horizontal_mode_state_template",
        "swing_horizontal_mode_state_topic",
        "swing_horizontal_modes",
        "swing_mode_command_template",
        "swing_mode_command_topic",
        "swing_mode_state_template",
        "swing_mode_state_topic",
        "swing_modes",
        "target_humidity_command_template",
        "target_humidity_command_topic",
        "target_humidity_state_template",
        "target_humidity_state_topic",
        "temp_step",
        "temperature_command_template",
        "temperature_command_topic",
        "temperature_high_command_template",
        "temperature_high_command_topic",
        "temperature_high_state_template",
        "temperature_high_state_topic",
        "temperature_low_command_template",
        "temperature_low_command_topic",
        "temperature_low_state_template",
        "temperature_low_state_topic",
        "temperature_state_template",
        "temperature_state_topic",
        "temperature_unit",
        "value_template",
    },
    "sensor": COMMON
    | {
        "device_class",
        "expire_after",
        "force_update",
        "last_reset_value_template",
        "options",
        "state_class",
        "state_topic",
        "suggested_display_precision",
        "unit_of_measurement",
        "value_template",
    },
    "binary_sensor": COMMON
    | {
        "device_class",
        "expire_after",
        "force_update",
        "off_delay",
        "payload_off",
        "payload_on",
        "state_topic",
        "value_template",
    },
    "switch": COMMON
    | {
        "command_template",
        "command_topic",
        "device_class",
        "optimistic",
        "payload_off",
        "payload_on",
        "retain",
        "state_off",
        "state_on",
        "state_topic",
        "value_template",
    },
    "number": COMMON
    | {
        "command_template",
        "command_topic",
        "device_class",
        "max",
        "min",
        "mode",
        "optimistic",
        "payload_reset",
        "retain",
        "state_topic",
        "step",
        "unit_of_measurement",
        "value_template",
    },
}
DEVICE_KEYS = {
    "configuration_url",
    "connections",
    "hw_version",
    "identifiers",
    "manufacturer",
    "model",
    "model_id",
    "name",
    "serial_number",
    "suggested_area",
    "sw_version",
    "via_device",
}
AVAILABILITY_KEYS = {"topic", "payload_available", "payload_not_available", "value_template"}
ORIGIN_KEYS = {"name", "sw_version", "support_url"}
HA_HVAC_MODES = {"off", "heat", "cool", "heat_cool", "auto", "dry", "fan_only"}
# climate's HVACAction: what the `action_topic` may carry.
HA_HVAC_ACTIONS = {"off", "preheating", "defrosting", "heating", "cooling", "drying", "idle", "fan"}

ZONES = [
    ZoneConfig(id="living", name="Living room", bus="rs485", unit_id=11),
    ZoneConfig(
        id="bedroom",
        name="Bedroom",
        bus="rs485",
        unit_id=12,
        min_temperature=14.0,
        max_temperature=26.0,
        remote_sensor_topic="zigbee2mqtt/bedroom_sensor",
        remote_sensor_field="temperature",
    ),
]
TOPICS = Topics.for_controller(MqttConfig(), "house")
FULL_HEAD = HeadInfo(
    firmware_version=0x0102,
    serial_number=2025000011,
    rated_capacity_w=2500.0,
    has_humidity_sensor=True,
    has_vertical_vane=True,
    has_horizontal_vane=True,
)
PLAIN_HEAD = dataclasses.replace(FULL_HEAD, has_humidity_sensor=False, has_horizontal_vane=False)
HEADS = {"living": FULL_HEAD, "bedroom": PLAIN_HEAD}
REFERENCE_HEAD = capabilities(load_profile("reference-head"))
MESSAGES: dict[str, dict[str, Any]] = discovery_messages(
    TOPICS, ZONES, TemperatureUnit.CELSIUS, HEADS, {zone.id: REFERENCE_HEAD for zone in ZONES}
)


def _component(config_topic: str) -> str:
    prefix, component, _object_id, config = config_topic.split("/")
    assert (prefix, config) == ("homeassistant", "config")
    return component


def _topics_in(payload: dict[str, Any]) -> dict[str, str]:
    found = {key: value for key, value in payload.items() if key.endswith("topic")}
    for i, item in enumerate(payload.get("availability", [])):
        found[f"availability[{i}]"] = item["topic"]
    return found


def test_one_climate_entity_per_zone_at_the_documented_topic() -> None:
    climates = [t for t in MESSAGES if _component(t) == "climate"]
    assert climates == [
        "homeassistant/climate/house-living/config",
        "homeassistant/climate/house-bedroom/config",
    ]


def test_unit_entities_are_all_there() -> None:
    by_component: dict[str, list[str]] = {}
    for topic, payload in MESSAGES.items():
        by_component.setdefault(_component(topic), []).append(str(payload["name"]))
    assert sorted(by_component["sensor"]) == sorted(
        [
            "Compressor frequency",
            "Outdoor temperature",
            "Power",
            "Energy",
            "Fault",
            "Demand",
            "Demand",
        ]
    )
    assert sorted(by_component["binary_sensor"]) == ["Defrost", *["Forecast hold"] * len(ZONES)]
    assert by_component["switch"] == ["Quiet mode"]
    assert by_component["number"] == ["Demand limit"]


@pytest.mark.parametrize("topic", list(MESSAGES))
def test_only_documented_options(topic: str) -> None:
    payload = MESSAGES[topic]
    unknown = set(payload) - ALLOWED[_component(topic)]
    assert not unknown, f"{topic}: not documented Home Assistant options: {sorted(unknown)}"
    assert set(payload["device"]) <= DEVICE_KEYS
    assert set(payload["origin"]) <= ORIGIN_KEYS
    for item in payload.get("availability", []):
        assert set(item) <= AVAILABILITY_KEYS
    json.dumps(payload, allow_nan=False)  # publishable as is


@pytest.mark.parametrize("topic", list(MESSAGES))
def test_every_topic_is_one_the_bridge_publishes_or_listens_to(topic: str) -> None:
    bridge = MqttBridge(MqttConfig(), "house", ZONES, lambda _: None, lambda _z, _t: None)
    published = {TOPICS.status, TOPICS.unit_state}
    published |= {TOPICS.zone_state(z.id) for z in ZONES}
    published |= {TOPICS.zone_availability(z.id) for z in ZONES}
    commands = {TOPICS.zone_set(z.id, f) for z in ZONES for f in ZONE_FIELDS}
    commands |= {TOPICS.unit_set(f) for f in UNIT_FIELDS}
    for key, value in _topics_in(MESSAGES[topic]).items():
        if key.endswith("command_topic"):
            assert value in commands, f"{topic} {key}={value}"
            assert any(_matches(value, sub) for sub in bridge.subscriptions), value
        else:
            assert value in published, f"{topic} {key}={value}"


def _matches(topic: str, wildcard: str) -> bool:
    pattern = re.escape(wildcard).replace(r"\+", "[^/]+").replace("\\#", ".*")
    return re.fullmatch(pattern, topic) is not None


# Where a template's input comes from, when it is not "<name>_template" -> "<name>_topic".
TEMPLATE_SOURCES = {
    "value_template": "state_topic",
    "preset_mode_value_template": "preset_mode_state_topic",
}


def _templates(payload: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(option, template, topic the template reads) for every state/value template."""
    found = []
    for key, value in payload.items():
        if key.endswith("_template") and not key.endswith("command_template"):
            source = TEMPLATE_SOURCES.get(key, key.removesuffix("_template") + "_topic")
            found.append((key, str(value), str(payload[source])))
    for item in payload.get("availability", []):
        if "value_template" in item:
            found.append(("availability.value_template", item["value_template"], item["topic"]))
    return found


@pytest.mark.parametrize("topic", list(MESSAGES))
def test_templates_read_only_fields_of_the_state_json(topic: str) -> None:
    for key, template, source in _templates(MESSAGES[topic]):
        fields: tuple[str, ...]
        if source == TOPICS.unit_state:
            fields = UNIT_STATE_FIELDS
        else:
            assert source in {TOPICS.zone_state(z.id) for z in ZONES}, (topic, key, source)
            fields = ZONE_STATE_FIELDS
        names = re.findall(r"value_json\.(\w+)", template)
        assert names, f"{topic} {key}: {template!r} reads nothing"
        for name in names:
            assert name in fields, f"{topic} {key} reads {name!r}, not in the state of {source}"


def test_climate_describes_the_zone() -> None:
    climate = MESSAGES["homeassistant/climate/house-bedroom/config"]
    assert set(climate["modes"]) <= HA_HVAC_MODES
    assert "none" not in climate["preset_modes"]
    assert climate["preset_modes"] == ["comfort", "eco", "away", "sleep", "boost"]
    assert (climate["min_temp"], climate["max_temp"]) == (14.0, 26.0)
    assert climate["availability_mode"] == "all"
    assert [a["topic"] for a in climate["availability"]] == [
        "minisplit/house/status",
        "minisplit/house/zone/bedroom/availability",
    ]
    assert climate["device"]["via_device"] == "minisplit-house"
    assert climate["temperature_command_topic"] == "minisplit/house/zone/bedroom/set/temperature"
    assert climate["action_template"] == "{{ value_json.action }}"


def test_every_zone_action_is_published_as_its_own_home_assistant_action() -> None:
    assert HVAC_ACTIONS.keys() == set(ZoneAction)
    assert sorted(HVAC_ACTIONS.values()) == sorted(HA_HVAC_ACTIONS)  # each its own word
    assert hvac_action(ZoneAction.DEFROSTING) == "defrosting"
    assert hvac_action("idle") == "idle"  # the word a zone's state may carry
    with pytest.raises(ValueError):
        hvac_action("auto")


def test_unit_sensors_have_units_and_classes() -> None:
    def sensor(key: str) -> dict[str, Any]:
        return MESSAGES[f"homeassistant/sensor/house-unit-{key}/config"]

    assert sensor("energy")["unit_of_measurement"] == "kWh"
    assert sensor("energy")["device_class"] == "energy"
    assert sensor("energy")["state_class"] == "total_increasing"
    assert (sensor("power")["unit_of_measurement"], sensor("power")["device_class"]) == (
        "W",
        "power",
    )
    assert sensor("power")["state_class"] == "measurement"
    assert sensor("outdoor_temperature")["device_class"] == "temperature"
    assert sensor("outdoor_temperature")["unit_of_measurement"] == "°C"
    assert sensor("compressor_frequency")["unit_of_measurement"] == "Hz"
    number = MESSAGES["homeassistant/number/house-unit-demand_limit/config"]
    assert (number["min"], number["max"], number["command_topic"]) == (
        0,
        100,
        "minisplit/house/unit/set/demand_limit",
    )
    switch = MESSAGES["homeassistant/switch/house-unit-quiet/config"]
    assert switch["command_topic"] == "minisplit/house/unit/set/quiet"


def _identities(messages: dict[str, dict[str, Any]]) -> list[str]:
    ids = [str(p["unique_id"]) for p in messages.values()]
    ids += [str(p["default_entity_id"]) for p in messages.values()]
    return ids


def test_unique_ids_are_unique_and_carry_the_controller_id() -> None:
    unique_ids = [str(p["unique_id"]) for p in MESSAGES.values()]
    assert len(set(unique_ids)) == len(unique_ids)
    for topic, payload in MESSAGES.items():
        assert "house" in str(payload["unique_id"])
        object_id = topic.split("/")[2]
        assert str(payload["default_entity_id"]) == (
            f"{_component(topic)}.{object_id.replace('-', '_')}"
        )
        assert object_id.startswith("house-")
        for identifier in payload["device"]["identifiers"]:
            assert "house" in identifier


def test_two_controllers_on_one_broker_do_not_collide() -> None:
    other_topics = Topics.for_controller(MqttConfig(), "cabin")
    other: dict[str, dict[str, Any]] = discovery_messages(other_topics, ZONES)  # same zone ids
    assert not set(MESSAGES) & set(other)
    assert not set(_identities(MESSAGES)) & set(_identities(other))
    ours = {t for p in MESSAGES.values() for t in _topics_in(p).values()}
    theirs = {t for p in other.values() for t in _topics_in(p).values()}
    assert not ours & theirs
    devices = {i for p in MESSAGES.values() for i in p["device"]["identifiers"]}
    assert not devices & {i for p in other.values() for i in p["device"]["identifiers"]}


def test_base_topic_and_prefix_are_configurable() -> None:
    config = MqttConfig(base_topic="hvac", discovery_prefix="ha")
    messages = discovery_messages(Topics.for_controller(config, "house"), ZONES[:1])
    climate = messages["ha/climate/house-living/config"]
    assert climate["mode_state_topic"] == "hvac/house/zone/living/state"


def test_retired_zones_are_cleared() -> None:
    cleared = retired_zone_topics(TOPICS, ["living", "attic", "bedroom"], ZONES)
    assert cleared == [
        "minisplit/house/zone/attic/state",
        "minisplit/house/zone/attic/availability",
        "minisplit/house/zone/attic/program",
    ]
    assert retired_zone_topics(TOPICS, ["living"], ZONES) == []


def test_a_retired_zones_discovery_is_looked_for_under_both_namings() -> None:
    attic = ZoneConfig(id="attic", name="Attic", bus="rs485", unit_id=13)
    with_attic = discovery_messages(TOPICS, [*ZONES, attic])
    published = {
        topic: payload["unique_id"] for topic, payload in with_attic.items() if "attic" in topic
    }
    assert retired_zone_discovery(TOPICS, "attic") == published | {
        "homeassistant/climate/house_attic/config": "minisplit-house-attic-climate",
        "homeassistant/sensor/house_attic_demand/config": "minisplit-house-attic-demand",
        # Had it had a program, its schedule switch (under the newer naming only).
        "homeassistant/switch/house-attic-schedule/config": "minisplit-house-attic-schedule",
    }


def test_discovery_topics_of_two_controllers_never_coincide() -> None:
    """Controller `a` zone `b_c` and controller `a_b` zone `c`: with ids joined by "_" they
    shared `climate/a_b_c`; "-" cannot occur in an id."""
    first = discovery_messages(
        Topics.for_controller(MqttConfig(), "a"), [ZONES[0].model_copy(update={"id": "b_c"})]
    )
    second = discovery_messages(
        Topics.for_controller(MqttConfig(), "a_b"), [ZONES[0].model_copy(update={"id": "c"})]
    )
    assert "homeassistant/climate/a-b_c/config" in first
    assert "homeassistant/climate/a_b-c/config" in second
    assert not set(first) & set(second)
    assert not {p["unique_id"] for p in first.values()} & {p["unique_id"] for p in second.values()}


def test_the_older_discovery_topics_of_this_configuration() -> None:
    legacy = legacy_discovery_topics(TOPICS, ZONES)
    assert legacy["homeassistant/climate/house_living/config"] == "minisplit-house-living-climate"
    assert legacy["homeassistant/number/house_unit_demand_limit/config"] == (
        "minisplit-house-unit-demand_limit"
    )
    # One for every entity published now, with the same unique_id, but the forecast-hold sensors,
    # which came after the renaming.
    published = [str(p["unique_id"]) for p in MESSAGES.values()]
    assert sorted(legacy.values()) == sorted(
        u for u in published if not u.endswith("forecast_hold")
    )
    assert not set(legacy) & set(MESSAGES)


def test_what_the_head_can_do_decides_what_the_entity_offers() -> None:
    living = MESSAGES["homeassistant/climate/house-living/config"]
    assert living["current_humidity_topic"] == "minisplit/house/zone/living/state"
    assert living["current_humidity_template"] == "{{ value_json.humidity }}"
    assert living["swing_modes"] == ["auto", "1", "2", "3", "4", "5", "swing"]
    assert living["swing_horizontal_modes"] == living["swing_modes"]
    assert living["swing_horizontal_mode_command_topic"] == (
        "minisplit/house/zone/living/set/swing_horizontal_mode"
    )
    assert living["swing_horizontal_mode_state_template"] == (
        "{{ value_json.swing_horizontal_mode }}"
    )
    bedroom = MESSAGES["homeassistant/climate/house-bedroom/config"]
    assert "swing_mode_command_topic" in bedroom
    assert not {k for k in bedroom if "humidity" in k or "swing_horizontal" in k}
    # Before a head has answered, neither humidity nor swing is offered.
    unknown = discovery_messages(TOPICS, ZONES)["homeassistant/climate/house-living/config"]
    assert not {k for k in unknown if "humidity" in k or "swing" in k}


def test_the_climate_entity_has_everything_the_issue_asks_for() -> None:
    climate = MESSAGES["homeassistant/climate/house-living/config"]
    assert climate["modes"] == ["off", "heat", "cool", "heat_cool", "dry", "fan_only"]
    assert climate["fan_modes"] == ["auto", "quiet", "low", "medium", "high", "turbo"]
    for key in (
        "temperature_low_command_topic",
        "temperature_high_command_topic",
        "action_topic",
        "power_command_topic",
        "preset_mode_command_topic",
        "current_temperature_topic",
    ):
        assert key in climate, key
    assert (climate["min_temp"], climate["max_temp"], climate["temp_step"]) == (16.0, 30.0, 0.5)
    assert climate["precision"] == 0.1
    assert climate["temperature_unit"] == "C"
    assert climate["unique_id"] == "minisplit-house-living-climate"
    demand = MESSAGES["homeassistant/sensor/house-living-demand/config"]
    assert demand["unit_of_measurement"] == "%"
    assert demand["device"]["identifiers"] == climate["device"]["identifiers"]


def test_a_fahrenheit_house() -> None:
    messages = discovery_messages(TOPICS, ZONES, TemperatureUnit.FAHRENHEIT, HEADS)
    living = messages["homeassistant/climate/house-living/config"]
    assert living["temperature_unit"] == "F"
    assert (living["min_temp"], living["max_temp"], living["temp_step"]) == (61.0, 86.0, 1.0)
    bedroom = messages["homeassistant/climate/house-bedroom/config"]
    assert (bedroom["min_temp"], bedroom["max_temp"]) == (58.0, 78.0)  # 14..26 °C
    outdoor = messages["homeassistant/sensor/house-unit-outdoor_temperature/config"]
    assert outdoor["unit_of_measurement"] == "°F"


def test_the_climate_entity_offers_the_heads_modes_and_fan_steps() -> None:
    three_steps = head_with(
        '{ 0 = "heat", 1 = "fan_only" }', '{ 0 = "low", 1 = "medium", 2 = "high" }'
    )
    climate = climate_config(TOPICS, ZONES[0], capabilities=three_steps)
    assert climate["modes"] == ["off", "heat", "fan_only"]
    assert climate["fan_modes"] == ["low", "medium", "high"]
    bare = climate_config(TOPICS, ZONES[0], capabilities=head_with('{ 1 = "cool" }', None))
    assert not any(key.startswith("fan_mode") for key in bare)


# ---- setpoint-driven heads, no outdoor unit (issue 13) ---------------------------------------

INTERFACE = capabilities(load_profile("intesis-mitsubishi"))


def test_a_system_without_an_outdoor_unit_announces_no_unit_entities() -> None:
    messages = discovery_messages(
        TOPICS,
        ZONES,
        TemperatureUnit.CELSIUS,
        HEADS,
        dict.fromkeys(["living", "bedroom"], INTERFACE),
        outdoor_unit=False,
    )
    assert not [topic for topic in messages if "-unit-" in topic]
    assert len([t for t in messages if _component(t) == "climate"]) == 2


@pytest.mark.parametrize("unit", list(TemperatureUnit))
def test_a_setpoint_driven_head_gets_its_written_setpoint_as_a_diagnostic(
    unit: TemperatureUnit,
) -> None:
    caps = {"living": INTERFACE, "bedroom": REFERENCE_HEAD}
    messages = discovery_messages(TOPICS, ZONES, unit, HEADS, caps)
    found = {t: p for t, p in messages.items() if "head_setpoint" in t}
    assert list(found) == ["homeassistant/sensor/house-living-head_setpoint/config"]
    (payload,) = found.values()
    assert payload["entity_category"] == "diagnostic"
    assert payload["device_class"] == "temperature"
    assert payload["unit_of_measurement"] == unit.symbol
    assert payload["state_topic"] == "minisplit/house/zone/living/state"
    field = re.findall(r"value_json\.(\w+)", str(payload["value_template"]))
    assert field == ["head_setpoint"] and "head_setpoint" in ZONE_STATE_FIELDS


def test_a_head_no_longer_setpoint_driven_has_its_setpoint_sensor_cleared() -> None:
    """The living room's head was setpoint-driven (its sensor announced); now both heads take
    a capacity request: the sensor announced before is claimed for clearing, by its id."""
    before = discovery_messages(TOPICS, ZONES, capabilities={"living": INTERFACE})
    (topic,) = [t for t in before if "head_setpoint" in t]
    now = {"living": REFERENCE_HEAD, "bedroom": REFERENCE_HEAD}
    retired = retired_head_setpoint_sensors(TOPICS, ZONES, now)
    assert retired[topic] == before[topic]["unique_id"]
    # While it is setpoint-driven, its sensor is not claimed.
    assert topic not in retired_head_setpoint_sensors(TOPICS, ZONES, {"living": INTERFACE})


# ---- outdoor-unit entities from its profile's capabilities (issue 13) -----------------------

# An outdoor unit that reports its outdoor temperature and defrost, and nothing else: no
# frequency, power or energy reading, no quiet or demand-limit lever.
SPARSE_ODU = capabilities(
    profile(
        """
[device]
name = "sparse-odu"
kind = "outdoor_unit"
default_unit_id = 1

[registers.outdoor_temperature]
address = 0
table = "input"
type = "s16"
scale = 0.1

[registers.defrost]
address = 0
table = "discrete_input"
type = "bool"
"""
    )
)


def _unit_keys(messages: dict[str, dict[str, object]]) -> set[str]:
    return {
        topic.split("-unit-")[1].removesuffix("/config") for topic in messages if "-unit-" in topic
    }


def test_the_outdoor_units_entities_are_those_its_profile_has_roles_for() -> None:
    messages = discovery_messages(TOPICS, ZONES, heads=HEADS, systems=[UnitSystem(odu=SPARSE_ODU)])
    # The fault stays: it also shows what the controller finds wrong (no answer, …).
    assert _unit_keys(messages) == {"outdoor_temperature", "defrost", "fault"}
    reference = UnitSystem(odu=capabilities(load_profile("reference-odu")))
    full = discovery_messages(TOPICS, ZONES, systems=[reference])
    assert full == discovery_messages(TOPICS, ZONES)  # every role: every entity
    assert _unit_keys(full) == {
        "compressor_frequency",
        "outdoor_temperature",
        "power",
        "energy",
        "fault",
        "defrost",
        "quiet",
        "demand_limit",
    }
    assert unit_entities_offered(SPARSE_ODU) == {"outdoor_temperature", "defrost", "fault"}


def test_a_head_reporting_thermo_on_shows_idle_as_its_climates_action() -> None:
    """The action the climate shows is the zone state's, which a head's thermo-on decides for
    a setpoint-driven head (service.setpoint_heads.zone_action)."""
    setting = HeadSetting(True, HeadMode.HEAT, 22.0, None, None, 20.0, False)
    assert zone_action(setting, thermo_on=False) is ZoneAction.IDLE
    assert zone_action(setting, thermo_on=True) is ZoneAction.HEATING
    climate = climate_config(TOPICS, ZONES[0], capabilities=INTERFACE)
    assert "value_json.action" in str(climate["action_template"])
    assert climate["action_topic"] == TOPICS.zone_state(ZONES[0].id)


def test_a_climates_swing_modes_are_its_vanes_positions() -> None:
    diii = capabilities(load_profile("daikin-diii-net"))
    climate = climate_config(TOPICS, ZONES[0], head=FULL_HEAD, capabilities=diii)
    assert climate["swing_modes"] == ["1", "2", "3", "4", "5", "swing"]
    assert "swing_horizontal_modes" not in climate  # no left/right louver to move
    intesis = climate_config(
        TOPICS, ZONES[0], head=FULL_HEAD, capabilities=capabilities(load_profile("intesis-daikin"))
    )
    assert (intesis["swing_modes"], intesis["swing_horizontal_modes"]) == (["auto", "swing"],) * 2


def test_a_zone_with_a_program_gets_a_schedule_switch_and_one_without_loses_it() -> None:
    program = [SwitchPoint(at="06:30", mode=ZoneMode.HEAT)]
    office = ZoneConfig(id="office", name="Office", bus="rs485", unit_id=13, schedule=program)
    messages = discovery_messages(TOPICS, [*ZONES, office])
    switches = {topic: cfg for topic, cfg in messages.items() if topic.endswith("schedule/config")}
    assert list(switches) == ["homeassistant/switch/house-office-schedule/config"]
    switch = switches["homeassistant/switch/house-office-schedule/config"]
    assert switch["command_topic"] == "minisplit/house/zone/office/set/schedule"
    assert switch["state_topic"] == "minisplit/house/zone/office/state"
    assert switch["value_template"] == "{{ 'ON' if value_json.schedule else 'OFF' }}"
    assert (switch["payload_on"], switch["payload_off"]) == ("ON", "OFF")
    assert switch["unique_id"] == "minisplit-house-office-schedule"
    availability = switch["availability"]
    assert isinstance(availability, list)
    assert {"topic": "minisplit/house/zone/office/availability"} in availability
    # Where the program was taken out, the switch announced before is cleared (by its id).
    assert retired_schedule_switches(TOPICS, [*ZONES, office]) == {
        "homeassistant/switch/house-living-schedule/config": "minisplit-house-living-schedule",
        "homeassistant/switch/house-bedroom-schedule/config": "minisplit-house-bedroom-schedule",
    }


def test_each_zone_has_a_diagnostic_forecast_hold_sensor() -> None:
    hold = MESSAGES["homeassistant/binary_sensor/house-living-forecast_hold/config"]
    assert hold["unique_id"] == "minisplit-house-living-forecast_hold"
    assert hold["state_topic"] == "minisplit/house/zone/living/state"
    assert hold["entity_category"] == "diagnostic"
    # Unknown ("None") while the control has no forecast, else on or off.
    assert hold["value_template"] == (
        "{{ 'None' if value_json.forecast_hold is none else "
        "('ON' if value_json.forecast_hold else 'OFF') }}"
    )
    assert "forecast_hold" in ZONE_STATE_FIELDS
