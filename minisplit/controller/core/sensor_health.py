"""Whether a zone's room sensors can be believed (pure: no I/O, no clock; the caller passes the
time step and what the plant did), and the fault names the zone state reports for them.

Each sensor — the head's return-air sensor, and a remote one where the zone has one — is
`ok`, `missing` (the 0x8000 sentinel, an undecodable value, or a remote reading older than
its timeout), `out_of_range` (outside what room air can be, `SensorCheck.min_c`..`max_c`) or
`stuck`. A zone follows the remote while it is ok, else the head's sensor while that is ok,
else nothing: with no reading the zone loop asks for no refrigerant (`controller.core.zone`).

Stuck is judged from evidence, not from time alone: a well-controlled room holds one 0.1 K
register value for hours (the benchmark's rooms do, for up to 6.5 h, with their head running
all along). A reading is stuck when its raw value stayed identical while the plant did
something that moves any working sensor:

- the head switched between delivering and not delivering `stuck_switches` times, each new
  state held for `settle_s`: the head's sensor sits in its own air stream and shifts ~1.5 K
  with its coil (docs/benchmark.md), and the room air follows the heat within minutes; or
- the head delivered at full demand for `stuck_full_demand_s`: a room that gets all a head
  has, for hours, moves (a sensor frozen below the setpoint looks exactly like this).

The benchmark's worst cases are 1 such switch and 3.5 min at full demand within one unchanged
value (all six shipped scenarios, head sensor), so the defaults hold a wide margin. A reading
that changes is ok again at once, which also bounds the cost of a false alarm: a real room
drifts a register step and the sensor is back.

Not detected: a sensor frozen where the zone is satisfied while its head gets nothing —
nothing the controller does then should move it. The room drifts, which a homeowner notices
sooner than any rule that would have to flag steady, well-controlled rooms.

Fault names (short, snake_case): ``sensor_head_<verdict>`` and ``sensor_remote_<verdict>``
for a sensor that is not ok, and ``sensor_none`` when the zone has no usable reading at all.

No blind frost protection: without any reading there is no telling whether heat is needed; the rooms
around the zone still get theirs, the fault is published at once, and a heating head left without a
controller runs its own thermostat (docs/reference-unit.md, autonomous fallback)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

FULL_DEMAND = 0.95  # a zone asking at least this share of its head's capacity asks for all


class Verdict(StrEnum):
    OK = "ok"
    MISSING = "missing"
    OUT_OF_RANGE = "out_of_range"
    STUCK = "stuck"


OK = Verdict.OK
MISSING = Verdict.MISSING
OUT_OF_RANGE = Verdict.OUT_OF_RANGE
STUCK = Verdict.STUCK


@dataclass(frozen=True, slots=True)
class SensorCheck:
    """The limits of a plausible room reading. Room air below −10 °C (an unheated house in a
    hard frost still heats from there) or above 50 °C (a shut, sunlit room stays below) is a
    broken or mis-scaled sensor, not a room."""

    min_c: float = -10.0
    max_c: float = 50.0
    settle_s: float = 600.0
    stuck_switches: int = 3
    stuck_full_demand_s: float = 7200.0

    def __post_init__(self) -> None:
        if not self.min_c < self.max_c:
            raise ValueError(f"min_c {self.min_c} must be below max_c {self.max_c}")
        if self.settle_s <= 0 or self.stuck_switches < 1 or self.stuck_full_demand_s <= 0:
            raise ValueError("settle_s, stuck_switches and stuck_full_demand_s must be positive")


@dataclass(frozen=True, slots=True)
class RemoteReading:
    """A remote sensor's last value (None: none yet) and when it came, with its timeout."""

    value: float | None
    at: float | None
    timeout_s: float

    def fresh(self, now: float) -> float | None:
        """The value while it is younger than the timeout, else None."""
        if self.value is None or self.at is None or now - self.at > self.timeout_s:
            return None
        return self.value


class SensorTrack(NamedTuple):
    """One sensor's verdict and the evidence gathered since its raw value last changed.
    A NamedTuple: the benchmark updates one per zone per tick."""

    verdict: Verdict = MISSING  # nothing read yet
    value: float | None = None  # the raw reading the evidence belongs to
    delivering: bool = False  # what the head did over the last interval
    settling: bool = False  # it switched, and the new state has not held `settle_s` yet
    held_s: float = 0.0  # how long the new state has held (while settling)
    switches: int = 0  # settled switches since the value changed
    full_demand_s: float = 0.0  # time delivering at full demand since the value changed


def holds(track: SensorTrack, reading: float | None, delivering: bool, full_demand: bool) -> bool:
    """Whether a tick leaves ``track`` as it is: an ok reading that did not change, while the
    head kept doing what it did and does not deliver at full demand (no new evidence)."""
    return (
        reading == track.value
        and track.verdict is OK
        and delivering is track.delivering
        and not track.settling
        and not (delivering and full_demand)
    )


def track_sensor(
    track: SensorTrack,
    reading: float | None,
    dt_s: float,
    delivering: bool,
    full_demand: bool,
    check: SensorCheck,
) -> SensorTrack:
    """The sensor's track after a tick in which it read ``reading`` (None: no value), and
    the head delivered refrigerant over the last ``dt_s`` (``full_demand``: all it can)."""
    if holds(track, reading, delivering, full_demand):
        return track  # nothing new: most ticks end here, without an allocation
    if reading is None:
        return track if track.verdict is MISSING else SensorTrack(MISSING)
    if reading != track.value:
        verdict = OK if check.min_c <= reading <= check.max_c else OUT_OF_RANGE
        return SensorTrack(verdict, reading, delivering)
    if track.verdict is not OK:
        return track  # out of range or stuck until the value changes
    settling, held, switches = track.settling, track.held_s, track.switches
    if delivering is not track.delivering:
        settling, held = True, 0.0
    elif settling:
        held += dt_s
        if held >= check.settle_s:
            settling, switches = False, switches + 1
    full_s = track.full_demand_s + dt_s if delivering and full_demand else track.full_demand_s
    stuck = switches >= check.stuck_switches or full_s >= check.stuck_full_demand_s
    return SensorTrack(
        STUCK if stuck else OK, reading, delivering, settling, held, switches, full_s
    )


class ZoneSensors(NamedTuple):
    """A zone's sensor tracks; ``remote`` is None for a zone without a remote sensor."""

    head: SensorTrack = SensorTrack()
    remote: SensorTrack | None = None

    @property
    def usable(self) -> bool:
        return self.head.verdict is OK or (self.remote is not None and self.remote.verdict is OK)

    def faults(self) -> tuple[str, ...]:
        """The zone's sensor fault names (empty: all fine)."""
        names = []
        if self.remote is not None and self.remote.verdict is not OK:
            names.append(f"sensor_remote_{self.remote.verdict.value}")
        if self.head.verdict is not OK:
            names.append(f"sensor_head_{self.head.verdict.value}")
        if names and not self.usable:
            names.append("sensor_none")
        return tuple(names)


def check_zone_sensors(
    sensors: ZoneSensors,
    head: float | None,
    remote: RemoteReading | None,
    now: float,
    dt_s: float,
    delivering: bool,
    full_demand: bool,
    check: SensorCheck,
) -> ZoneSensors:
    """Both of a zone's sensors after one tick at time ``now`` (see `track_sensor`)."""
    head_track = track_sensor(sensors.head, head, dt_s, delivering, full_demand, check)
    remote_track = None
    if remote is not None:
        previous = sensors.remote or SensorTrack(MISSING)
        reading = remote.fresh(now)
        remote_track = track_sensor(previous, reading, dt_s, delivering, full_demand, check)
    if head_track is sensors.head and remote_track is sensors.remote:
        return sensors
    return ZoneSensors(head_track, remote_track)
