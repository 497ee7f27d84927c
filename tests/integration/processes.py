"""The real controller as a subprocess (`python -m minisplit.controller.cli run`), for tests and
benches that kill it with SIGKILL, and the randomized kill -9 / restart durability trial.

Every wait is bounded; a controller that does not come up in time fails with its log."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import aiomqtt

from minisplit.controller.config import LoadedConfig, ZoneConfig, parse_config
from minisplit.controller.core.settings import Preset, UnitSettings, ZoneMode, ZoneSettings
from minisplit.controller.core.transitions import (
    UnitTransition,
    apply_unit,
    apply_zone,
    setpoint_range,
)
from minisplit.controller.service.commands import (
    SETPOINT_FIELDS,
    CommandError,
    ZoneCommand,
    parse_unit_command,
    parse_zone_command,
)
from minisplit.drivers.vocabulary import FanSpeed, VanePosition
from minisplit.hil.broker import free_port, mosquitto_path
from tests.fixtures.broker import MessageRecorder, Mosquitto

ROOT = Path(__file__).resolve().parents[2]
DEMO = (ROOT / "config" / "demo.toml").read_text()
CONTROLLER_ID = "demo"
BASE = f"minisplit/{CONTROLLER_ID}"
START_TIMEOUT_S = 20.0


def controller_config(
    directory: Path,
    modbus_port: int,
    mqtt_port: int,
    *,
    period_s: float = 10.0,
    extra: str = "",
    zone_extra: dict[str, str] | None = None,
    bus_extra: str = "",
) -> tuple[Path, LoadedConfig]:
    """The demo house on the simulator at ``modbus_port`` and the broker at ``mqtt_port``,
    written as a private (0600) config file; its state file lives in ``directory``/state/,
    which the controller makes.
    ``extra`` goes into ``[mqtt]``; ``zone_extra`` adds lines to a zone's table; ``bus_extra``
    to the Modbus bus's (e.g. its timeout)."""
    state_file = directory / "state" / "state.json"
    text = DEMO.replace("port = 5020", f"port = {modbus_port}\n{bus_extra}").replace(
        'state_file = ".minisplit-state/demo.json"', f'state_file = "{state_file}"'
    )
    for zone_id, lines in (zone_extra or {}).items():
        text = text.replace(f'id = "{zone_id}"\n', f'id = "{zone_id}"\n{lines}\n', 1)
    head, _, sim = text.partition("[mqtt]")
    sim = sim[sim.index("[simulator]") :]
    text = (
        head
        + f'[mqtt]\nhost = "127.0.0.1"\nport = {mqtt_port}\nkeepalive_s = 5\n{extra}\n'
        + f"[control]\nperiod_s = {period_s}\n\n"
        + sim
    )
    path = directory / "minisplit.toml"
    path.write_text(text)
    path.chmod(0o600)
    return path, parse_config(text, str(path), ROOT / "config")


class ControllerProcess:
    """One `minisplit run` subprocess, its log in a file next to its config; ``env`` adds to
    its environment (e.g. systemd's NOTIFY_SOCKET)."""

    command = "run"

    def __init__(
        self, config: Path, name: str = "controller", env: Mapping[str, str] | None = None
    ) -> None:
        self.config = config
        self.log = config.with_name(f"{name}.log")
        self.env = dict(env or {})
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, *args: str) -> None:
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "minisplit.controller.cli",
                self.command,
                "-c",
                str(self.config),
                *args,
                cwd=ROOT,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env={**os.environ, "PYTHONPATH": str(ROOT), **self.env},
            )

    def send(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL: no goodbye, no flush, no chance to save anything."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)

    async def wait(self, timeout_s: float = 10.0) -> int:
        assert self.process is not None
        async with asyncio.timeout(timeout_s):
            return await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await self.wait(10)
            except TimeoutError:
                self.kill()
                await self.wait(10)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def rss_kib(self) -> int:
        """The process's resident set size now (VmRSS), in KiB."""
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(line.split()[1])


class SimulatorProcess(ControllerProcess):
    """One `minisplit sim` subprocess, its log in a file next to its config."""

    command = "sim"


@contextlib.contextmanager
def unwritable(directory: Path) -> Iterator[None]:
    """The state directory replaced by a regular file for a while: every write of the state
    file fails (for root too, which ignores permissions), as on a full or read-only disk."""
    away = directory.with_name(f"{directory.name}.away")
    existed = directory.exists()
    if existed:
        directory.rename(away)
    directory.write_bytes(b"")
    try:
        yield
    finally:
        directory.unlink()
        if existed:
            away.rename(directory)


@contextlib.contextmanager
def broker_in_temporary_directory(prefix: str) -> Iterator[tuple[Path, Mosquitto]]:
    """For engineering commands: a mosquitto on a free port, and a temporary directory (the
    broker's files in its `broker/`) that is removed afterwards."""
    binary = mosquitto_path()
    if binary is None:
        raise RuntimeError("mosquitto is not installed (apt-get install mosquitto)")
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        directory = Path(tmp)
        (directory / "broker").mkdir()
        broker = Mosquitto(binary, directory / "broker", free_port())
        broker.start()
        try:
            yield directory, broker
        finally:
            broker.stop()


@contextlib.asynccontextmanager
async def controller(config: Path, *args: str) -> AsyncIterator[ControllerProcess]:
    process = ControllerProcess(config)
    await process.start(*args)
    try:
        yield process
    finally:
        await process.stop()


async def wait_online(recorder: MessageRecorder, process: ControllerProcess, after: int) -> int:
    """Index of the controller's `online` (after message ``after``) once its zones' and the
    unit's states have followed it: the controller is up and has said what it restored."""
    try:
        online = await recorder.wait_for(
            f"{BASE}/status", lambda m: m.payload == b"online", after=after, timeout=START_TIMEOUT_S
        )
        index = recorder.messages.index(online)
        for topic in [*(f"{BASE}/zone/{z}/state" for z in ZONES), f"{BASE}/unit/state"]:
            await recorder.wait_for(topic, after=index, timeout=START_TIMEOUT_S)
    except AssertionError as err:
        raise AssertionError(f"{err}\ncontroller log:\n{process.output()[-4000:]}") from None
    return index


def latest_state(recorder: MessageRecorder, topic: str, after: int, before: int) -> dict | None:
    """The last JSON state on ``topic`` among messages [after, before)."""
    for message in reversed(recorder.messages[after:before]):
        if message.topic.value == topic:
            return json.loads(message.payload)
    return None


# ---- the randomized kill -9 / restart trial ------------------------------------------------

ZONES = ("living", "kitchen", "bedroom", "office")
_ZONE_PROJECTION = {
    "mode": "mode",
    "target_temperature": "target_temperature",
    "target_temperature_low": "target_temperature_low",
    "target_temperature_high": "target_temperature_high",
    "fan_mode": "fan_mode",
    "swing_mode": "swing_mode",
    "swing_horizontal_mode": "swing_horizontal_mode",
    "preset": "preset",
}


def zone_projection(settings: ZoneSettings) -> dict[str, object]:
    """What the zone state on MQTT shows of the settings."""
    data = settings.to_dict()
    return {state_key: data[key] for state_key, key in _ZONE_PROJECTION.items()}


def unit_projection(settings: UnitSettings) -> dict[str, object]:
    return {"quiet": settings.quiet, "demand_limit": settings.demand_limit_pct}


def random_command(
    rng: random.Random, zones: Sequence[ZoneConfig]
) -> tuple[str, bytes, ZoneCommand | UnitTransition]:
    """A valid command, as (topic, payload, parsed command)."""
    if rng.random() < 0.15:
        if rng.random() < 0.5:
            payload = rng.choice([b"ON", b"OFF"])
            return f"{BASE}/unit/set/quiet", payload, parse_unit_command("quiet", payload)
        payload = str(rng.randrange(0, 101)).encode()
        return (
            f"{BASE}/unit/set/demand_limit",
            payload,
            parse_unit_command("demand_limit", payload),
        )
    zone = rng.choice(list(zones))
    field = rng.choice(
        [
            "mode",
            "temperature",
            "temperature",
            "temperature_low",
            "temperature_high",
            "fan_mode",
            "swing_mode",
            "swing_horizontal_mode",
            "preset_mode",
            "power",
        ]
    )
    if field == "mode":
        text = rng.choice([m.value for m in ZoneMode])
    elif field.startswith("temperature"):
        low, high = setpoint_range(
            zone.min_temperature, zone.max_temperature, SETPOINT_FIELDS[field]
        )
        text = f"{low + 0.5 * rng.randrange(int((high - low) * 2) + 1):.1f}"
    elif field == "fan_mode":
        text = rng.choice([f.value for f in FanSpeed])
    elif field.startswith("swing"):
        text = rng.choice([s.value for s in VanePosition])
    elif field == "preset_mode":
        text = rng.choice([p.value for p in Preset])
    else:
        text = rng.choice(["ON", "OFF"])
    payload = text.encode()
    try:
        command = parse_zone_command(zone, field, payload)
    except CommandError as err:  # the generator only makes valid commands
        raise AssertionError(f"generated an invalid command: {err}") from None
    assert isinstance(command, ZoneCommand)  # no sensor reading among the fields above
    return f"{BASE}/zone/{zone.id}/set/{field}", payload, command


S = TypeVar("S", ZoneSettings, UnitSettings)


@dataclass
class _Track(Generic[S]):
    """The history of one zone's (or the unit's) settings as commands were sent, and how far
    the controller has acknowledged it (published it as its state)."""

    history: list[S]
    acknowledged: int = 0

    def acknowledge(
        self, shown: dict[str, object], project: Callable[[S], dict[str, object]]
    ) -> None:
        for index in range(self.acknowledged, len(self.history)):
            if project(self.history[index]) == shown:
                self.acknowledged = index
                return

    def restored(
        self, shown: dict[str, object], project: Callable[[S], dict[str, object]]
    ) -> int | None:
        """The latest history index at or after the acknowledged one that ``shown`` is."""
        for index in range(len(self.history) - 1, self.acknowledged - 1, -1):
            if project(self.history[index]) == shown:
                return index
        return None


@dataclass
class DurabilityReport:
    cycles: int = 0
    commands: int = 0
    acknowledged_changes: int = 0  # settings changes seen published before a kill
    lost: int = 0  # acknowledged settings missing after the restart
    unacknowledged_dropped: int = 0  # sent but neither acknowledged nor restored (allowed)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.cycles} kill -9 / restart cycles, {self.commands} commands, "
            f"{self.acknowledged_changes} acknowledged changes, {self.lost} lost "
            f"({self.unacknowledged_dropped} unacknowledged commands dropped, as allowed)"
        )


async def durability_trial(
    cycles: int,
    config: Path,
    loaded: LoadedConfig,
    recorder: MessageRecorder,
    client: aiomqtt.Client,
    rng: random.Random,
) -> DurabilityReport:
    """Kill the controller with SIGKILL at random moments around setting changes, restart it,
    and check that every setting it had acknowledged (published) before dying is restored."""
    zones = loaded.config.zones
    report = DurabilityReport()
    process = ControllerProcess(config)
    await process.start()
    try:
        online = await wait_online(recorder, process, len(recorder.messages))
        tracks, unit_track = _restored_tracks(recorder, online, zones)
        for _ in range(cycles):
            sent = 0
            for _ in range(rng.randint(1, 4)):
                topic, payload, command = random_command(rng, zones)
                await client.publish(topic, payload, qos=1)
                sent += 1
                if isinstance(command, ZoneCommand):
                    track = tracks[command.zone_id]
                    track.history.append(apply_zone(track.history[-1], command.change))
                else:
                    unit_track.history.append(apply_unit(unit_track.history[-1], command))
                if rng.random() < 0.3:
                    await asyncio.sleep(rng.uniform(0.0, 0.05))
            report.commands += sent
            # Kill right after the last change was published, or at a random moment.
            if rng.random() < 0.4 and isinstance(command, ZoneCommand):
                topic = f"{BASE}/zone/{command.zone_id}/state"
                wanted = zone_projection(tracks[command.zone_id].history[-1])

                def shows_wanted(m: aiomqtt.Message, w: dict[str, object] = wanted) -> bool:
                    return _shows(m.payload, w)

                await recorder.wait_for(topic, shows_wanted, after=online, timeout=10)
            else:
                await asyncio.sleep(rng.uniform(0.0, 0.15))
            process.kill()
            await process.wait()
            offline = await recorder.wait_for(
                f"{BASE}/status", lambda m: m.payload == b"offline", after=online, timeout=10
            )
            died = recorder.messages.index(offline)
            # Everything the controller published before the broker sent its will.
            for zone in zones:
                shown = latest_state(recorder, f"{BASE}/zone/{zone.id}/state", online, died)
                if shown is not None:
                    tracks[zone.id].acknowledge(_zone_shown(shown), zone_projection)
            shown = latest_state(recorder, f"{BASE}/unit/state", online, died)
            if shown is not None:
                unit_track.acknowledge(_unit_shown(shown), unit_projection)
            report.acknowledged_changes += sum(t.acknowledged for t in tracks.values())
            report.acknowledged_changes += unit_track.acknowledged

            await process.start()
            online = await wait_online(recorder, process, died)
            report.cycles += 1
            for zone in zones:
                track = tracks[zone.id]
                shown = latest_state(
                    recorder, f"{BASE}/zone/{zone.id}/state", online, len(recorder.messages)
                )
                assert shown is not None
                index = track.restored(_zone_shown(shown), zone_projection)
                _judge(report, f"zone {zone.id}", track, index, shown)
                restored = track.history[index] if index is not None else _zone_settings(shown)
                tracks[zone.id] = _Track([restored])
            shown = latest_state(recorder, f"{BASE}/unit/state", online, len(recorder.messages))
            assert shown is not None
            index = unit_track.restored(_unit_shown(shown), unit_projection)
            _judge(report, "unit", unit_track, index, shown)
            unit = unit_track.history[index] if index is not None else _unit_settings(shown)
            unit_track = _Track([unit])
    finally:
        await process.stop()
    return report


def _judge(
    report: DurabilityReport,
    who: str,
    track: _Track[ZoneSettings] | _Track[UnitSettings],
    index: int | None,
    shown: dict,
) -> None:
    if index is None:
        report.lost += 1
        report.problems.append(
            f"cycle {report.cycles}: {who} restored {shown}, acknowledged was "
            f"{track.history[track.acknowledged]}"
        )
    else:
        report.unacknowledged_dropped += len(track.history) - 1 - index


def _shows(payload: object, wanted: dict[str, object]) -> bool:
    assert isinstance(payload, bytes | bytearray)
    return _zone_shown(json.loads(payload)) == wanted


def _zone_shown(state: dict[str, object]) -> dict[str, object]:
    return {key: state[key] for key in _ZONE_PROJECTION}


def _unit_shown(state: dict[str, object]) -> dict[str, object]:
    return {"quiet": state["quiet"], "demand_limit": state["demand_limit"]}


def _zone_settings(shown: dict[str, Any]) -> ZoneSettings:
    """Settings as a zone state shows them (what it does not show takes its default)."""
    return ZoneSettings(
        mode=ZoneMode(shown["mode"]),
        target_temperature=float(shown["target_temperature"]),
        target_temperature_low=float(shown["target_temperature_low"]),
        target_temperature_high=float(shown["target_temperature_high"]),
        fan_mode=FanSpeed(shown["fan_mode"]),
        swing_mode=VanePosition(shown["swing_mode"]),
        swing_horizontal_mode=VanePosition(shown["swing_horizontal_mode"]),
        preset=Preset(shown["preset"]),
    )


def _unit_settings(shown: dict[str, Any]) -> UnitSettings:
    return UnitSettings(quiet=bool(shown["quiet"]), demand_limit_pct=int(shown["demand_limit"]))


def _restored_tracks(
    recorder: MessageRecorder, online: int, zones: Sequence[ZoneConfig]
) -> tuple[dict[str, _Track[ZoneSettings]], _Track[UnitSettings]]:
    """Start the model from what the controller says after its first start (the state file
    may hold settings of an earlier run)."""
    end = len(recorder.messages)
    tracks: dict[str, _Track[ZoneSettings]] = {}
    for zone in zones:
        shown = latest_state(recorder, f"{BASE}/zone/{zone.id}/state", online, end)
        assert shown is not None
        tracks[zone.id] = _Track([_zone_settings(shown)])
    shown = latest_state(recorder, f"{BASE}/unit/state", online, end)
    assert shown is not None
    return tracks, _Track([_unit_settings(shown)])
