"""One control tick for the whole system (pure): zone loops → coordinator → head commands.

This is the single entry point that both the supervisor and the benchmark call, so the
benchmark scores exactly the code that ships (DESIGN §3.1). It runs every control period
(10 s by default), so it avoids needless work: unchanged head commands are reused."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from math import floor
from typing import NamedTuple, cast

from controller.compressor import (
    CompressorState,
    CoordinatorTuning,
    UnitObservation,
    ZoneRequest,
    step_compressor,
)
from controller.presets import PresetTable, preset_setpoints
from controller.room_sensor import HeadSensorBias, SensorSource
from controller.settings import Preset, UnitSettings, ZoneMode, ZoneSettings
from controller.zone import (
    IDLE_STATE,
    MODE_DRY,
    MODE_FAN_ONLY,
    MODE_OFF,
    Direction,
    PiTuning,
    ZoneLoopState,
    step_zone,
)
from drivers.devices import FanSpeed, HeadCommand, HeadMode, OduCommand, VanePosition

HEAT = Direction.HEAT
COOL = Direction.COOL
NONE = Direction.NONE
PRESET_NONE = Preset.NONE
PRESET_BOOST = Preset.BOOST
HEAD_SENSOR = SensorSource.HEAD


@dataclass(frozen=True, slots=True)
class ZoneInput:
    settings: ZoneSettings
    temperature: float | None  # the room temperature reading (see `room_sensor`)
    available: bool  # the head answers
    rated_capacity_w: float
    preheating: bool = False  # the head holds its fan for cold-draft prevention
    setpoint_limits: tuple[float, float] | None = None  # the zone's (min, max) setpoint
    # Where the reading comes from: the head's own sensor gets its coil bias taken off.
    sensor: SensorSource = SensorSource.HEAD


@dataclass(frozen=True, slots=True)
class UnitInput:
    observation: UnitObservation
    available: bool
    defrost: bool
    settings: UnitSettings = field(default_factory=UnitSettings)
    # The unit reports a fault. It protects itself (and keeps running with, say, a broken
    # outdoor sensor), so the coordinator keeps asking, but learns nothing from the response.
    fault: bool = False
    # Whether its compressor runs (status b0); None where nobody reads it (the benchmark's
    # unit always answers). It matters when the unit answers again after being lost.
    compressor_running: bool | None = None


@dataclass(frozen=True, slots=True)
class ControlTuning:
    pi: PiTuning = field(default_factory=PiTuning)
    coordinator: CoordinatorTuning = field(default_factory=CoordinatorTuning)
    presets: PresetTable = field(default_factory=PresetTable)
    head_sensor_bias: HeadSensorBias = field(default_factory=HeadSensorBias)
    # With fan mode `auto` the controller picks the lowest fan speed for a head that gets
    # refrigerant, and for an idle cooling head: the quietest fan moves the coil's air (the
    # benchmark's `ideal` assumes it too), each step up costs ~5 W, and in cooling that power
    # is heat the coil must take out again. An idle heating head is left on `auto`, with which
    # heads stop the fan at thermo-off themselves (no cold draft, no fan power).
    quiet_auto_fan: bool = True
    # A head's capacity request that moved less than this (percentage points) keeps its old
    # value: the refrigerant split hardly changes, and every change is a bus write.
    share_deadband_pct: float = 2.0


@dataclass(frozen=True, slots=True)
class ControlState:
    zones: Mapping[str, ZoneLoopState] = field(default_factory=dict)
    compressor: CompressorState = field(default_factory=CompressorState)
    last_time: float | None = None
    served: frozenset[str] = frozenset()  # zones that got refrigerant in the last tick
    boost_since: Mapping[str, float] = field(default_factory=dict)
    head_commands: Mapping[str, HeadCommand] = field(default_factory=dict)  # the last ones
    head_bias_k: Mapping[str, float] = field(default_factory=dict)  # estimated, per zone


class ZoneOutput(NamedTuple):
    """What one zone does this tick. A NamedTuple (immutable like a frozen dataclass, built
    3× faster): the benchmark builds one per zone per tick, ten thousand ticks a second."""

    head: HeadCommand
    action: str  # Home Assistant hvac_action vocabulary
    demand: float  # 0..1
    direction: Direction
    mode_conflict: bool
    preset: Preset = Preset.NONE  # the preset in effect (boost ends in comfort)
    setpoint: float | None = None  # the setpoint the loop tracks now (after the preset)
    temperature: float | None = None  # what the loop works on: bias taken off, smoothed


@dataclass(frozen=True, slots=True)
class ControlOutput:
    odu: OduCommand
    zones: Mapping[str, ZoneOutput]
    active: Direction
    forced_stop: bool = False  # a stop before the minimum on time: the unit cannot run


def _head_mode(mode: ZoneMode, direction: Direction, previous: HeadMode) -> HeadMode:
    if mode is MODE_DRY:
        return "dry"
    if mode is MODE_FAN_ONLY:
        return "fan_only"
    if direction is HEAT:
        return "heat"
    if direction is COOL:
        return "cool"
    return previous


def _action(
    mode: ZoneMode,
    direction: Direction,
    active: Direction,
    share: float,
    defrost: bool,
    preheating: bool,
) -> str:
    if mode is MODE_OFF:
        return "off"
    if mode is MODE_FAN_ONLY:
        return "fan"
    if direction is not active or share <= 0:
        return "idle"
    if active is HEAT:
        if defrost:
            return "defrosting"
        if preheating:
            return "preheating"
        return "heating"
    return "drying" if mode is MODE_DRY else "cooling"


def control_step(
    state: ControlState,
    zones: Mapping[str, ZoneInput],
    unit: UnitInput,
    now: float,
    tuning: ControlTuning,
) -> tuple[ControlState, ControlOutput]:
    """Advance the whole controller to time ``now``: seconds on an absolute scale (the
    calendar hour, floor(now / 3600), bounds the compressor starts)."""
    dt = 0.0 if state.last_time is None else max(0.0, now - state.last_time)
    pi = tuning.pi
    presets = tuning.presets
    compressor = state.compressor
    observation = unit.observation
    outdoor = observation.outdoor_temperature
    defrost = unit.defrost
    # Defrost, or a unit that does not answer, delivers no capacity: hold the integrators.
    frozen_all = defrost or not unit.available
    running = NONE
    if compressor.running:
        running = HEAT if compressor.mode == "heat" else COOL
    stretch = compressor.stretch
    delivery = compressor.delivery
    low_load = compressor.low_load
    previous_loops = state.zones
    served = state.served
    previous_boosts = state.boost_since
    boost_since: dict[str, float] = {}
    sensor_bias = tuning.head_sensor_bias
    bias_decay = sensor_bias.decay(dt)
    previous_bias = state.head_bias_k
    head_bias: dict[str, float] = {}
    # Where the head sensors' bias heads for the heads that got refrigerant over the last
    # interval (none while defrosting); the others' fades.
    worked_bias = 0.0
    if running is HEAT and not defrost:
        worked_bias = sensor_bias.heating_k
    elif running is COOL and not defrost:
        worked_bias = sensor_bias.cooling_k
    priority_zone = tuning.coordinator.priority_zone
    priority = NONE

    loops: dict[str, ZoneLoopState] = {}
    requests: list[ZoneRequest] = []
    boosts_over: set[str] = set()
    for zone_id, zone in zones.items():
        settings = zone.settings
        previous = previous_loops.get(zone_id, IDLE_STATE)
        preset = settings.preset
        boost = False
        if preset is PRESET_BOOST:
            since = previous_boosts.get(zone_id, now)
            boost_since[zone_id] = since
            if now - since < presets.boost_duration_s:
                boost = True
            else:
                preset = Preset.COMFORT  # boost is over: back to comfort
                boosts_over.add(zone_id)
        temperature = zone.temperature if zone.available else None
        if temperature is not None and zone.sensor is HEAD_SENSOR:
            # The bias comes with warm (or cold) air blown past the sensor: not while the head
            # holds its fan for cold-draft prevention.
            target = worked_bias if zone_id in served and not zone.preheating else 0.0
            bias = target + (previous_bias.get(zone_id, 0.0) - target) * bias_decay
            head_bias[zone_id] = bias
            temperature -= bias
        limits = zone.setpoint_limits
        loop = step_zone(
            previous,
            settings,
            temperature,
            dt,
            pi,
            frozen_all or zone_id not in served,
            setpoints=(
                None
                if preset is PRESET_NONE and limits is None
                else preset_setpoints(settings, presets, preset, limits)
            ),
            joining=running is not NONE and running is previous.direction,
            stretch=stretch,
            boost=boost,
            outdoor_temperature=outdoor,
            delivery=delivery,
            low_load=low_load,
        )
        loops[zone_id] = loop
        requests.append(
            ZoneRequest(
                zone_id,
                loop.direction,
                loop.demand,
                zone.rated_capacity_w,
                loop.calling,
                loop.error_k,
            )
        )
        if zone_id == priority_zone and loop.calling:
            priority = loop.direction

    unit_settings = unit.settings
    compressor, coordinated = step_compressor(
        compressor,
        requests,
        observation,
        now,
        dt,
        tuning.coordinator,
        available=unit.available,
        fault=unit.fault,
        defrost=defrost,
        quiet=unit_settings.quiet,
        demand_limit_pct=unit_settings.demand_limit_pct,
        priority=priority,
    )

    active = coordinated.active
    shares = coordinated.shares_pct
    conflicts = coordinated.conflicts
    previous_heads = state.head_commands
    quiet_auto_fan = tuning.quiet_auto_fan
    deadband = tuning.share_deadband_pct
    outputs: dict[str, ZoneOutput] = {}
    heads: dict[str, HeadCommand] = {}
    for zone_id, zone in zones.items():
        loop = loops[zone_id]
        settings = zone.settings
        mode = settings.mode
        direction = loop.direction
        previous_head = previous_heads.get(zone_id)
        head_mode = _head_mode(
            mode, direction, "heat" if previous_head is None else previous_head.mode
        )
        share = shares.get(zone_id, 0.0)
        if share and previous_head is not None:
            kept = previous_head.capacity_request_pct
            if kept and -deadband < share - kept < deadband:
                share = kept
        setpoint = loop.setpoint
        display = (
            floor(10.0 * (setpoint if setpoint is not None else settings.target_temperature) + 0.5)
            / 10.0
        )
        # `_value_`, not `.value`: the enum property costs more than the rest of this line.
        fan = settings.fan_mode._value_
        if quiet_auto_fan and fan == "auto" and (share > 0.0 or head_mode == "cool"):
            fan = "quiet"
        vertical = settings.swing_mode._value_
        horizontal = settings.swing_horizontal_mode._value_
        power = mode is not MODE_OFF
        head = previous_head
        if (
            head is None
            or head.capacity_request_pct != share
            or head.display_setpoint != display
            or head.mode != head_mode
            or head.power is not power
            or head.fan != fan
            or head.vane_vertical != vertical
            or head.vane_horizontal != horizontal
        ):
            head = HeadCommand(
                power,
                head_mode,
                cast(FanSpeed, fan),
                cast(VanePosition, vertical),
                cast(VanePosition, horizontal),
                share,
                display,
            )
        heads[zone_id] = head
        outputs[zone_id] = ZoneOutput(
            head,
            _action(mode, direction, active, share, defrost, zone.preheating),
            loop.demand,
            direction,
            zone_id in conflicts,
            Preset.COMFORT if zone_id in boosts_over else settings.preset,
            setpoint,
            loop.temperature,
        )
    new_state = ControlState(
        loops,
        compressor,
        now,
        frozenset(shares) if active is not NONE else frozenset(),
        boost_since,
        heads,
        head_bias,
    )
    return new_state, ControlOutput(coordinated.command, outputs, active, coordinated.forced_stop)
