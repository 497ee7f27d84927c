"""The house as a thermal network: every room a 2R2C pair of nodes, coupled to outdoors and to
its neighbours, with internal-gain schedules and disturbances. Pure physics in SI units and °C.

Each room has an interior node (the air together with furniture and inner surfaces) and an
envelope node (the mass of its outer walls). Over one step every input is held constant, and
each room's two nodes are advanced with the exact solution of their linear ODE (a 2×2 matrix
exponential, cached per step length), so any step is stable. Neighbouring rooms see each
other's air temperature from the start of the step; their coupling is weak next to a room's
own conductances (time constants of hours), so this costs no accuracy at the steps used
(≤ 60 s) and stays stable for any step."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from minisplit.hil.weather import HOUR_S, weekday

# Per m² of floor, from the 2R2C fit of the renovated single-family house "SFH F Var3" in
# E. Sperber, U. Frey, V. Bertsch (2020), "Reduced-order models for assessing demand response
# with heat pumps – Insights from the German energy system", Energy and Buildings 223, 110144,
# doi:10.1016/j.enbuild.2020.110144 (the model: docs/benchmark.md). The fit's interior
# conductance couples our two nodes: the interior (air + furniture) and the envelope.
INTERIOR_CAPACITY_J_PER_K_M2 = 46e3
ENVELOPE_CAPACITY_J_PER_K_M2 = 370e3
INTERIOR_ENVELOPE_W_PER_K_M2 = 12.0
ENVELOPE_OUTDOOR_W_PER_K_M2 = 0.5
INTERIOR_OUTDOOR_W_PER_K_M2 = 0.26  # windows and ventilation, straight to the air
# An unrenovated house loses 2–3× as much to outdoors (docs/benchmark.md); the inner coupling
# and the capacities stay.
UNRENOVATED_OUTDOOR_FACTOR = 2.5
INTERNAL_GAINS_W_PER_M2 = 3.0
# A plastered partition (11.5 cm brick, or studs with gypsum board both sides) with the
# ISO 6946 interior surface resistances (2 × 0.13 m²K/W): U ≈ 1.8–2.2 W/(m²·K).
PARTITION_U_W_PER_M2K = 2.0


@dataclass(frozen=True)
class RoomParameters:
    """A room's 2R2C network, its solar aperture."""

    area_m2: float
    interior_capacity_j_per_k: float
    envelope_capacity_j_per_k: float
    interior_envelope_w_per_k: float
    envelope_outdoor_w_per_k: float
    interior_outdoor_w_per_k: float
    aperture_m2: float = 1.0  # solar gains = aperture × global horizontal irradiance

    @classmethod
    def for_floor(
        cls,
        area_m2: float,
        *,
        unrenovated: bool = False,
        aperture_m2: float = 1.0,
        outdoor_factor: float | None = None,
    ) -> RoomParameters:
        """A room of the reference house (Sperber et al. 2020), scaled by its floor area.

        ``outdoor_factor`` scales both outdoor conductances (default 1, or 2.5 unrenovated)."""
        factor = outdoor_factor
        if factor is None:
            factor = UNRENOVATED_OUTDOOR_FACTOR if unrenovated else 1.0
        return cls(
            area_m2=area_m2,
            interior_capacity_j_per_k=INTERIOR_CAPACITY_J_PER_K_M2 * area_m2,
            envelope_capacity_j_per_k=ENVELOPE_CAPACITY_J_PER_K_M2 * area_m2,
            interior_envelope_w_per_k=INTERIOR_ENVELOPE_W_PER_K_M2 * area_m2,
            envelope_outdoor_w_per_k=ENVELOPE_OUTDOOR_W_PER_K_M2 * area_m2 * factor,
            interior_outdoor_w_per_k=INTERIOR_OUTDOOR_W_PER_K_M2 * area_m2 * factor,
            aperture_m2=aperture_m2,
        )

    @property
    def loss_coefficient_w_per_k(self) -> float:
        """Steady-state heat loss to outdoors per kelvin of indoor–outdoor difference (UA)."""
        series = 1.0 / (1.0 / self.interior_envelope_w_per_k + 1.0 / self.envelope_outdoor_w_per_k)
        return self.interior_outdoor_w_per_k + series


@dataclass(frozen=True)
class GainSchedule:
    """Internal gains (people, appliances, cooking, lighting) in W per m² of floor, hour by hour.

    Hour 0 is 00:00–01:00 local time. Without a weekend profile every day is a weekday."""

    weekday_w_per_m2: tuple[float, ...] = (INTERNAL_GAINS_W_PER_M2,) * 24
    weekend_w_per_m2: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        for name, profile in (
            ("weekday", self.weekday_w_per_m2),
            ("weekend", self.weekend_w_per_m2),
        ):
            if profile is not None and len(profile) != 24:
                raise ValueError(f"{name} gains: {len(profile)} hourly values, need 24")

    def table(self) -> tuple[float, ...]:
        """48 values: the weekday hours, then the weekend hours (W/m²)."""
        return self.weekday_w_per_m2 + (self.weekend_w_per_m2 or self.weekday_w_per_m2)


CONSTANT_GAINS = GainSchedule()


@dataclass(frozen=True)
class Room:
    """One room of a building: its network, its gains and where it starts."""

    id: str
    params: RoomParameters
    initial_c: float = 20.0
    gains: GainSchedule = CONSTANT_GAINS


@dataclass(frozen=True)
class Adjacency:
    """Heat flow between two rooms' air nodes: a shared wall, a door left open."""

    a: str
    b: str
    conductance_w_per_k: float

    @classmethod
    def through_wall(cls, a: str, b: str, wall_area_m2: float) -> Adjacency:
        return cls(a, b, PARTITION_U_W_PER_M2K * wall_area_m2)


@dataclass(frozen=True)
class Disturbance:
    """Extra heat or an extra path to outdoors in one room for a while (a window opened, guests,
    an oven), in absolute simulated seconds."""

    room: str
    start_s: float
    end_s: float
    gains_w: float = 0.0
    conductance_w_per_k: float = 0.0  # air node to outdoors


@dataclass(frozen=True)
class Building:
    rooms: tuple[Room, ...]
    adjacency: tuple[Adjacency, ...] = ()
    disturbances: tuple[Disturbance, ...] = ()

    def __post_init__(self) -> None:
        ids = [room.id for room in self.rooms]
        if len(set(ids)) != len(ids):
            raise ValueError(f"room ids repeat: {ids}")
        known = set(ids)
        for link in self.adjacency:
            for end in (link.a, link.b):
                if end not in known:
                    raise ValueError(f"adjacency {link.a}–{link.b}: no room {end!r}")
            if link.a == link.b:
                raise ValueError(f"adjacency {link.a}–{link.b}: a room next to itself")
        for event in self.disturbances:
            if event.room not in known:
                raise ValueError(f"disturbance: no room {event.room!r}")

    @property
    def room_ids(self) -> tuple[str, ...]:
        return tuple(room.id for room in self.rooms)

    def room(self, room_id: str) -> Room:
        for room in self.rooms:
            if room.id == room_id:
                return room
        raise KeyError(room_id)


class ThermalNetwork:
    """The state of every room's two nodes, advanced together by `step`."""

    def __init__(self, building: Building, outdoor_c: float) -> None:
        self.building = building
        rooms = building.rooms
        self.index = {room.id: i for i, room in enumerate(rooms)}
        self.air_c = [room.initial_c for room in rooms]
        neighbours: list[list[tuple[int, float]]] = [[] for _ in rooms]
        for link in building.adjacency:
            i, j = self.index[link.a], self.index[link.b]
            neighbours[i].append((j, link.conductance_w_per_k))
            neighbours[j].append((i, link.conductance_w_per_k))
        self.neighbours = tuple(tuple(n) for n in neighbours)
        # Without history, each envelope starts where it would sit in steady state between its
        # room's air and the outdoor air.
        self.envelope_c = []
        for room in rooms:
            p = room.params
            h_in, h_out = p.interior_envelope_w_per_k, p.envelope_outdoor_w_per_k
            self.envelope_c.append((h_in * room.initial_c + h_out * outdoor_c) / (h_in + h_out))
        self._steady: list[tuple[float, float, float, float, float, float]] = []
        self._rates: list[tuple[float, float, float, float]] = []
        for room, near in zip(rooms, self.neighbours, strict=True):
            p = room.params
            h_adj = sum(g for _, g in near)
            a = (p.interior_envelope_w_per_k + p.interior_outdoor_w_per_k + h_adj) / (
                p.interior_capacity_j_per_k
            )
            b = p.interior_envelope_w_per_k / p.interior_capacity_j_per_k
            c = p.interior_envelope_w_per_k / p.envelope_capacity_j_per_k
            d = (p.interior_envelope_w_per_k + p.envelope_outdoor_w_per_k) / (
                p.envelope_capacity_j_per_k
            )
            det = a * d - b * c
            ci, ce = p.interior_capacity_j_per_k, p.envelope_capacity_j_per_k
            # Steady state x* = −M⁻¹u for the inputs u = (P/Ci, S/Ce), where P is the heat into
            # the air node (incl. conductances × driving temperatures) and S the envelope's.
            self._steady.append(
                (
                    p.interior_outdoor_w_per_k,
                    p.envelope_outdoor_w_per_k,
                    d / (det * ci),
                    b / (det * ce),
                    c / (det * ci),
                    a / (det * ce),
                )
            )
            self._rates.append((a, b, c, d))
        self._steps: dict[float, list[_RoomStep]] = {}

    def _rooms_for(self, dt: float) -> list[_RoomStep]:
        """Each room's constants for a step of ``dt``: its steady-state factors, neighbours and
        transition matrix e^{M·dt} (how far its deviation from steady state decays over dt) in
        one tuple, cached per step length (the same few recur)."""
        cached = self._steps.get(dt)
        if cached is not None:
            return cached
        result = []
        for (a, b, c, d), steady, near in zip(
            self._rates, self._steady, self.neighbours, strict=True
        ):
            # M = [[−a, b], [c, −d]]: real, distinct, negative eigenvalues since b·c > 0.
            disc = math.sqrt((a - d) ** 2 + 4.0 * b * c)
            l1, l2 = (-(a + d) + disc) / 2.0, (-(a + d) - disc) / 2.0
            e1, e2 = math.exp(l1 * dt), math.exp(l2 * dt)
            result.append(
                (
                    *steady,
                    near,
                    (e1 * (-a - l2) - e2 * (-a - l1)) / disc,
                    (e1 - e2) * b / disc,
                    (e1 - e2) * c / disc,
                    (e1 * (-d - l2) - e2 * (-d - l1)) / disc,
                )
            )
        if len(self._steps) < 16:  # a handful of step lengths recur; don't grow forever
            self._steps[dt] = result
        return result

    def step(self, dt: float, outdoor_c: float, heat_w: Sequence[float]) -> None:
        """Advance ``dt`` s with ``heat_w[i]`` W into room i's air node, all held constant."""
        self._advance(dt, outdoor_c, heat_w, None)

    def step_within(
        self,
        dt: float,
        outdoor_c: float,
        heat_w: Sequence[float],
        lower_c: Sequence[float],
        upper_c: Sequence[float],
    ) -> list[float]:
        """Like `step`, but room i's air ends the step inside [lower_c[i], upper_c[i]], held
        there by exactly the extra heat needed (W, negative = cooling), which is returned.

        A room that floats inside its band gets none: the least heat that keeps every room in
        its band, as an ideal heat source would deliver it."""
        extra = [0.0] * len(self.air_c)
        self._advance(dt, outdoor_c, heat_w, (lower_c, upper_c, extra))
        return extra

    def _advance(
        self,
        dt: float,
        outdoor_c: float,
        heat_w: Sequence[float],
        bounds: tuple[Sequence[float], Sequence[float], list[float]] | None,
    ) -> None:
        """The one exact 2R2C update of `step` and `step_within`; with ``bounds`` (lower,
        upper, extra heat out) each air node is held in its band."""
        air, envelope = self.air_c, self.envelope_c
        start = air[:]
        rooms = self._steps.get(dt) or self._rooms_for(dt)
        for i, (h_io, h_eo, k1, k2, k3, k4, near, p11, p12, p21, p22) in enumerate(rooms):
            into_air = heat_w[i] + h_io * outdoor_c
            for j, g in near:
                into_air += g * start[j]
            into_envelope = h_eo * outdoor_c
            steady_air = k1 * into_air + k2 * into_envelope
            steady_envelope = k3 * into_air + k4 * into_envelope
            da = start[i] - steady_air
            de = envelope[i] - steady_envelope
            if bounds is not None:
                lower_c, upper_c, extra = bounds
                free = steady_air + p11 * da + p12 * de
                target = min(max(free, lower_c[i]), upper_c[i])
                if target != free:
                    # The end temperature is affine in the heat: d(air)/dq = k1(1 − p11) − p12·k3.
                    q = (target - free) / (k1 * (1.0 - p11) - p12 * k3)
                    steady_air += k1 * q
                    steady_envelope += k3 * q
                    da = start[i] - steady_air
                    de = envelope[i] - steady_envelope
                    extra[i] = q
            air[i] = steady_air + p11 * da + p12 * de
            envelope[i] = steady_envelope + p21 * da + p22 * de


# A room's constants for one step length: (interior→outdoor W/K, envelope→outdoor W/K, the four
# steady-state factors, its neighbours as (index, W/K), the 2×2 transition matrix).
_RoomStep = tuple[
    float,
    float,
    float,
    float,
    float,
    float,
    tuple[tuple[int, float], ...],
    float,
    float,
    float,
    float,
]


def gains_slot(time_s: float) -> int:
    """Index into `GainSchedule.table()` for this moment: hour of day, +24 on weekends."""
    return int(time_s // HOUR_S) % 24 + (24 if weekday(time_s) >= 5 else 0)
