"""The plant: the house's rooms, the heat pump's refrigerant cycle and the weather, stepped in time.

Pure physics: no registers, no clocks, no I/O. The firmware (`hil.firmware`) drives the machine
through `CompressorDrive` and one `HeadDrive` per room; `step` says what happens to the heat.
Written for speed (the benchmark runs weeks in seconds): per-room state lives in flat lists,
per-step-length factors are cached, and nothing is allocated per room per step."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from minisplit.drivers.vocabulary import HeadMode, OduMode
from minisplit.hil.building import Building, ThermalNetwork, gains_slot
from minisplit.hil.heatpump import (
    DEFROST_INDOOR_W_PER_W,
    FAN_W_BASE,
    FAN_W_PER_SPEED,
    FUSION_J_PER_KG,
    ODU_HEAT,
    ODU_OFF,
    REFERENCE_HEAD,
    REFERENCE_ODU,
    SENSIBLE_HEAT_RATIO,
    SERVED_HEAD_MODES,
    OperatingPoint,
    OutdoorUnitRatings,
    cycle,
    defrost_melt_rate_kg_s,
    defrost_power_w,
    frost_rate_kg_s,
    passive_melt_rate_kg_s,
    startup_fraction,
)
from minisplit.hil.weather import HOUR_S, Weather, WeatherSample

# Inputs (weather, drives) are held over at most this long; the rooms' exact update needs no
# limit, but the weather moves and the neighbours' coupling is taken from the step's start.
MAX_STEP_S = 60.0

# Warm air pools at the ceiling, where the head measures the return air (docs/benchmark.md): +1.5 K
# while it blows warm air, a little cool while it cools; it settles over minutes.
SENSOR_BIAS_HEATING_K = 1.5
SENSOR_BIAS_COOLING_K = -0.5
SENSOR_BIAS_TAU_S = 300.0
HEAD_COIL_TAU_S = 120.0
OUTDOOR_COIL_TAU_S = 120.0
DISCHARGE_TAU_S = 300.0
DISCHARGE_SUPERHEAT_K = (20.0, 15.0)  # above condensing: base + slope × outdoor-coil load
# During a defrost the indoor coils are the evaporator, with their fans stopped.
DEFROST_INDOOR_COIL_BELOW_AIR_K = 15.0
DEFROST_DISCHARGE_C = 40.0
DEFROST_COIL_DRY_C = 10.0  # the outdoor coil once the ice is gone


# The drives are NamedTuples (immutable values like frozen dataclasses, built ~3× faster): the
# firmware makes a new one whenever a head's request or the compressor's speed moves, most
# ticks of a run.


class CompressorDrive(NamedTuple):
    """What the outdoor unit's firmware does with the compressor over the coming step."""

    mode: OduMode = OduMode.OFF
    frequency_hz: float = 0.0  # mean actual speed over the step; 0 = stopped
    defrost: bool = False  # reverse cycle: the outdoor coil is heated, the heads give heat


class HeadDrive(NamedTuple):
    """What one head's firmware does now."""

    on: bool = False
    mode: HeadMode = HeadMode.HEAT
    fan_speed: int = 0  # 0 stopped, 1…5
    request_w: float = 0.0  # refrigerant share asked for, in W of capacity
    rated_w: float = REFERENCE_HEAD.rated_w

    def takes_refrigerant(self, odu_mode: OduMode) -> bool:
        return self.on and self.request_w > 0 and self.mode in SERVED_HEAD_MODES[odu_mode]


HEAD_OFF = HeadDrive()
COMPRESSOR_OFF = CompressorDrive()


@dataclass(frozen=True)
class HeadState:
    """A head as the plant sees it after the last step."""

    heat_to_room_w: float  # sensible, negative when cooling or defrosting; without fan heat
    refrigerant_w: float  # total capacity through the coil (incl. latent)
    coil_c: float
    sensor_bias_k: float  # return-air sensor minus room air
    valve_pct: float
    fan_power_w: float


@dataclass(frozen=True)
class OutdoorState:
    """The outdoor unit as the plant sees it after the last step."""

    capacity_w: float  # delivered (heating) or removed (cooling) now, total
    compressor_power_w: float
    fan_power_w: float  # the heads' fans, fed through the outdoor unit
    standby_w: float
    cop: float  # of the refrigerant cycle now (0 when stopped or defrosting)
    condensing_c: float | None
    evaporating_c: float | None
    coil_c: float
    discharge_c: float
    frost_kg: float
    defrosting: bool

    @property
    def input_power_w(self) -> float:
        """What the unit's meter sees: the heads are powered through the outdoor unit."""
        return self.compressor_power_w + self.fan_power_w + self.standby_w


class Plant:
    """The house and the heat pump, advanced in time by `step`.

    Read the results of the last step from the attributes (`capacity_w`, `input_power_w`, …)
    and from `air_c`, `sensor_bias_k`, `head_state()`, `outdoor_state()`."""

    # Slots: the step reads and writes these every few simulated seconds.
    __slots__ = (
        "_bias",
        "_coil",
        "_decays",
        "_disturbed",
        "_events",
        "_extra_g",
        "_extra_w",
        "_fan_w",
        "_fans_layout",
        "_gains_hour",
        "_gains_now",
        "_gains_w",
        "_heat_to_room",
        "_index",
        "_layout_cached",
        "_layout_heads",
        "_layout_key",
        "_next_event",
        "_next_event_s",
        "_refrigerant",
        "_valve",
        "_weather_time_s",
        "building",
        "capacity_w",
        "compressor_power_w",
        "condensing_c",
        "cop",
        "defrosting",
        "delivering",
        "dew_point_c",
        "discharge_c",
        "evaporating_c",
        "fan_power_w",
        "frost_kg",
        "ghi_w_m2",
        "network",
        "outdoor_c",
        "outdoor_coil_c",
        "ratings",
        "room_ids",
        "seconds_delivering",
        "time_s",
        "weather",
    )

    def __init__(
        self,
        building: Building,
        weather: Weather,
        start_s: float,
        ratings: OutdoorUnitRatings = REFERENCE_ODU,
    ) -> None:
        self.building = building
        self.weather = weather
        self.ratings = ratings
        self.time_s = start_s
        self.room_ids = building.room_ids
        self._index = {room_id: i for i, room_id in enumerate(self.room_ids)}
        self._sample_weather(start_s)
        self.network = ThermalNetwork(building, self.outdoor_c)
        rooms = building.rooms
        n = len(rooms)
        # Per room: its gains at every slot of `gains_slot`, and its solar aperture.
        self._gains_w = [
            (tuple(w * room.params.area_m2 for w in room.gains.table()), room.params.aperture_m2)
            for room in rooms
        ]
        self._gains_hour = math.nan  # the hour `_gains_now` holds each room's gains for
        self._gains_now: list[tuple[float, float]] = []  # (gains W, aperture m²) per room
        # Disturbances: extra gains and conductance to outdoors, switched at their edges.
        self._events = sorted(
            (t, i, sign)
            for i, event in enumerate(building.disturbances)
            for t, sign in ((event.start_s, 1.0), (event.end_s, -1.0))
        )
        self._next_event = 0
        self._next_event_s = math.inf  # when the next one is due
        self._extra_w = [0.0] * n
        self._extra_g = [0.0] * n
        self._disturbed = False  # any room's extra gains or conductance not zero
        self._catch_up_events(start_s)
        # Heads (one per room that has a drive), after the last step.
        air = self.network.air_c
        self._heat_to_room = [0.0] * n
        self._refrigerant = [0.0] * n
        self._coil = list(air)
        self._bias = [0.0] * n
        self._valve = [0.0] * n
        self._fan_w = [0.0] * n
        self._fans_layout: _Layout | None = None  # the layout `_fan_w` was written for
        # Outdoor unit, after the last step.
        self.capacity_w = 0.0
        self.compressor_power_w = 0.0
        self.fan_power_w = 0.0
        self.cop = 0.0
        self.condensing_c: float | None = None
        self.evaporating_c: float | None = None
        self.outdoor_coil_c = self.outdoor_c
        self.discharge_c = self.outdoor_c
        self.frost_kg = 0.0
        self.defrosting = False
        # Seconds since heat began to flow (a start, or the end of a defrost): the start-up ramp.
        self.seconds_delivering = 0.0
        self.delivering: OduMode = OduMode.OFF  # the mode heat flows in, OFF when none does
        self._decays: dict[float, tuple[float, float, float, float]] = {}
        self._layout_key: object = None
        self._layout_heads: dict[str, HeadDrive] = {}
        self._layout_cached = self._layout(COMPRESSOR_OFF, {})

    # ---- reading the state ----

    @property
    def input_power_w(self) -> float:
        """What the unit's meter sees over the last step: compressor, heads' fans, standby."""
        return self.compressor_power_w + self.fan_power_w + self.ratings.standby_w

    @property
    def frost_fraction(self) -> float:
        """Frost on the outdoor coil over the amount at which the unit defrosts."""
        return self.frost_kg / self.ratings.frost_limit_kg

    def air_c(self, room_id: str) -> float:
        """The room's air in the occupied zone (what a remote sensor reads), °C."""
        return self.network.air_c[self.room_index(room_id)]

    def envelope_c(self, room_id: str) -> float:
        return self.network.envelope_c[self.room_index(room_id)]

    def sensor_bias_k(self, room_id: str) -> float:
        """How far the head's return-air sensor (at the ceiling) reads above the room air."""
        return self._bias[self.room_index(room_id)]

    def sensor_c(self, index: int) -> float:
        """What the head's return-air sensor in room ``index`` (see `room_index`) reads: the
        room air plus the bias (by index: each head reads it every control tick)."""
        return self.network.air_c[index] + self._bias[index]

    def head_state(self, room_id: str) -> HeadState:
        i = self.room_index(room_id)
        return HeadState(
            heat_to_room_w=self._heat_to_room[i],
            refrigerant_w=self._refrigerant[i],
            coil_c=self._coil[i],
            sensor_bias_k=self._bias[i],
            valve_pct=self._valve[i],
            fan_power_w=self._fan_w[i],
        )

    def outdoor_state(self) -> OutdoorState:
        """The outdoor unit after the last step, as one record (made on each call)."""
        return OutdoorState(
            capacity_w=self.capacity_w,
            compressor_power_w=self.compressor_power_w,
            fan_power_w=self.fan_power_w,
            standby_w=self.ratings.standby_w,
            cop=self.cop,
            condensing_c=self.condensing_c,
            evaporating_c=self.evaporating_c,
            coil_c=self.outdoor_coil_c,
            discharge_c=self.discharge_c,
            frost_kg=self.frost_kg,
            defrosting=self.defrosting,
        )

    def outdoor(self) -> WeatherSample:
        """The outdoor air of the last step (its middle), as the unit's sensors see it."""
        return self.weather.at(self._weather_time_s)

    def operating_point(
        self, mode: OduMode, frequency_hz: float, receiving: Mapping[str, HeadDrive]
    ) -> OperatingPoint:
        """The refrigerant cycle now at this speed, with these heads (by room) taking
        refrigerant; the indoor side sees their rooms, weighted by coil size."""
        coil_w = sum(d.rated_w for d in receiving.values())
        if coil_w <= 0:
            raise ValueError("an operating point needs a head taking refrigerant")
        air = self.network.air_c
        indoor_c = sum(air[self.room_index(z)] * d.rated_w for z, d in receiving.items()) / coil_w
        frost = self.frost_fraction if mode is OduMode.HEAT else 0.0
        return OperatingPoint(
            *cycle(self.ratings, mode, frequency_hz, self.outdoor_c, indoor_c, coil_w, frost)
        )

    def room_index(self, room_id: str) -> int:
        """Where the room's values sit in the per-room lists (`network.air_c`, …)."""
        try:
            return self._index[room_id]
        except KeyError:
            raise KeyError(f"no room {room_id!r} (rooms: {', '.join(self.room_ids)})") from None

    # ---- stepping ----

    def step(self, dt: float, compressor: CompressorDrive, heads: Mapping[str, HeadDrive]) -> None:
        """Advance ``dt`` seconds with the machine driven as given (drives held constant)."""
        if dt < 0:
            raise ValueError("time runs forward only")
        layout = self._layout(compressor, heads)
        if dt <= MAX_STEP_S:  # one substep (the firmware's every step): no loop to run
            if dt > 1e-9:
                self._substep(dt, compressor, layout)
            return
        remaining = dt
        while remaining > 1e-9:
            h = remaining if remaining <= MAX_STEP_S else MAX_STEP_S
            self._substep(h, compressor, layout)
            remaining -= h

    def step_held(self, dt: float, bands: Mapping[str, tuple[float, float]]) -> dict[str, float]:
        """Advance ``dt`` seconds with the heat pump off and each room in ``bands`` held within
        its (low, high) air temperature by an ideal heat source; return that source's mean
        heat per room (W, negative = cooling; 0 for a room floating inside its band).

        The physical bound for a benchmark: the least heat that keeps the rooms in their
        bands. Gains, sun and disturbances act as in `step`."""
        if dt < 0:
            raise ValueError("time runs forward only")
        n = len(self.room_ids)
        lower = [-math.inf] * n
        upper = [math.inf] * n
        for room_id, (low, high) in bands.items():
            i = self.room_index(room_id)
            lower[i], upper[i] = low, high
        total = [0.0] * n
        remaining = dt
        while remaining > 1e-9:
            h = remaining if remaining <= MAX_STEP_S else MAX_STEP_S
            heat = self._free_loads(h)
            extra = self.network.step_within(h, self.outdoor_c, heat, lower, upper)
            for i, q in enumerate(extra):
                total[i] += q * h
            self._finish_idle(h)
            remaining -= h
        return {room_id: total[self._index[room_id]] / dt if dt else 0.0 for room_id in bands}

    def _free_loads(self, dt: float) -> list[float]:
        """Sample the weather for the coming step; each room's heat without the heat pump
        (gains, sun, disturbances), as a new list."""
        mid = self.time_s + 0.5 * dt
        self._sample_weather(mid)
        if mid >= self._next_event_s:
            self._catch_up_events(mid)
        hour = mid // HOUR_S
        if hour != self._gains_hour:  # the schedules change on the hour
            self._gains_hour = hour
            slot = gains_slot(mid)
            self._gains_now = [(gains[slot], aperture) for gains, aperture in self._gains_w]
        ghi = self.ghi_w_m2
        if not self._disturbed:
            # Every room's extra gains and conductance are zero: the general sum below is
            # x + (±0.0) + 0.0, which is x + 0.0 for every x (−0.0 included).
            return [gains + aperture * ghi + 0.0 for gains, aperture in self._gains_now]
        outdoor_c, air = self.outdoor_c, self.network.air_c
        extra_w, extra_g = self._extra_w, self._extra_g
        heat = []
        for i, (gains, aperture) in enumerate(self._gains_now):
            g = extra_g[i]
            heat.append(
                gains + aperture * ghi + extra_w[i] + (g * (outdoor_c - air[i]) if g else 0.0)
            )
        return heat

    def _finish_idle(self, dt: float) -> None:
        """The machine's state after a step in which it did nothing."""
        self.frost_kg = max(0.0, self.frost_kg - passive_melt_rate_kg_s(self.outdoor_c) * dt)
        self.capacity_w = self.compressor_power_w = self.fan_power_w = self.cop = 0.0
        self.condensing_c = self.evaporating_c = None
        self.defrosting = False
        self.delivering = OduMode.OFF
        self.seconds_delivering = 0.0
        self.time_s += dt

    def _sample_weather(self, time_s: float) -> None:
        self._weather_time_s = time_s
        self.outdoor_c, self.dew_point_c, self.ghi_w_m2 = self.weather.drivers(time_s)

    def _catch_up_events(self, time_s: float) -> None:
        events = self._events
        while self._next_event < len(events) and events[self._next_event][0] <= time_s:
            _, k, sign = events[self._next_event]
            event = self.building.disturbances[k]
            i = self._index[event.room]
            self._extra_w[i] += sign * event.gains_w
            self._extra_g[i] += sign * event.conductance_w_per_k
            self._next_event += 1
        self._next_event_s = (
            events[self._next_event][0] if self._next_event < len(events) else math.inf
        )
        self._disturbed = any(self._extra_w) or any(self._extra_g)

    def _decay(self, dt: float) -> tuple[float, float, float, float]:
        """exp(−dt/τ) of the sensor bias, head coils, outdoor coil and discharge line."""
        cached = self._decays.get(dt)
        if cached is None:
            cached = (
                math.exp(-dt / SENSOR_BIAS_TAU_S),
                math.exp(-dt / HEAD_COIL_TAU_S),
                math.exp(-dt / OUTDOOR_COIL_TAU_S),
                math.exp(-dt / DISCHARGE_TAU_S),
            )
            if len(self._decays) < 16:  # a handful of step lengths recur; don't grow forever
                self._decays[dt] = cached
        return cached

    def _layout(self, compressor: CompressorDrive, heads: Mapping[str, HeadDrive]) -> _Layout:
        """What the drives mean for each room; worked out again only when they change (the
        firmware hands over the same drive objects while nothing changes)."""
        key = (compressor.mode, compressor.frequency_hz > 0, compressor.defrost)
        if key == self._layout_key:
            kept = self._reshared(heads)
            if kept is not None:
                return kept
        drives = tuple(map(heads.get, self.room_ids))
        mode = compressor.mode
        running = compressor.frequency_hz > 0 and not compressor.defrost
        serves = SERVED_HEAD_MODES[mode] if running else ()
        # A defrost runs with no head taking refrigerant: the heads that are on give heat to
        # it, their coils fall below the room air and their valves stand open.
        defrost = compressor.defrost and compressor.frequency_hz > 0
        idle_w_per_w = DEFROST_INDOOR_W_PER_W if defrost else 0.0
        idle_offset = -DEFROST_INDOOR_COIL_BELOW_AIR_K if defrost else 0.0
        requested = coil_w = on_total = fans = 0.0
        taking: list[tuple[int, float, float, float, float, float]] = []
        idle: list[tuple[int, float, float, float, float]] = []
        all_idle: list[tuple[int, float, float, float, float]] = []
        fan_list: list[float] = []
        weights: list[tuple[int, float]] = []
        for i, d in enumerate(drives):
            if d is None or not d.on:
                fan_list.append(0.0)
                room_idle = (i, 0.0, -idle_w_per_w * 0.0, 0.0, 0.0)
                idle.append(room_idle)
                all_idle.append(room_idle)
                continue
            fan_w = FAN_W_BASE + FAN_W_PER_SPEED * d.fan_speed if d.fan_speed > 0 else 0.0
            fans += fan_w
            on_total += d.rated_w
            fan_list.append(fan_w)
            on_w = d.rated_w
            room_idle = (
                i,
                fan_w,
                -idle_w_per_w * on_w,
                idle_offset if on_w else 0.0,
                100.0 if defrost and on_w else 0.0,
            )
            all_idle.append(room_idle)
            if d.request_w > 0 and d.mode in serves:
                requested += d.request_w
                coil_w += d.rated_w
                weights.append((i, d.rated_w))
                if mode is OduMode.HEAT:
                    sensible, bias = 1.0, SENSOR_BIAS_HEATING_K
                else:
                    sensible, bias = -SENSIBLE_HEAT_RATIO.get(d.mode, 1.0), SENSOR_BIAS_COOLING_K
                taking.append(
                    (
                        i,
                        fan_w,
                        d.request_w,  # divided by the total below
                        sensible,
                        bias if fan_w else 0.0,
                        100.0 / (d.rated_w * self.ratings.head_overload),
                    )
                )
            else:
                idle.append(room_idle)
        taking = [(i, f, w / requested, s, b, v) for i, f, w, s, b, v in taking]
        layout = _Layout(
            coil_w,
            tuple(weights),
            tuple(taking),
            tuple(idle),
            tuple(all_idle),
            fan_list,
            on_total,
            fans,
        )
        self._layout_key = key
        self._layout_heads = dict(heads)
        self._layout_cached = layout
        return layout

    def _reshared(self, heads: Mapping[str, HeadDrive]) -> _Layout | None:
        """The cached layout while the drives are those it was worked out for (the firmware
        hands over the same objects while nothing changes); with the heads' new shares of the
        refrigerant when they differ only in how much each head asks for, every head that
        asked still asking (most changes: the controller moves the shares every few ticks);
        None when anything else changed. Each share is the one `_layout` works out."""
        before = self._layout_heads
        cached = self._layout_cached
        if len(heads) != len(before):
            return None
        moved = False
        for room, d in heads.items():
            b = before.get(room)
            if d is b:
                continue
            if (
                b is None
                or d.on != b.on
                or d.mode is not b.mode
                or d.fan_speed != b.fan_speed
                or d.rated_w != b.rated_w
                or (d.request_w > 0) != (b.request_w > 0)
            ):
                return None
            moved = True
        if not moved:
            return cached
        room_ids = self.room_ids
        requests = [heads[room_ids[i]].request_w for i, *_ in cached.taking]
        requested = 0.0
        for w in requests:
            requested += w
        taking = tuple(
            (i, f, w / requested, s, b, v)
            for (i, f, _, s, b, v), w in zip(cached.taking, requests, strict=True)
        )
        layout = _Layout(
            cached.coil_w,
            cached.weights,
            taking,
            cached.idle,
            cached.all_idle,
            cached.fan_w,
            cached.on_total_w,
            cached.fans_w,
        )
        self._layout_heads = dict(heads)
        self._layout_cached = layout
        return layout

    def _substep(self, dt: float, compressor: CompressorDrive, layout: _Layout) -> None:
        ratings = self.ratings
        heat = self._free_loads(dt)
        outdoor_c, dew_point_c = self.outdoor_c, self.dew_point_c
        air = self.network.air_c
        mode = compressor.mode
        hz = compressor.frequency_hz
        defrost = compressor.defrost and hz > 0
        heating = mode is ODU_HEAT
        coil_w = layout.coil_w

        # The start-up ramp restarts whenever heat begins to flow again.
        delivering = mode if coil_w > 0 else ODU_OFF
        if delivering is not self.delivering:
            self.seconds_delivering = 0.0
            self.delivering = delivering
        decay_bias, decay_coil, decay_odu_coil, decay_discharge = self._decay(dt)

        delivered = power = cop = 0.0
        condensing: float | None = None
        evaporating: float | None = None
        if coil_w > 0:
            indoor_c = 0.0
            for i, w in layout.weights:
                indoor_c += air[i] * w
            capacity, power, cop, condensing, evaporating = cycle(
                ratings,
                mode,
                hz,
                outdoor_c,
                indoor_c / coil_w,
                coil_w,
                self.frost_kg / ratings.frost_limit_kg if heating else 0.0,
            )
            # During the ramp the compressor already draws full power (the cycling loss); the
            # ramp's share is taken at the step's middle, so any step length integrates alike.
            since = self.seconds_delivering + 0.5 * dt
            ramp = 1.0 if since >= ratings.startup_ramp_s else startup_fraction(ratings, since)
            delivered = capacity * ramp
            self.seconds_delivering += dt
            if heating:
                outdoor_heat = (capacity - power) * ramp
                self.frost_kg += (
                    frost_rate_kg_s(outdoor_heat, outdoor_c, dew_point_c, evaporating)
                    - (passive_melt_rate_kg_s(outdoor_c) if evaporating >= 0.0 else 0.0)
                ) * dt
                odu_coil_target = evaporating
            else:
                # The outdoor coil is the hot condenser: any ice is gone at once.
                self.frost_kg -= (capacity + power) / FUSION_J_PER_KG * dt
                odu_coil_target = condensing
            discharge_target = (
                condensing
                + DISCHARGE_SUPERHEAT_K[0]
                + DISCHARGE_SUPERHEAT_K[1] * (capacity / ratings.rated_capacity_w(mode))
            )
            coil_target = condensing if heating else evaporating
        elif defrost:
            power = defrost_power_w(ratings, hz)
            defrost_w = DEFROST_INDOOR_W_PER_W * layout.on_total_w
            self.frost_kg -= defrost_melt_rate_kg_s(power, defrost_w, outdoor_c) * dt
            odu_coil_target = 0.0 if self.frost_kg > 0 else DEFROST_COIL_DRY_C
            discharge_target = DEFROST_DISCHARGE_C
            coil_target = 0.0  # no head takes refrigerant
        else:
            self.frost_kg -= passive_melt_rate_kg_s(outdoor_c) * dt
            odu_coil_target = discharge_target = outdoor_c
            coil_target = 0.0  # no head takes refrigerant
        if self.frost_kg < 0.0:
            self.frost_kg = 0.0

        # Every room's heat: to the free loads add its head's fan and refrigerant share. The
        # rooms are independent here, so those that take refrigerant go first, then the rest.
        to_room, refrigerant, valves = self._heat_to_room, self._refrigerant, self._valve
        coils, biases = self._coil, self._bias
        if layout is not self._fans_layout:  # the fans change only with the layout
            self._fan_w[:] = layout.fan_w
            self._fans_layout = layout
        if delivered:
            for i, fan_w, fraction, sensible_per_w, bias_target, valve_per_w in layout.taking:
                share = delivered * fraction
                sensible = share * sensible_per_w
                valve = share * valve_per_w
                valves[i] = valve if valve < 100.0 else 100.0
                heat[i] += fan_w + sensible
                to_room[i] = sensible
                refrigerant[i] = share
                coils[i] = coil_target + (coils[i] - coil_target) * decay_coil
                biases[i] = bias_target + (biases[i] - bias_target) * decay_bias
            idle = layout.idle
        else:
            idle = layout.all_idle
        for i, fan_w, sensible, offset, valve in idle:
            heat[i] += fan_w + sensible
            to_room[i] = sensible
            refrigerant[i] = 0.0
            valves[i] = valve
            target = air[i] + offset
            coils[i] = target + (coils[i] - target) * decay_coil
            # The bias heads for 0: 0 + (b − 0)·decay, and b − 0 is b to the bit (−0 too).
            biases[i] = 0.0 + biases[i] * decay_bias
        self.network.step(dt, outdoor_c, heat)

        self.capacity_w = delivered
        self.compressor_power_w = power
        self.fan_power_w = layout.fans_w
        self.cop = cop
        self.condensing_c = condensing
        self.evaporating_c = evaporating
        self.defrosting = defrost
        self.outdoor_coil_c = odu_coil_target + (self.outdoor_coil_c - odu_coil_target) * (
            decay_odu_coil
        )
        self.discharge_c = discharge_target + (self.discharge_c - discharge_target) * (
            decay_discharge
        )
        self.time_s += dt


class _Layout(NamedTuple):
    """The drives worked out per room (by index into the per-room lists). A NamedTuple: one is
    built whenever a head's share moves (two ticks in three), ~3× faster than a frozen
    dataclass."""

    coil_w: float  # rated capacity of the heads taking refrigerant
    weights: tuple[tuple[int, float], ...]  # (room index, coil W) of those heads
    # (room, fan W, share of the delivered heat, sensible heat per W of refrigerant (sign =
    # direction), sensor-bias target, valve % per W) of the rooms that take refrigerant ...
    taking: tuple[tuple[int, float, float, float, float, float], ...]
    # ... and (room, fan W, sensible heat W, coil target above the air, valve %) of the others,
    # and of every room for a step that delivers nothing.
    idle: tuple[tuple[int, float, float, float, float], ...]
    all_idle: tuple[tuple[int, float, float, float, float], ...]
    fan_w: list[float]  # each room's fan (read only)
    on_total_w: float
    fans_w: float
