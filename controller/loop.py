"""The control tick as the supervisor and the benchmark both run it (pure).

Device reports → control inputs → `control_step` → the independent safety check on the ODU
command. One piece of code, so that the benchmark scores exactly what ships (DESIGN §3.1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from controller.compressor import UnitObservation
from controller.control import (
    ControlOutput,
    ControlState,
    ControlTuning,
    UnitInput,
    ZoneInput,
    control_step,
)
from controller.interlocks import CompressorHistory, InterlockViolation, check_command
from controller.room_sensor import SensorSource
from controller.settings import UnitSettings, ZoneSettings
from drivers.devices import OduCommand


class OduReport(Protocol):
    """What the control needs from one poll of the outdoor unit (an `OduStatus`, or the
    simulator's view of the same unit)."""

    @property
    def allowed_max_frequency_hz(self) -> float: ...
    @property
    def outdoor_temperature(self) -> float | None: ...
    @property
    def defrost(self) -> bool: ...
    @property
    def fault(self) -> bool: ...


class HeadReport(Protocol):
    @property
    def cold_draft_prevention(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class UnitRatings:
    """What the outdoor unit says about itself once (its identity registers)."""

    rated_heating_w: float
    rated_cooling_w: float
    min_frequency_hz: float
    max_frequency_hz: float


def unit_input(
    ratings: UnitRatings, report: OduReport, available: bool, settings: UnitSettings
) -> UnitInput:
    observation = UnitObservation(
        rated_heating_w=ratings.rated_heating_w,
        rated_cooling_w=ratings.rated_cooling_w,
        min_frequency_hz=ratings.min_frequency_hz,
        max_frequency_hz=ratings.max_frequency_hz,
        allowed_max_frequency_hz=report.allowed_max_frequency_hz,
        outdoor_temperature=report.outdoor_temperature,
    )
    return UnitInput(observation, available, report.defrost, settings, fault=report.fault)


def zone_input(
    settings: ZoneSettings,
    temperature: float | None,
    available: bool,
    rated_capacity_w: float,
    report: HeadReport | None,
    setpoint_limits: tuple[float, float] | None = None,
    sensor: SensorSource = SensorSource.HEAD,
) -> ZoneInput:
    return ZoneInput(
        settings=settings,
        temperature=temperature,
        available=available,
        rated_capacity_w=rated_capacity_w,
        preheating=bool(report is not None and report.cold_draft_prevention),
        setpoint_limits=setpoint_limits,
        sensor=sensor,
    )


@dataclass(frozen=True, slots=True)
class Decision:
    output: ControlOutput
    odu_command: OduCommand | None  # None: send nothing (refused, or the unit is unreachable)
    refusal: str | None = None


@dataclass
class ControlLoop:
    """The controller's memory between ticks: loop state and the safety check's history."""

    tuning: ControlTuning
    state: ControlState = field(default_factory=ControlState)
    history: CompressorHistory = field(default_factory=CompressorHistory)

    def step(self, zones: dict[str, ZoneInput], unit: UnitInput, now: float) -> Decision:
        self.state, output = control_step(self.state, zones, unit, now, self.tuning)
        if not unit.available:
            # Nothing can be sent to a unit that does not answer; a run it had is over (the
            # coordinator counts it as a forced stop), so the history must say so too.
            if self.history.running:
                stop = OduCommand(self.history.mode, 0.0)
                self.history = check_command(
                    self.history, stop, now, self.tuning.coordinator.limits, forced_stop=True
                )
            return Decision(output, None)
        try:
            self.history = check_command(
                self.history,
                output.odu,
                now,
                self.tuning.coordinator.limits,
                forced_stop=output.forced_stop,
            )
        except InterlockViolation as err:
            return Decision(output, None, str(err))
        return Decision(output, output.odu)
