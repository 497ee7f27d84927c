"""One control tick for the whole system (pure), in three phases: the zone loops
(`step_zone_loops`) → the coordinator (`step_compressor`) → the head commands (`head_commands`).

This is the single entry point that both the supervisor and the benchmark call, so the
benchmark scores exactly the code that ships (docs/architecture.md, 'Pure core'). It runs
every control period (10 s by default), so it avoids needless work: unchanged head commands
are reused."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from math import floor
from types import MappingProxyType
from typing import NamedTuple

from minisplit.controller.core.compressor import (
    CompressorState,
    CoordinatorOutput,
    CoordinatorTuning,
    UnitInput,
    ZoneRequest,
    step_compressor,
)
from minisplit.controller.core.forecast import Forecast, ForecastTuning, solar_kw, zone_held
from minisplit.controller.core.frost import (
    IDLE_FROST,
    FrostState,
    FrostTuning,
    defrost_lift_k,
    step_frost,
)
from minisplit.controller.core.optimal_start import (
    COOLING,
    DRIFTING,
    NOTHING,
    WARMING,
    StartTuning,
    ZoneLookahead,
    early_switch,
    learn,
)
from minisplit.controller.core.presets import PresetTable, ZoneSetpoints, zone_setpoints
from minisplit.controller.core.room_sensor import HeadSensorBias, SensorSource
from minisplit.controller.core.schedule import Switch
from minisplit.controller.core.settings import Preset, ZoneSettings
from minisplit.controller.core.zone import (
    IDLE_STATE,
    MODE_COOL,
    MODE_DRY,
    MODE_FAN_ONLY,
    MODE_HEAT,
    MODE_OFF,
    Direction,
    PiTuning,
    SharedConditions,
    ZoneLoopState,
    step_zone,
)
from minisplit.drivers.records import HeadCommand, OduCommand
from minisplit.drivers.vocabulary import FanSpeed, HeadMode, ZoneAction

HEAT = Direction.HEAT
COOL = Direction.COOL
NONE = Direction.OFF  # no direction
# The members the tick compares and produces, as plain globals: a member read off its enum
# class is slow on Python 3.11, and these are used per zone per tick.
HEAD_HEAT, HEAD_COOL, HEAD_DRY, HEAD_FAN_ONLY = (
    HeadMode.HEAT,
    HeadMode.COOL,
    HeadMode.DRY,
    HeadMode.FAN_ONLY,
)
FAN_AUTO, FAN_QUIET = FanSpeed.AUTO, FanSpeed.QUIET
ACTION_OFF, ACTION_FAN, ACTION_IDLE = ZoneAction.OFF, ZoneAction.FAN, ZoneAction.IDLE
ACTION_HEATING, ACTION_PREHEATING, ACTION_DEFROSTING = (
    ZoneAction.HEATING,
    ZoneAction.PREHEATING,
    ZoneAction.DEFROSTING,
)
ACTION_COOLING, ACTION_DRYING = ZoneAction.COOLING, ZoneAction.DRYING
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
    # The zone's next switch point (its weekly program's), on the controller's clock: what
    # optimal start may bring forward (`controller.core.optimal_start`). None: no program.
    upcoming: Switch | None = None


@dataclass(frozen=True, slots=True)
class ControlTuning:
    pi: PiTuning = field(default_factory=PiTuning)
    coordinator: CoordinatorTuning = field(default_factory=CoordinatorTuning)
    presets: PresetTable = field(default_factory=PresetTable)
    head_sensor_bias: HeadSensorBias = field(default_factory=HeadSensorBias)
    frost: FrostTuning = field(default_factory=FrostTuning)
    start: StartTuning = field(default_factory=StartTuning)
    forecast: ForecastTuning = field(default_factory=ForecastTuning)
    # With fan mode `auto` the controller picks the lowest fan speed for a head that gets
    # refrigerant, and for an idle cooling head: the quietest fan moves the coil's air (the
    # benchmark's `ideal` assumes it too), each step up costs ~5 W, and in cooling that power
    # is heat the coil must take out again. An idle heating head is left on `auto`, with which
    # heads stop the fan at thermo-off themselves (no cold draft, no fan power).
    quiet_auto_fan: bool = True
    # With fan mode `auto`, a cooling head that gets no refrigerant is switched off (and on
    # again when its zone calls): the head keeps its fan running at thermo-off in cooling,
    # which costs fan power, blows the fan's heat into the room and evaporates the coil's
    # condensate back into it. The price: while a head is off, a controller that dies leaves
    # it off (the head's own fallback thermostat runs only while it is on).
    idle_cooling_off: bool = True
    # A head's capacity request that moved less than this (percentage points) keeps its old
    # value: the refrigerant split hardly changes, and every change is a bus write.
    share_deadband_pct: float = 2.0


class ControlState(NamedTuple):
    """What the controller remembers between ticks. A NamedTuple (immutable like a frozen
    dataclass, built 3× faster): one is built every tick."""

    zones: Mapping[str, ZoneLoopState] = MappingProxyType({})
    compressor: CompressorState = CompressorState()
    last_time: float | None = None
    served: frozenset[str] = frozenset()  # zones that got refrigerant in the last tick
    boost_since: Mapping[str, float] = MappingProxyType({})
    head_commands: Mapping[str, HeadCommand] = MappingProxyType({})  # the last ones
    head_bias_k: Mapping[str, float] = MappingProxyType({})  # estimated, per zone
    frost: FrostState = IDLE_FROST  # heating run time toward the next defrost
    # Each zone's setpoints in effect, with the settings they come from (last tick's).
    setpoints: Mapping[str, ZoneSetpoints] = MappingProxyType({})
    # Each zone's optimal start: its room's learned rates, and a switch point brought forward.
    lookahead: Mapping[str, ZoneLookahead] = MappingProxyType({})


class ZoneOutput(NamedTuple):
    """What one zone does this tick. A NamedTuple (immutable like a frozen dataclass, built
    3× faster): the benchmark builds one per zone per tick, ten thousand ticks a second."""

    head: HeadCommand
    action: ZoneAction
    demand: float  # 0..1
    direction: Direction
    mode_conflict: bool
    preset: Preset = Preset.NONE  # the preset in effect (boost ends in comfort)
    setpoint: float | None = None  # the setpoint the loop tracks now (after the preset)
    temperature: float | None = None  # what the loop works on: bias taken off, smoothed
    # The settings the zone ran on: the homeowner's, or its next switch point's brought
    # forward by optimal start (`controller.core.optimal_start`).
    settings: ZoneSettings | None = None


class ControlOutput(NamedTuple):
    odu: OduCommand
    zones: Mapping[str, ZoneOutput]
    active: Direction
    forced_stop: bool = False  # a stop before the minimum on time: the unit cannot run


def _head_command(
    previous: HeadCommand | None,
    settings: ZoneSettings,
    head_mode: HeadMode,
    share: float,
    setpoint: float | None,
    quiet_auto_fan: bool,
    idle_cooling_off: bool = False,
) -> HeadCommand:
    """The head's command from the zone's settings, its mode, capacity share and setpoint: the
    ``previous`` one when it says the same (every changed command is a bus write)."""
    display = (
        floor(10.0 * (setpoint if setpoint is not None else settings.target_temperature) + 0.5)
        / 10.0
    )
    fan = settings.fan_mode
    if quiet_auto_fan and fan == FAN_AUTO and (share > 0.0 or head_mode == HEAD_COOL):
        fan = FAN_QUIET
    vertical = settings.swing_mode
    horizontal = settings.swing_horizontal_mode
    power = settings.mode is not MODE_OFF
    if idle_cooling_off and share <= 0.0 and head_mode == HEAD_COOL and fan == FAN_QUIET:
        power = False  # `quiet` here means `auto` (above): an idle cooling head in auto
    if (
        previous is not None
        and previous.capacity_request_pct == share
        and previous.display_setpoint == display
        and previous.mode == head_mode
        and previous.power is power
        and previous.fan == fan
        and previous.vane_vertical == vertical
        and previous.vane_horizontal == horizontal
    ):
        return previous
    return HeadCommand(power, head_mode, fan, vertical, horizontal, share, display)


def elapsed_s(last_time: float | None, now: float) -> float:
    """The seconds since the last tick (none before the first, or when time went back)."""
    return now - last_time if last_time is not None and now > last_time else 0.0


class ZoneLoops(NamedTuple):
    """The first phase's result: every zone's loop stepped, and what the coordinator needs."""

    loops: dict[str, ZoneLoopState]
    requests: list[ZoneRequest]  # one per zone, for the coordinator
    presets: dict[str, Preset]  # the preset in effect per zone (boost ends in comfort)
    boost_since: dict[str, float]  # when each boosting zone's boost began
    head_bias: dict[str, float]  # the head sensors' estimated bias, per zone
    priority: Direction  # the direction the priority zone calls for (NONE: it does not call)
    setpoints: dict[str, ZoneSetpoints]  # each zone's setpoints in effect (after its preset)
    lookahead: dict[str, ZoneLookahead]
    # The settings each zone runs on: its own, or its next switch point's brought forward.
    settings: dict[str, ZoneSettings]


class HeadCommands(NamedTuple):
    """The last phase's result: each head's command, and what each zone does."""

    heads: dict[str, HeadCommand]
    outputs: dict[str, ZoneOutput]


def control_step(
    state: ControlState,
    zones: Mapping[str, ZoneInput],
    unit: UnitInput,
    now: float,
    tuning: ControlTuning,
    forecast: Forecast | None = None,
) -> tuple[ControlState, ControlOutput]:
    """Advance the whole controller to time ``now``: seconds on a monotonic scale (the
    starts budget counts a rolling hour of it). Three phases: the zone loops, the coordinator
    (one mode and frequency for the unit, a capacity share per head), the head commands.
    ``forecast``: the weather ahead on the same clock, if one is given
    (`controller.core.forecast`)."""
    dt = elapsed_s(state.last_time, now)
    compressor = state.compressor
    # The run time toward the next defrost counts what the compressor did since the last tick.
    heating = compressor.running and compressor.mode is HEAT and not unit.defrost
    frost = step_frost(
        state.frost,
        dt,
        heating,
        unit.defrost,
        unit.coil_below_freezing,
        unit.observation.outdoor_temperature,
        tuning.frost,
    )
    zoned = step_zone_loops(state, zones, unit, now, dt, frost, tuning, forecast)
    compressor, coordinated = step_compressor(
        compressor, zoned.requests, unit, now, dt, tuning.coordinator, zoned.priority
    )
    heads, outputs = head_commands(state, zones, zoned, coordinated, unit.defrost, tuning)
    active = coordinated.active
    new_state = ControlState(
        zoned.loops,
        compressor,
        now,
        frozenset(coordinated.shares_pct) if active is not NONE else frozenset(),
        zoned.boost_since,
        heads,
        zoned.head_bias,
        frost,
        zoned.setpoints,
        zoned.lookahead,
    )
    return new_state, ControlOutput(coordinated.command, outputs, active, coordinated.forced_stop)


def step_zone_loops(
    state: ControlState,
    zones: Mapping[str, ZoneInput],
    unit: UnitInput,
    now: float,
    dt: float,
    frost: FrostState,
    tuning: ControlTuning,
    forecast: Forecast | None = None,
) -> ZoneLoops:
    """The first phase: each zone's reading (the head sensor's bias taken off), its preset and
    its loop, with what the compressor did over the last interval."""
    previous_loops = state.zones
    compressor = state.compressor
    served = state.served
    previous_boosts = state.boost_since
    previous_bias = state.head_bias_k
    previous_setpoints = state.setpoints
    pi = tuning.pi
    presets = tuning.presets
    outdoor = unit.observation.outdoor_temperature
    defrost = unit.defrost
    # Defrost, or a unit that does not answer, delivers no capacity: hold the integrators.
    frozen_all = defrost or not unit.available
    running = compressor.mode if compressor.running else NONE
    sensor_bias = tuning.head_sensor_bias
    bias_decay = sensor_bias.decay(dt)
    # Where the head sensors' bias heads for the heads that got refrigerant over the last
    # interval (none while defrosting); the others' fades.
    worked_bias = 0.0
    if running is HEAT and not defrost:
        worked_bias = sensor_bias.heating_k
    elif running is COOL and not defrost:
        worked_bias = sensor_bias.cooling_k
    priority_zone = tuning.coordinator.priority_zone
    priority = NONE
    lift = defrost_lift_k(frost, tuning.frost, compressor.low_load)
    shared = SharedConditions(
        compressor.stretch, outdoor, compressor.delivery, compressor.low_load, lift
    )
    # While the heating aims are lifted before a defrost, the heating zones' integrators are
    # held (the lift is not load): zones whose loop heated last tick (None: no lift).
    lifted = HEAT if lift > 0.0 else None
    # A zone joins the run when it wants the running direction (None when stopped: no zone's
    # direction is None, while a stopped compressor's NONE would match an idle zone's).
    joinable = None if running is NONE else running

    start = tuning.start
    previous_looks = state.lookahead
    # The zones' rates are learned from what the heads did over the last interval.
    served_in = running if not defrost and unit.available else NONE
    sun_tuning = tuning.forecast
    if not sun_tuning.enabled:
        forecast = None
    solar = solar_kw(forecast, now)
    loops: dict[str, ZoneLoopState] = {}
    requests: list[ZoneRequest] = []
    in_effect: dict[str, Preset] = {}
    boost_since: dict[str, float] = {}
    head_bias: dict[str, float] = {}
    setpoints: dict[str, ZoneSetpoints] = {}
    looks: dict[str, ZoneLookahead] = {}
    run_on: dict[str, ZoneSettings] = {}
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
        in_effect[zone_id] = preset
        temperature = zone.temperature if zone.available else None
        was_served = zone_id in served
        if temperature is not None and zone.sensor is HEAD_SENSOR:
            # The bias comes with warm (or cold) air blown past the sensor: not while the head
            # holds its fan for cold-draft prevention.
            target = worked_bias if was_served and not zone.preheating else 0.0
            bias = target + (previous_bias.get(zone_id, 0.0) - target) * bias_decay
            head_bias[zone_id] = bias
            temperature -= bias
        look = previous_looks.get(zone_id)
        if look is None:
            look = ZoneLookahead(start.prior)
        aim_offset = None
        upcoming = zone.upcoming
        # Most ticks the next switch point is further off than any early start (a cheap test).
        if look.early_for is not None or (
            upcoming is not None and upcoming.at_s - now <= start.max_lead_s
        ):
            look, early = early_switch(
                look, settings, upcoming, temperature, outdoor, now, presets, start
            )
            if early is not None:
                settings = early
                if look.starting:
                    aim_offset = start.aim_offset_k
        run_on[zone_id] = settings
        in_force = setpoints[zone_id] = zone_setpoints(
            previous_setpoints.get(zone_id), settings, presets, zone.setpoint_limits
        )
        if forecast is not None and temperature is not None:
            if look.held_at is None or now - look.held_at >= sun_tuning.recheck_s:
                held = zone_held(
                    settings,
                    in_force.values,
                    upcoming,
                    temperature,
                    look.rates,
                    forecast,
                    now,
                    presets,
                    sun_tuning,
                )
                look = look._replace(held=held, held_at=now)
            if look.held and (settings.mode is MODE_HEAT or settings.mode is MODE_COOL):
                # An early start still meets its target, only less far inside the band.
                held_k = sun_tuning.hold_k if aim_offset is None else sun_tuning.start_hold_k
                aim_offset = held_k
        loop = step_zone(
            previous,
            settings,
            temperature,
            dt,
            pi,
            frozen=frozen_all or not was_served or previous.direction is lifted,
            setpoints=in_force.values,
            joining=joinable is previous.direction,
            boost=boost,
            shared=shared,
            aim_offset_k=aim_offset,
        )
        loops[zone_id] = loop
        # What the room showed over the last interval (see `optimal_start.learn`).
        kind = NOTHING
        if not was_served:
            if not previous.calling and not defrost:
                kind = DRIFTING
        elif previous.error_k > start.working_k and previous.direction is served_in:
            kind = WARMING if served_in is HEAT else COOLING
        looks[zone_id] = learn(look, kind, temperature, outdoor, now, start, solar, sun_tuning)
        direction = loop.direction
        calling = loop.calling
        requests.append(
            ZoneRequest(
                zone_id, direction, loop.demand, zone.rated_capacity_w, calling, loop.error_k
            )
        )
        if priority_zone is not None and zone_id == priority_zone and calling:
            priority = direction
    return ZoneLoops(
        loops, requests, in_effect, boost_since, head_bias, priority, setpoints, looks, run_on
    )


def head_commands(
    state: ControlState,
    zones: Mapping[str, ZoneInput],
    zoned: ZoneLoops,
    coordinated: CoordinatorOutput,
    defrost: bool,
    tuning: ControlTuning,
) -> HeadCommands:
    """The last phase: each head's command from its zone's loop and the coordinator's share,
    and what the zone does (its action)."""
    previous_loops = state.zones
    previous_heads = state.head_commands
    previous_setpoints = state.setpoints
    _, active, shares, conflicts, _ = coordinated
    presets = zoned.presets
    # A head whose zone has the very same settings object as last tick (which its setpoints
    # were worked out from), share, mode and setpoint keeps its command without working it
    # out again: settings are immutable, so the same object says the same.
    quiet_auto_fan = tuning.quiet_auto_fan
    idle_cooling_off = tuning.idle_cooling_off
    deadband = tuning.share_deadband_pct
    outputs: dict[str, ZoneOutput] = {}
    heads: dict[str, HeadCommand] = {}
    run_on = zoned.settings
    for zone_id, loop in zoned.loops.items():
        zone = zones[zone_id]
        settings = run_on[zone_id]
        direction = loop.direction
        setpoint = loop.setpoint
        mode = settings.mode
        previous_head = previous_heads.get(zone_id)
        # The head's mode (inline: a call costs more than the choice): the zone's direction,
        # or the last one while the zone has none.
        head_mode: HeadMode
        if mode is MODE_DRY:
            head_mode = HEAD_DRY
        elif mode is MODE_FAN_ONLY:
            head_mode = HEAD_FAN_ONLY
        elif direction is HEAT:
            head_mode = HEAD_HEAT
        elif direction is COOL:
            head_mode = HEAD_COOL
        else:
            head_mode = HEAD_HEAT if previous_head is None else previous_head.mode
        share = shares.get(zone_id, 0.0)
        if share and previous_head is not None:
            kept = previous_head.capacity_request_pct
            if kept and -deadband < share - kept < deadband:
                share = kept
        was = previous_setpoints.get(zone_id)
        if (
            previous_head is not None
            and was is not None
            and was.settings is settings
            and previous_head.capacity_request_pct == share
            and previous_head.mode == head_mode
            and previous_loops.get(zone_id, IDLE_STATE).setpoint == setpoint
        ):
            head = previous_head  # made of what it was made of last tick (most ticks)
        else:
            head = _head_command(
                previous_head,
                settings,
                head_mode,
                share,
                setpoint,
                quiet_auto_fan,
                idle_cooling_off,
            )
        heads[zone_id] = head
        # What the zone does (inline, as the mode above).
        action: ZoneAction
        if mode is MODE_OFF:
            action = ACTION_OFF
        elif mode is MODE_FAN_ONLY:
            action = ACTION_FAN
        elif direction is not active or share <= 0:
            action = ACTION_IDLE
        elif active is HEAT:
            action = (
                ACTION_DEFROSTING
                if defrost
                else ACTION_PREHEATING
                if zone.preheating
                else ACTION_HEATING
            )
        else:
            action = ACTION_DRYING if mode is MODE_DRY else ACTION_COOLING
        outputs[zone_id] = ZoneOutput(
            head,
            action,
            loop.demand,
            direction,
            zone_id in conflicts,
            presets[zone_id],
            setpoint,
            loop.temperature,
            settings,
        )
    return HeadCommands(heads, outputs)
