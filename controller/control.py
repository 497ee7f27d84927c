"""One control tick for the whole system (pure): zone loops → coordinator → head commands.

This is the single entry point that both the supervisor and the benchmark call, so the
benchmark scores exactly the code that ships (DESIGN §3.1)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from controller.compressor import (
    CompressorState,
    CoordinatorTuning,
    UnitObservation,
    ZoneRequest,
    step_compressor,
)
from controller.settings import UnitSettings, ZoneMode, ZoneSettings
from controller.zone import Direction, PiTuning, ZoneLoopState, step_zone, tracked_setpoint
from drivers.devices import HeadCommand, HeadMode, OduCommand


@dataclass(frozen=True)
class ZoneInput:
    settings: ZoneSettings
    temperature: float | None  # the room temperature the loop should use (sensor chosen)
    available: bool  # the head answers
    rated_capacity_w: float
    preheating: bool = False  # the head holds its fan for cold-draft prevention


@dataclass(frozen=True)
class UnitInput:
    observation: UnitObservation
    available: bool
    defrost: bool
    settings: UnitSettings = field(default_factory=UnitSettings)


@dataclass(frozen=True)
class ControlTuning:
    pi: PiTuning = field(default_factory=PiTuning)
    coordinator: CoordinatorTuning = field(default_factory=CoordinatorTuning)


@dataclass(frozen=True)
class ControlState:
    zones: Mapping[str, ZoneLoopState] = field(default_factory=dict)
    compressor: CompressorState = field(default_factory=CompressorState)
    head_modes: Mapping[str, HeadMode] = field(default_factory=dict)
    last_time: float | None = None


@dataclass(frozen=True)
class ZoneOutput:
    head: HeadCommand
    action: str  # Home Assistant hvac_action vocabulary
    demand: float  # 0..1
    direction: Direction
    mode_conflict: bool


@dataclass(frozen=True)
class ControlOutput:
    odu: OduCommand
    zones: Mapping[str, ZoneOutput]
    active: Direction


def _head_mode(settings: ZoneSettings, direction: Direction, previous: HeadMode) -> HeadMode:
    if settings.mode is ZoneMode.DRY:
        return "dry"
    if settings.mode is ZoneMode.FAN_ONLY:
        return "fan_only"
    if direction is Direction.HEAT:
        return "heat"
    if direction is Direction.COOL:
        return "cool"
    return previous


def _action(
    settings: ZoneSettings,
    direction: Direction,
    active: Direction,
    share: float,
    unit: UnitInput,
    preheating: bool,
) -> str:
    if settings.mode is ZoneMode.OFF:
        return "off"
    if settings.mode is ZoneMode.FAN_ONLY:
        return "fan"
    if direction is not active or share <= 0:
        return "idle"
    if unit.defrost and active is Direction.HEAT:
        return "defrosting"
    if preheating and active is Direction.HEAT:
        return "preheating"
    if settings.mode is ZoneMode.DRY:
        return "drying"
    return "heating" if active is Direction.HEAT else "cooling"


def control_step(
    state: ControlState,
    zones: Mapping[str, ZoneInput],
    unit: UnitInput,
    now: float,
    tuning: ControlTuning,
) -> tuple[ControlState, ControlOutput]:
    """Advance the whole controller to time ``now`` (seconds on any monotonic scale)."""
    dt = 0.0 if state.last_time is None else max(0.0, now - state.last_time)
    # Defrost, or a unit that does not answer, delivers no capacity: hold the integrators.
    frozen = unit.defrost or not unit.available
    loops: dict[str, ZoneLoopState] = {}
    requests: list[ZoneRequest] = []
    demands = {}
    for zone_id, zone in zones.items():
        previous = state.zones.get(zone_id, ZoneLoopState())
        temperature = zone.temperature if zone.available else None
        loops[zone_id], demands[zone_id] = step_zone(
            previous, zone.settings, temperature, dt, tuning.pi, frozen=frozen
        )
        requests.append(
            ZoneRequest(
                zone_id,
                demands[zone_id].direction,
                demands[zone_id].demand,
                zone.rated_capacity_w,
            )
        )

    compressor, coordinated = step_compressor(
        state.compressor, requests, unit.observation, now, dt, tuning.coordinator
    )
    odu = OduCommand(
        mode=coordinated.command.mode,
        frequency_hz=coordinated.command.frequency_hz,
        quiet=unit.settings.quiet,
        demand_limit_pct=unit.settings.demand_limit_pct,
    )

    outputs: dict[str, ZoneOutput] = {}
    head_modes: dict[str, HeadMode] = {}
    for zone_id, zone in zones.items():
        demand = demands[zone_id]
        settings = zone.settings
        head_mode = _head_mode(settings, demand.direction, state.head_modes.get(zone_id, "heat"))
        head_modes[zone_id] = head_mode
        share = coordinated.shares_pct.get(zone_id, 0.0)
        setpoint = tracked_setpoint(settings, demand.direction)
        head = HeadCommand(
            power=settings.mode is not ZoneMode.OFF,
            mode=head_mode,
            fan=settings.fan_mode.value,  # type: ignore[arg-type]
            vane_vertical=settings.swing_mode.value,  # type: ignore[arg-type]
            vane_horizontal=settings.swing_horizontal_mode.value,  # type: ignore[arg-type]
            capacity_request_pct=share,
            display_setpoint=round(setpoint, 1),
        )
        outputs[zone_id] = ZoneOutput(
            head=head,
            action=_action(
                settings, demand.direction, coordinated.active, share, unit, zone.preheating
            ),
            demand=demand.demand,
            direction=demand.direction,
            mode_conflict=zone_id in coordinated.conflicts,
        )
    new_state = ControlState(loops, compressor, head_modes, now)
    return new_state, ControlOutput(odu, outputs, coordinated.active)
