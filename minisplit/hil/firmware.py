"""The reference units' own firmware (docs/reference-unit.md) as plain classes: typed commands in,
drives to the plant and status views out, no registers.

The Modbus simulator (`hil.modbus_units` maps registers onto these) and the benchmark run
exactly this code, so a controller sees the same unit through either. Time is the plant's
simulated clock: each unit decides at the start of a step (`tick`), the plant runs through it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple, TypeVar

from minisplit.controller.core.head_setpoint import unit_setpoint
from minisplit.drivers.records import HeadCommand, HeadStatus, OduCommand, OduStatus, RemoteRequest
from minisplit.drivers.vocabulary import FanSpeed, HeadMode, OduMode, VanePosition
from minisplit.hil.heatpump import (
    ODU_HEAT,
    ODU_OFF,
    REFERENCE_HEAD,
    SERVED_HEAD_MODES,
    HeadRatings,
    OutdoorUnitRatings,
    capacity_per_hz,
    fan_power_w,
    rated_input_power_w,
)
from minisplit.hil.plant import CompressorDrive, HeadDrive, Plant
from minisplit.hil.psychrometrics import indoor_relative_humidity

RESTART_LOCKOUT_S = 180.0
RAMP_HZ_PER_S = 1.0
DEFAULT_HEARTBEAT_TIMEOUT_S = 60.0
# Autonomous fallback: the head's own thermostat asks 100 % of its capacity at 2 K below
# setpoint (P control, as stock heads do) and nothing below a 5 % request, so the outdoor unit
# can stop rather than run the compressor for a trickle.
FALLBACK_GAIN_PCT_PER_K = 50.0
FALLBACK_MIN_REQUEST_PCT = 5.0
# ... and, like stock units, it holds thermo-on (at that least request) until refrigerant has
# flowed for the compressor's minimum run time, so the unit's own cycling keeps the 180 s
# interlocks (the benchmark's `stock` baseline, docs/benchmark.md); the ODU's restart
# lockout is the minimum off time.
FALLBACK_MIN_RUN_S = 180.0
# Fan speed in `auto`: low…high with the head's capacity request; slow in dry mode.
AUTO_FAN_SPEEDS = (2, 4)
DRY_FAN_SPEED = 1
# Cold-draft prevention ("hot start"): a heating head holds its fan until its coil is warm,
# i.e. while no heat flows to it yet, for this long after heat begins to flow, and through a
# defrost.
PREHEAT_S = 60.0
# Reverse-cycle defrost: the compressor runs at this speed until the plant's coil is clear of
# ice, then the coil drains and the valve switches back; a timer ends it in any case.
DEFROST_HZ = 60.0
DEFROST_DRAIN_S = 60.0
DEFROST_MAX_S = 12 * 60.0
# The demand-limit cap is the unit's slow outer loop: re-solved this often, or on a change.
DEMAND_CAP_PERIOD_S = 30.0
# What the reference head's display accepts (the head profile's display_setpoint range).
DISPLAY_SETPOINT_RANGE_C = (5.0, 35.0)
# The smallest request a setpoint-driven head's thermostat makes while thermo-on.
THERMOSTAT_MIN_REQUEST_PCT = FALLBACK_MIN_REQUEST_PCT

# The simulated head's fan has five steps (plant.HeadDrive.fan_speed 1…5; 0 = auto): a
# setting between two of them (a 5-step unit's medium_low, medium_high) runs the lower.
FAN_STEPS: Mapping[FanSpeed, int] = {
    FanSpeed.AUTO: 0,
    FanSpeed.QUIET: 1,
    FanSpeed.LOW: 2,
    FanSpeed.MEDIUM_LOW: 2,
    FanSpeed.MEDIUM: 3,
    FanSpeed.MEDIUM_HIGH: 3,
    FanSpeed.HIGH: 4,
    FanSpeed.TURBO: 5,
}
FAN_SPEED_LABELS: tuple[FanSpeed, ...] = tuple(FAN_STEPS)
# The simulated head has no `auto` mode of its own (the product's heat_cool zones pick heat or
# cool): a command of it is refused.
HEAD_MODE_LABELS: tuple[HeadMode, ...] = tuple(
    m for m in HeadMode if m not in (HeadMode.AUTO, HeadMode.HEAT_AUX)
)
VANE_LABELS: tuple[VanePosition, ...] = tuple(VanePosition)
ODU_MODE_LABELS: tuple[OduMode, ...] = tuple(OduMode)
# A command's mode (a member, or its word from a test or a script) to the member by lookup:
# calling the enum costs far more, and the controller sends a new command most ticks.
HEAD_MODE_BY_LABEL: Mapping[str, HeadMode] = {mode.value: mode for mode in HeadMode}
ODU_MODE_BY_LABEL: Mapping[str, OduMode] = {mode.value: mode for mode in OduMode}
# The head modes as plain globals, as the outdoor ones in hil.heatpump (a member read off its
# class is slow on Python 3.11): the heads compare their mode every step.
HEAD_HEAT, HEAD_DRY, HEAD_FAN_ONLY = HeadMode.HEAT, HeadMode.DRY, HeadMode.FAN_ONLY

_Word = TypeVar("_Word", bound=StrEnum)

# Sensors that fault injection can break, and the fault code each raises.
HEAD_SENSOR_FAULTS: Mapping[str, str] = {
    "return_air_temperature": "return_air_sensor",
    "coil_temperature": "coil_sensor",
}
ODU_SENSOR_FAULTS: Mapping[str, str] = {"outdoor_temperature": "outdoor_sensor"}


class _Watchdog:
    """The heartbeat: a unit goes autonomous when nobody changed it for the timeout."""

    def __init__(self, plant: Plant, timeout_s: float) -> None:
        self._plant = plant
        self.timeout_s = timeout_s
        # It runs from power-up: with no controller ever talking, the unit goes autonomous.
        self._beat_at = plant.time_s
        self.lapsed = False  # fault injection: lost whatever the controller writes

    def beat(self) -> None:
        self._beat_at = self._plant.time_s

    def set_timeout(self, timeout_s: float) -> None:
        """A new timeout starts a fresh window, so arming the watchdog does not trip it."""
        self.timeout_s = timeout_s
        self._beat_at = self._plant.time_s

    @property
    def lost(self) -> bool:
        return self.lapsed or (
            self.timeout_s > 0 and self._plant.time_s - self._beat_at >= self.timeout_s
        )


def _fault_code(broken: set[str], faults: Mapping[str, str]) -> str:
    for sensor, code in faults.items():
        if sensor in broken:
            return code
    return "none"


# ---------------------------------------------------------------------------------------------
# Indoor head
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HeadView:
    """Everything an indoor head reports (its input registers and its settings' read-back)."""

    zone: str
    rated_capacity_w: float
    has_humidity_sensor: bool
    has_vertical_vane: bool
    has_horizontal_vane: bool
    command: HeadCommand  # the settings in effect (the controller's, or the remote's)
    fan_running: bool
    fan_speed_actual: int
    cold_draft_prevention: bool
    heartbeat_lost: bool
    request_pct: float  # the capacity request in effect (the head's own in fallback)
    return_air_temperature: float | None  # the head's sensor: room air + bias; None = broken
    coil_temperature: float | None
    humidity: float | None  # %RH; None without a sensor
    valve_position_pct: float
    fault: bool
    fault_code: str
    remote_pending: bool
    last_remote: RemoteRequest | None  # the handheld remote's last press, pending or not
    # Behind an interface (docs/profiles.md): the head's thermostat calls for refrigerant, and
    # the room temperature the master last wrote for the head to regulate on (None: none).
    thermo_on: bool = False
    external_temperature: float | None = None

    @property
    def remote_request(self) -> RemoteRequest | None:
        """The remote's change waiting to be adopted (status b4), else None."""
        return self.last_remote if self.remote_pending else None

    def to_status(self) -> HeadStatus:
        """The same facts as the head driver decodes them from the registers."""
        c = self.command
        return HeadStatus(
            fan_running=self.fan_running,
            coil_freeze_protection=False,
            condensate_alarm=False,
            fault=self.fault,
            cold_draft_prevention=self.cold_draft_prevention,
            heartbeat_lost=self.heartbeat_lost,
            thermo_on=self.thermo_on,
            return_air_temperature=self.return_air_temperature,
            coil_temperature=self.coil_temperature,
            humidity=self.humidity,
            fault_code=self.fault_code,
            fan_speed_actual=self.fan_speed_actual,
            valve_position_pct=self.valve_position_pct,
            remote_request=self.remote_request,
            power=c.power,
            mode=c.mode,
            fan=c.fan,
            vane_vertical=c.vane_vertical,
            vane_horizontal=c.vane_horizontal,
            capacity_request_pct=c.capacity_request_pct,
            display_setpoint=c.display_setpoint,
            external_temperature=self.external_temperature,
        )


HEAD_POWER_ON_COMMAND = HeadCommand(
    power=False,
    mode=HeadMode.HEAT,
    fan=FanSpeed.AUTO,
    vane_vertical=VanePosition.AUTO,
    vane_horizontal=VanePosition.AUTO,
    capacity_request_pct=0.0,
    display_setpoint=21.0,
)


def _member(vocabulary: type[_Word], name: str, word: str) -> _Word:
    """The member of ``vocabulary`` that ``word`` names; ValueError naming ``name`` if none."""
    try:
        return vocabulary(word)
    except ValueError:
        raise ValueError(f"{name} {word!r} is not one of {', '.join(vocabulary)}") from None


def check_head_command(command: HeadCommand) -> None:
    """ValueError for a command the head cannot take (as exception 0x03 on its registers)."""
    if command.mode not in HEAD_MODE_LABELS:
        raise ValueError(f"mode {command.mode!r} is not one of {', '.join(HEAD_MODE_LABELS)}")
    if command.fan not in FAN_SPEED_LABELS:
        raise ValueError(f"fan {command.fan!r} is not one of {', '.join(FAN_SPEED_LABELS)}")
    for name, vane in (
        ("vane_vertical", command.vane_vertical),
        ("vane_horizontal", command.vane_horizontal),
    ):
        if vane not in VANE_LABELS:
            raise ValueError(f"{name} {vane!r} is not one of {', '.join(VANE_LABELS)}")
    if not 0.0 <= command.capacity_request_pct <= 100.0:
        raise ValueError(f"capacity_request {command.capacity_request_pct} is outside 0..100 %")
    low, high = DISPLAY_SETPOINT_RANGE_C
    if not low <= command.display_setpoint <= high:
        raise ValueError(f"display_setpoint {command.display_setpoint} is outside {low}..{high} °C")


@dataclass(frozen=True)
class HeadThermostat:
    """A head behind a Modbus interface (docs/benchmark.md, 'Setpoint-driven units'): its only
    levers are power, mode and setpoint, and it runs its own thermostat all the time.

    What a real unit does that matters for comfort: it takes the setpoint only within its range
    for the mode and to its resolution; it regulates its own return-air sensor (which reads
    warm while it heats) or, when the master wrote one within ``external_timeout_s``, the
    external room temperature; its PI demand holds that reading on the setpoint while the load
    is above what the compressor's minimum speed delivers, and below it the room overshoots
    until the head goes thermo-off ``off_k`` past the setpoint, and thermo-on again ``on_k``
    short of it. Defaults: a Mitsubishi-style head behind an Intesis-style interface (heat
    16–31 °C, 0.5 K steps)."""

    setpoint_step_c: float = 0.5
    heat_range_c: tuple[float, float] = (16.0, 31.0)
    cool_range_c: tuple[float, float] = (16.0, 31.0)
    gain_pct_per_k: float = 50.0  # proportional: % of the head's capacity per K of error
    integral_s: float = 900.0  # integral time
    off_k: float = 1.0  # thermo-off this far past the setpoint
    on_k: float = 0.5  # thermo-on this far short of it
    external_timeout_s: float = 600.0  # an external temperature older than this is ignored

    def setpoint_in_effect(self, setpoint: float, mode: HeadMode) -> float:
        """The setpoint the unit really uses: within the mode's range, to its resolution."""
        span = self.heat_range_c if mode is HEAD_HEAT else self.cool_range_c
        return unit_setpoint(setpoint, span, self.setpoint_step_c)


class HeadFirmware:
    """One indoor head's own logic: fan, cold-draft prevention, fallback thermostat, remote;
    with a `HeadThermostat` the head is setpoint-driven (behind an interface)."""

    def __init__(
        self,
        plant: Plant,
        zone: str,
        ratings: HeadRatings = REFERENCE_HEAD,
        *,
        heartbeat_timeout_s: float = DEFAULT_HEARTBEAT_TIMEOUT_S,
        thermostat: HeadThermostat | None = None,
    ) -> None:
        self._room = plant.room_index(zone)  # KeyError now for a room the plant does not have
        self._plant = plant
        self.zone = zone
        self._ratings = ratings
        self.watchdog = _Watchdog(plant, heartbeat_timeout_s)
        self.remote_pending = False
        self.last_remote: RemoteRequest | None = None
        # Sensors broken by fault injection: they read None and raise a fault code.
        self.broken_sensors: set[str] = set()
        self.thermostat = thermostat
        self._external: float | None = None
        self._external_at = -math.inf
        self._thermo_on = False
        self._thermo_integral = 0.0
        self._thermo_at = plant.time_s
        self._fallback_request_pct = 0.0
        # A plain attribute, not a property: the bench's controller reads it every tick.
        self.cold_draft_prevention = False
        self._last_request_pct = 0.0
        self._drive = HeadDrive(rated_w=ratings.rated_w)
        self._set_command(HEAD_POWER_ON_COMMAND)

    @property
    def ratings(self) -> HeadRatings:
        return self._ratings

    @ratings.setter
    def ratings(self, ratings: HeadRatings) -> None:
        self._ratings = ratings
        self._stale = True

    @property
    def external_temperature(self) -> float | None:
        """The room temperature an interface's master last wrote for the head to regulate on
        (None: none written, or cleared)."""
        return self._external

    @external_temperature.setter
    def external_temperature(self, value: float | None) -> None:
        self._external = value
        self._external_at = self._plant.time_s

    @property
    def regulated_c(self) -> float | None:
        """What a setpoint-driven head's thermostat works on: the external temperature while
        fresh, else its own sensor (None: neither)."""
        thermostat = self.thermostat
        if (
            self._external is not None
            and thermostat is not None
            and self._plant.time_s - self._external_at < thermostat.external_timeout_s
        ):
            return self._external
        return self.return_air_c

    @property
    def setpoint_in_effect(self) -> float:
        """The setpoint the head really uses (a setpoint-driven head clamps and rounds it)."""
        c = self.command
        if self.thermostat is None:
            return c.display_setpoint
        return self.thermostat.setpoint_in_effect(c.display_setpoint, self._mode)

    # ---- commands ----

    def apply(self, command: HeadCommand) -> None:
        """The controller's settings for this head; ValueError (nothing changes) if invalid."""
        if command is self.command or command == self.command:
            return
        check_head_command(command)
        self._set_command(command)

    def _set_command(self, command: HeadCommand) -> None:
        # Worked out once per command, not once per step.
        self.command = command
        self._wants_refrigerant = command.power and command.mode != HEAD_FAN_ONLY
        self._heating = command.power and command.mode == HEAD_HEAT
        self._fan_setting = FAN_STEPS[command.fan]
        self._mode = HEAD_MODE_BY_LABEL[command.mode]
        self._stale = True

    def beat(self) -> None:
        """A sign of life from the controller (a changed heartbeat register)."""
        self.watchdog.beat()

    def press_remote(
        self,
        *,
        power: bool | None = None,
        mode: str | None = None,
        setpoint: float | None = None,
        fan: str | None = None,
    ) -> None:
        """A change made on the IR remote: applied at once, latched for the controller (b4).

        The remote sends its whole state with every press. ValueError for an impossible one."""
        c = self.command
        changed = HeadCommand(
            power=c.power if power is None else power,
            mode=c.mode if mode is None else _member(HeadMode, "mode", mode),
            fan=c.fan if fan is None else _member(FanSpeed, "fan", fan),
            vane_vertical=c.vane_vertical,
            vane_horizontal=c.vane_horizontal,
            capacity_request_pct=c.capacity_request_pct,
            display_setpoint=c.display_setpoint if setpoint is None else setpoint,
        )
        check_head_command(changed)
        self._set_command(changed)
        self.last_remote = RemoteRequest(
            power=changed.power,
            mode=changed.mode,
            setpoint=changed.display_setpoint,
            fan=changed.fan,
        )
        self.remote_pending = True

    def ack_remote(self) -> None:
        """The controller adopted the remote's change (clears status b4)."""
        self.remote_pending = False

    # ---- behaviour ----

    @property
    def heartbeat_lost(self) -> bool:
        return self.watchdog.lost

    @property
    def mode(self) -> HeadMode:
        return self._mode

    @property
    def request_pct(self) -> float:
        """The capacity request in effect: the controller's, or the head's own in fallback."""
        if not self._wants_refrigerant:
            return 0.0
        if self.thermostat is not None or self.watchdog.lost:
            return self._fallback_request_pct
        return self.command.capacity_request_pct

    @property
    def sensor_c(self) -> float:
        """What the return-air sensor at the ceiling reads (the room's air + the bias)."""
        return self._plant.sensor_c(self._room)

    @property
    def return_air_c(self) -> float | None:
        if "return_air_temperature" in self.broken_sensors:
            return None
        return self._plant.sensor_c(self._room)

    def tick(self) -> HeadDrive:
        """Decide for the coming step: the fallback thermostat, the fan; the drive to the plant."""
        c = self.command
        plant = self._plant
        if not self._wants_refrigerant:
            request_pct = 0.0
            self._thermo_on = False
            self._thermo_at = plant.time_s
        elif self.thermostat is not None:
            request_pct = self._fallback_request_pct = self._own_thermostat(self.thermostat)
        elif self.watchdog.lost:
            sensor = self.return_air_c
            error = 0.0 if sensor is None else c.display_setpoint - sensor
            if c.mode != HEAD_HEAT:
                error = -error
            request = FALLBACK_GAIN_PCT_PER_K * error
            request = request if request > 0.0 else 0.0
            request = request if request < 100.0 else 100.0
            request_pct = request if request >= FALLBACK_MIN_REQUEST_PCT else 0.0
            if (
                request_pct == 0.0
                and self._fallback_request_pct > 0.0
                and self._mode in SERVED_HEAD_MODES[plant.delivering]
                and plant.seconds_delivering < FALLBACK_MIN_RUN_S
            ):
                request_pct = FALLBACK_MIN_REQUEST_PCT  # the run's minimum time is not over
            self._fallback_request_pct = request_pct
        else:
            request_pct = c.capacity_request_pct
        # A heating head that wants heat keeps its fan still until warm refrigerant has been
        # flowing for a while; every heating head does during a defrost.
        cold_draft = self._heating and (
            plant.defrosting
            or (
                request_pct > 0
                and (plant.delivering is not ODU_HEAT or plant.seconds_delivering < PREHEAT_S)
            )
        )
        if (
            not self._stale
            and cold_draft == self.cold_draft_prevention
            and request_pct == self._last_request_pct
        ):
            return self._drive
        self._stale = False
        self.cold_draft_prevention = cold_draft
        self._last_request_pct = request_pct
        fan_speed = 0
        if c.power and not cold_draft:
            fan_speed = self._fan_setting
            if fan_speed == 0:  # auto
                if c.mode == HEAD_DRY:
                    fan_speed = DRY_FAN_SPEED
                elif self._heating and request_pct == 0:
                    # Thermo-off in heating: with the fan on `auto` the head stops it, as real
                    # heads do (no cold draft, no fan power); a set fan speed keeps running.
                    fan_speed = 0
                else:
                    low, high = AUTO_FAN_SPEEDS
                    fan_speed = low + round((high - low) * min(1.0, request_pct / 100.0))
        rated_w = self._ratings.rated_w
        request_w = request_pct / 100.0 * rated_w
        d = self._drive
        # The same object while nothing changes: the plant and the outdoor unit cache on it.
        if (
            d.on != c.power
            or d.mode is not self._mode
            or d.fan_speed != fan_speed
            or d.request_w != request_w
            or d.rated_w != rated_w
        ):
            self._drive = HeadDrive(c.power, self._mode, fan_speed, request_w, rated_w)
        return self._drive

    def _own_thermostat(self, t: HeadThermostat) -> float:
        """A setpoint-driven head's request for the coming step (see `HeadThermostat`)."""
        plant = self._plant
        now = plant.time_s
        dt = now - self._thermo_at
        self._thermo_at = now
        regulated = self.regulated_c
        if regulated is None:
            self._thermo_on = False
            return 0.0
        setpoint = t.setpoint_in_effect(self.command.display_setpoint, self._mode)
        error = setpoint - regulated if self._heating else regulated - setpoint
        minimum = THERMOSTAT_MIN_REQUEST_PCT
        if self._thermo_on:
            young = (
                self._mode in SERVED_HEAD_MODES[plant.delivering]
                and plant.seconds_delivering < FALLBACK_MIN_RUN_S
            )
            if error <= -t.off_k and not young:
                self._thermo_on = False
                return 0.0
        elif error >= t.on_k:
            self._thermo_on = True
            self._thermo_integral = minimum
        else:
            return 0.0
        integral = self._thermo_integral + t.gain_pct_per_k * error * dt / t.integral_s
        integral = minimum if integral < minimum else 100.0 if integral > 100.0 else integral
        self._thermo_integral = integral
        request = t.gain_pct_per_k * error + integral
        request = minimum if request < minimum else 100.0 if request > 100.0 else request
        # Whole percent, as the unit's demand steps: the drive changes less often.
        return float(round(request))

    def drive(self) -> HeadDrive:
        """What the head does now (as decided by the last `tick`)."""
        return self._drive

    def status(self) -> HeadView:
        plant = self._plant
        state = plant.head_state(self.zone)
        ratings = self.ratings
        humidity = None
        if ratings.has_humidity_sensor:
            humidity = indoor_relative_humidity(
                plant.air_c(self.zone), plant.outdoor_c, plant.dew_point_c
            )
        fan_speed = self._drive.fan_speed
        return HeadView(
            zone=self.zone,
            rated_capacity_w=ratings.rated_w,
            has_humidity_sensor=ratings.has_humidity_sensor,
            has_vertical_vane=ratings.has_vertical_vane,
            has_horizontal_vane=ratings.has_horizontal_vane,
            command=self.command,
            fan_running=fan_speed > 0,
            fan_speed_actual=fan_speed,
            cold_draft_prevention=self.cold_draft_prevention,
            heartbeat_lost=self.watchdog.lost,
            request_pct=self.request_pct,
            return_air_temperature=self.return_air_c,
            coil_temperature=None if "coil_temperature" in self.broken_sensors else state.coil_c,
            humidity=humidity,
            valve_position_pct=state.valve_pct,
            fault=bool(self.broken_sensors & HEAD_SENSOR_FAULTS.keys()),
            fault_code=_fault_code(self.broken_sensors, HEAD_SENSOR_FAULTS),
            remote_pending=self.remote_pending,
            last_remote=self.last_remote,
            thermo_on=self.request_pct > 0,
            external_temperature=self.external_temperature,
        )


# ---------------------------------------------------------------------------------------------
# Outdoor unit
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OduView:
    """Everything the outdoor unit reports (its input registers and its settings' read-back)."""

    rated_heating_w: float
    rated_cooling_w: float
    min_frequency_hz: float
    max_frequency_hz: float
    max_heads: int
    command: OduCommand  # the controller's last command (mode, setpoint, quiet, demand limit)
    mode: OduMode  # the commanded mode
    running: bool
    defrost: bool
    restart_lockout: bool
    valve_heating: bool  # four-way valve in the heating position
    heartbeat_lost: bool
    quiet_active: bool
    compressor_frequency_hz: float
    allowed_max_frequency_hz: float
    outdoor_temperature: float | None  # the unit's sensor; None = broken
    outdoor_coil_temperature: float | None
    discharge_temperature: float | None
    input_power_w: float
    energy_wh: float  # since power-up, not wrapped
    starts: int  # not wrapped
    run_seconds: float
    fault: bool
    fault_code: str

    @property
    def operating_hours(self) -> int:
        return math.floor(self.run_seconds / 3600.0)

    def to_status(self) -> OduStatus:
        """The same facts as the outdoor-unit driver decodes them from the registers."""
        c = self.command
        return OduStatus(
            compressor_running=self.running,
            defrost=self.defrost,
            oil_return=False,
            fault=self.fault,
            restart_lockout=self.restart_lockout,
            valve_heating=self.valve_heating,
            heartbeat_lost=self.heartbeat_lost,
            quiet_active=self.quiet_active,
            compressor_frequency_hz=self.compressor_frequency_hz,
            allowed_max_frequency_hz=self.allowed_max_frequency_hz,
            outdoor_temperature=self.outdoor_temperature,
            outdoor_coil_temperature=self.outdoor_coil_temperature,
            discharge_temperature=self.discharge_temperature,
            input_power_w=self.input_power_w,
            energy_wh=math.floor(self.energy_wh) % 2**32,
            fault_code=self.fault_code,
            compressor_starts=self.starts % 2**16,
            operating_hours=self.operating_hours % 2**16,
            mode=c.mode,
            frequency_setpoint_hz=c.frequency_hz,
            quiet_mode=c.quiet,
            demand_limit_pct=c.demand_limit_pct,
        )


class _HeadsSeen(NamedTuple):
    """What the outdoor unit makes of its heads' drives. A NamedTuple: one is built whenever a
    head's drive changes (most ticks), ~3× faster than a frozen dataclass."""

    mode: OduMode  # the mode in effect
    receiving: Mapping[str, HeadDrive]  # the heads taking refrigerant in it
    coil_w: float  # their rated capacity
    asked_w: float  # the capacity they ask for


ODU_POWER_ON_COMMAND = OduCommand(
    mode=OduMode.OFF, frequency_hz=0.0, quiet=False, demand_limit_pct=100
)


class OutdoorFirmware:
    """The inverter outdoor unit's own logic: ramps and caps, restart lockout, starts and meters,
    frost-driven defrost, and the autonomous fallback."""

    def __init__(
        self,
        plant: Plant,
        *,
        heartbeat_timeout_s: float = DEFAULT_HEARTBEAT_TIMEOUT_S,
        follows_heads: bool = False,
    ) -> None:
        self._plant = plant
        self.ratings: OutdoorUnitRatings = plant.ratings  # one source for the machine
        # Behind setpoint-driven heads' interfaces nobody commands the outdoor unit: it always
        # runs on its own logic, from the heads' demand (as after a lost heartbeat).
        self.follows_heads = follows_heads
        self.command = ODU_POWER_ON_COMMAND
        self._mode = OduMode.OFF
        self.watchdog = _Watchdog(plant, heartbeat_timeout_s)
        self.broken_sensors: set[str] = set()
        # A fault code raised by fault injection (e.g. "high_pressure"): the unit stops.
        self.fault: str | None = None
        self.frequency_hz = 0.0  # actual speed at the end of the last tick; 0 = stopped
        self.running_mode = OduMode.OFF  # the mode the compressor was started in
        self.valve_heating = False  # four-way valve position
        self.stopped_at = -math.inf  # no lockout at power-up
        self.starts = 0
        self.run_seconds = 0.0
        self.energy_wh = 0.0
        self.allowed_max_hz = self.ratings.max_hz
        self.defrost_started_at: float | None = None
        self._defrost_clear_at: float | None = None  # when the coil was found free of ice
        self._defrost_requested = False
        # The demand-limit cap: (what it was solved for, when it is due again, the cap in Hz).
        self._demand_cap: tuple[tuple[float, OduMode, float, float], float, float] | None = None
        self._heads_key: object = None
        self._heads_seen = _HeadsSeen(OduMode.OFF, {}, 0.0, 0.0)
        self._drive = CompressorDrive()

    # ---- commands ----

    def apply(self, command: OduCommand) -> None:
        """The controller's command; ValueError (nothing changes) for one the unit refuses.

        A setpoint above the allowed maximum is clamped by the unit, not refused."""
        if command is self.command or command == self.command:
            return
        r = self.ratings
        if command.mode not in ODU_MODE_LABELS:
            raise ValueError(f"mode {command.mode!r} is not one of {', '.join(ODU_MODE_LABELS)}")
        hz = command.frequency_hz
        if hz != 0 and not r.min_hz <= hz <= r.max_hz:
            raise ValueError(
                f"frequency {hz} Hz is neither 0 (stop) nor within {r.min_hz}..{r.max_hz}"
            )
        if not 0 <= command.demand_limit_pct <= 100:
            raise ValueError(f"demand_limit {command.demand_limit_pct} is outside 0..100 %")
        self.command = command
        self._mode = ODU_MODE_BY_LABEL[command.mode]

    def beat(self) -> None:
        self.watchdog.beat()

    def force_defrost(self) -> None:
        """Fault injection: defrost at the next step that runs in heating, frost or not."""
        self._defrost_requested = True

    # ---- state ----

    @property
    def running(self) -> bool:
        return self.frequency_hz > 0

    @property
    def defrosting(self) -> bool:
        return self.defrost_started_at is not None

    @property
    def heartbeat_lost(self) -> bool:
        return self.watchdog.lost

    @property
    def lockout(self) -> bool:
        """Restart lockout (status b4): within 180 s of the last stop."""
        return self._plant.time_s - self.stopped_at < RESTART_LOCKOUT_S

    @property
    def outdoor_sensor_c(self) -> float | None:
        return None if "outdoor_temperature" in self.broken_sensors else self._plant.outdoor_c

    def _heads(self, drives: Mapping[str, HeadDrive], lost: bool) -> _HeadsSeen:
        """The mode in effect and the heads that take refrigerant in it; worked out again only
        when the drives, the commanded mode or the watchdog (``lost``) change."""
        # A run in its minimum time keeps its mode (the heads of that mode hold thermo-on).
        young_run = (
            self.running_mode
            if self.frequency_hz > 0 and self._plant.seconds_delivering < FALLBACK_MIN_RUN_S
            else None
        )
        key = (tuple(drives.values()), self._mode, lost, young_run)
        if key == self._heads_key:
            return self._heads_seen
        mode = self._mode
        if mode is OduMode.OFF and lost:
            # Autonomous: the heads' choice, by the capacity they ask for.
            asked = {
                candidate: sum(
                    d.request_w for d in drives.values() if d.takes_refrigerant(candidate)
                )
                for candidate in (OduMode.HEAT, OduMode.COOL)
            }
            best = max(asked, key=lambda m: asked[m])
            if young_run is not None and asked.get(young_run, 0.0) > 0:
                best = young_run
            mode = best if asked[best] > 0 else OduMode.OFF
        served = SERVED_HEAD_MODES[mode]
        receiving: dict[str, HeadDrive] = {}
        coil_w = asked_w = 0.0
        for zone, d in drives.items():
            if d.on and d.request_w > 0 and d.mode in served:
                receiving[zone] = d
                coil_w += d.rated_w
                asked_w += d.request_w
        seen = _HeadsSeen(mode, receiving, coil_w, asked_w)
        self._heads_key = key
        self._heads_seen = seen
        return seen

    # ---- the step ----

    def tick(self, dt: float, drives: Mapping[str, HeadDrive]) -> CompressorDrive:
        """The unit's decisions for the next ``dt`` seconds, given what the heads do."""
        now = self._plant.time_s
        if self.defrost_started_at is not None:
            return self._defrost_step(now)
        lost = self.follows_heads or self.watchdog.lost
        heads = self._heads(drives, lost)
        mode = heads.mode
        r = self.ratings
        target = 0.0
        if heads.receiving:
            watts_per_hz = self._watts_per_hz(mode)
            self.allowed_max_hz = self._allowed_max_hz(heads, drives, watts_per_hz, now)
            if lost:
                # Autonomous: the speed that delivers what the heads ask for, via the capacity
                # map; below the minimum speed the unit runs at the minimum and the heads'
                # thermostats cycle it.
                wanted = 0.0
                if heads.asked_w > 0:
                    wanted = heads.asked_w / watts_per_hz
                    wanted = wanted if wanted > r.min_hz else r.min_hz
            else:
                wanted = self.command.frequency_hz
            cap = self.allowed_max_hz
            target = cap if cap < wanted else wanted
            if target < r.min_hz:
                target = 0.0
        else:
            # Refrigerant needs an open head: with none taking it, the compressor stays off.
            self.allowed_max_hz = r.quiet_max_hz if self.command.quiet else r.max_hz
        if mode is not ODU_OFF:
            self.valve_heating = mode is ODU_HEAT
        if self.fault is not None:  # stopped while in fault; the restart lockout follows
            target = 0.0
        if self.frequency_hz > 0 and (target == 0.0 or mode is not self.running_mode):
            self._stop(now)
        if self.frequency_hz == 0 and target > 0 and not self.lockout:
            self._start(mode)
        if self.frequency_hz == 0:
            return self._drive_for(ODU_OFF, 0.0)
        if self.running_mode is ODU_HEAT and (
            self._defrost_requested or self._plant.frost_fraction >= 1.0
        ):
            self._defrost_requested = False
            self.defrost_started_at = now
            self._defrost_clear_at = None
            self.valve_heating = False
            self.frequency_hz = DEFROST_HZ
            return self._drive_for(OduMode.HEAT, DEFROST_HZ, defrost=True)
        return self._drive_for(self.running_mode, self._ramp(target, dt))

    def record(self, dt: float) -> None:
        """Meter and hour counters once the plant has run for ``dt`` seconds."""
        self.energy_wh += self._plant.input_power_w * dt / 3600.0
        if self.frequency_hz > 0:  # running
            self.run_seconds += dt

    def _defrost_step(self, now: float) -> CompressorDrive:
        """Keep reversing until the coil is clear and drained (or the timer ends it)."""
        started = self.defrost_started_at
        assert started is not None
        if self._defrost_clear_at is None and self._plant.frost_kg <= 0.0:
            self._defrost_clear_at = now
        clear = self._defrost_clear_at
        if (clear is not None and now - clear >= DEFROST_DRAIN_S) or now - started >= DEFROST_MAX_S:
            # Back to heating: the valve switches back and the compressor restarts its ramp
            # from the minimum speed (a defrost is no stop, so no lockout and no new start).
            self.defrost_started_at = None
            self.valve_heating = True
            self.frequency_hz = self.ratings.min_hz
            return self._drive_for(OduMode.HEAT, self.ratings.min_hz)
        return self._drive_for(OduMode.HEAT, DEFROST_HZ, defrost=True)

    def _ramp(self, target: float, dt: float) -> float:
        """Move the speed toward the target at the ramp rate; return the mean over the step, so
        that a long step delivers what many short ones would."""
        start = self.frequency_hz
        step = RAMP_HZ_PER_S * dt
        gap = target - start
        if abs(gap) <= step:
            self.frequency_hz = target
            if gap == 0.0 or dt <= 0:
                return target
            reach = abs(gap) / RAMP_HZ_PER_S  # seconds until the target is reached
            return target - gap * reach / (2.0 * dt)
        self.frequency_hz = start + math.copysign(step, gap)
        return (start + self.frequency_hz) / 2.0

    def _drive_for(self, mode: OduMode, hz: float, *, defrost: bool = False) -> CompressorDrive:
        d = self._drive
        if d.mode is not mode or d.frequency_hz != hz or d.defrost != defrost:
            self._drive = CompressorDrive(mode, hz, defrost)
        return self._drive

    def _watts_per_hz(self, mode: OduMode) -> float:
        """The unit's capacity map at what its outdoor sensor reads (the design point if broken)."""
        sensor = self.outdoor_sensor_c
        return capacity_per_hz(self.ratings, mode, 7.0 if sensor is None else sensor)

    def _allowed_max_hz(
        self,
        heads: _HeadsSeen,
        drives: Mapping[str, HeadDrive],
        watts_per_hz: float,
        now: float,
    ) -> float:
        """The unit's own speed cap now: quiet mode, the heads' coils, the demand limit."""
        r = self.ratings
        cap = r.quiet_max_hz if self.command.quiet and r.quiet_max_hz < r.max_hz else r.max_hz
        coil_cap = r.head_overload * heads.coil_w / watts_per_hz
        if coil_cap < cap:
            cap = coil_cap
        limit_pct = self.command.demand_limit_pct
        if limit_pct < 100:
            key = (limit_pct, heads.mode, heads.coil_w, cap)
            cached = self._demand_cap
            if cached is None or cached[0] != key or now >= cached[1]:
                hz = self._demand_cap_hz(heads, drives, cap, limit_pct)
                cached = self._demand_cap = (key, now + DEMAND_CAP_PERIOD_S, hz)
            cap = cached[2] if cached[2] < cap else cap
        # A cap below the minimum speed cannot be run at all.
        return cap if cap >= r.min_hz else 0.0

    def _demand_cap_hz(
        self,
        heads: _HeadsSeen,
        drives: Mapping[str, HeadDrive],
        upper_hz: float,
        limit_pct: float,
    ) -> float:
        """Highest speed whose input power stays within demand_limit % of rated input power."""
        fans_w = sum(fan_power_w(d.fan_speed) for d in drives.values() if d.on)
        budget_w = (
            limit_pct / 100.0 * rated_input_power_w(self.ratings)
            - fans_w
            - (self.ratings.standby_w)
        )
        plant = self._plant

        def power(hz: float) -> float:
            return plant.operating_point(heads.mode, hz, heads.receiving).compressor_power_w

        low, high = self.ratings.min_hz, upper_hz
        if high < low or power(low) > budget_w:
            return 0.0
        if power(high) <= budget_w:
            return high
        for _ in range(12):  # 70 Hz / 2^12 < 0.02 Hz, below the register's 0.1 Hz
            mid = (low + high) / 2
            low, high = (mid, high) if power(mid) <= budget_w else (low, mid)
        return low

    def _start(self, mode: OduMode) -> None:
        self.running_mode = mode
        self.frequency_hz = self.ratings.min_hz
        self.starts += 1

    def _stop(self, now: float) -> None:
        self.frequency_hz = 0.0
        self.running_mode = OduMode.OFF
        self.stopped_at = now

    def status(self) -> OduView:
        r = self.ratings
        plant = self._plant
        broken = self.broken_sensors
        return OduView(
            rated_heating_w=r.rated_heating_w,
            rated_cooling_w=r.rated_cooling_w,
            min_frequency_hz=r.min_hz,
            max_frequency_hz=r.max_hz,
            max_heads=r.max_heads,
            command=self.command,
            mode=self.command.mode,
            running=self.running,
            defrost=self.defrosting,
            restart_lockout=self.lockout,
            valve_heating=self.valve_heating,
            heartbeat_lost=self.watchdog.lost,
            quiet_active=self.command.quiet,
            compressor_frequency_hz=self.frequency_hz,
            allowed_max_frequency_hz=self.allowed_max_hz,
            outdoor_temperature=self.outdoor_sensor_c,
            outdoor_coil_temperature=None
            if "outdoor_coil_temperature" in broken
            else plant.outdoor_coil_c,
            discharge_temperature=None if "discharge_temperature" in broken else plant.discharge_c,
            input_power_w=plant.input_power_w,
            energy_wh=self.energy_wh,
            starts=self.starts,
            run_seconds=self.run_seconds,
            fault=self.fault is not None or bool(broken & ODU_SENSOR_FAULTS.keys()),
            fault_code=self.fault or _fault_code(broken, ODU_SENSOR_FAULTS),
        )
