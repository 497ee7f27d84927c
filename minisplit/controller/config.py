"""The controller's TOML configuration: schema, validation, and errors that name key and value.

The `[control]` and `[sensor_check]` keys default to the control core's own defaults (its tuning
dataclasses hold each value once): a config that leaves a key out runs the core as it is."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BeforeValidator,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from minisplit.controller.core.arbitration import ModePolicy
from minisplit.controller.core.control import ControlTuning
from minisplit.controller.core.head_setpoint import HeadLevers
from minisplit.controller.core.sensor_health import SensorCheck
from minisplit.controller.core.settings import ZoneMode, zone_modes
from minisplit.controller.core.transitions import HEAT_COOL_DEADBAND_K
from minisplit.controller.schedule_config import SwitchPoint, program_problems
from minisplit.controller.topics import remote_sensor_filter_problem
from minisplit.drivers.bus_config import BUS_TYPES, Bus
from minisplit.drivers.capabilities import capabilities
from minisplit.drivers.profile import DeviceKind, DeviceProfile, ProfileError, load_profile
from minisplit.drivers.strict_model import StrictModel
from minisplit.drivers.textfile import (
    TomlError,
    UnreadableFile,
    named_file,
    parse_toml,
    read_text,
    shipped_files,
    shipped_names,
)
from minisplit.drivers.tomlerrors import KeysError, Loc, at_key, describe
from minisplit.drivers.vocabulary import HeadMode

Identifier = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_]{0,31}$")]
UnitId = Annotated[int, Field(ge=1, le=247)]
Celsius = Annotated[float, Field(ge=-40.0, le=60.0)]


def _a_path(value: object) -> object:
    """Checked as written: Path() reads "" as ".", and a NUL fails only when the file is used."""
    if isinstance(value, str):
        if not value:
            raise ValueError("must name a file, not be empty")
        if "\0" in value:
            raise ValueError("must not contain a NUL character")
    return value


# Paths are written as strings, which strict mode would refuse for a Path.
FilePath = Annotated[Path, Field(strict=False), BeforeValidator(_a_path)]


DEFAULT_HEARTBEAT_TIMEOUT_S = 60
# The name of the one system of a config without `[systems]` (docs/architecture.md, 'Systems').
MAIN_SYSTEM = "main"


class OutdoorUnitConfig(StrictModel):
    bus: Identifier
    unit_id: UnitId = 1
    profile: str = "reference-odu"
    heartbeat_timeout_s: Annotated[int, Field(ge=0, le=3600)] = DEFAULT_HEARTBEAT_TIMEOUT_S


class ZoneConfig(StrictModel):
    id: Identifier
    name: Annotated[str, Field(min_length=1, max_length=64)]
    bus: Identifier
    unit_id: UnitId
    # Where the head sits behind a gateway that serves several units on one unit id (its
    # profile's `[device] unit_indices`); none for a unit with an address of its own.
    unit_index: Annotated[int, Field(ge=0, le=0xFFFF)] | None = None
    profile: str = "reference-head"
    # The system (`[systems.<name>]`) whose outdoor unit serves the head; only with [systems].
    system: Identifier | None = None
    min_temperature: Celsius = 16.0
    max_temperature: Celsius = 30.0
    default_temperature: Celsius = 21.0
    # The upper end of the heat_cool range where nothing was saved (its lower end is
    # default_temperature); default: 3 K above that, at most max_temperature.
    default_temperature_high: Celsius | None = None
    # The mode the zone starts in when no settings were saved for it (its first start, or a
    # zone added to a house whose state file knows the others); saved settings always win.
    initial_mode: Annotated[ZoneMode, Field(strict=False)] = ZoneMode.OFF
    sensor_offset_k: Annotated[float, Field(ge=-5.0, le=5.0)] = 0.0
    remote_sensor_topic: str | None = None
    remote_sensor_field: str | None = None
    remote_sensor_timeout_s: Annotated[float, Field(gt=0, le=86400)] = 900.0
    # The unit the remote sensor publishes in (Zigbee2MQTT: always C); default: mqtt's.
    remote_sensor_unit: Literal["C", "F"] | None = None
    # The zone's weekly program (`[[zones.schedule]]`, docs/install.md 'Weekly programs'):
    # none, and the zone keeps what the homeowner sets.
    schedule: list[SwitchPoint] = Field(default_factory=list)

    @model_validator(mode="after")
    def _limits(self) -> ZoneConfig:
        _min_below_max(self.min_temperature, self.max_temperature)
        if not self.min_temperature <= self.default_temperature <= self.max_temperature:
            raise KeysError(
                f"default_temperature {self.default_temperature} is outside "
                f"{self.min_temperature}..{self.max_temperature}",
                ("default_temperature",),
                ("min_temperature",),
                ("max_temperature",),
            )
        high = self.default_temperature_high
        if high is not None and not (
            self.default_temperature + HEAT_COOL_DEADBAND_K <= high <= self.max_temperature
        ):
            raise KeysError(
                f"default_temperature_high {high} is outside "
                f"{self.default_temperature + HEAT_COOL_DEADBAND_K:g}..{self.max_temperature} "
                f"(at least {HEAT_COOL_DEADBAND_K:g} K above default_temperature, at most "
                "max_temperature)",
                ("default_temperature_high",),
                ("default_temperature",),
                ("max_temperature",),
            )
        if self.remote_sensor_field and not self.remote_sensor_topic:
            raise KeysError(
                "remote_sensor_field needs remote_sensor_topic", ("remote_sensor_field",)
            )
        return self


class TlsConfig(StrictModel):
    ca_file: FilePath
    cert_file: FilePath | None = None
    key_file: FilePath | None = None
    insecure: bool = False

    @model_validator(mode="after")
    def _pair(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise KeysError("cert_file and key_file go together", ("cert_file",), ("key_file",))
        return self


class MqttConfig(StrictModel):
    host: str = "localhost"
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    username: str | None = None
    password_file: FilePath | None = None
    client_id: str | None = None
    base_topic: Annotated[str, Field(pattern=r"^[^#+\s]+$")] = "minisplit"
    discovery_prefix: Annotated[str, Field(pattern=r"^[^#+\s]+$")] = "homeassistant"
    keepalive_s: Annotated[int, Field(ge=5, le=3600)] = 30
    tls: TlsConfig | None = None
    # Temperatures on MQTT (state, commands, discovery limits); inside they are always °C.
    temperature_unit: Literal["C", "F"] = "C"

    @model_validator(mode="after")
    def _credentials(self) -> MqttConfig:
        if self.password_file is not None and self.username is None:
            raise KeysError("password_file needs username", ("password_file",))
        return self


OffsetK = Annotated[float, Field(ge=-10, le=10)]


class PresetConfig(StrictModel):
    """One preset's setpoints, per side: an absolute temperature or an offset from the zone's
    own setpoint. A side left out keeps the built-in meaning (controller.core.presets)."""

    heat_temperature: Celsius | None = None
    cool_temperature: Celsius | None = None
    heat_offset_k: OffsetK | None = None
    cool_offset_k: OffsetK | None = None

    @model_validator(mode="after")
    def _one_per_side(self) -> PresetConfig:
        for side in ("heat", "cool"):
            if getattr(self, f"{side}_temperature") is not None and (
                getattr(self, f"{side}_offset_k") is not None
            ):
                raise KeysError(
                    f"give {side}_temperature or {side}_offset_k, not both",
                    (f"{side}_temperature",),
                    (f"{side}_offset_k",),
                )
        return self


# The core's defaults, which the keys below take: the tuning without a config.
_CORE = ControlTuning()
_SENSOR_CHECK = SensorCheck()


class BoostConfig(StrictModel):
    duration_s: Annotated[float, Field(ge=60, le=86400)] = _CORE.presets.boost_duration_s


class PresetsConfig(StrictModel):
    comfort: PresetConfig = PresetConfig()
    eco: PresetConfig = PresetConfig()
    away: PresetConfig = PresetConfig()
    sleep: PresetConfig = PresetConfig()
    boost: BoostConfig = BoostConfig()


class ControlConfig(StrictModel):
    """The control core's tuning (controller.tuning maps it): the bounds are the config's, the
    defaults the core's."""

    period_s: Annotated[float, Field(ge=1, le=300)] = 10.0
    kp: Annotated[float, Field(gt=0, le=10)] = _CORE.pi.kp
    ti_s: Annotated[float, Field(gt=0, le=36000)] = _CORE.pi.ti_s
    min_off_s: Annotated[float, Field(ge=180, le=3600)] = _CORE.coordinator.limits.min_off_s
    min_on_s: Annotated[float, Field(ge=180, le=3600)] = _CORE.coordinator.limits.min_on_s
    mode_change_wait_s: Annotated[float, Field(ge=180, le=3600)] = (
        _CORE.coordinator.limits.mode_change_wait_s
    )
    ramp_hz_per_s: Annotated[float, Field(gt=0, le=10)] = _CORE.coordinator.ramp_hz_per_s
    # Where the zone loops aim inside the comfort band (setpoint ± 0.5 K), toward outdoors.
    band_offset_k: Annotated[float, Field(ge=0, le=0.5)] = _CORE.pi.band_offset_k
    # The same while the compressor cycles at low load (its cycles swing the room above it).
    low_load_band_offset_k: Annotated[float, Field(ge=0, le=0.5)] = _CORE.pi.low_load_band_offset_k
    outdoor_feed_forward_per_k: Annotated[float, Field(ge=0, le=0.2)] = (
        _CORE.pi.outdoor_feed_forward_per_k
    )
    # Before an expected defrost the heating aims rise by up to this (0: off), starting this
    # long (of heating run time) before it is due (controller.core.frost).
    defrost_lift_k: Annotated[float, Field(ge=0, le=0.5)] = _CORE.frost.lift_k
    defrost_lead_s: Annotated[float, Field(ge=300, le=7200)] = _CORE.frost.lead_s
    # A zone's weekly program is met early: a raise started so that the room is there at the
    # switch point, a setback begun while the room stays in its band (core.optimal_start).
    optimal_start: bool = _CORE.start.enabled
    # The longest an optimal start (or stop) comes before its switch point.
    optimal_start_max_lead_s: Annotated[float, Field(ge=600, le=6 * 3600)] = _CORE.start.max_lead_s
    # A weather forecast sent over MQTT is used: a heated room the coming sun will take above
    # its band anyway is held at the band's bottom (core.forecast).
    forecast: bool = _CORE.forecast.enabled
    # A cooling head in fan mode `auto` that gets no refrigerant: its fan runs `quiet`, or the
    # head is switched `off` until its zone calls again (see ControlTuning.idle_cooling_off).
    idle_cooling_head: Literal["quiet", "off"] = "off" if _CORE.idle_cooling_off else "quiet"
    mode_policy: Annotated[ModePolicy, Field(strict=False)] = _CORE.coordinator.mode_policy
    priority_zone: Identifier | None = _CORE.coordinator.priority_zone
    mode_hold_s: Annotated[float, Field(ge=0, le=86400)] = _CORE.coordinator.mode_hold_s
    max_starts_per_hour: Annotated[int, Field(ge=1, le=10)] = _CORE.coordinator.max_starts_per_hour
    quiet_max_frequency_hz: Annotated[float, Field(gt=0, le=200)] = (
        _CORE.coordinator.quiet_max_frequency_hz
    )
    # The head sensor's reading above the room air while its coil heats / cools (docs/benchmark.md),
    # and how fast that builds up and fades; taken off whenever no remote sensor is fresh.
    head_sensor_heating_bias_k: Annotated[float, Field(ge=-5, le=5)] = (
        _CORE.head_sensor_bias.heating_k
    )
    head_sensor_cooling_bias_k: Annotated[float, Field(ge=-5, le=5)] = (
        _CORE.head_sensor_bias.cooling_k
    )
    head_sensor_bias_tau_s: Annotated[float, Field(ge=0, le=3600)] = _CORE.head_sensor_bias.tau_s
    presets: PresetsConfig = PresetsConfig()

    @model_validator(mode="after")
    def _priority(self) -> ControlConfig:
        if self.mode_policy is ModePolicy.PRIORITY and self.priority_zone is None:
            raise KeysError("mode_policy 'priority' needs priority_zone", ("mode_policy",))
        return self


class SensorCheckConfig(StrictModel):
    """When a room sensor is implausible (controller.core.sensor_health explains the rules)."""

    min_temperature: Celsius = _SENSOR_CHECK.min_c
    max_temperature: Celsius = _SENSOR_CHECK.max_c
    settle_s: Annotated[float, Field(ge=60, le=7200)] = _SENSOR_CHECK.settle_s
    stuck_switches: Annotated[int, Field(ge=1, le=100)] = _SENSOR_CHECK.stuck_switches
    stuck_full_demand_s: Annotated[float, Field(ge=60, le=172800)] = (
        _SENSOR_CHECK.stuck_full_demand_s
    )

    @model_validator(mode="after")
    def _range(self) -> SensorCheckConfig:
        _min_below_max(self.min_temperature, self.max_temperature)
        return self


def _min_below_max(min_temperature: float, max_temperature: float) -> None:
    if min_temperature >= max_temperature:
        raise KeysError(
            f"min_temperature {min_temperature} must be below max_temperature {max_temperature}",
            ("min_temperature",),
            ("max_temperature",),
        )


class SiteConfig(StrictModel):
    """Where the house stands (degrees, north and east positive): the sun's course there turns
    a forecast's cloud cover into sunshine (core.sun)."""

    latitude: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
    longitude: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]


class SimRoomConfig(StrictModel):
    area_m2: Annotated[float, Field(gt=0, le=500)] = 25.0
    initial_temperature: Celsius = 17.0
    unrenovated: bool = False
    aperture_m2: Annotated[float, Field(ge=0, le=50)] = 1.0


class SimulatorConfig(StrictModel):
    """Optional: how `minisplit sim` models the house served behind this config."""

    start: Annotated[str, Field(pattern=r"^\d{2}-\d{2}( \d{2}:\d{2})?$")] = "01-15 06:00"
    rooms: dict[Identifier, SimRoomConfig] = Field(default_factory=dict)


class SystemConfig(StrictModel):
    """One outdoor unit's system of a config with several (`[systems.<name>]`): its heads are
    the zones that name it; without `outdoor_unit`, the controller reaches no outdoor unit (its
    inverter follows the heads)."""

    name: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    outdoor_unit: OutdoorUnitConfig | None = None


class Config(StrictModel):
    controller_id: Identifier
    state_file: FilePath = Path("/var/lib/minisplit/state.json")
    buses: Annotated[dict[Identifier, Bus], Field(min_length=1)]
    # None: a system of interface heads, whose outdoor unit the controller does not reach (its
    # inverter follows the heads; docs/interfaces.md).
    outdoor_unit: OutdoorUnitConfig | None = None
    # Several systems (each its outdoor unit and heads, arbitrated on its own); none: the
    # config is one system, `MAIN_SYSTEM`, of [outdoor_unit] and every zone.
    systems: Annotated[dict[Identifier, SystemConfig], Field(min_length=1)] | None = None
    zones: Annotated[list[ZoneConfig], Field(min_length=1, max_length=16)]
    mqtt: MqttConfig | None = None
    control: ControlConfig = ControlConfig()
    site: SiteConfig | None = None
    sensor_check: SensorCheckConfig = SensorCheckConfig()
    simulator: SimulatorConfig = SimulatorConfig()

    @field_validator("state_file", mode="before")
    @classmethod
    def _a_file_name(cls, value: object) -> object:
        """Checked as written: Path() drops a trailing "/"."""
        if isinstance(value, str) and value and value.rpartition("/")[2] in ("", ".", ".."):
            raise ValueError("names a directory, not a file")
        return value

    @field_validator("zones")
    @classmethod
    def _unique_zones(cls, zones: list[ZoneConfig]) -> list[ZoneConfig]:
        seen: dict[str, int] = {}
        for i, zone in enumerate(zones):
            first = seen.setdefault(zone.id, i)
            if first != i:
                raise KeysError(f"zone id {zone.id!r} appears twice", (first, "id"), (i, "id"))
        return zones

    @model_validator(mode="after")
    def _systems(self) -> Config:
        systems = self.systems
        if systems is not None and self.outdoor_unit is not None:
            raise KeysError(
                "give [outdoor_unit] (one system) or [systems.<name>.outdoor_unit] (several), "
                "not both",
                ("outdoor_unit",),
                ("systems",),
            )
        for i, zone in enumerate(self.zones):
            if systems is None and zone.system is not None:
                raise KeysError(
                    f"zone {zone.id!r}: system {zone.system!r} needs [systems.{zone.system}] "
                    "(without [systems], every zone belongs to the config's one system)",
                    ("zones", i, "system"),
                )
            if systems is not None and zone.system is None:
                raise KeysError(
                    f"zone {zone.id!r} names no system: with [systems], each zone names its "
                    f"own ({', '.join(systems)})",
                    ("zones", i, "id"),
                )
            if systems is not None and zone.system not in systems:
                raise KeysError(
                    f"zone {zone.id!r}: no system {zone.system!r} in [systems] "
                    f"({', '.join(systems)})",
                    ("zones", i, "system"),
                )
        for name in systems or {}:
            if not any(zone.system == name for zone in self.zones):
                raise KeysError(
                    f"system {name!r} has no zone: give it one (system = {name!r}) or leave it out",
                    ("systems", name),
                )
        return self

    @model_validator(mode="after")
    def _references(self) -> Config:
        units: dict[tuple[str, int, int | None], tuple[str, Loc]] = {}
        for who, loc, bus, unit_id, index in _devices(self):
            if bus not in self.buses:
                raise KeysError(
                    f"{who}: bus {bus!r} is not defined in [buses] ({_names(self)})",
                    (*loc, "bus"),
                )
            other, other_loc = units.setdefault((bus, unit_id, index), (who, loc))
            if other != who:
                at = "unit_id" if index is None else "unit_index"
                behind = "" if index is None else f", unit_index {index},"
                raise KeysError(
                    f"{who} and {other} share unit id {unit_id}{behind} on bus {bus!r}",
                    (*other_loc, at),
                    (*loc, at),
                )
        for room in self.simulator.rooms:
            if room not in {z.id for z in self.zones}:
                raise KeysError(f"no zone has id {room!r}", ("simulator", "rooms", room))
        priority = self.control.priority_zone
        if priority is not None and priority not in {z.id for z in self.zones}:
            raise KeysError(f"no zone has id {priority!r}", ("control", "priority_zone"))
        return self

    def system_tables(self) -> dict[str, tuple[SystemConfig, Loc]]:
        """Each system by name, with where its outdoor unit is written: `[systems]`, or the
        config's one system (`MAIN_SYSTEM`) of `[outdoor_unit]`."""
        if self.systems is None:
            return {MAIN_SYSTEM: (SystemConfig(outdoor_unit=self.outdoor_unit), ("outdoor_unit",))}
        return {
            name: (system, ("systems", name, "outdoor_unit"))
            for name, system in self.systems.items()
        }

    def system_of(self, zone: ZoneConfig) -> str:
        """The name of the system that serves ``zone``."""
        return MAIN_SYSTEM if zone.system is None else zone.system

    def zone(self, zone_id: str) -> ZoneConfig:
        for zone in self.zones:
            if zone.id == zone_id:
                return zone
        raise KeyError(zone_id)


def _devices(config: Config) -> list[tuple[str, Loc, str, int, int | None]]:
    """Each unit a config addresses: who, where, its bus, unit id and index behind it."""
    devices: list[tuple[str, Loc, str, int, int | None]] = [
        (_odu_who(loc), loc, odu.bus, odu.unit_id, None) for loc, odu in _outdoor_units(config)
    ]
    devices += [
        (f"zone {z.id!r}", ("zones", i), z.bus, z.unit_id, z.unit_index)
        for i, z in enumerate(config.zones)
    ]
    return devices


def _outdoor_units(config: Config) -> list[tuple[Loc, OutdoorUnitConfig]]:
    """Each outdoor unit a config reaches, with where it is written."""
    return [
        (loc, system.outdoor_unit)
        for system, loc in config.system_tables().values()
        if system.outdoor_unit is not None
    ]


def _odu_who(loc: Loc) -> str:
    return "outdoor_unit" if len(loc) == 1 else f"the outdoor unit of system {loc[1]!r}"


def _names(config: Config) -> str:
    return ", ".join(sorted(config.buses)) or "none"


class ConfigError(ValueError):
    """A config that cannot be used. ``problems`` lists one message per bad key."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


@dataclass(frozen=True)
class HeatPumpSystem:
    """One outdoor unit and the heads it serves, as the controller drives them: arbitrated on
    its own, by its own strategy (docs/architecture.md, 'Systems')."""

    name: str
    display_name: str
    outdoor_unit: OutdoorUnitConfig | None
    odu_profile: DeviceProfile | None
    zones: tuple[ZoneConfig, ...]
    strategy: Strategy
    head_levers: HeadLevers
    # Its level in the unit's MQTT topics (`<base>/unit/<system>/...`); None for the one system
    # of a config without [systems], whose unit keeps `<base>/unit/...`.
    topic_level: str | None

    @property
    def heartbeat_timeout_s(self) -> int:
        """The heartbeat timeout written to each of its units that has one (its outdoor
        unit's)."""
        odu = self.outdoor_unit
        return DEFAULT_HEARTBEAT_TIMEOUT_S if odu is None else odu.heartbeat_timeout_s


class LoadedConfig:
    """A validated config with its device profiles resolved."""

    def __init__(self, config: Config, profiles: dict[str, DeviceProfile], path: Path) -> None:
        self.config = config
        self.profiles = profiles
        self.path = path
        self._at_index: dict[tuple[str, int], DeviceProfile] = {}
        self._systems = _systems(config, profiles)
        self._systems_of = config

    @property
    def systems(self) -> dict[str, HeatPumpSystem]:
        """The config's systems, by name. Derived from `config` as it is now: a caller that
        adjusts the validated config (a test's shorter timeouts, a longer heartbeat) sees the
        systems follow, instead of keeping those of the text it was loaded from."""
        if self._systems_of is not self.config:
            self._systems = _systems(self.config, self.profiles)
            self._systems_of = self.config
        return self._systems

    @property
    def only_system(self) -> HeatPumpSystem:
        """The config's one system (ValueError where it has several)."""
        if len(self.systems) != 1:
            raise ValueError(f"the config has {len(self.systems)} systems: ask for one by name")
        return next(iter(self.systems.values()))

    @property
    def odu_profile(self) -> DeviceProfile | None:
        """The one system's outdoor unit's profile; None where it has no outdoor unit."""
        return self.only_system.odu_profile

    @property
    def strategy(self) -> Strategy:
        """How the product drives the heads of the one system (`control_strategy`)."""
        return self.only_system.strategy

    @property
    def head_levers(self) -> HeadLevers:
        """What the setpoint strategy is told of the one system's heads."""
        return self.only_system.head_levers

    def system_of(self, zone_id: str) -> HeatPumpSystem:
        return self.systems[self.config.system_of(self.config.zone(zone_id))]

    def head_profile(self, zone: ZoneConfig) -> DeviceProfile:
        """The zone's profile, at the zone's addresses behind a gateway (`unit_index`)."""
        profile = self.profiles[zone.profile]
        if zone.unit_index is None:
            return profile
        key = (zone.profile, zone.unit_index)
        if key not in self._at_index:
            self._at_index[key] = profile.for_unit(zone.unit_index)
        return self._at_index[key]


def _systems(config: Config, profiles: Mapping[str, DeviceProfile]) -> dict[str, HeatPumpSystem]:
    systems: dict[str, HeatPumpSystem] = {}
    for name, (table, loc) in config.system_tables().items():
        zones = _system_zones(config, name)
        strategy, problems = control_strategy(zones, table.outdoor_unit, loc, profiles)
        assert strategy is not None and not problems, problems  # parse_config refused them
        odu = table.outdoor_unit
        systems[name] = HeatPumpSystem(
            name=name,
            display_name=table.name or name,
            outdoor_unit=odu,
            odu_profile=None if odu is None else profiles[odu.profile],
            zones=tuple(zone for _, zone in zones),
            strategy=strategy,
            head_levers=head_levers(profiles[zones[0][1].profile]),
            topic_level=None if config.systems is None else name,
        )
    return systems


def _system_zones(config: Config, name: str) -> list[tuple[int, ZoneConfig]]:
    """The zones of system ``name``, with their places in [[zones]]."""
    return [(i, zone) for i, zone in enumerate(config.zones) if config.system_of(zone) == name]


def parse_config(text: str, source: str = "<config>", base_dir: Path | None = None) -> LoadedConfig:
    """Parse and validate a config's text; raise ConfigError listing every problem."""
    try:
        data = parse_toml(text)
    except TomlError as err:
        raise ConfigError(source, [str(err)]) from None
    if (other := _another_kind(data)) is not None:
        raise ConfigError(source, [other])
    try:
        config = Config.model_validate(data)
    except ValidationError as err:
        raise ConfigError(source, describe(err.errors(), text, BUS_TYPES)) from None
    profiles: dict[str, DeviceProfile] = {}
    problems: list[str] = []
    for loc, name, kind in profile_keys(config):
        try:
            profile = profiles.get(name) or load_profile(name, base_dir)
        except ProfileError as err:
            problems.append(at_key(text, loc, str(err)))
            continue
        if profile.kind is not kind:
            problems.append(
                at_key(text, loc, f"profile {name!r} describes a {profile.kind}, not a {kind}")
            )
            continue
        try:
            capabilities(profile)  # the roles its registers play: refused here, not at `run`
        except ProfileError as err:
            problems.append(at_key(text, loc, str(err)))
            continue
        profiles[name] = profile
    for i, zone in enumerate(config.zones):
        head = profiles.get(zone.profile)
        problems += [
            at_key(text, ("zones", i, key), message)
            for key, message in [
                *_setpoints_beyond_profile(zone, head),
                *_initial_mode_beyond_profile(zone, head),
            ]
        ]
        problems += [
            at_key(text, ("zones", i, "schedule", j, key), message)
            for (j, key), message in _program_beyond_profile(zone, head)
        ]
    problems += [at_key(text, loc, message) for loc, message in _gateway_problems(config, profiles)]
    if len(profiles) == len({name for _, name, _ in profile_keys(config)}):
        for name, (table, odu_loc) in config.system_tables().items():
            zones = _system_zones(config, name)
            _, refused = control_strategy(zones, table.outdoor_unit, odu_loc, profiles)
            problems += [at_key(text, loc, message) for loc, message in refused]
    problems += [at_key(text, ("state_file",), p) for p in _state_file_problems(config.state_file)]
    problems += _remote_sensor_topics(config, text)
    if problems:
        raise ConfigError(source, problems)
    return LoadedConfig(config, profiles, Path(source))


def profile_keys(config: Config) -> list[tuple[Loc, str, DeviceKind]]:
    """Every ``profile`` key of a config: where it is, the profile it names, the kind of device
    that profile must describe."""
    keys: list[tuple[Loc, str, DeviceKind]] = [
        ((*loc, "profile"), odu.profile, DeviceKind.OUTDOOR_UNIT)
        for loc, odu in _outdoor_units(config)
    ]
    for i, zone in enumerate(config.zones):
        keys.append((("zones", i, "profile"), zone.profile, DeviceKind.INDOOR_HEAD))
    return keys


def _gateway_problems(
    config: Config, profiles: Mapping[str, DeviceProfile]
) -> list[tuple[Loc, str]]:
    """A zone names its index behind a gateway exactly when its profile is a gateway's unit
    layout, within the indices the profile serves; units that share a unit id are all of one
    gateway profile (a unit with an address of its own shares it with nobody)."""
    problems: list[tuple[Loc, str]] = [
        (
            (*loc, "profile"),
            f"profile {odu.profile!r} lays out units behind a gateway (unit_stride); the "
            "outdoor unit takes a profile of a unit with an address of its own",
        )
        for loc, odu in _outdoor_units(config)
        if (profile := profiles.get(odu.profile)) is not None and profile.unit_indices is not None
    ]
    for i, zone in enumerate(config.zones):
        profile = profiles.get(zone.profile)
        if profile is None:
            continue
        indices, index = profile.unit_indices, zone.unit_index
        if indices is None and index is not None:
            problems.append(
                (
                    ("zones", i, "unit_index"),
                    f"profile {zone.profile!r} is of a unit with an address of its own: "
                    "unit_index applies to a gateway's profile (unit_stride)",
                )
            )
        elif indices is not None and index is None:
            problems.append(
                (
                    ("zones", i, "unit_id"),
                    f"profile {zone.profile!r} is of a gateway serving units "
                    f"{indices[0]}..{indices[1]} behind unit id {zone.unit_id}: give the "
                    "zone's unit_index",
                )
            )
        elif indices is not None and index is not None and not indices[0] <= index <= indices[1]:
            problems.append(
                (
                    ("zones", i, "unit_index"),
                    f"unit_index {index} is outside {indices[0]}..{indices[1]}, the indices "
                    f"profile {zone.profile!r} serves",
                )
            )
    return problems + _shared_addresses(config)


def _shared_addresses(config: Config) -> list[tuple[Loc, str]]:
    """Units on one unit id (distinct indices: `Config._references`) must all be one
    gateway's: of one profile, each with its unit_index."""
    first: dict[tuple[str, int], tuple[str, str | None, int | None]] = {}
    problems: list[tuple[Loc, str]] = []
    profiles: dict[Loc, str] = {loc: odu.profile for loc, odu in _outdoor_units(config)}
    profiles.update({("zones", i): z.profile for i, z in enumerate(config.zones)})
    for who, loc, bus, unit_id, index in _devices(config):
        profile = profiles[loc]
        other, other_profile, other_index = first.setdefault((bus, unit_id), (who, profile, index))
        if other == who or (profile == other_profile and None not in (index, other_index)):
            continue
        problems.append(
            (
                (*loc, "unit_id"),
                f"{who} shares unit id {unit_id} on bus {bus!r} with {other}: only the units of "
                "one gateway (one profile, each at its own unit_index) share a unit id",
            )
        )
    return problems


class Strategy(StrEnum):
    """How the product drives the heads (docs/architecture.md, 'Strategies')."""

    # The heads' capacity_request and the outdoor unit's frequency_setpoint: `Controller`.
    DIRECT = "direct"
    # The heads' own setpoints (and external temperature where they take one), the unit's
    # inverter following the heads: `controller.core.head_setpoint`.
    SETPOINT = "setpoint"


def head_levers(profile: DeviceProfile) -> HeadLevers:
    """What a setpoint-driven head takes, from its profile: the range of its display_setpoint
    in heat and in cool (`mode_ranges`, else its one `range`; at the units' 0.5 K step) and
    whether it has an external-temperature register."""
    spec = profile.registers.get("display_setpoint")
    default = HeadLevers()
    heat = spec.mode_range(HeadMode.HEAT) if spec is not None else None
    cool = spec.mode_range(HeadMode.COOL) if spec is not None else None
    return HeadLevers(
        heat_range_c=heat or default.heat_range_c,
        cool_range_c=cool or default.cool_range_c,
        external_temperature="external_temperature" in capabilities(profile).levers,
    )


def control_strategy(
    zones: list[tuple[int, ZoneConfig]],
    odu: OutdoorUnitConfig | None,
    odu_loc: Loc,
    profiles: Mapping[str, DeviceProfile],
) -> tuple[Strategy | None, list[tuple[Loc, str]]]:
    """The strategy the heads' profiles call for in one system (its ``zones`` with their places
    in [[zones]], its outdoor unit ``odu`` written at ``odu_loc``), or the keys that stop the
    product from driving them: every head has `capacity_request` (direct, with an outdoor unit
    that has `frequency_setpoint`), or none has and every one a writable `display_setpoint`
    (setpoint, with no outdoor unit or one that follows its heads)."""
    table = "[" + ".".join(str(part) for part in odu_loc) + "]"
    heads = [(i, zone, capabilities(profiles[zone.profile])) for i, zone in zones]
    direct = [(i, zone) for i, zone, can in heads if "capacity_request" in can.levers]
    if direct:
        first = direct[0][1]
        problems: list[tuple[Loc, str]] = [
            (
                ("zones", i, "profile"),
                f"zone {zone.id!r}: profile {zone.profile!r} has no capacity_request, but zone "
                f"{first.id!r} (profile {first.profile!r}) is driven by its capacity_request: "
                "the heads of one system are all driven directly or all by their setpoints",
            )
            for i, zone, can in heads
            if "capacity_request" not in can.levers
        ]
        if odu is None:
            problems.append(
                (
                    ("zones", direct[0][0], "profile"),
                    f"zone {first.id!r}: profile {first.profile!r} asks the outdoor unit for "
                    f"capacity (capacity_request): the config needs an {table} whose "
                    "profile has frequency_setpoint",
                )
            )
        elif "frequency_setpoint" not in capabilities(profiles[odu.profile]).levers:
            problems.append(
                (
                    (*odu_loc, "profile"),
                    f"profile {odu.profile!r} has no frequency_setpoint: heads driven by their "
                    f"capacity_request (zone {first.id!r}) need an outdoor unit whose "
                    "compressor the controller sets",
                )
            )
        return (None if problems else Strategy.DIRECT), problems
    problems = [
        (
            ("zones", i, "profile"),
            f"zone {zone.id!r}: profile {zone.profile!r} has neither capacity_request nor a "
            "writable display_setpoint: the product cannot drive this head",
        )
        for i, zone, can in heads
        if "display_setpoint" not in can.levers
    ]
    first_zone = zones[0][1]
    levers = head_levers(profiles[first_zone.profile])
    problems += [
        (
            ("zones", i, "profile"),
            f"zone {zone.id!r}: profile {zone.profile!r} takes setpoints "
            f"{_levers_text(head_levers(profiles[zone.profile]))}, zone {first_zone.id!r} "
            f"(profile {first_zone.profile!r}) {_levers_text(levers)}: the setpoint-driven heads "
            "of one system must take the same",
        )
        for i, zone, can in heads
        if "display_setpoint" in can.levers and head_levers(profiles[zone.profile]) != levers
    ]
    if odu is not None and "frequency_setpoint" in capabilities(profiles[odu.profile]).levers:
        problems.append(
            (
                (*odu_loc, "profile"),
                f"profile {odu.profile!r} has frequency_setpoint, but the heads (zone "
                f"{first_zone.id!r}, profile {first_zone.profile!r}) are driven by their "
                f"setpoints, whose outdoor unit follows them: leave {table} out, or give "
                "it a profile without frequency_setpoint",
            )
        )
    return (None if problems else Strategy.SETPOINT), problems


def _levers_text(levers: HeadLevers) -> str:
    (low, high), (cool_low, cool_high) = levers.heat_range_c, levers.cool_range_c
    external = "with" if levers.external_temperature else "without"
    span = f"{low:g}..{high:g}"
    if levers.cool_range_c != levers.heat_range_c:
        span = f"heat {span}, cool {cool_low:g}..{cool_high:g}"
    return f"{span} °C {external} an external temperature"


def _state_file_problems(path: Path) -> list[str]:
    """What stops the controller from writing its state file at ``path``."""
    try:
        return _state_file_obstacles(path)
    except OSError as err:  # e.g. a name longer than the filesystem allows
        return [f"{path} cannot be a file here: {err.strerror}"]


def _state_file_obstacles(path: Path) -> list[str]:
    if path.is_dir():
        return [f"{path} is a directory; name a file in it, e.g. {path / 'state.json'}"]
    if path.exists() and not path.is_file():
        # Each save renames a new file over it: as root, that replaces a device like /dev/null.
        return [f"{path} is a device, FIFO or socket, not a regular file; name a new file"]
    parent = path.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return [f"{parent} is not a directory, so {path} cannot be created"]
    return []


def _setpoints_beyond_profile(
    zone: ZoneConfig, profile: DeviceProfile | None
) -> list[tuple[str, str]]:
    """A zone's setpoint limits must lie within what its head accepts as display_setpoint, or
    a setpoint command could ask for a register value the profile refuses."""
    spec = profile.registers.get("display_setpoint") if profile else None
    if spec is None or spec.range is None:
        return []
    low, high = spec.range
    return [
        (
            name,
            f"{value} °C is outside what profile {zone.profile!r} accepts as "
            f"display_setpoint ({low:g}..{high:g} °C)",
        )
        for name, value in (
            ("min_temperature", zone.min_temperature),
            ("max_temperature", zone.max_temperature),
        )
        if not low <= value <= high
    ]


def _initial_mode_beyond_profile(
    zone: ZoneConfig, profile: DeviceProfile | None
) -> list[tuple[str, str]]:
    """A zone can start only in a mode its head can run (the modes its profile's `mode`
    register offers, as the zone's Home Assistant card does)."""
    if profile is None:
        return []
    modes = zone_modes(capabilities(profile).modes)
    if zone.initial_mode in modes:
        return []
    offered = ", ".join(mode.value for mode in modes)
    return [
        (
            "initial_mode",
            f"{zone.initial_mode.value!r} is not a mode profile {zone.profile!r} can run "
            f"(it offers {offered})",
        )
    ]


def _program_beyond_profile(
    zone: ZoneConfig, profile: DeviceProfile | None
) -> list[tuple[tuple[int, str], str]]:
    """A zone's program may set only modes its head runs and setpoints within its limits."""
    modes = zone_modes(capabilities(profile).modes) if profile is not None else tuple(ZoneMode)
    return program_problems(zone.schedule, modes, zone.min_temperature, zone.max_temperature)


def _remote_sensor_topics(config: Config, text: str) -> list[str]:
    mqtt = config.mqtt
    base_topic = mqtt.base_topic if mqtt is not None else None
    discovery_prefix = mqtt.discovery_prefix if mqtt is not None else None
    return [
        at_key(text, ("zones", i, "remote_sensor_topic"), problem)
        for i, zone in enumerate(config.zones)
        if zone.remote_sensor_topic is not None
        and (
            problem := remote_sensor_filter_problem(
                zone.remote_sensor_topic, base_topic, discovery_prefix
            )
        )
    ]


# The files of the product's other kinds that sit beside configs (config/, a user's folder),
# told by a table a config never has, and where each goes instead.
_OTHER_KINDS = (
    ("faults", "a fault file ([[faults]]): the simulator takes it, `minisplit sim --faults FILE`"),
    ("device", 'a device profile ([device]): a config names it, `profile = "FILE or name"`'),
    ("weather", "a bench scenario ([weather]): `minisplit bench --scenario FILE`"),
)


def _another_kind(data: Mapping[str, object]) -> str | None:
    """What the file is instead of a config, where it is clearly another of the product's
    files (it has none of a config's tables and one of theirs)."""
    if "buses" in data or "zones" in data:
        return None
    for table, what in _OTHER_KINDS:
        if table in data:
            return f"not a config: this is {what}"
    return None


def shipped_configs() -> list[Path]:
    """The configs that come with the package (`demo`, `example`), by name; their fault files
    (`*-faults.toml`) are not configs."""
    return shipped_files("minisplit_data", excluding="-faults.toml")


def config_file(text: str) -> Path:
    """The config file that ``text`` names: a file, or a shipped config by its name (``demo``)
    from any directory and from an installed package (`named_file`)."""
    return named_file(text, shipped_configs())


def load_config(path: Path) -> LoadedConfig:
    try:
        text = read_text(path)
    except UnreadableFile as err:
        problems = [err.reason, *shipped_names(path, shipped_configs(), "config")]
        raise ConfigError(str(path), problems) from None
    return parse_config(text, str(path), path.parent)
