"""The control tick as the supervisor and the benchmark both run it (pure).

Control inputs (`controller.core.observation`) → the room sensors' plausibility check and the choice
of sensor → `control_step` → the independent safety check on the ODU command. One piece of
code, so that the benchmark scores exactly what ships (docs/architecture.md, 'Pure core')."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import NamedTuple

from minisplit.controller.core.compressor import UnitInput
from minisplit.controller.core.control import (
    ControlOutput,
    ControlState,
    ControlTuning,
    ZoneInput,
    control_step,
    elapsed_s,
)
from minisplit.controller.core.forecast import Forecast
from minisplit.controller.core.interlocks import (
    CompressorHistory,
    InterlockLimits,
    InterlockViolation,
    check_command,
)
from minisplit.controller.core.room_sensor import room_temperature
from minisplit.controller.core.sensor_health import (
    FULL_DEMAND,
    OK,
    RemoteReading,
    SensorCheck,
    ZoneSensors,
    check_zone_sensors,
    holds,
)
from minisplit.drivers.records import OduCommand
from minisplit.drivers.vocabulary import OduMode

NO_SENSORS = ZoneSensors()
NO_REMOTES: Mapping[str, RemoteReading] = MappingProxyType({})


class Decision(NamedTuple):
    """One tick's result."""

    output: ControlOutput
    odu_command: OduCommand | None  # None: send nothing (refused, or the unit is unreachable)
    refusal: str | None = None


class _SteadySensors(NamedTuple):
    """A tick after which every zone's sensors hold (`holds`) as long as equal inputs come
    with the same zones served: a copy of those inputs (the caller's mapping may change), and
    the sensor tracks it left. A NamedTuple, as `_CommandPassed`: one of each is built about
    every other tick, ~3× faster than a frozen dataclass."""

    zones: Mapping[str, ZoneInput]
    served: frozenset[str]
    sensors: Mapping[str, ZoneSensors]


class _CommandPassed(NamedTuple):
    """A command that the safety check let through with its history unchanged (all three
    immutable: the same objects say the same)."""

    command: OduCommand
    history: CompressorHistory
    limits: InterlockLimits


@dataclass
class Controller:
    """The shipped controller: its memory between ticks (the zone loops' and the coordinator's
    state, the safety check's history, what the sensor check has seen); `step` runs one tick."""

    tuning: ControlTuning
    state: ControlState = field(default_factory=ControlState)
    history: CompressorHistory = field(default_factory=CompressorHistory)
    sensor_check: SensorCheck = field(default_factory=SensorCheck)
    sensors: Mapping[str, ZoneSensors] = field(default_factory=dict)
    # The inputs the last tick ran on: each zone's reading as followed, and which sensor it is.
    inputs: Mapping[str, ZoneInput] = field(default_factory=dict)
    # The unit stopped answering while its compressor may have run: what it did meanwhile is
    # unknown until it answers again (see `_rejoin`).
    lost_running: bool = False
    # The controller stopped the compressor and the unit has not yet reported it stopped; and
    # whether it went unanswered meanwhile (see `_see_stop`).
    unseen_stop: bool = False
    stop_out_of_sight: bool = False
    # The last tick after which every zone's sensors hold on the same inputs (see
    # `_follow_sensors`), and the last command the safety check let through without a change
    # to its history (see `step`).
    _steady: _SteadySensors | None = field(default=None, init=False, repr=False, compare=False)
    _passed: _CommandPassed | None = field(default=None, init=False, repr=False, compare=False)

    def step(
        self,
        zones: Mapping[str, ZoneInput],
        unit: UnitInput,
        now: float,
        remotes: Mapping[str, RemoteReading] = NO_REMOTES,
        delivered: frozenset[str] | None = None,
        forecast: Forecast | None = None,
    ) -> Decision:
        """One tick. ``zones`` carry the heads' own readings (`observation.zone_input`);
        ``remotes`` the remote sensors of the zones that have one; ``delivered`` the zones
        whose heads delivered in the last tick where another loop decides it (the setpoint
        strategy's heads, whose thermostats call), None where this control's compressor does:
        the sensor check's evidence for a stuck reading; ``forecast`` the weather ahead, if
        one is given."""
        zones = self.inputs = self._follow_sensors(zones, unit.defrost, now, remotes, delivered)
        if unit.available:
            if self.lost_running:
                self._rejoin(unit, now)
            elif unit.compressor_running and not self.history.running:
                self._stop_pending(now)
            elif unit.compressor_running is False and self.history.running:
                self._start_pending(now)
            if self.unseen_stop and unit.compressor_running is False:
                self._see_stop(now)
        elif self.unseen_stop:
            self.stop_out_of_sight = True
        self.state, output = control_step(self.state, zones, unit, now, self.tuning, forecast)
        if not unit.available:
            # Nothing can be sent to a unit that does not answer; for the coordinator its run
            # is over (a forced stop), so the history must say so too.
            if self.history.running:
                self.lost_running = True
                stop = OduCommand(self.history.mode, 0.0)
                self.history = check_command(
                    self.history, stop, now, self.tuning.coordinator.limits, forced_stop=True
                )
            return Decision(output, None, None)
        command = output.odu
        history = self.history
        limits = self.tuning.coordinator.limits
        passed = self._passed
        if (
            passed is None
            or command is not passed.command
            or history is not passed.history
            or limits is not passed.limits
        ):
            # A check that leaves the history as it is (a run that goes on, a stop that stays
            # one) depends on nothing but the command, the history and the limits: the same
            # three pass again (most ticks: the coordinator's commands are cached values).
            try:
                self.history = check_command(
                    history, command, now, limits, forced_stop=output.forced_stop
                )
            except InterlockViolation as err:
                return Decision(output, None, str(err))
            if history.running != self.history.running:
                self.unseen_stop, self.stop_out_of_sight = history.running, False
            if self.history is history:
                self._passed = _CommandPassed(command, history, limits)
        return Decision(output, command, None)

    def resume_boost(self, zone_id: str, since: float) -> None:
        """Count the zone's boost from ``since`` (controller time) rather than from the first
        tick that sees it: a boost begun before a restart goes on with what is left of it. The
        zone's settings must be in boost by the next tick (else the core forgets it there)."""
        boosts = {**self.state.boost_since, zone_id: since}
        self.state = self.state._replace(boost_since=boosts)

    def _rejoin(self, unit: UnitInput, now: float) -> None:
        """The unit answers again after it was lost while running. It ran on (its last
        command, then its own logic on the heads' requests) and may run still, or it stopped at
        some moment nobody saw. Counting from now keeps both interlocks from the unit's side:
        a unit that runs is a run that started now at the latest (no stop for the minimum on
        time), one that stopped did so by now at the latest (no start for the minimum off time)."""
        self.lost_running = False
        mode = self.history.mode
        if not (unit.compressor_running and mode is not OduMode.OFF):
            self._stop_pending(now)
            return
        floor_hz = unit.observation.min_frequency_hz
        self.history = CompressorHistory(True, mode, now, self.history.stopped_at)
        compressor = self.state.compressor._replace(
            mode=mode, running=True, frequency_hz=floor_hz, started_at=now
        )
        self.state = self.state._replace(compressor=compressor)

    def _stop_pending(self, now: float) -> None:
        """The unit's stop is taken to happen now: it may have happened earlier, but not later.
        Used when a lost unit answers again stopped (`_rejoin`), and while the unit reports its
        compressor running though the controller stopped it (the stop's write was lost on a
        noisy line, or the unit ran on its own logic meanwhile): its off time counts from when
        it really stops, so a start can only come later, never too early."""
        self.history = replace(self.history, stopped_at=now)
        compressor = self.state.compressor._replace(stopped_at=now)
        self.state = self.state._replace(compressor=compressor)

    def _see_stop(self, now: float) -> None:
        """The unit reports its compressor stopped, for the first time since the controller
        stopped it. Had it gone unanswered meanwhile, the stop's write may have reached it at
        any moment up to now (a reply that timed out is no proof the write was not carried
        out, and a slow line delivers requests late): its off time counts from now."""
        if self.stop_out_of_sight:
            self._stop_pending(now)
        self.unseen_stop = self.stop_out_of_sight = False

    def _start_pending(self, now: float) -> None:
        """The unit's start is taken to happen now: it may come later (a start delay, or the
        start's write was lost on a noisy line and goes out again), but it has not come
        earlier. While the unit reports its compressor stopped though the controller started
        it, the minimum run counts from when it really starts, so a stop can only come later,
        never too early. (Only the start time moves: a stopped unit is never taken for a stop
        at some earlier moment, which could let a restart come too early.)"""
        self.history = replace(self.history, started_at=now)
        compressor = self.state.compressor._replace(started_at=now)
        self.state = self.state._replace(compressor=compressor)

    def _follow_sensors(
        self,
        zones: Mapping[str, ZoneInput],
        defrost: bool,
        now: float,
        remotes: Mapping[str, RemoteReading],
        delivered: frozenset[str] | None = None,
    ) -> Mapping[str, ZoneInput]:
        """Check each zone's sensors against what the heads did over the last interval, and
        give each zone the reading it follows: the remote while plausible, else the head's
        while plausible, else none (then the zone asks for no refrigerant)."""
        state = self.state
        served = state.served if delivered is None else delivered
        if defrost:  # defrosting delivers nothing
            served = frozenset()
        loops = state.zones
        previous = self.sensors
        steady = self._steady
        if (
            steady is not None
            and previous is steady.sensors
            and not remotes
            and served == steady.served
            and zones == steady.zones
        ):
            # The inputs of last tick (inputs are values: most ticks the very same objects),
            # each head delivering as it did then: every zone's sensors hold, unless a zone
            # now delivers at full demand, which is new evidence.
            for zone_id in served:
                loop = loops.get(zone_id)
                if loop is not None and loop.demand >= FULL_DEMAND:
                    break
            else:
                return zones
        dt = elapsed_s(state.last_time, now)
        check = self.sensor_check
        all_steady = True
        # The same zones as last tick (equal counts, each found): then the mapping is kept as
        # it is unless a zone's sensors changed, and most ticks allocate nothing here.
        same_zones = len(previous) == len(zones)
        updates: dict[str, ZoneSensors] = {}
        changed: dict[str, ZoneInput] = {}
        for zone_id, zone in zones.items():
            before = previous.get(zone_id)
            if before is None:
                before, same_zones = NO_SENSORS, False
            if not zone.available:
                continue  # no reading to judge: the head does not answer
            delivering = zone_id in served
            full = False
            if delivering:
                loop = loops.get(zone_id)
                full = loop is not None and loop.demand >= FULL_DEMAND
            head = zone.temperature
            remote = remotes.get(zone_id)
            if (
                remote is None
                and before.remote is None
                and holds(before.head, head, delivering, full)
            ):
                continue  # the head's ok reading as given, nothing new (the benchmark's every tick)
            after = check_zone_sensors(before, head, remote, now, dt, delivering, full, check)
            if after is not before:
                updates[zone_id] = after
            if not (
                remote is None
                and after.remote is None
                and holds(after.head, head, delivering, False)
            ):
                all_steady = False
            remote_track = after.remote
            if remote_track is None and after.head.verdict is OK:
                continue  # the head's reading, as given
            reading = room_temperature(
                remote_track.value if remote_track and remote_track.verdict is OK else None,
                head if after.head.verdict is OK else None,
            )
            if reading.temperature is not head or reading.sensor is not zone.sensor:
                changed[zone_id] = replace(
                    zone, temperature=reading.temperature, sensor=reading.sensor
                )
        if not same_zones:
            self.sensors = {
                zone_id: updates.get(zone_id) or previous.get(zone_id, NO_SENSORS)
                for zone_id in zones
            }
        elif updates:
            self.sensors = {**previous, **updates}
        self._steady = _SteadySensors(dict(zones), served, self.sensors) if all_steady else None
        # Most ticks follow every head as given: the benchmark's inputs pass through as they are.
        return {**zones, **changed} if changed else zones
