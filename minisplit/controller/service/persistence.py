"""User settings on disk, with what the controller learned or started for them (a boost's
start, the defrost interval): atomic writes, the last good copy, safe restore, group commit.

Every write replaces the state file atomically (temp file, fsync, rename, fsync of the
directory), so a crash or power cut at any instant leaves the old or the new file, whole; the
file it replaces stays behind as ``<name>.bak``, the last good copy. A corrupt or truncated
state file is reported and that copy used; nothing here ever crashes the controller. What was
learned or started is kept more loosely: a file without it loads (an older version wrote it), a
malformed value of it is reported and dropped, and the settings load all the same.

`SettingsCommitter` makes a changed setting take effect only once it is on disk: whatever the
controller has acted on or published survives ``kill -9`` and power loss. Writes are coalesced
(one in flight; changes made meanwhile go out together in the next), so a burst of commands
costs at most two writes. A disk that fails (full, read-only) does not freeze the controls: the
setting takes effect unsaved, the committer says so (`unsaved`) and retries with backoff until
the file is written.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import json
import logging
import math
import os
import reprlib
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from minisplit.controller.config import MAIN_SYSTEM, ZoneConfig
from minisplit.controller.core.optimal_start import RoomRates
from minisplit.controller.core.settings import (
    Preset,
    UnitSettings,
    ZoneMode,
    ZoneSettings,
    zone_modes,
)
from minisplit.controller.core.transitions import HEAT_COOL_DEADBAND_K, Side, clamp_setpoint
from minisplit.controller.schedule_config import (
    SwitchPoint,
    canonical_program,
    parse_program,
    program_document,
    program_problem_lines,
)
from minisplit.controller.service.json_values import finite_number, zone_table
from minisplit.controller.service.saved_rates import decode_rates, encode_rates
from minisplit.drivers.bus import Backoff
from minisplit.drivers.capabilities import Capabilities

log = logging.getLogger(__name__)
FORMAT_VERSION = 1
# A disk that takes longer than this for one small write is failing: the change takes effect
# anyway (the homeowner's heating matters more than the file), and the write goes on.
COMMIT_TIMEOUT_S = 5.0
# Retries of a failed write (wall seconds): a disk that was full or read-only for a moment is
# written again within a second or two; one that stays broken costs a try a minute.
RETRY_BACKOFF = Backoff(1.0, 60.0)
# A learned defrost interval (heating run time between two defrosts) beyond a week of running
# is no interval a coil has: the file is damaged.
MAX_DEFROST_INTERVAL_S = 7 * 86400.0


@dataclass(frozen=True)
class SavedState:
    zones: dict[str, ZoneSettings] = field(default_factory=dict)
    # Each system's unit settings, by system name (`MAIN_SYSTEM` for a config without
    # [systems]); a system missing here has the defaults.
    units: Mapping[str, UnitSettings] = field(default_factory=dict)
    # When each boosting zone's boost began, in calendar seconds (Unix time): the monotonic
    # clock restarts with the process, the calendar does not. A zone in boost missing here
    # started its boost at an unknown time.
    boost_started: Mapping[str, float] = field(default_factory=dict)
    # Each system's learned heating run time between two defrosts (`FrostState.interval_s`);
    # a system missing here has learned none yet.
    defrost_intervals_s: Mapping[str, float] = field(default_factory=dict)
    # Per zone with a weekly program, the moment (local seconds, `service/programs.py`) of the
    # switch point last applied: a manual change made since holds over a restart, until the
    # next point. A zone missing here has its program's current point applied.
    schedule_applied: Mapping[str, float] = field(default_factory=dict)
    # Per zone given a weekly program over MQTT, its switch points (canonical order, °C): it
    # takes the place of the config's. A zone missing here follows its config's, if any.
    programs: Mapping[str, tuple[SwitchPoint, ...]] = field(default_factory=dict)
    # Per zone, what its room has shown of its warm-up and drift (`core.optimal_start`), as the
    # state file keeps them (`saved_rates.rounded`). A zone missing here starts from the prior.
    room_rates: Mapping[str, RoomRates] = field(default_factory=dict)

    def unit_of(self, system: str) -> UnitSettings:
        """The unit settings of ``system`` (the defaults where none were saved)."""
        return self.units.get(system, UnitSettings())

    def with_unit(self, system: str, settings: UnitSettings) -> SavedState:
        return replace(self, units={**self.units, system: settings})

    def with_defrost_interval(self, system: str, interval_s: float | None) -> SavedState:
        intervals = {name: s for name, s in self.defrost_intervals_s.items() if name != system}
        if interval_s is not None:
            intervals[system] = interval_s
        return replace(self, defrost_intervals_s=intervals)

    def with_room_rates(self, rates: Mapping[str, RoomRates]) -> SavedState:
        return replace(self, room_rates=dict(rates))

    def with_schedule_applied(self, zone_id: str, at_s: float | None) -> SavedState:
        """The zone's program last applied its switch point of ``at_s`` (None: none)."""
        applied = {zone: t for zone, t in self.schedule_applied.items() if zone != zone_id}
        if at_s is not None:
            applied[zone_id] = at_s
        return replace(self, schedule_applied=applied)

    def with_program(self, zone_id: str, points: tuple[SwitchPoint, ...]) -> SavedState:
        """The zone's program sent over MQTT is ``points`` (none: it has none)."""
        programs = {zone: p for zone, p in self.programs.items() if zone != zone_id}
        if points:
            programs[zone_id] = points
        return replace(self, programs=programs)

    def with_zone(self, zone_id: str, settings: ZoneSettings, calendar_now: float) -> SavedState:
        """This state with the zone's new settings: a boost they begin counts from
        ``calendar_now``; one they end is forgotten; one that goes on keeps its start."""
        started = dict(self.boost_started)
        if settings.preset is not Preset.BOOST:
            started.pop(zone_id, None)
        elif self.zones[zone_id].preset is not Preset.BOOST:
            started[zone_id] = calendar_now
        return replace(self, zones={**self.zones, zone_id: settings}, boost_started=started)


def encode_state(state: SavedState) -> bytes:
    doc = {
        "version": FORMAT_VERSION,
        "zones": {zone_id: s.to_dict() for zone_id, s in sorted(state.zones.items())},
        "units": {name: unit.to_dict() for name, unit in sorted(state.units.items())},
        "boost_started": dict(sorted(state.boost_started.items())),
        "defrost_intervals_s": dict(sorted(state.defrost_intervals_s.items())),
        "schedule_applied": dict(sorted(state.schedule_applied.items())),
        "programs": {zone: program_document(p) for zone, p in sorted(state.programs.items())},
        "room_rates": encode_rates(state.room_rates),
    }
    return json.dumps(doc, indent=1, sort_keys=True, allow_nan=False).encode()


def _log_problem(problem: str) -> None:
    log.error("%s", problem)


def decode_state(data: bytes, report: Callable[[str], None] = _log_problem) -> SavedState:
    """Parse a state file's bytes; raises ValueError on anything malformed in the settings.
    A malformed boost start, defrost interval or program is passed to ``report`` and left out
    (a file written before programs came over MQTT has none). A file
    written before a config could hold several systems (one ``unit``, one
    ``defrost_interval_s``) gives them to the system of a config without [systems]."""
    try:
        doc = json.loads(data, parse_constant=_no_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"not valid JSON: {err}") from None
    if not isinstance(doc, dict) or doc.get("version") != FORMAT_VERSION:
        raise ValueError(f"not a version {FORMAT_VERSION} state document")
    try:
        zones = {str(k): ZoneSettings.from_dict(v) for k, v in doc["zones"].items()}
        units = (
            {MAIN_SYSTEM: UnitSettings.from_dict(doc["unit"])}
            if "unit" in doc
            else {str(k): UnitSettings.from_dict(v) for k, v in doc["units"].items()}
        )
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ValueError(f"malformed settings: {err!r}") from None
    for zone_id, settings in zones.items():
        temperatures = (
            settings.target_temperature,
            settings.target_temperature_low,
            settings.target_temperature_high,
        )
        if not all(math.isfinite(t) and -50.0 <= t <= 100.0 for t in temperatures):
            raise ValueError(f"zone {zone_id!r}: implausible setpoints {temperatures}")
    boosting = {zone_id for zone_id, settings in zones.items() if settings.preset is Preset.BOOST}
    if "defrost_interval_s" in doc:
        learned: object = {MAIN_SYSTEM: doc["defrost_interval_s"]}
    else:
        learned = doc.get("defrost_intervals_s", {})
    return SavedState(
        zones,
        units,
        _boost_started(doc.get("boost_started", {}), boosting, report),
        _defrost_intervals(learned, report),
        _schedule_applied(doc.get("schedule_applied", {}), report),
        _programs(doc.get("programs", {}), report),
        decode_rates(doc.get("room_rates", {}), report),
    )


def _boost_started(
    value: object, boosting: set[str], report: Callable[[str], None]
) -> dict[str, float]:
    if not isinstance(value, dict):
        report(f"boost starts {reprlib.repr(value)} are not a table: ignored (any boost is over)")
        return {}
    started = {}
    for zone_id, at in value.items():
        if zone_id not in boosting:
            continue  # its boost was over: nothing to keep
        calendar = finite_number(at)
        if calendar is None or calendar < 0.0:
            shown = reprlib.repr(at)
            report(f"zone {zone_id!r}: boost start {shown} is no time: ignored (the boost is over)")
            continue
        started[zone_id] = calendar
    return started


def _defrost_intervals(value: object, report: Callable[[str], None]) -> dict[str, float]:
    if not isinstance(value, dict):
        report(f"learned defrost intervals {reprlib.repr(value)} are not a table: ignored")
        return {}
    intervals = {str(system): _defrost_interval(v, report) for system, v in value.items()}
    return {system: v for system, v in intervals.items() if v is not None}


def _defrost_interval(value: object, report: Callable[[str], None]) -> float | None:
    if value is None:
        return None
    interval = finite_number(value)
    if interval is None or not 0.0 < interval <= MAX_DEFROST_INTERVAL_S:
        shown, most = reprlib.repr(value), MAX_DEFROST_INTERVAL_S
        report(
            f"learned defrost interval {shown} is no duration of 0..{most:g} s:"
            " ignored (learned again from the next defrosts)"
        )
        return None
    return interval


def _schedule_applied(value: object, report: Callable[[str], None]) -> dict[str, float]:
    return zone_table(
        value,
        "programs' last switch points",
        "program's last switch point {shown} is no time: ignored"
        " (its program's current point applies)",
        finite_number,
        report,
    )


def _programs(value: object, report: Callable[[str], None]) -> dict[str, tuple[SwitchPoint, ...]]:
    if not isinstance(value, dict):
        report(f"programs {reprlib.repr(value)} are not a table: ignored (the config's apply)")
        return {}
    programs = {}
    for zone_id, points in value.items():
        try:
            programs[str(zone_id)] = canonical_program(parse_program(points))
        except ValueError as err:
            report(
                f"zone {zone_id!r}: saved program unusable ({err}): ignored (the config's applies)"
            )
    return {zone_id: points for zone_id, points in programs.items() if points}


def _no_constant(constant: str) -> float:
    raise ValueError(f"{constant} is not a setting")


def default_zone_settings(zone: ZoneConfig) -> ZoneSettings:
    """A zone's settings before anything was saved for it: its configured initial mode (off
    unless the config says otherwise), at its default temperature; `power ON` restores that
    mode, or heat when it starts off. Its heat_cool range runs from the default temperature to
    `default_temperature_high`, else 3 K above it."""
    t = zone.default_temperature
    high = zone.default_temperature_high
    mode = zone.initial_mode
    return ZoneSettings(
        mode=mode,
        last_on_mode=ZoneSettings.last_on_mode if mode is ZoneMode.OFF else mode,
        target_temperature=t,
        target_temperature_low=t,
        target_temperature_high=min(zone.max_temperature, t + 3.0) if high is None else high,
    )


def fit_to_zones(
    saved: SavedState,
    zones: Iterable[ZoneConfig],
    capabilities: Mapping[str, Capabilities] | None = None,
) -> SavedState:
    """The saved state for the configured ``zones``: each zone's settings (its defaults if none
    were saved) within its limits, and only their boosts, the programs sent over MQTT that
    still fit them (`fit_program`) and their programs' last points. ``capabilities``: each
    zone's head's (the modes a program may set; every mode where not given)."""
    zones = list(zones)
    settings = {
        zone.id: fit_to_zone(saved.zones.get(zone.id, default_zone_settings(zone)), zone)
        for zone in zones
    }
    boosts = {z: t for z, t in saved.boost_started.items() if z in settings}
    for zone_id in saved.programs.keys() - settings.keys():
        log.warning("zone %s is no longer configured: its saved program is dropped", zone_id)
    heads = capabilities or {}
    programs = {
        zone.id: saved.programs[zone.id]
        for zone in zones
        if zone.id in saved.programs
        and fit_program(saved.programs[zone.id], zone, heads.get(zone.id))
    }
    # A dropped program's last point is no point of the program now in effect.
    programmed = {zone.id for zone in zones if zone.schedule} - saved.programs.keys()
    programmed |= programs.keys()
    applied = {z: t for z, t in saved.schedule_applied.items() if z in programmed}
    rates = {z: r for z, r in saved.room_rates.items() if z in settings}
    return SavedState(
        settings, saved.units, boosts, saved.defrost_intervals_s, applied, programs, rates
    )


def fit_program(
    points: tuple[SwitchPoint, ...], zone: ZoneConfig, capabilities: Capabilities | None
) -> bool:
    """Whether a program saved from MQTT still fits the zone as now configured (its setpoint
    range, the modes its head runs): one that does not is dropped, and the log says why."""
    modes = tuple(ZoneMode) if capabilities is None else zone_modes(capabilities.modes)
    problems = program_problem_lines(points, modes, zone.min_temperature, zone.max_temperature)
    if problems:
        log.warning(
            "zone %s: the program saved from MQTT no longer fits the config (%s): dropped%s",
            zone.id,
            "; ".join(problems),
            ", its configured program applies" if zone.schedule else "",
        )
    return not problems


def fit_to_zone(settings: ZoneSettings, zone: ZoneConfig) -> ZoneSettings:
    """Restored settings within the zone's current limits (the config may have changed since
    they were saved), with the heat_cool deadband kept."""
    low, high = zone.min_temperature, zone.max_temperature
    target = clamp_setpoint(settings.target_temperature, low, high, Side.TARGET)
    bottom = clamp_setpoint(settings.target_temperature_low, low, high, Side.LOW)
    top = clamp_setpoint(settings.target_temperature_high, low, high, Side.HIGH)
    top = max(top, round(bottom + HEAT_COOL_DEADBAND_K, 1))
    fitted = replace(
        settings,
        target_temperature=target,
        target_temperature_low=bottom,
        target_temperature_high=top,
    )
    if fitted != settings:
        log.warning(
            "zone %s: saved setpoints moved into the configured %g..%g °C", zone.id, low, high
        )
    return fitted


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes, *, keep_previous: Path | None = None) -> None:
    """Replace ``path`` with ``data`` so that a crash at any instant leaves old or new, whole.

    With ``keep_previous``, the file being replaced becomes that file (a hard link, so the old
    bytes are never rewritten, and both files are whole at every instant)."""
    if path.exists() and not path.is_file():
        # The rename would replace it: as root, a device such as /dev/null.
        raise OSError(errno.EEXIST, "not a regular file, so never replaced", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    _write_file(tmp, data)
    if keep_previous is not None and path.exists():
        link = keep_previous.with_name(f".{keep_previous.name}.tmp")
        link.unlink(missing_ok=True)
        try:
            os.link(path, link)
        except OSError:  # a filesystem without hard links: copy instead
            _write_file(link, path.read_bytes())
        os.replace(link, keep_previous)
    os.replace(tmp, path)
    _fsync_directory(path.parent)


class AlreadyRunning(Exception):
    """Another controller holds the lock of this state file."""


def hold_state_lock(state_file: Path) -> int | None:
    """Take the lock beside the state file that one controller at a time may hold: a second one
    (`minisplit run` by hand beside the service) is a second master on the bus, writes the same
    settings, and takes the MQTT client id from the first, each throwing the other off every
    second. Held while the returned descriptor is open, i.e. until the process ends, however it
    ends. None when the directory cannot be made: the state file's writes report that."""
    lock = state_file.with_name(state_file.name + ".lock")
    try:
        lock.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise AlreadyRunning(
            f"another minisplit controller runs with the state file {state_file} (it holds "
            f"{lock}); stop it first (e.g. systemctl stop minisplit)"
        ) from None
    return fd


class StateStore:
    """The state file and its last good copy (``<name>.bak``). Thread-safe: the committer
    writes from a worker thread while shutdown may write from the loop's."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.backup = path.with_name(path.name + ".bak")
        self._last_written: bytes | None = None
        self._lock = threading.Lock()
        self._closed = False  # after the last save: a write still queued must not undo it
        self.problems: list[str] = []  # what went wrong at load, for the log and status

    def load(self) -> SavedState:
        """The saved settings: the state file, else the last good copy, else defaults."""
        for candidate in (self.path, self.backup):
            try:
                data = candidate.read_bytes()
            except FileNotFoundError:
                continue
            except OSError as err:
                self._report(f"cannot read state file {candidate}: {err.strerror}")
                continue
            prefix = f"state file {candidate}: "

            def report(problem: str, p: str = prefix) -> None:
                self._report(p + problem)

            try:
                state = decode_state(data, report)
            except ValueError as err:
                self._report(f"state file {candidate} is unusable ({err})")
                continue
            if candidate is self.backup:
                log.warning("restored settings from the last good copy %s", self.backup)
            else:
                self._last_written = data
            return state
        if self.problems:
            log.error("no usable state file: every zone starts from its configured defaults")
        return SavedState()

    def _report(self, problem: str) -> None:
        self.problems.append(problem)
        log.error("%s", problem)

    def save(self, state: SavedState) -> bool:
        """Write the state if it changed; returns True when something was written."""
        with self._lock:
            return self._save(state)

    def save_last(self, state: SavedState) -> bool:
        """Write the state (at shutdown) and refuse every later write: a committer's write
        still queued in a worker thread holds older settings and must not replace these."""
        with self._lock:
            self._closed = True
            return self._save(state, last=True)

    def _save(self, state: SavedState, *, last: bool = False) -> bool:
        data = encode_state(state)
        if (self._closed and not last) or data == self._last_written:
            return False
        # The settings hold no secret, but who is home and when is nobody else's business: the
        # directory made for them is the owner's alone, like the files in it.
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # The file on disk is good whenever it is what we wrote or what loaded cleanly;
        # after a failed load it is not, and must not replace the last good copy.
        keep = self.backup if self._last_written is not None else None
        write_atomically(self.path, data, keep_previous=keep)
        self._last_written = data
        return True


class SettingsCommitter:
    """Group commit of settings: `submit` the wanted settings; they are `in_effect` (the one
    copy of the settings the controller runs on) and `on_durable` is called with them once
    they are on disk, or once the write failed or timed out: a broken disk must not freeze the
    controls. Then they are `unsaved`, and written again with backoff (``retry``, wall seconds
    on the loop's clock) until the write succeeds; ``on_unsaved`` is called each time that
    changes, and the log says it once each way. One write in flight at a time."""

    def __init__(
        self,
        store: StateStore,
        on_durable: Callable[[SavedState], None],
        *,
        in_effect: SavedState | None = None,
        on_unsaved: Callable[[bool], None] | None = None,
        timeout_s: float = COMMIT_TIMEOUT_S,
        retry: Backoff = RETRY_BACKOFF,
    ) -> None:
        self._store = store
        self._on_durable = on_durable
        self.in_effect = SavedState() if in_effect is None else in_effect
        self._on_unsaved = on_unsaved
        self._timeout_s = timeout_s
        self._retry = retry
        self._wanted: SavedState | None = None
        self._unsaved: SavedState | None = None  # in effect, not (yet) on disk
        self._failures = 0  # failed writes in a row
        self._task: asyncio.Task[None] | None = None
        self._submitted = asyncio.Event()  # cuts a retry's wait short
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def pending(self) -> SavedState | None:
        """The settings submitted but not yet in effect (None when there are none)."""
        return self._wanted

    @property
    def wanted(self) -> SavedState:
        """The settings last asked for: in effect, or on their way to disk."""
        return self.in_effect if self._wanted is None else self._wanted

    @property
    def unsaved(self) -> bool:
        """Whether the settings in effect are not on disk (a write failed; it is retried)."""
        return self._unsaved is not None

    def submit(self, state: SavedState) -> None:
        self._wanted = state
        self._idle.clear()
        self._submitted.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._commit())

    async def flush(self) -> None:
        """Return once everything submitted so far is in effect (saved or not)."""
        await self._idle.wait()

    async def _commit(self) -> None:
        """The one writer: what was submitted, else, after a pause, what is in effect unsaved."""
        try:
            while True:
                if self._wanted is not None:
                    await self._write(self._wanted, submitted=True)
                elif self._unsaved is not None:
                    self._idle.set()  # all submitted is in effect: only the disk is behind
                    if await self._retry_due():
                        await self._write(self._unsaved, submitted=False)
                else:
                    return
        finally:
            if self._wanted is None:
                self._idle.set()

    async def _retry_due(self) -> bool:
        """Wait out the backoff; False if a submission came first (it is written at once)."""
        self._submitted.clear()
        try:
            async with asyncio.timeout(self._retry.delay(self._failures - 1)):
                await self._submitted.wait()
        except TimeoutError:
            return True
        return False

    async def _write(self, state: SavedState, *, submitted: bool) -> None:
        loop = asyncio.get_running_loop()
        write = loop.run_in_executor(None, self._store.save, state)
        done, _ = await asyncio.wait([write], timeout=self._timeout_s)
        if not done:
            log.error(
                "writing %s takes over %g s: applying the settings meanwhile",
                self._store.path,
                self._timeout_s,
            )
            if submitted:
                self._finish(state)
            self._set_unsaved(state)
            await asyncio.wait([write])  # never two writers on the file
        saved = self._check(write)
        if submitted and done:
            self._finish(state)
        self._set_unsaved(None if saved else state)

    def _check(self, write: asyncio.Future[bool]) -> bool:
        """Whether the write succeeded; logs the first failure of a run and the recovery."""
        error = write.exception()
        if error is None:
            if self._failures:
                log.warning(
                    "state file %s written again: the settings in effect are saved",
                    self._store.path,
                )
            self._failures = 0
            return True
        if not self._failures:
            log.error(
                "cannot write state file %s: %s; the settings take effect unsaved"
                " and the write is retried until it succeeds",
                self._store.path,
                error,
                exc_info=None if isinstance(error, OSError) else error,  # a bug: its traceback
            )
        self._failures += 1
        return False

    def _set_unsaved(self, state: SavedState | None) -> None:
        was = self.unsaved
        self._unsaved = state
        if self._on_unsaved is not None and self.unsaved != was:
            self._on_unsaved(self.unsaved)

    def _finish(self, state: SavedState) -> None:
        if self._wanted is state:
            self._wanted = None
        self.in_effect = state
        try:
            self._on_durable(state)
        except Exception:  # the consumer's bug must not stop later commits
            log.exception("applying committed settings failed")
