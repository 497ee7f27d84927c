"""The randomized kill -9 / restart durability trial over the real controller subprocess (the
kit's `ControllerProcess`, minisplit.testing.processes)."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import aiomqtt

from minisplit.controller.config import LoadedConfig, ZoneConfig
from minisplit.controller.core.settings import Preset, UnitSettings, ZoneMode, ZoneSettings
from minisplit.controller.core.transitions import (
    apply_unit,
    apply_zone,
    setpoint_range,
)
from minisplit.controller.service.commands import (
    SETPOINT_FIELDS,
    CommandError,
    UnitCommand,
    ZoneCommand,
    parse_unit_command,
    parse_zone_command,
)
from minisplit.drivers.vocabulary import FanSpeed, VanePosition
from minisplit.testing.broker import MessageRecorder
from minisplit.testing.processes import BASE, ControllerProcess, latest_state, wait_online

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
) -> tuple[str, bytes, ZoneCommand | UnitCommand]:
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
                    unit_track.history.append(apply_unit(unit_track.history[-1], command.change))
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
