"""The MQTT topic layout of one controller (docs/mqtt.md) and its Home Assistant discovery payloads.

Pure: builds topic names and discovery dicts; the bridge publishes them. Every topic lives under
``<base_topic>/<controller_id>`` and every unique_id, entity id and device identifier carries the
controller id, so a fleet of controllers can share one broker and one Home Assistant.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata

from minisplit.controller.config import HeatPumpSystem, MqttConfig, ZoneConfig
from minisplit.controller.core.settings import Preset, ZoneMode, zone_modes
from minisplit.controller.service.commands import vane_positions
from minisplit.controller.service.temperature_units import TemperatureUnit, setpoint_bounds
from minisplit.drivers.capabilities import Capabilities, capabilities
from minisplit.drivers.records import HeadInfo
from minisplit.drivers.vocabulary import FanSpeed, ZoneAction

ONLINE = "online"
OFFLINE = "offline"

# Home Assistant's climate `hvac_action` for what a zone does: the control core speaks its own
# vocabulary (drivers.vocabulary), and this edge speaks Home Assistant's. (A zone's mode, fan and
# swing settings are published by their own words, which are Home Assistant's modes already.)
HVAC_ACTIONS: Mapping[ZoneAction, str] = {
    ZoneAction.OFF: "off",
    ZoneAction.FAN: "fan",
    ZoneAction.IDLE: "idle",
    ZoneAction.HEATING: "heating",
    ZoneAction.PREHEATING: "preheating",
    ZoneAction.DEFROSTING: "defrosting",
    ZoneAction.COOLING: "cooling",
    ZoneAction.DRYING: "drying",
}


def hvac_action(action: str) -> str:
    """Home Assistant's `hvac_action` for a zone's action (a ZoneAction, or its word)."""
    return HVAC_ACTIONS[ZoneAction(action)]


@dataclass(frozen=True)
class UnitSystem:
    """A system's unit as MQTT shows it: ``level`` in its topics (`<base>/unit/<level>/...`;
    None for the one system of a config without [systems], at `<base>/unit/...`), the name its
    Home Assistant entities carry, and whether it has an outdoor unit the controller reaches
    (else no unit entity is announced)."""

    level: str | None = None
    name: str | None = None
    outdoor_unit: bool = True
    # Its outdoor unit's capabilities, from its profile: an entity whose role it lacks is not
    # announced (None: every one is, as the reference unit has them all).
    odu: Capabilities | None = None

    @classmethod
    def of(cls, system: HeatPumpSystem) -> UnitSystem:
        odu = None if system.odu_profile is None else capabilities(system.odu_profile)
        has_odu = system.outdoor_unit is not None
        if system.topic_level is None:
            return cls(None, None, has_odu, odu)
        return cls(system.topic_level, system.display_name, has_odu, odu)

    @property
    def parts(self) -> tuple[str, ...]:
        """Its parts of the unit's object ids and unique_ids."""
        return ("unit",) if self.level is None else ("unit", self.level)

    def entity_name(self, name: str) -> str:
        return name if self.name is None else f"{self.name} {name[:1].lower()}{name[1:]}"


SINGLE_UNIT = UnitSystem()


@dataclass(frozen=True)
class Topics:
    """Every topic one controller publishes or listens to."""

    controller_id: str
    base: str
    discovery_prefix: str

    @classmethod
    def for_controller(cls, config: MqttConfig, controller_id: str) -> Topics:
        return cls(controller_id, f"{config.base_topic}/{controller_id}", config.discovery_prefix)

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def error(self) -> str:
        return f"{self.base}/error"

    @property
    def forecast_set(self) -> str:
        """Where the weather forecast is sent (`service.weather`)."""
        return f"{self.base}/set/forecast"

    @property
    def forecast(self) -> str:
        """Where the forecast in use is published."""
        return f"{self.base}/forecast"

    @property
    def unit_state(self) -> str:
        return f"{self.base}/unit/state"

    def unit_set(self, field: str, level: str | None = None) -> str:
        return f"{self._unit(level)}/set/{field}"

    def unit_state_of(self, level: str | None) -> str:
        """The unit state of a system (``level``: `UnitSystem.level`)."""
        return f"{self._unit(level)}/state"

    def _unit(self, level: str | None) -> str:
        return f"{self.base}/unit" if level is None else f"{self.base}/unit/{level}"

    def zone_state(self, zone_id: str) -> str:
        return f"{self.base}/zone/{zone_id}/state"

    def zone_availability(self, zone_id: str) -> str:
        return f"{self.base}/zone/{zone_id}/availability"

    def zone_set(self, zone_id: str, field: str) -> str:
        return f"{self.base}/zone/{zone_id}/set/{field}"

    def zone_program(self, zone_id: str) -> str:
        return f"{self.base}/zone/{zone_id}/program"

    @property
    def zone_set_filter(self) -> str:
        return f"{self.base}/zone/+/set/+"

    @property
    def zone_availability_filter(self) -> str:
        return f"{self.base}/zone/+/availability"

    @property
    def unit_set_filter(self) -> str:
        return f"{self.base}/unit/set/+"

    @property
    def system_unit_set_filter(self) -> str:
        """The unit commands of a config with several systems."""
        return f"{self.base}/unit/+/set/+"

    @property
    def ha_status(self) -> str:
        """Home Assistant's birth/last-will topic."""
        return f"{self.discovery_prefix}/status"

    def config(self, component: str, object_id: str) -> str:
        return f"{self.discovery_prefix}/{component}/{object_id}/config"

    def parse_zone_set(self, topic: str) -> tuple[str, str] | None:
        """(zone id, field) of a ``<base>/zone/<zone>/set/<field>`` topic, else None."""
        parts = _below(topic, f"{self.base}/zone/")
        if parts is None or len(parts) != 3 or parts[1] != "set":
            return None
        return parts[0], parts[2]

    def parse_unit_set(self, topic: str) -> str | None:
        parts = _below(topic, f"{self.base}/unit/set/")
        return parts[0] if parts is not None and len(parts) == 1 else None

    def parse_system_unit_set(self, topic: str) -> tuple[str, str] | None:
        """(system level, field) of a ``<base>/unit/<system>/set/<field>`` topic, else None."""
        parts = _below(topic, f"{self.base}/unit/")
        if parts is None or len(parts) != 3 or parts[1] != "set":
            return None
        return parts[0], parts[2]

    def parse_zone_availability(self, topic: str) -> str | None:
        parts = _below(topic, f"{self.base}/zone/")
        if parts is None or len(parts) != 2 or parts[1] != "availability":
            return None
        return parts[0]


def _below(topic: str, prefix: str) -> list[str] | None:
    if not topic.startswith(prefix):
        return None
    return topic.removeprefix(prefix).split("/")


def _version() -> str:
    try:
        return metadata.version("minisplit")
    except metadata.PackageNotFoundError:
        return "unknown"


def _controller_device(topics: Topics) -> dict[str, object]:
    return {
        "identifiers": [_device_id(topics.controller_id)],
        "name": f"Mini-split {topics.controller_id}",
        "manufacturer": "minisplit",
        "model": "Multi-split controller",
        "sw_version": _version(),
    }


def _head_device(topics: Topics, zone: ZoneConfig) -> dict[str, object]:
    return {
        "identifiers": [_device_id(topics.controller_id, zone.id)],
        "name": zone.name,
        "manufacturer": "minisplit",
        "model": f"Indoor head ({zone.profile})",
        "suggested_area": zone.name,
        "via_device": _device_id(topics.controller_id),
    }


def _origin() -> dict[str, object]:
    return {"name": "minisplit", "sw_version": _version()}


def _object_id(topics: Topics, *parts: str) -> str:
    """The object id in discovery topics: ``<controller_id>-<zone>`` for a zone's climate
    entity, ``<controller_id>-unit-<key>`` for the unit's. Joined with "-", which controller and
    zone ids cannot contain, so that no two controllers' topics coincide (with "_", controller
    ``a`` zone ``b_c`` and controller ``a_b`` zone ``c`` shared one)."""
    return "-".join((topics.controller_id, *parts))


def _entity_name(topics: Topics, *parts: str) -> str:
    """The entity id Home Assistant is asked to give (its ids allow only ``[a-z0-9_]``; on a
    clash it adds a suffix itself, nothing is overwritten), and the object id that discovery
    topics had before they were joined with "-"."""
    return "_".join((topics.controller_id, *parts))


def _field(name: str) -> str:
    return "{{ value_json." + name + " }}"


def _switch_field(name: str) -> str:
    return "{{ 'ON' if value_json." + name + " else 'OFF' }}"


def _device_id(*parts: str) -> str:
    # "-" cannot occur in controller or zone ids, so these never collide across a fleet.
    return "-".join(("minisplit", *parts))


def _entity(
    unique_id: str, component: str, object_id: str, device: dict[str, object]
) -> dict[str, object]:
    return {
        "unique_id": unique_id,
        "default_entity_id": f"{component}.{object_id}",
        "device": device,
        "origin": _origin(),
        "qos": 1,
    }


def _zone_availability(topics: Topics, zone_id: str) -> dict[str, object]:
    return {
        "availability": [{"topic": topics.status}, {"topic": topics.zone_availability(zone_id)}],
        "availability_mode": "all",
    }


def _unit_availability(topics: Topics, system: UnitSystem) -> dict[str, object]:
    return {
        "availability": [
            {"topic": topics.status},
            {
                "topic": topics.unit_state_of(system.level),
                "value_template": "{{ 'online' if value_json.available else 'offline' }}",
            },
        ],
        "availability_mode": "all",
    }


def climate_config(
    topics: Topics,
    zone: ZoneConfig,
    unit: TemperatureUnit = TemperatureUnit.CELSIUS,
    head: HeadInfo | None = None,
    capabilities: Capabilities | None = None,
) -> dict[str, object]:
    """The climate entity of one zone (one indoor head), in the house's temperature ``unit``.
    ``capabilities`` (from the head's profile) gives the modes and fan steps it offers.

    What the head can do decides what the entity offers: current humidity only with a humidity
    sensor, swing modes only for the vanes it has. Until the head has answered (``head`` None)
    none of them is offered; the bridge re-publishes the entity once it knows."""
    state = topics.zone_state(zone.id)
    min_temp, max_temp = setpoint_bounds(zone.min_temperature, zone.max_temperature, unit)
    cfg = _entity(
        _device_id(topics.controller_id, zone.id, "climate"),
        "climate",
        _entity_name(topics, zone.id),
        _head_device(topics, zone),
    )
    cfg |= _zone_availability(topics, zone.id)
    cfg |= {
        "name": None,  # the entity is the head itself: it takes the device's (room's) name
        "optimistic": False,
        "temperature_unit": unit.value,
        "precision": 0.1,
        "temp_step": 0.5 if unit is TemperatureUnit.CELSIUS else 1.0,
        "min_temp": min_temp,
        "max_temp": max_temp,
        "modes": [
            mode.value for mode in (zone_modes(capabilities.modes) if capabilities else ZoneMode)
        ],
        "mode_command_topic": topics.zone_set(zone.id, "mode"),
        "mode_state_topic": state,
        "mode_state_template": _field("mode"),
        "power_command_topic": topics.zone_set(zone.id, "power"),
        "payload_on": "ON",
        "payload_off": "OFF",
        "action_topic": state,
        "action_template": _field("action"),
        "current_temperature_topic": state,
        "current_temperature_template": _field("current_temperature"),
        "temperature_command_topic": topics.zone_set(zone.id, "temperature"),
        "temperature_state_topic": state,
        "temperature_state_template": _field("target_temperature"),
        "temperature_low_command_topic": topics.zone_set(zone.id, "temperature_low"),
        "temperature_low_state_topic": state,
        "temperature_low_state_template": _field("target_temperature_low"),
        "temperature_high_command_topic": topics.zone_set(zone.id, "temperature_high"),
        "temperature_high_state_topic": state,
        "temperature_high_state_template": _field("target_temperature_high"),
        "fan_modes": [fan.value for fan in (capabilities.fans if capabilities else FanSpeed)],
        "fan_mode_command_topic": topics.zone_set(zone.id, "fan_mode"),
        "fan_mode_state_topic": state,
        "fan_mode_state_template": _field("fan_mode"),
        # Home Assistant adds "none" itself and refuses a list that contains it.
        "preset_modes": [preset.value for preset in Preset if preset is not Preset.NONE],
        "preset_mode_command_topic": topics.zone_set(zone.id, "preset_mode"),
        "preset_mode_state_topic": state,
        "preset_mode_value_template": _field("preset"),
        "json_attributes_topic": state,
        "json_attributes_template": (
            "{{ {'sensor': value_json.sensor, 'demand': value_json.demand,"
            " 'mode_conflict': value_json.mode_conflict, 'fault': value_json.fault} | tojson }}"
        ),
    }
    if capabilities is not None and not capabilities.fans:  # the head has no fan lever
        cfg = {key: value for key, value in cfg.items() if not key.startswith("fan_mode")}
    if head is not None and head.has_humidity_sensor:
        cfg |= {
            "current_humidity_topic": state,
            "current_humidity_template": _field("humidity"),
        }
    if head is not None:
        for field, has in (
            ("swing_mode", head.has_vertical_vane),
            ("swing_horizontal_mode", head.has_horizontal_vane),
        ):
            if has and vane_positions(field, capabilities):
                cfg |= _swing(topics, zone, field, capabilities)
    return cfg


def _swing(
    topics: Topics, zone: ZoneConfig, field: str, capabilities: Capabilities | None
) -> dict[str, object]:
    """A vane's options: ``swing_mode`` (vertical) or ``swing_horizontal_mode``; the positions
    its lever has where the head's ``capabilities`` are known."""
    positions = vane_positions(field, capabilities)
    return {
        f"{field.removesuffix('_mode')}_modes": [swing.value for swing in positions],
        f"{field}_command_topic": topics.zone_set(zone.id, field),
        f"{field}_state_topic": topics.zone_state(zone.id),
        f"{field}_state_template": _field(field),
    }


def _zone_sensor(topics: Topics, zone: ZoneConfig, key: str, name: str) -> dict[str, object]:
    """A sensor of a zone's device that reads field ``key`` of the zone's state."""
    cfg = _entity(
        _device_id(topics.controller_id, zone.id, key),
        "sensor",
        _entity_name(topics, zone.id, key),
        _head_device(topics, zone),
    )
    cfg |= _zone_availability(topics, zone.id)
    cfg |= {
        "name": name,
        "state_topic": topics.zone_state(zone.id),
        "value_template": _field(key),
        "state_class": "measurement",
    }
    return cfg


def zone_demand_config(topics: Topics, zone: ZoneConfig) -> dict[str, object]:
    cfg = _zone_sensor(topics, zone, "demand", "Demand")
    cfg |= {"unit_of_measurement": "%", "suggested_display_precision": 0, "icon": "mdi:gauge"}
    return cfg


def zone_head_setpoint_config(
    topics: Topics, zone: ZoneConfig, unit: TemperatureUnit = TemperatureUnit.CELSIUS
) -> dict[str, object]:
    """A setpoint-driven head's written setpoint (docs/mqtt.md `head_setpoint`): a diagnostic
    beside the zone's target, which stays the homeowner's."""
    cfg = _zone_sensor(topics, zone, "head_setpoint", "Head setpoint")
    cfg |= {
        "device_class": "temperature",
        "unit_of_measurement": unit.symbol,
        "suggested_display_precision": 1,
        "entity_category": "diagnostic",
    }
    return cfg


def zone_schedule_config(topics: Topics, zone: ZoneConfig) -> dict[str, object]:
    """The switch of a zone's weekly program (docs/mqtt.md `set/schedule`): on, the zone
    follows it; off, it stays as set."""
    cfg = _entity(
        _schedule_switch_id(topics, zone.id),
        "switch",
        _entity_name(topics, zone.id, "schedule"),
        _head_device(topics, zone),
    )
    cfg |= _zone_availability(topics, zone.id)
    cfg |= {
        "name": "Schedule",
        "command_topic": topics.zone_set(zone.id, "schedule"),
        "state_topic": topics.zone_state(zone.id),
        "value_template": _switch_field("schedule"),
        "payload_on": "ON",
        "payload_off": "OFF",
        "state_on": "ON",
        "state_off": "OFF",
        "optimistic": False,
        "icon": "mdi:calendar-clock",
    }
    return cfg


def zone_forecast_hold_config(topics: Topics, zone: ZoneConfig) -> dict[str, object]:
    """Whether the forecast holds the zone at the cheap side of its band (docs/mqtt.md
    `forecast_hold`): a diagnostic, unknown while the control has no forecast."""
    _, unique_id = forecast_hold_claim(topics, zone.id)
    cfg = _entity(
        unique_id,
        "binary_sensor",
        _entity_name(topics, zone.id, "forecast_hold"),
        _head_device(topics, zone),
    )
    cfg |= _zone_availability(topics, zone.id)
    cfg |= {
        "name": "Forecast hold",
        "state_topic": topics.zone_state(zone.id),
        # "None" is how an MQTT binary sensor is told its state is unknown.
        "value_template": "{{ 'None' if value_json.forecast_hold is none else "
        "('ON' if value_json.forecast_hold else 'OFF') }}",
        "payload_on": "ON",
        "payload_off": "OFF",
        "entity_category": "diagnostic",
        "icon": "mdi:weather-partly-cloudy",
    }
    return cfg


def forecast_hold_claim(topics: Topics, zone_id: str) -> tuple[str, str]:
    """(discovery topic, unique_id) of a zone's forecast-hold sensor."""
    topic = topics.config("binary_sensor", _object_id(topics, zone_id, "forecast_hold"))
    return topic, _device_id(topics.controller_id, zone_id, "forecast_hold")


def _schedule_switch_id(topics: Topics, zone_id: str) -> str:
    return _device_id(topics.controller_id, zone_id, "schedule")


def retired_schedule_switches(
    topics: Topics, zones: Sequence[ZoneConfig], programmed: Collection[str] | None = None
) -> dict[str, str]:
    """{config topic: unique_id} of the schedule switches of zones that have no program (any
    more; ``programmed``: the zones that have one, from their config or over MQTT, without it
    those whose config has one): cleared only where the retained config carries that
    unique_id."""
    has_program = _programmed(zones, programmed)
    return dict(
        schedule_switch_claim(topics, zone.id) for zone in zones if zone.id not in has_program
    )


def _programmed(zones: Sequence[ZoneConfig], programmed: Collection[str] | None) -> Collection[str]:
    return {zone.id for zone in zones if zone.schedule} if programmed is None else programmed


def retired_head_setpoint_sensors(
    topics: Topics, zones: Sequence[ZoneConfig], capabilities: Mapping[str, Capabilities]
) -> dict[str, str]:
    """{config topic: unique_id} of the head-setpoint sensors of zones whose heads are not
    driven by their setpoint (any more: another profile, a unit that now takes a capacity
    request): cleared only where the retained config carries that unique_id."""
    return {
        topics.config("sensor", _object_id(topics, zone.id, "head_setpoint")): _device_id(
            topics.controller_id, zone.id, "head_setpoint"
        )
        for zone in zones
        if not setpoint_driven(capabilities.get(zone.id))
    }


def schedule_switch_claim(topics: Topics, zone_id: str) -> tuple[str, str]:
    """The config topic of the zone's schedule switch, and its unique_id."""
    topic = topics.config("switch", _object_id(topics, zone_id, "schedule"))
    return topic, _schedule_switch_id(topics, zone_id)


def setpoint_driven(capabilities: Capabilities | None) -> bool:
    """A head driven by its own setpoint: a writable display_setpoint, no capacity_request."""
    return (
        capabilities is not None
        and "display_setpoint" in capabilities.levers
        and "capacity_request" not in capabilities.levers
    )


@dataclass(frozen=True)
class _UnitSensor:
    key: str
    name: str
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = None
    precision: int | None = None
    diagnostic: bool = False
    template: str | None = None


_UNIT_SENSORS = (
    _UnitSensor(
        "compressor_frequency", "Compressor frequency", "Hz", "frequency", "measurement", 1
    ),
    # In the house's temperature unit (see unit_sensor_configs).
    _UnitSensor(
        "outdoor_temperature", "Outdoor temperature", None, "temperature", "measurement", 1
    ),
    _UnitSensor("power", "Power", "W", "power", "measurement", 0),
    _UnitSensor("energy", "Energy", "kWh", "energy", "total_increasing", 2),
    # The state says null when there is no fault; show that as "none", not "None".
    _UnitSensor("fault", "Fault", diagnostic=True, template="{{ value_json.fault or 'none' }}"),
)

# The role (docs/profiles.md, 'Roles') each outdoor-unit entity shows or moves: announced only
# where the unit's profile has it. The fault is always announced: it also shows what the
# controller finds wrong (no answer, settings not on disk).
_UNIT_ROLES = {
    "compressor_frequency": "compressor_frequency",
    "outdoor_temperature": "outdoor_temperature",
    "power": "input_power",
    "energy": "energy",
    "defrost": "defrost",
    "quiet": "quiet_mode",
    "demand_limit": "demand_limit",
}


def unit_entities_offered(odu: Capabilities | None) -> frozenset[str]:
    """The keys of the outdoor unit's entities its capabilities give the data or lever for
    (None: every one, as the reference unit's)."""
    return frozenset(
        key
        for key in _unit_components()
        if odu is None or key not in _UNIT_ROLES or odu.has(_UNIT_ROLES[key])
    )


def _unit_components() -> dict[str, str]:
    """{key: Home Assistant component} of each entity of the outdoor unit."""
    components = {sensor.key: "sensor" for sensor in _UNIT_SENSORS}
    return components | {"defrost": "binary_sensor", "quiet": "switch", "demand_limit": "number"}


def _unit_entity(
    topics: Topics, system: UnitSystem, key: str, component: str, name: str
) -> dict[str, object]:
    cfg = _entity(
        _device_id(topics.controller_id, *system.parts, key),
        component,
        _entity_name(topics, *system.parts, key),
        _controller_device(topics),
    )
    return cfg | _unit_availability(topics, system) | {"name": system.entity_name(name)}


def unit_sensor_configs(
    topics: Topics,
    unit: TemperatureUnit = TemperatureUnit.CELSIUS,
    system: UnitSystem = SINGLE_UNIT,
) -> dict[str, dict[str, object]]:
    """{config topic: payload} for a system's outdoor unit's sensors, switch and number: those
    its capabilities give the data or lever for (`unit_entities_offered`)."""
    configs: dict[str, dict[str, object]] = {}
    state_topic = topics.unit_state_of(system.level)
    for sensor in _UNIT_SENSORS:
        cfg = _unit_entity(topics, system, sensor.key, "sensor", sensor.name)
        cfg |= {
            "state_topic": state_topic,
            "value_template": sensor.template or _field(sensor.key),
        }
        if sensor.device_class == "temperature":
            cfg["unit_of_measurement"] = unit.symbol
        elif sensor.unit is not None:
            cfg["unit_of_measurement"] = sensor.unit
        if sensor.device_class is not None:
            cfg["device_class"] = sensor.device_class
        if sensor.state_class is not None:
            cfg["state_class"] = sensor.state_class
        if sensor.precision is not None:
            cfg["suggested_display_precision"] = sensor.precision
        if sensor.diagnostic:
            cfg["entity_category"] = "diagnostic"
        configs[topics.config("sensor", _object_id(topics, *system.parts, sensor.key))] = cfg

    defrost = _unit_entity(topics, system, "defrost", "binary_sensor", "Defrost")
    defrost |= {
        "state_topic": state_topic,
        "value_template": _switch_field("defrost"),
        "payload_on": "ON",
        "payload_off": "OFF",
        "icon": "mdi:snowflake-melt",
    }
    configs[topics.config("binary_sensor", _object_id(topics, *system.parts, "defrost"))] = defrost

    quiet = _unit_entity(topics, system, "quiet", "switch", "Quiet mode")
    quiet |= {
        "command_topic": topics.unit_set("quiet", system.level),
        "state_topic": state_topic,
        "value_template": _switch_field("quiet"),
        "payload_on": "ON",
        "payload_off": "OFF",
        "state_on": "ON",
        "state_off": "OFF",
        "optimistic": False,
        "icon": "mdi:volume-off",
    }
    configs[topics.config("switch", _object_id(topics, *system.parts, "quiet"))] = quiet

    limit = _unit_entity(topics, system, "demand_limit", "number", "Demand limit")
    limit |= {
        "command_topic": topics.unit_set("demand_limit", system.level),
        "state_topic": state_topic,
        "value_template": _field("demand_limit"),
        "min": 0,
        "max": 100,
        "step": 1,
        "mode": "slider",
        "unit_of_measurement": "%",
        "optimistic": False,
        "icon": "mdi:speedometer",
    }
    configs[topics.config("number", _object_id(topics, *system.parts, "demand_limit"))] = limit
    offered = unit_entities_offered(system.odu)
    announced = {
        topics.config(component, _object_id(topics, *parts))
        for component, parts, _ in _unit_entities(topics, system)
        if parts[-1] in offered
    }
    return {topic: cfg for topic, cfg in configs.items() if topic in announced}


def _zone_entities(topics: Topics, zone_id: str) -> list[tuple[str, tuple[str, ...], str]]:
    """(component, object id parts, unique_id) of each entity of one zone."""
    return [
        ("climate", (zone_id,), _device_id(topics.controller_id, zone_id, "climate")),
        ("sensor", (zone_id, "demand"), _device_id(topics.controller_id, zone_id, "demand")),
    ]


def _unit_entities(
    topics: Topics, system: UnitSystem = SINGLE_UNIT
) -> list[tuple[str, tuple[str, ...], str]]:
    """(component, object id parts, unique_id) of each entity of a system's outdoor unit."""
    return [
        (component, (*system.parts, key), _device_id(topics.controller_id, *system.parts, key))
        for key, component in _unit_components().items()
    ]


def discovery_messages(
    topics: Topics,
    zones: Sequence[ZoneConfig],
    unit: TemperatureUnit = TemperatureUnit.CELSIUS,
    heads: Mapping[str, HeadInfo | None] | None = None,
    capabilities: Mapping[str, Capabilities] | None = None,
    outdoor_unit: bool = True,
    systems: Sequence[UnitSystem] | None = None,
    programmed: Collection[str] | None = None,
) -> dict[str, dict[str, object]]:
    """{config topic: payload} for the whole controller: every zone and each system's outdoor
    unit (``systems``; without it, one system that has an ``outdoor_unit`` or not), none of
    whose entities are announced where it has none. ``heads`` holds what each
    zone's head said about itself, once it has answered; ``capabilities`` what each head's
    profile gives (a setpoint-driven head gets its written setpoint as a diagnostic sensor);
    ``programmed`` the zones with a weekly program, from the config or over MQTT (without it,
    those whose config has one): each gets its schedule switch."""
    messages: dict[str, dict[str, object]] = {}
    has_program = _programmed(zones, programmed)
    for zone in zones:
        head = (heads or {}).get(zone.id)
        messages[topics.config("climate", _object_id(topics, zone.id))] = climate_config(
            topics, zone, unit, head, (capabilities or {}).get(zone.id)
        )
        messages[topics.config("sensor", _object_id(topics, zone.id, "demand"))] = (
            zone_demand_config(topics, zone)
        )
        if setpoint_driven((capabilities or {}).get(zone.id)):
            topic = topics.config("sensor", _object_id(topics, zone.id, "head_setpoint"))
            messages[topic] = zone_head_setpoint_config(topics, zone, unit)
        messages[forecast_hold_claim(topics, zone.id)[0]] = zone_forecast_hold_config(topics, zone)
        if zone.id in has_program:
            topic, _ = schedule_switch_claim(topics, zone.id)
            messages[topic] = zone_schedule_config(topics, zone)
    for system in systems or [UnitSystem(outdoor_unit=outdoor_unit)]:
        if system.outdoor_unit:
            messages |= unit_sensor_configs(topics, unit, system)
    return messages


def legacy_discovery_topics(topics: Topics, zones: Sequence[ZoneConfig]) -> dict[str, str]:
    """{config topic: unique_id} of the entities of this configuration as discovery topics
    were named before their ids were joined with "-": to be cleared where they still hold
    that unique_id (and only there: another controller may have written one since)."""
    entities = [e for zone in zones for e in _zone_entities(topics, zone.id)]
    entities += _unit_entities(topics)
    return {
        topics.config(component, _entity_name(topics, *parts)): unique_id
        for component, parts, unique_id in entities
    }


def retired_unit_discovery(
    topics: Topics, system: UnitSystem = SINGLE_UNIT, kept: Collection[str] = ()
) -> dict[str, str]:
    """{config topic: unique_id} of a system's outdoor unit's entities but those ``kept``
    (their keys, `unit_entities_offered`), for a system that has no outdoor unit (any more) or
    one whose profile lacks their roles: cleared only where the retained config carries that
    unique_id."""
    return {
        topics.config(component, _object_id(topics, *parts)): unique_id
        for component, parts, unique_id in _unit_entities(topics, system)
        if parts[-1] not in kept
    }


def retired_zone_discovery(topics: Topics, zone_id: str) -> dict[str, str]:
    """{config topic: unique_id} where a zone no longer configured may have been announced,
    under either naming (its schedule switch and forecast-hold sensor came after the second);
    cleared only where the retained config carries that unique_id."""
    claims = {
        topics.config(component, name(topics, *parts)): unique_id
        for component, parts, unique_id in _zone_entities(topics, zone_id)
        for name in (_object_id, _entity_name)
    }
    return claims | dict(
        [schedule_switch_claim(topics, zone_id), forecast_hold_claim(topics, zone_id)]
    )


def retired_zone_topics(
    topics: Topics, previous_zone_ids: Iterable[str], zones: Sequence[ZoneConfig]
) -> list[str]:
    """Retained topics under the base topic to clear (publish an empty retained payload) for
    zones that were published before but are no longer configured: their state and
    availability. Their discovery topics are cleared by what they hold
    (`retired_zone_discovery`)."""
    current = {zone.id for zone in zones}
    cleared: list[str] = []
    for zone_id in sorted(set(previous_zone_ids) - current):
        cleared += [
            topics.zone_state(zone_id),
            topics.zone_availability(zone_id),
            topics.zone_program(zone_id),
        ]
    return cleared
