"""What is published (pure): each zone's and the outdoor unit's state (docs/mqtt.md) and the
one-line status for systemd, made from one tick's `Observation` and the control's output."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, NamedTuple, TypedDict

from minisplit.controller.core.control import ControlOutput, ZoneInput
from minisplit.controller.core.observation import HeadReadings, Observation, OduReadings
from minisplit.controller.core.room_sensor import SensorSource
from minisplit.controller.service.setpoint_heads import SetpointZone
from minisplit.drivers.vocabulary import ZoneAction

ODU_UNIT = "outdoor unit"  # how logs and the status name the ODU (zones go by their id)
AUTONOMOUS = "autonomous"  # the fault a unit shows while it runs on its own (heartbeat lapsed)
# The fault the unit shows while the settings in effect are not on disk (the write is retried).
STATE_UNSAVED = "state_unsaved"
FAULT = "fault"  # a unit's fault where it reports no fault code
ODU_COMMS = "odu_comms"  # a head's fault while the outdoor unit does not answer


# Where a zone's weekly program in effect comes from.
ProgramSource = Literal["config", "mqtt"]


class ZoneState(TypedDict):
    """The JSON of a zone's retained state topic (docs/mqtt.md): its one declaration, which
    discovery's templates and the unit conversion read their field names from."""

    current_temperature: float | None
    target_temperature: float
    target_temperature_low: float
    target_temperature_high: float
    mode: str
    action: ZoneAction
    fan_mode: str
    swing_mode: str
    swing_horizontal_mode: str
    preset: str
    humidity: float | None
    demand: float
    sensor: str
    available: bool
    mode_conflict: bool
    fault: str | None
    # The setpoint written to a setpoint-driven head (None for a head driven directly): a
    # diagnostic; the homeowner's target stays `target_temperature`.
    head_setpoint: float | None
    # Whether the zone follows its weekly program (None: it has none), and the local time
    # ("YYYY-MM-DD HH:MM") of its next switch point while it does.
    schedule: bool | None
    next_switch: str | None
    # Where its program comes from: "config" ([[zones.schedule]]), "mqtt" (set/program), None.
    program_source: ProgramSource | None
    # Whether the zone is held at the cheap side of its band because the forecast's weather
    # will take the room past the far side anyway: a heated room at the bottom for the sun, a
    # cooled one at the top for a cool night (None: the control has no forecast to go by).
    forecast_hold: bool | None


class ProgramState(NamedTuple):
    """A zone's weekly program as its state shows it."""

    on: bool
    next_switch: str | None
    source: ProgramSource


class UnitState(TypedDict):
    """The JSON of the outdoor unit's retained state topic (docs/mqtt.md)."""

    mode: str | None
    compressor_frequency: float | None
    compressor_target: float
    allowed_max_frequency: float | None
    outdoor_temperature: float | None
    power: float | None
    energy: float | None
    defrost: bool
    quiet: bool
    demand_limit: int
    fault: str | None
    available: bool


ZONE_STATE_FIELDS = tuple(ZoneState.__annotations__)
UNIT_STATE_FIELDS = tuple(UnitState.__annotations__)
# The fields that are temperatures (not temperature differences): published in the house's unit.
ZONE_TEMPERATURE_FIELDS = (
    "current_temperature",
    "target_temperature",
    "target_temperature_low",
    "target_temperature_high",
    "head_setpoint",
)
UNIT_TEMPERATURE_FIELDS = ("outdoor_temperature",)


def zone_state(
    zone_id: str,
    seen: Observation,
    output: ControlOutput | None,
    followed: ZoneInput | None,
    sensor_faults: tuple[str, ...],
    setpoint: SetpointZone | None = None,
    program: ProgramState | None = None,
    forecast_hold: bool | None = None,
) -> ZoneState:
    """The zone's state: ``followed`` is the input the control followed (the reading it chose,
    with its static offset; the bias estimate is for the control only), ``sensor_faults`` the
    room sensors' faults as of that tick, ``setpoint`` what the setpoint strategy did for the
    zone where it drives the heads, ``program`` its weekly program's (None: it has none),
    ``forecast_hold`` whether the forecast holds it at the cheap side of its band (None: no
    forecast in use)."""
    report = seen.heads[zone_id]
    settings = seen.zones[zone_id].settings
    available = report.available
    temperature = followed.temperature if followed else None
    sensor = followed.sensor if followed else SensorSource.HEAD
    out = output.zones.get(zone_id) if output else None
    status = report.status
    action = out.action if out and available else ZoneAction.OFF
    demand = round(100 * out.demand, 1) if out else 0.0
    conflict = bool(out and out.mode_conflict)
    if setpoint is not None:
        action = setpoint.action if available else ZoneAction.OFF
        # Known only as the head's thermostat calling or not.
        demand = 100.0 if action in (ZoneAction.HEATING, ZoneAction.COOLING) else 0.0
        conflict = setpoint.setting.mode_conflict
    fault = report.refused or (_fault(status) if status else None)
    if available and seen.odu.configured and not seen.odu.available:
        # The heads were told to ask for no refrigerant: say so.
        action = action if action in (ZoneAction.OFF, ZoneAction.FAN) else ZoneAction.IDLE
        fault = fault or ODU_COMMS
    if available and not fault:
        fault = ", ".join(sensor_faults) or None
    if report.autonomous:
        fault = fault or AUTONOMOUS
    return {
        "current_temperature": None if temperature is None else round(temperature, 1),
        "target_temperature": settings.target_temperature,
        "target_temperature_low": settings.target_temperature_low,
        "target_temperature_high": settings.target_temperature_high,
        "mode": settings.mode.value,
        "action": action,
        "fan_mode": settings.fan_mode.value,
        "swing_mode": settings.swing_mode.value,
        "swing_horizontal_mode": settings.swing_horizontal_mode.value,
        "preset": settings.preset.value,
        "humidity": status.humidity if status else None,
        "demand": demand,
        "sensor": sensor.value,
        "available": available,
        "mode_conflict": conflict,
        "fault": fault,
        "head_setpoint": None if setpoint is None else setpoint.setting.setpoint,
        "schedule": None if program is None else program.on,
        "next_switch": None if program is None else program.next_switch,
        "program_source": None if program is None else program.source,
        "forecast_hold": forecast_hold,
    }


def unit_state(seen: Observation, output: ControlOutput | None, unsaved: bool) -> UnitState:
    """The outdoor unit's state; ``unsaved``: the settings in effect are not on disk."""
    report = seen.odu
    status = report.status
    settings = seen.unit.settings
    unit = (
        report.refused
        or (_fault(status) if status else None)
        or (AUTONOMOUS if report.autonomous else None)
    )
    # The settings are the whole system's; the unit's fault is where Home Assistant shows a
    # fault of the system, so an unwritable state file is said there, beside the unit's.
    fault = ", ".join(f for f in (unit, STATE_UNSAVED if unsaved else None) if f) or None
    return {
        "mode": status.mode if status else None,
        "compressor_frequency": status.compressor_frequency_hz if status else None,
        "compressor_target": output.odu.frequency_hz if output else 0.0,
        "allowed_max_frequency": status.allowed_max_frequency_hz if status else None,
        "outdoor_temperature": status.outdoor_temperature if status else None,
        "power": status.input_power_w if status else None,
        "energy": None
        if status is None or status.energy_wh is None
        else round(status.energy_wh / 1000.0, 3),
        "defrost": status is not None and status.defrost is True,
        "quiet": settings.quiet,
        "demand_limit": settings.demand_limit_pct,
        "fault": fault,
        "available": report.available,
    }


def status_line(
    seen: Observation, sensor_faults: Mapping[str, tuple[str, ...]], unsaved: bool
) -> str:
    """One line for systemd's STATUS=: zones ok/total, the ODU's mode and speed, faults."""
    heads = seen.heads
    ok = sum(report.available for report in heads.values())
    faults = [
        f"{zone_id} {_refusal(report.refused) or 'offline'}"
        for zone_id, report in heads.items()
        if not report.available
    ]
    faults += [
        f"{zone_id} fault {_fault(report.status)}"
        for zone_id, report in heads.items()
        if report.available and report.status is not None and report.status.fault
    ]
    faults += [
        f"{zone_id} {name}"
        for zone_id, report in heads.items()
        if report.available
        for name in sensor_faults.get(zone_id, ())
    ]
    autonomous = [zone_id for zone_id, report in heads.items() if report.autonomous]
    autonomous += [ODU_UNIT] if seen.odu.autonomous else []
    faults += [f"{unit} {AUTONOMOUS}" for unit in sorted(autonomous)]
    if unsaved:
        faults.append("settings not saved (writing the state file failed; retrying)")
    status = seen.odu.status
    if not seen.odu.configured:
        odu = "ODU follows the heads"
    elif not seen.odu.available or status is None:
        odu = f"ODU {_refusal(seen.odu.refused) or 'offline'}"
    else:
        hz = status.compressor_frequency_hz
        shown = [
            *([] if status.mode is None else [status.mode]),
            *([] if hz is None else [f"{hz:.1f} Hz"]),
        ]
        odu = f"ODU {' '.join(shown) or 'online'}"
        if status.fault:
            faults.insert(0, f"ODU fault {_fault(status)}")
    return f"zones {ok}/{len(heads)} ok; {odu}; faults: {', '.join(faults) or 'none'}"


def _fault(status: HeadReadings | OduReadings) -> str | None:
    """The unit's fault, if it reports one: its code, or `fault` where it reports no code."""
    return (status.fault_code or FAULT) if status.fault else None


def _refusal(fault: str | None) -> str | None:
    return None if fault is None else f"refused ({fault})"
