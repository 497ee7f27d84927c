"""A whole system for a test: the simulated house (or the real units), a broker and the
controller, with the helpers a test asks with (docs/testing.md).

`start_rig` starts the simulator on a free loopback port, then writes the controller's config
once: the engineer's config (a file, or a shipped one by name) with every bus pointed at the
simulator (or at the real endpoint), MQTT at the test's broker and the state file in the test's
directory. The controller runs in-process (a `Supervisor` on the test's event loop) or as a
`minisplit run` subprocess (on another core), at the simulator's speed. Every wait is bounded.

Nothing here imports pytest: the fixtures over it are in `minisplit.testing.plugin`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import tomllib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NoReturn
from urllib.parse import parse_qs, urlsplit

from minisplit.controller.config import LoadedConfig, config_file, parse_config
from minisplit.controller.service.supervisor import Supervisor
from minisplit.drivers.bus import BusScheduler
from minisplit.drivers.bus_config import SerialBus
from minisplit.drivers.head import HeadDriver
from minisplit.drivers.odu import OutdoorUnitDriver
from minisplit.drivers.profile import profile_file
from minisplit.hil.faults import fault_file
from minisplit.hil.homeowner import Homeowner
from minisplit.hil.scenario import Scenario, load_scenario, scenario_file
from minisplit.hil.simulator import Simulator, plan_fault_file
from minisplit.testing.broker import MessageRecorder, Mosquitto, recording
from minisplit.testing.harness import running, wait_until
from minisplit.testing.processes import START_TIMEOUT_S, ControllerProcess

ODU = "odu"  # `read_register`'s name for the outdoor unit (`odu:<system>` of one of several)
ControllerKind = Literal["inprocess", "process"]
# Wall-clock slack on every wait for simulated time: start-up, and a loaded machine.
_SLACK_S = 30.0


class NeedsSimulator(RuntimeError):
    """A question only the simulator can answer (a room's true temperature), asked of a rig on
    real units."""


@dataclass(frozen=True)
class RigOptions:
    """What a test runs on: ``config`` (a file, or a shipped config's name), an optional
    ``scenario`` (a file or a shipped scenario's name; its zones must be the config's) and
    fault file (a file or a shipped one's name, `demo-faults`), the ``speed`` (simulated
    seconds per wall second, the controller's too), which ``controller`` (none, in-process or
    a subprocess), and with ``play_schedules`` a simulated homeowner who sets the zones as the
    scenario's schedules say."""

    config: str | Path = "demo"
    scenario: str | Path | None = None
    faults: str | Path | None = None
    speed: float = 240.0
    controller: ControllerKind | None = "inprocess"
    play_schedules: bool = False

    def __post_init__(self) -> None:
        if not (self.speed > 0 and math.isfinite(self.speed)):
            raise ValueError(f"speed must be positive, got {self.speed}")
        if self.controller not in (None, "inprocess", "process"):
            raise ValueError(
                f"controller must be 'inprocess', 'process' or None, got {self.controller!r}"
            )


@dataclass(frozen=True)
class Endpoint:
    """Real units' Modbus endpoint: ``tcp://host[:port]`` (a gateway, port 502 by default) or a
    serial device, ``/dev/ttyUSB0`` or ``rtu:///dev/ttyUSB0?baudrate=9600&parity=N``."""

    text: str
    bus: dict[str, Any]

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        url = urlsplit(text)
        if url.scheme == "tcp":
            if not url.hostname:
                raise ValueError(f"{text!r}: no host (expected tcp://HOST[:PORT])")
            return cls(text, {"type": "tcp", "host": url.hostname, "port": url.port or 502})
        if url.scheme in ("rtu", "serial") or (not url.scheme and text.startswith("/")):
            device = url.path if url.scheme else text.split("?")[0]
            bus: dict[str, Any] = {"type": "rtu", "device": device}
            for key, values in parse_qs(url.query).items():
                if key not in ("baudrate", "parity", "stopbits"):
                    raise ValueError(f"{text!r}: unknown setting {key!r}")
                bus[key] = values[-1] if key == "parity" else int(values[-1])
            return cls(text, bus)
        raise ValueError(
            f"{text!r}: expected tcp://HOST[:PORT], a serial device such as /dev/ttyUSB0, or"
            " rtu:///dev/ttyUSB0?baudrate=9600&parity=N"
        )


def to_toml(data: Mapping[str, Any]) -> str:
    """TOML text of a config's data (tables, arrays of tables, scalars and lists of them)."""
    lines: list[str] = []

    def string(text: str) -> str:
        # JSON's escapes are TOML's, but for DEL, which TOML wants escaped too.
        return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")

    def value(item: Any) -> str:
        if isinstance(item, bool):
            return "true" if item else "false"
        if isinstance(item, int | float):
            return repr(item)
        if isinstance(item, str):
            return string(item)
        if isinstance(item, list):
            return "[" + ", ".join(value(i) for i in item) + "]"
        raise TypeError(f"cannot write {item!r} as TOML")

    def table(prefix: str, body: Mapping[str, Any]) -> None:
        def nested(v: Any) -> bool:
            return isinstance(v, dict) or (
                isinstance(v, list) and bool(v) and isinstance(v[0], dict)
            )

        for key, item in body.items():
            if not nested(item):
                lines.append(f"{string(key)} = {value(item)}")
        for key, item in body.items():
            name = f"{prefix}{string(key)}"
            if isinstance(item, dict):
                lines.extend(["", f"[{name}]"])
                table(f"{name}.", item)
            elif nested(item):
                for element in item:
                    lines.extend(["", f"[[{name}]]"])
                    table(f"{name}.", element)

    table("", data)
    return "\n".join(lines) + "\n"


def rig_config(
    source: str | Path,
    directory: Path,
    bus: Mapping[str, Any],
    broker: Mosquitto | None,
) -> tuple[Path, LoadedConfig]:
    """The config ``source`` (a file or a shipped config's name) with every bus replaced by
    ``bus``, MQTT at ``broker`` (none without one) and the state file in ``directory``,
    written there as a private minisplit.toml and parsed once."""
    path = config_file(str(source))
    directory.mkdir(parents=True, exist_ok=True)
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    data["state_file"] = str(directory / "state" / "state.json")
    for name, old in data.get("buses", {}).items():
        kept = {k: v for k, v in old.items() if k in ("timeout_s", "retries")}
        data["buses"][name] = {**dict(bus), **kept}
    if broker is None:
        data.pop("mqtt", None)
    else:
        data.setdefault("mqtt", {}).update(host=broker.host, port=broker.port)
    # Profile files named relative to the config's folder, named absolutely: the written
    # config lives elsewhere, and a controller process reads it from there.
    systems = [system.get("outdoor_unit", {}) for system in data.get("systems", {}).values()]
    for table in [data.get("outdoor_unit", {}), *systems, *data.get("zones", [])]:
        if isinstance(table.get("profile"), str):
            found = profile_file(table["profile"], path.parent)
            table["profile"] = table["profile"] if found is None else str(found.resolve())
    written = directory / "minisplit.toml"
    written.write_text(to_toml(data), encoding="utf-8")
    written.chmod(0o600)
    return written, parse_config(written.read_text(encoding="utf-8"), str(written))


@dataclass
class Rig:
    """A running system and the questions a test asks of it. ``sim`` is None on real units:
    the helpers that need the simulator's truth then call ``on_missing_simulator``."""

    options: RigOptions
    loaded: LoadedConfig
    config_path: Path
    sim: Simulator | None
    broker: Mosquitto | None
    recorder: MessageRecorder | None
    supervisor: Supervisor | None = None
    process: ControllerProcess | None = None
    on_missing_simulator: Callable[[str], NoReturn] | None = None
    started_s: float = 0.0
    _buses: dict[str, BusScheduler] = field(default_factory=dict)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    # ---- time ----

    @property
    def speed(self) -> float:
        return self.sim.speed if self.sim is not None else 1.0

    def now_s(self) -> float:
        """Seconds since the rig started: simulated on the simulator, real on real units."""
        if self.sim is not None:
            return self.sim.current_time_s() - self.started_s
        return asyncio.get_running_loop().time() - self.started_s

    async def run_until(
        self, *, hours: float = 0.0, minutes: float = 0.0, seconds: float = 0.0
    ) -> None:
        """Wait until that much time has passed since the rig started (simulated time on the
        simulator), bounded by three times the wall time it should take plus 30 s."""
        target = hours * 3600.0 + minutes * 60.0 + seconds
        await self.wait_for(
            lambda: self.now_s() >= target,
            timeout_s=max(0.0, target - self.now_s()) / self.speed * 3 + _SLACK_S,
            what=f"{target:g} s of {'simulated ' if self.sim else ''}time",
        )

    async def wait_for(
        self, condition: Callable[[], object], *, timeout_s: float, what: str = "the condition"
    ) -> None:
        """Poll ``condition`` until it is truthy; AssertionError after ``timeout_s`` wall s."""
        await wait_until(condition, timeout_s, what)

    # ---- the simulator's truth ----

    def simulator(self, why: str) -> Simulator:
        """The simulator, or a skip (or NeedsSimulator) saying ``why`` the test needs it."""
        if self.sim is not None:
            return self.sim
        reason = f"needs the simulator's truth ({why}); the test runs on real units"
        if self.on_missing_simulator is not None:
            self.on_missing_simulator(reason)
        raise NeedsSimulator(reason)

    def room_temperature(self, zone_id: str) -> float:
        """The room's true air temperature, °C (simulator only)."""
        return self.simulator(f"the true temperature of {zone_id}").room_temperature(zone_id)

    # ---- over the wire: the same on the simulator and on real units ----

    async def read_register(self, unit: str, name: str) -> float | int | None:
        """A register of a zone's head (``unit`` = the zone's id) or of the outdoor unit
        (``"odu"``; ``"odu:<system>"`` with several systems), read over Modbus as the
        controller reads it (through the in-process controller's bus when there is one):
        read-only, so safe on real units. None is the profile's invalid sentinel."""
        config = self.loaded.config
        if unit == ODU or unit.startswith(f"{ODU}:"):
            system = (
                self.loaded.only_system
                if unit == ODU
                else self.loaded.systems[unit.removeprefix(f"{ODU}:")]
            )
            odu, profile = system.outdoor_unit, system.odu_profile
            if odu is None or profile is None:
                raise KeyError("the config has no [outdoor_unit]: its heads' interfaces have none")
            driver: HeadDriver | OutdoorUnitDriver = OutdoorUnitDriver(
                await self._bus(odu.bus), odu.unit_id, profile
            )
        else:
            zones = {zone.id: zone for zone in config.zones}
            if unit not in zones:
                raise KeyError(f"no zone {unit!r} (zones: {', '.join(zones)}; or {ODU!r})")
            zone = zones[unit]
            driver = HeadDriver(
                await self._bus(zone.bus), zone.unit_id, self.loaded.head_profile(zone)
            )
        values = await asyncio.wait_for(driver.read_values([name]), START_TIMEOUT_S)
        return values[name]

    async def _bus(self, name: str) -> BusScheduler:
        """The in-process controller's own bus (one owner per line, docs/architecture.md), else
        a bus of the rig's; a serial line that a controller process holds is refused."""
        if self.supervisor is not None:
            return self.supervisor.buses[name]
        bus_config = self.loaded.config.buses[name]
        if self.process is not None and isinstance(bus_config, SerialBus):
            raise RuntimeError(
                f"bus {name!r} is a serial line that the controller process owns: read its"
                " registers with the controller in-process (controller='inprocess') or none"
            )
        if name not in self._buses:
            bus = BusScheduler(f"rig-{name}", bus_config)
            self._buses[name] = bus
            self._tasks.append(asyncio.create_task(bus.run(), name=f"rig bus {name}"))
            await asyncio.wait_for(bus.wait_connected(), START_TIMEOUT_S)
        return self._buses[name]

    @property
    def base_topic(self) -> str:
        config = self.loaded.config
        assert config.mqtt is not None, "the rig has no broker"
        return f"{config.mqtt.base_topic}/{config.controller_id}"

    async def published_state(self, zone_id: str | None = None) -> dict[str, Any]:
        """The last state the controller published for a zone (the unit's without one), as
        JSON; waits (bounded) for the first."""
        if self.recorder is None:
            raise RuntimeError("the rig has no broker, so nothing is published")
        topic = f"{self.base_topic}/" + (f"zone/{zone_id}/state" if zone_id else "unit/state")
        await self.recorder.wait_for(topic, timeout=START_TIMEOUT_S)
        return dict(json.loads(self.recorder.on(topic)[-1].payload))

    async def set_zone(self, zone_id: str, **fields: object) -> None:
        """Send a zone's MQTT commands as Home Assistant does, e.g.
        ``set_zone("living", mode="heat", temperature=21.5)`` (docs/mqtt.md)."""
        if self.broker is None or self.recorder is None:
            raise RuntimeError("the rig has no broker to send commands over")
        # A command before the controller listens is lost (commands are not retained).
        await self.recorder.wait_for(
            f"{self.base_topic}/status", lambda m: m.payload == b"online", timeout=START_TIMEOUT_S
        )
        async with self.broker.client() as client:
            for key, item in fields.items():
                text = ("ON" if item else "OFF") if isinstance(item, bool) else str(item)
                await client.publish(f"{self.base_topic}/zone/{zone_id}/set/{key}", text, qos=1)


def endpoint_bus(sim: Simulator | None, endpoint: Endpoint | None) -> dict[str, Any]:
    if endpoint is not None:
        return dict(endpoint.bus)
    assert sim is not None and sim.tcp_address is not None
    host, port = sim.tcp_address
    return {"type": "tcp", "host": host, "port": port}


def _prepare(options: RigOptions, directory: Path) -> tuple[Path, LoadedConfig, Scenario | None]:
    """The config's file and its units (for the simulator), and the scenario."""
    directory.mkdir(parents=True, exist_ok=True)
    source = config_file(str(options.config))
    base = parse_config(source.read_text(encoding="utf-8"), str(source), source.parent)
    scenario = None
    if options.scenario is not None:
        scenario = load_scenario(scenario_file(str(options.scenario)))
    return source, base, scenario


@contextlib.asynccontextmanager
async def start_rig(
    options: RigOptions,
    directory: Path,
    broker: Mosquitto | None = None,
    *,
    endpoint: Endpoint | None = None,
    on_missing_simulator: Callable[[str], NoReturn] | None = None,
) -> AsyncIterator[Rig]:
    """The simulator (none with ``endpoint``: real units, at real time), the controller on it
    and ``broker``, until the block ends; the controller's config and log in ``directory``."""
    source, base, scenario = _prepare(options, directory)
    async with contextlib.AsyncExitStack() as stack:
        sim = None
        if endpoint is None:
            sim = Simulator(base, options.speed, scenario)
            if options.faults is not None:
                plan_fault_file(sim, fault_file(str(options.faults)), serial_line=False)
            await stack.enter_async_context(sim.running(tcp=("127.0.0.1", 0)))
        path, loaded = rig_config(source, directory, endpoint_bus(sim, endpoint), broker)
        recorder = None
        if broker is not None:
            recorder = await stack.enter_async_context(recording(broker))
        rig = Rig(options, loaded, path, sim, broker, recorder)
        rig.on_missing_simulator = on_missing_simulator
        rig.started_s = sim.current_time_s() if sim else asyncio.get_running_loop().time()
        speed = options.speed if sim is not None else 1.0
        if options.controller == "inprocess":
            rig.supervisor = await stack.enter_async_context(
                running(Supervisor(loaded, time_scale=speed))
            )
        elif options.controller == "process":
            rig.process = ControllerProcess(path)
            await rig.process.start("--time-scale", f"{speed:g}")
            stack.push_async_callback(rig.process.stop)
        if options.play_schedules:
            if scenario is None or loaded.config.mqtt is None or sim is None:
                raise ValueError("playing the schedules needs the simulator, a scenario and MQTT")
            player = Homeowner(
                scenario, loaded.config.mqtt, loaded.config.controller_id, sim.current_time_s, speed
            )
            rig._tasks.append(asyncio.create_task(player.run(), name="rig homeowner"))
        try:
            yield rig
        finally:
            for task in rig._tasks:
                task.cancel()
            await asyncio.gather(*rig._tasks, return_exceptions=True)
