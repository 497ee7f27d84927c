"""The control strategy for setpoint-driven heads (docs/benchmark.md, 'Setpoint-driven units'):
heads behind a Modbus interface whose only levers are power, mode and setpoint, and, where the
interface has one, an external room-temperature register. Pure: no I/O, no clock.

Such a head runs its own thermostat on its own return-air sensor, which reads warm while it
heats, and the outdoor unit's inverter follows the heads' demand; there is no compressor speed
to set. Per room the loop here keeps the room (the remote sensor, or the head's reading with
its estimated coil bias taken off) on the homeowner's target by moving the setpoint it writes
to the head: a feed-forward of the sensor's bias plus a PI offset on the room's error, bounded
by the unit's setpoint range and rounded to its resolution. Where the interface takes an
external temperature, the loop writes the room's temperature there instead, so that the unit
regulates on it, and the offset only trims the unit's overshoot. At low load it switches the
head off past the target and on again short of it, with minimum on and off times, so that the
unit does not run short cycles of its own. A defrost, which stops the heating heads' fans and
the bias of their sensors with them, is told from the reading's fast fall and met with a lower
setpoint until the bias is back, not with a higher one. The heads of one outdoor unit heat or
cool, never both (`controller.core.arbitration`). Setpoints go to EEPROM-backed registers on many
interfaces: a new setpoint is written only when it differs by more than most of a step and no
sooner than `SetpointTuning.setpoint_write_interval_s` after the last, except when the
homeowner changed the target or the direction.

The homeowner's target stays the homeowner's: `HeadSetting.setpoint` is what goes to the head,
a diagnostic beside the zone's state, never the target reported for the zone."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from minisplit.controller.core.arbitration import ModePolicy, arbitrate
from minisplit.controller.core.room_sensor import HeadSensorBias
from minisplit.controller.core.settings import ZoneMode, ZoneSettings
from minisplit.controller.core.zone import COOL, HEAT, NONE, Direction
from minisplit.drivers.vocabulary import HeadMode

# The half-width of the homeowner's comfort band (docs/benchmark.md): a heat_cool room turns
# round only once it is past the other setpoint's band.
BAND_K = 0.5


def unit_setpoint(value: float, span: tuple[float, float], step: float) -> float:
    """``value`` as a unit with setpoint range ``span`` and resolution ``step`` takes it."""
    low, high = span
    clamped = low if value < low else high if value > high else value
    return round(round(clamped / step) * step, 2)


@dataclass(frozen=True, slots=True)
class HeadLevers:
    """What the interface takes (from its profile and the unit's manual)."""

    setpoint_step_c: float = 0.5
    heat_range_c: tuple[float, float] = (16.0, 31.0)
    cool_range_c: tuple[float, float] = (16.0, 31.0)
    external_temperature: bool = False  # the interface has an external room-temperature register
    # The unit's own thermostat differentials (its manual's thermo-off past the setpoint and
    # thermo-on short of it). With neither a remote sensor nor a reported thermo-on, the loop
    # follows the head's thermostat with them to know when its sensor reads warm.
    thermo_off_k: float = 1.0
    thermo_on_k: float = 0.5

    def setpoint(self, value: float, heating: bool) -> float:
        """``value`` as the unit can take it: within the mode's range, to its resolution."""
        span = self.heat_range_c if heating else self.cool_range_c
        return unit_setpoint(value, span, self.setpoint_step_c)


@dataclass(frozen=True, slots=True)
class SetpointTuning:
    levers: HeadLevers = field(default_factory=HeadLevers)
    # The loop aims this far inside the comfort band from the target, toward the outdoors
    # (below it when heating): every tenth of a kelvin less lift saves energy, and the unit's
    # 0.5 K setpoint steps and the integral keep the room above the aim about as much as below.
    aim_k: float = 0.45
    kp: float = 0.5  # setpoint offset, K per K of the room's error
    ti_s: float = 28800.0  # the offset grows by 1 K per this long at 1 K of error
    max_offset_k: float = 4.0  # the PI offset's bound either way
    # Low-load cycling by head power: off once the room is this far past the target, on again
    # once it is this far short of the aim, each state held at least its minimum. The head's
    # own thermostat would let the room swing through its 1.5 K differential (on the warm
    # sensor) instead; a head is no compressor, and five minutes keep its fan and the unit's
    # refrigerant flow from chattering.
    power_off_k: float = 0.1
    power_on_k: float = 0.05
    min_on_s: float = 300.0
    min_off_s: float = 300.0
    # A head's call this young is not cut, neither by switching the head off nor by turning the
    # unit round (`_young_call`): the compressor may start up to a restart lockout (180 s)
    # after the call, then runs its minimum (180 s).
    call_hold_s: float = 360.0
    setpoint_write_interval_s: float = 600.0
    # The external temperature: written when it moved by its 0.1 °C register step, at most
    # this often, and again at least this often so that the unit keeps regulating on it.
    external_write_interval_s: float = 60.0
    external_refresh_s: float = 300.0
    bias: HeadSensorBias = field(default_factory=HeadSensorBias)
    # On the external temperature the head goes thermo-on only `HeadLevers.thermo_on_k` short
    # of its setpoint: the setpoint leads the aim by this much, so that a head switched on
    # short of its aim starts at once.
    external_lead_k: float = 0.25
    mode_policy: ModePolicy = ModePolicy.FIRST
    mode_hold_s: float = 1200.0
    # A defrost stops every heating head's fan, and its sensor's bias fades with it: the
    # reading falls faster than a room can while the head's thermostat still calls. Left
    # alone, the head's own PI winds up on that fall and, when the heat comes back, drives the
    # compressor to its maximum speed until the room overshoots (`_follow_defrost`). A fall of
    # `defrost_drop_k` within `defrost_window_s` marks the collapse: the fall is taken off
    # the bias estimate, and the head is given `defrost_lower_k` less (at once) until its
    # reading rose as fast again and the bias has built up to within `defrost_restore_k` of
    # `bias.heating_k`, or `defrost_max_s` passed. Lowering it by the whole bias would leave
    # the head idle while the fan starts again and the room is still cool from the defrost.
    defrost_drop_k: float = 0.5
    defrost_window_s: float = 180.0
    defrost_lower_k: float = 1.0
    defrost_restore_k: float = 0.5
    defrost_max_s: float = 1200.0


@dataclass(frozen=True, slots=True)
class HeadZoneInput:
    settings: ZoneSettings
    head_temperature: float | None  # the head's own return-air reading (None: none usable)
    remote_temperature: float | None = None  # a fresh, plausible remote sensor's reading
    thermo_on: bool | None = None  # the unit's per-head thermo-on where it reports it


class HeadSetting(NamedTuple):
    """What one head is set to now (the caller writes only what changed)."""

    power: bool
    mode: HeadMode
    setpoint: float  # the setpoint written to the head: a diagnostic, not the zone's target
    external_temperature: float | None  # the value for the external register; None: none
    external_written_at: float | None  # when it was (re)written: write it again when this moves
    temperature: float | None  # the room temperature the loop works on
    mode_conflict: bool  # the zone wants the direction the unit does not run in


@dataclass
class _Zone:
    """One room's loop state."""

    direction: Direction = NONE  # which way a heat_cool room works now
    powered: bool = False
    power_since: float = -math.inf
    integral: float = 0.0
    setpoint: float | None = None  # the last one written
    setpoint_at: float = -math.inf
    # The direction, target and bias collapse (a defrost) it was written for.
    aimed: tuple[Direction, float, bool] | None = None
    external: float | None = None
    external_at: float = -math.inf
    thermo_on: bool = False  # the head's thermostat as the loop follows it
    thermo_since: float = -math.inf  # when it last began to call
    bias_k: float = 0.0
    readings: deque[tuple[float, float]] = field(default_factory=deque)  # (time, head reading)
    collapsed_at: float | None = None  # when the sensor's bias collapsed (a defrost), if it has
    fan_back: bool = False  # since the collapse, the reading rose again: the fan blows
    last_time: float | None = None
    dt: float = 0.0  # the length of the step being taken
    mode: HeadMode = HeadMode.HEAT
    output: HeadSetting | None = None


def _wanted(settings: ZoneSettings, zone: _Zone, room: float | None) -> Direction:
    """The direction a zone wants: its mode's, or a heat_cool room's by where it is."""
    mode = settings.mode
    if mode is ZoneMode.HEAT:
        return HEAT
    if mode is ZoneMode.COOL:
        return COOL
    if mode is not ZoneMode.HEAT_COOL:
        return NONE
    if room is not None:
        if room > settings.target_temperature_high + BAND_K:
            return COOL
        if room < settings.target_temperature_low - BAND_K:
            return HEAT
    return zone.direction if zone.direction is not NONE else HEAT


def _target(settings: ZoneSettings, direction: Direction) -> float:
    if settings.mode is ZoneMode.HEAT_COOL:
        heating = direction is HEAT
        return settings.target_temperature_low if heating else settings.target_temperature_high
    return settings.target_temperature


class SetpointStrategy:
    """The loop for every head of one outdoor unit; `step` once per control period."""

    def __init__(self, tuning: SetpointTuning | None = None) -> None:
        self.tuning = tuning or SetpointTuning()
        self._zones: dict[str, _Zone] = {}
        self._direction: Direction = NONE
        self._direction_since: float | None = None

    def step(self, zones: Mapping[str, HeadZoneInput], now: float) -> dict[str, HeadSetting]:
        """Every head's setting at ``now`` (seconds, any origin, never going back)."""
        tuning = self.tuning
        states = {name: self._zones.setdefault(name, _Zone()) for name in zones}
        rooms: dict[str, float | None] = {}
        wanted: dict[str, Direction] = {}
        heat_k = cool_k = 0.0
        heat_calls = cool_calls = False
        for name, given in zones.items():
            zone = states[name]
            self._follow_head(zone, given, now)
            room = self._room(zone, given)
            rooms[name] = room
            direction = _wanted(given.settings, zone, room)
            wanted[name] = direction
            if direction is NONE or room is None:
                continue
            aim = _target(given.settings, direction) - self._toward_outdoors(direction)
            short = aim - room if direction is HEAT else room - aim
            if short > 0.0:  # the room is short of its aim: it calls
                if direction is HEAT:
                    heat_calls, heat_k = True, heat_k + short
                else:
                    cool_calls, cool_k = True, cool_k + short
        unit = arbitrate(
            tuning.mode_policy,
            self._direction,
            self._direction_since,
            now,
            heat_k,
            cool_k,
            heat_calls,
            cool_calls,
            hold_s=tuning.mode_hold_s,
        )
        if unit is not self._direction and not self._young_call(states.values(), now):
            self._direction, self._direction_since = unit, now
        return {
            name: self._zone_step(states[name], given, rooms[name], wanted[name], now)
            for name, given in zones.items()
        }

    def _young_call(self, zones: Iterable[_Zone], now: float) -> bool:
        """Whether a head of the present direction began to call less than `call_hold_s` ago:
        turning the unit round now (that head to stand by) could end the run its call started
        before its minimum, so the turn waits (as `_cycle` waits to switch such a head off)."""
        current = self._direction
        for zone in zones:
            if (
                zone.powered
                and zone.thermo_on
                and zone.direction is current
                and zone.mode in (HeadMode.HEAT, HeadMode.COOL)
                and now - zone.thermo_since < self.tuning.call_hold_s
            ):
                return True
        return False

    def _toward_outdoors(self, direction: Direction) -> float:
        return self.tuning.aim_k if direction is HEAT else -self.tuning.aim_k

    def _room(self, zone: _Zone, given: HeadZoneInput) -> float | None:
        if given.remote_temperature is not None:
            return given.remote_temperature
        if given.head_temperature is None:
            return None
        return given.head_temperature - zone.bias_k

    def _follow_head(self, zone: _Zone, given: HeadZoneInput, now: float) -> None:
        """Track the head's thermostat (reported, or followed from its differentials) and the
        bias its sensor picks up while it heats or cools."""
        tuning = self.tuning
        levers = tuning.levers
        dt = zone.dt = 0.0 if zone.last_time is None else now - zone.last_time
        zone.last_time = now
        takes = zone.powered and zone.mode in (HeadMode.HEAT, HeadMode.COOL, HeadMode.DRY)
        heating = zone.mode is HeadMode.HEAT
        calling = zone.thermo_on
        if given.thermo_on is not None:
            zone.thermo_on = takes and given.thermo_on
        else:
            regulated = zone.external if zone.external is not None else given.head_temperature
            if not takes or regulated is None or zone.setpoint is None:
                zone.thermo_on = False
            else:
                error = zone.setpoint - regulated if heating else regulated - zone.setpoint
                if zone.thermo_on and error <= -levers.thermo_off_k:
                    zone.thermo_on = False
                elif not zone.thermo_on and error >= levers.thermo_on_k:
                    zone.thermo_on = True
        if zone.thermo_on and not calling:
            zone.thermo_since = now
        bias = tuning.bias
        fans_stopped = self._follow_defrost(zone, given.head_temperature, now)
        toward = 0.0
        if zone.thermo_on and not fans_stopped:
            toward = bias.heating_k if heating else bias.cooling_k
        zone.bias_k = toward + (zone.bias_k - toward) * bias.decay(dt)

    def _follow_defrost(self, zone: _Zone, reading: float | None, now: float) -> bool:
        """Follow a collapse of the heating head's sensor bias (a defrost stops its fan): its
        start, where the reading falls by `SetpointTuning.defrost_drop_k` within the window
        while the head calls with its bias built up; the fan's return, where the reading rises
        as fast; its end, once the bias has built up again (or `defrost_max_s` passed). The
        reading's fall and rise are the bias lost and regained (the room moves far slower).
        True while the fan is taken to be stopped."""
        tuning = self.tuning
        heating_k = tuning.bias.heating_k
        readings = zone.readings
        if reading is None or zone.mode is not HeadMode.HEAT or not zone.powered:
            readings.clear()
            zone.collapsed_at = None
            return False
        readings.append((now, reading))
        while now - readings[0][0] > tuning.defrost_window_s:
            readings.popleft()
        if zone.collapsed_at is None:
            drop = max(r for _, r in readings) - reading
            if zone.thermo_on and zone.bias_k >= heating_k / 2 and drop >= tuning.defrost_drop_k:
                zone.collapsed_at, zone.fan_back = now, False
                zone.bias_k = max(0.0, zone.bias_k - drop)
                readings.clear()
                readings.append((now, reading))
            return zone.collapsed_at is not None
        rebuilt = zone.fan_back and zone.bias_k >= heating_k - tuning.defrost_restore_k
        if rebuilt or now - zone.collapsed_at >= tuning.defrost_max_s:
            zone.collapsed_at = None
            return False
        if not zone.fan_back:
            rise = reading - min(r for _, r in readings)
            if rise >= tuning.defrost_drop_k:
                zone.fan_back = True
                zone.bias_k = min(heating_k, zone.bias_k + rise)
        return not zone.fan_back

    def _zone_step(
        self,
        zone: _Zone,
        given: HeadZoneInput,
        room: float | None,
        wanted: Direction,
        now: float,
    ) -> HeadSetting:
        settings = given.settings
        mode = settings.mode
        conflict = False
        if mode is ZoneMode.OFF:
            self._power(zone, False, now, homeowner=True)
        elif mode in (ZoneMode.FAN_ONLY, ZoneMode.DRY):
            # No loop: the head's own logic, at the homeowner's setting.
            zone.mode = HeadMode.FAN_ONLY if mode is ZoneMode.FAN_ONLY else HeadMode.DRY
            self._power(zone, True, now)
            self._write_setpoint(zone, settings.target_temperature, False, (NONE, 0.0, False), now)
        elif wanted is not NONE and room is not None:
            if wanted is not zone.direction:
                zone.direction, zone.integral = wanted, 0.0
            target = _target(settings, wanted)
            if self._direction is not wanted and self._direction is not NONE:
                conflict = True
                # The other direction runs: stand by (off, or fan only until the minimum on
                # time lets it switch off) rather than pull the unit round.
                if not self._power(zone, False, now):
                    zone.mode = HeadMode.FAN_ONLY
            else:
                heating = wanted is HEAT
                zone.mode = HeadMode.HEAT if heating else HeadMode.COOL
                self._cycle(zone, target, room, heating, now)
                self._regulate(zone, target, room, heating, now)
                self._write_external(zone, room, now)
        return self._output(zone, room, conflict)

    def _cycle(self, zone: _Zone, target: float, room: float, heating: bool, now: float) -> None:
        """Low-load cycling by head power, within the minimum on and off times."""
        tuning = self.tuning
        aim = target - tuning.aim_k if heating else target + tuning.aim_k
        past = room - target if heating else target - room
        short = aim - room if heating else room - aim
        young = zone.thermo_on and now - zone.thermo_since < tuning.call_hold_s
        if zone.powered and past >= tuning.power_off_k and not young:
            self._power(zone, False, now)
        elif not zone.powered and short >= tuning.power_on_k:
            self._power(zone, True, now)

    def _power(self, zone: _Zone, on: bool, now: float, *, homeowner: bool = False) -> bool:
        """Switch the head, unless its minimum time in the present state is not over (the
        homeowner's off is at once); True when the head is in the wanted state."""
        if zone.powered == on:
            return True
        tuning = self.tuning
        held = tuning.min_on_s if zone.powered else tuning.min_off_s
        if (not homeowner or on) and now - zone.power_since < held:
            return False
        zone.powered = on
        zone.power_since = now
        return True

    def _regulate(self, zone: _Zone, target: float, room: float, heating: bool, now: float) -> None:
        """The setpoint for the head: the aim, the sensor's bias fed forward, a PI offset."""
        tuning = self.tuning
        levers = tuning.levers
        aim = target - tuning.aim_k if heating else target + tuning.aim_k
        error = aim - room if heating else room - aim  # > 0: the room needs more
        collapsed = zone.collapsed_at is not None
        if levers.external_temperature:
            feed_forward = tuning.external_lead_k
        elif collapsed:  # its fan stopped or starting again: the sensor reads about the room
            feed_forward = tuning.bias.heating_k - tuning.defrost_lower_k
        else:  # the head regulates its own sensor, which reads warm while it heats
            feed_forward = tuning.bias.heating_k if heating else -tuning.bias.cooling_k
        low, high = levers.heat_range_c if heating else levers.cool_range_c
        offset = zone.integral + tuning.kp * error
        raw = aim + feed_forward + offset if heating else aim - feed_forward - offset
        # Integrate while the head is on, unless the setpoint is already at the end of its
        # range in the direction the error pushes it, and toward less only while the head's
        # thermostat works: a room that floats past its aim on its own (sun, gains, a mild
        # night) is nothing a lower setpoint could change (anti-windup).
        if error > 0:
            pinned = raw >= high if heating else raw <= low
        else:
            pinned = not zone.thermo_on or (raw <= low if heating else raw >= high)
        # Nor while the heat is stopped for a defrost: the room's dip passes once it is back.
        if zone.powered and not pinned and not collapsed:
            bound = tuning.max_offset_k
            integral = zone.integral + error * zone.dt / tuning.ti_s
            zone.integral = -bound if integral < -bound else bound if integral > bound else integral
        aimed = (HEAT if heating else COOL, target, collapsed and not levers.external_temperature)
        self._write_setpoint(zone, raw, heating, aimed, now)

    def _write_setpoint(
        self,
        zone: _Zone,
        raw: float,
        heating: bool,
        aimed: tuple[Direction, float, bool],
        now: float,
    ) -> None:
        levers = self.tuning.levers
        value = levers.setpoint(raw, heating)
        if zone.setpoint is None or aimed != zone.aimed:
            zone.setpoint, zone.setpoint_at, zone.aimed = value, now, aimed
            return
        # The loop's trims go to a head that is on (an idle head's setpoint does nothing but
        # wear its register), by most of a step at least, so that a value near a step's edge
        # does not toggle.
        if (
            not zone.powered
            or value == zone.setpoint
            or abs(raw - zone.setpoint) <= 0.75 * levers.setpoint_step_c
        ):
            return
        if now - zone.setpoint_at >= self.tuning.setpoint_write_interval_s:
            zone.setpoint, zone.setpoint_at = value, now

    def _write_external(self, zone: _Zone, room: float, now: float) -> None:
        tuning = self.tuning
        if not tuning.levers.external_temperature:
            return
        value = round(room, 1)
        since = now - zone.external_at
        if (
            zone.external is None
            or since >= tuning.external_refresh_s
            or (value != zone.external and since >= tuning.external_write_interval_s)
        ):
            zone.external, zone.external_at = value, now

    def _output(self, zone: _Zone, room: float | None, conflict: bool) -> HeadSetting:
        setpoint = zone.setpoint if zone.setpoint is not None else 21.0
        written = zone.external_at if zone.external is not None else None
        out = HeadSetting(zone.powered, zone.mode, setpoint, zone.external, written, room, conflict)
        if out != zone.output:
            zone.output = out
        assert zone.output is not None
        return zone.output
