"""The simulated house behind `minisplit sim`: plant, units and Modbus server on one clock.

Physics advances with the event loop's clock times the speed (docs/architecture.md, 'One clock':
never the wall clock directly), in a background task and, so that every Modbus answer is current,
just before each request is served. Tests can also drive it directly with `step`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from pymodbus.server import ModbusSerialServer, ModbusTcpServer

from minisplit.controller.config import HeatPumpSystem, LoadedConfig, SimRoomConfig, Strategy
from minisplit.drivers.bus_config import SerialBus, TcpBus
from minisplit.hil.building import Building, Room, RoomParameters
from minisplit.hil.faults import ODU_TARGET, FaultInjector, load_fault_file
from minisplit.hil.firmware import DEFAULT_HEARTBEAT_TIMEOUT_S, HeadThermostat
from minisplit.hil.gateway import Gateway
from minisplit.hil.heatpump import REFERENCE_HEAD
from minisplit.hil.homeowner import Homeowner
from minisplit.hil.house import HouseSim
from minisplit.hil.modbus_units import IndoorHead, OutdoorUnit
from minisplit.hil.plant import Plant
from minisplit.hil.scenario import Scenario, build_house
from minisplit.hil.server import (
    ServedUnit,
    serial_line,
    start_serial_server,
    start_tcp_server,
    tcp_address,
)
from minisplit.hil.weather import format_time_of_year, load_weather, parse_time_of_year

LOG = logging.getLogger(__name__)

# The firmware decides at least this often in simulated time (finer than the benchmark's
# steps, since Modbus requests arrive at any moment); the plant sub-steps on its own.
MAX_STEP_S = 2.0
# How often the background task catches physics up, in event-loop (wall) seconds.
PHYSICS_PERIOD_S = 0.1
SUMMARY_PERIOD_S = 10.0
# Float time never lands exactly on a target; closer than this counts as there.
_TIME_EPSILON_S = 1e-9


@dataclass
class _Clock:
    """Ties simulated time to the event loop's clock while the simulator runs."""

    loop: asyncio.AbstractEventLoop
    loop_origin: float
    sim_origin: float
    speed: float

    def sim_time(self) -> float:
        return self.sim_origin + (self.loop.time() - self.loop_origin) * self.speed


class SimulatorSetupError(ValueError):
    """A config, scenario or fault file the simulator cannot serve, found before it serves."""


class Simulator:
    """Each system's outdoor unit and the heads of its zones, over the house model.

    The building comes from the config's `[simulator]` section, or from a scenario, whose zones
    must then be the config's. A config with several systems gets one house per system, each
    its own heat pump in its own building of its zones' rooms: rooms of different systems
    exchange no heat here. Every unit answers on the endpoint(s) given to `running`, whatever
    bus the config puts it on; unit ids must therefore be unique across the config, except for
    the heads behind one gateway, each at its own unit index (`hil.gateway`)."""

    def __init__(
        self, loaded: LoadedConfig, speed: float = 1.0, scenario: Scenario | None = None
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        config = loaded.config
        self.speed = speed
        self.config = loaded
        self.scenario = scenario
        self.houses = {
            name: _house(loaded, system, scenario) for name, system in loaded.systems.items()
        }
        # The first system's house: the whole house of a config with one system.
        self.house = next(iter(self.houses.values()))
        self._house_of = {zone.id: self.houses[config.system_of(zone)] for zone in config.zones}
        self._heads = {
            zone.id: IndoorHead(
                loaded.head_profile(zone), zone.unit_id, self._house_of[zone.id].heads[zone.id]
            )
            for zone in config.zones
        }
        # A system without an outdoor unit in the config has one that runs (following its
        # heads) but is not served.
        self.served_odus = {
            name: OutdoorUnit(system.odu_profile, system.outdoor_unit.unit_id, house.odu)
            for (name, system), house in zip(
                loaded.systems.items(), self.houses.values(), strict=True
            )
            if system.outdoor_unit is not None and system.odu_profile is not None
        }
        self.served_odu = next(iter(self.served_odus.values()), None)
        self.units: dict[int, ServedUnit] = {}
        for odu in self.served_odus.values():
            self.units[odu.unit_id] = odu
        gateways: dict[int, list[IndoorHead]] = {}
        for head in self._heads.values():
            index = head.profile.unit_index
            behind = gateways.get(head.unit_id, [])
            if head.unit_id in self.units or (
                behind and index in (None, *(h.profile.unit_index for h in behind))
            ):
                raise SimulatorSetupError(
                    f"zone {head.zone_id!r}: unit id {head.unit_id} is taken; the simulator "
                    "serves all units on one endpoint, so unit ids (or, behind a gateway, "
                    "unit indices) must be unique"
                )
            if index is None:
                self.units[head.unit_id] = head
            else:
                gateways.setdefault(head.unit_id, []).append(head)
        self.units.update((uid, Gateway(heads)) for uid, heads in gateways.items())
        targets: dict[str, IndoorHead | OutdoorUnit] = dict(self._heads)
        if self.served_odu is not None:
            targets[ODU_TARGET] = self.served_odu
        self.faults = FaultInjector(targets, self.house.time_s)
        self._clock: _Clock | None = None
        self.tcp_address: tuple[str, int] | None = None

    @property
    def plant(self) -> Plant:
        return self.house.plant

    # ---- time ----

    @property
    def sim_time_s(self) -> float:
        """Simulated seconds since Jan 1 00:00 of the weather year."""
        return self.house.time_s

    def current_time_s(self) -> float:
        """Simulated time now: the physics brought up to the event loop's clock first."""
        self._catch_up()
        return self.house.time_s

    def step(self, seconds: float) -> None:
        """Advance the physics by ``seconds`` of simulated time now."""
        if seconds < 0:
            raise ValueError("time runs forward only")
        self._advance_to(self.house.time_s + seconds)
        if self._clock is not None:
            self._clock.sim_origin += seconds

    def _advance_to(self, target_s: float) -> None:
        seconds = target_s - self.house.time_s
        if seconds > _TIME_EPSILON_S:
            for house in self.houses.values():  # on one clock: each steps as far
                house.step(seconds)
        self.faults.update(self.house.time_s)

    def _catch_up(self) -> None:
        """Bring the physics to the present of the event loop's clock (while running)."""
        if self._clock is not None:
            self._advance_to(self._clock.sim_time())

    # ---- serving ----

    @asynccontextmanager
    async def running(
        self,
        *,
        tcp: tuple[str, int] | None = None,
        serial: str | None = None,
        baudrate: int = 19200,
        parity: str = "E",
        stopbits: int = 1,
        also_tcp: Sequence[tuple[str, int]] = (),
    ) -> AsyncIterator[Simulator]:
        """Run the physics on the loop's clock and serve Modbus until the block ends.

        ``tcp=(host, 0)`` listens on a free port; `tcp_address` then says which. Every unit
        answers at ``tcp``, at each address of ``also_tcp`` (the other buses of a config with
        several, `tcp_endpoints_from_config`) and on ``serial``."""
        if self._clock is not None:
            raise RuntimeError("the simulator is already running")
        self.faults.serve(serial_line=serial is not None)
        loop = asyncio.get_running_loop()
        self._clock = _Clock(loop, loop.time(), self.house.time_s, self.speed)
        physics = asyncio.create_task(self._physics(), name="hil physics")
        servers: list[ModbusTcpServer | ModbusSerialServer] = []
        try:
            if tcp is not None:
                tcp_server = await start_tcp_server(
                    self.units, *tcp, self._catch_up, faults=self.faults
                )
                servers.append(tcp_server)
                self.tcp_address = tcp_address(tcp_server)
            for address in also_tcp:
                servers.append(
                    await start_tcp_server(self.units, *address, self._catch_up, faults=self.faults)
                )
            if serial is not None:
                servers.append(
                    await start_serial_server(
                        self.units,
                        serial,
                        self._catch_up,
                        baudrate=baudrate,
                        parity=parity,
                        stopbits=stopbits,
                        faults=self.faults,
                    )
                )
            yield self
        finally:
            for server in servers:
                await server.shutdown()  # type: ignore[no-untyped-call]  # unannotated in pymodbus
            physics.cancel()
            try:
                await physics
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise
            self._catch_up()
            self._clock = None
            self.tcp_address = None
            self.faults.serve(serial_line=None)

    async def _physics(self) -> None:
        while True:
            self._catch_up()
            await asyncio.sleep(PHYSICS_PERIOD_S)

    # ---- the Python API for tests and scenarios ----

    def head(self, zone_id: str) -> IndoorHead:
        try:
            return self._heads[zone_id]
        except KeyError:
            raise KeyError(f"no zone {zone_id!r} (zones: {', '.join(self._heads)})") from None

    @property
    def heads(self) -> dict[str, IndoorHead]:
        return dict(self._heads)

    def room_temperature(self, zone_id: str) -> float:
        """The room's air (occupied zone, what a remote sensor reads), °C."""
        self._catch_up()
        self.head(zone_id)
        return self._house_of[zone_id].room_air(zone_id)

    def outdoor_temperature(self) -> float:
        self._catch_up()
        return self.plant.outdoor_c

    def head_register(self, zone_id: str, name: str) -> float | int | None:
        """A head's register, decoded as a Modbus master would (None = invalid sentinel)."""
        self._catch_up()
        return self.head(zone_id).value(name)

    @property
    def odu(self) -> OutdoorUnit:
        """The (first system's) outdoor unit as served (KeyError where none is)."""
        if self.served_odu is None:
            raise KeyError("the config has no [outdoor_unit]: the outdoor unit is not served")
        return self.served_odu

    def odu_of(self, system: str) -> OutdoorUnit:
        """The outdoor unit of ``system`` as served (KeyError where it has none in the config)."""
        if system not in self.served_odus:
            raise KeyError(f"system {system!r} has no outdoor unit in the config: none is served")
        return self.served_odus[system]

    def odu_register(self, name: str) -> float | int | None:
        self._catch_up()
        return self.odu.value(name)

    def press_remote(
        self,
        zone_id: str,
        *,
        power: bool | None = None,
        mode: str | None = None,
        setpoint: float | None = None,
        fan: str | None = None,
    ) -> None:
        """Someone uses the handheld remote of this zone's head."""
        self._catch_up()
        self.head(zone_id).press_remote(power=power, mode=mode, setpoint=setpoint, fan=fan)

    def summary(self) -> str:
        """One line on the state of the house, for the log."""
        self._catch_up()
        plant = self.plant
        rooms = " ".join(f"{zone} {self.room_temperature(zone):.1f}" for zone in self._heads)
        units = " | ".join(
            f"{house.odu.frequency_hz:.1f} Hz {house.plant.input_power_w:.0f} W"
            + (" defrost" if house.plant.defrosting else "")
            for house in self.houses.values()
        )
        return (
            f"{format_time_of_year(plant.time_s)} out {plant.outdoor_c:.1f}"
            f" | rooms °C {rooms} | {units}"
        )


def _house(loaded: LoadedConfig, system: HeatPumpSystem, scenario: Scenario | None) -> HouseSim:
    """The house of one system: from the config's `[simulator]`, or from the scenario."""
    thermostat = head_thermostat(system)
    if scenario is None:
        return house_from_config(loaded, system, thermostat)
    if len(loaded.systems) > 1:
        raise SimulatorSetupError(
            f"scenario {scenario.name!r} is a house of one system; the config has "
            f"{len(loaded.systems)} ({', '.join(loaded.systems)}): run it with a config of one"
        )
    zone_ids = [zone.id for zone in loaded.config.zones]
    if sorted(scenario.zones) != sorted(zone_ids):
        raise SimulatorSetupError(
            f"scenario {scenario.name!r} has zones {', '.join(scenario.zones)}; the "
            f"config has {', '.join(zone_ids)}: they must be the same"
        )
    return build_house(
        scenario,
        heartbeat_timeout_s=_heartbeat_timeout_s(thermostat),
        max_step_s=MAX_STEP_S,
        thermostat=thermostat,
    )


def head_thermostat(system: HeatPumpSystem) -> HeadThermostat | None:
    """The heads' own thermostat where the system's heads are setpoint-driven (no
    capacity_request): within their profile's display_setpoint range; None for direct heads."""
    if system.strategy is not Strategy.SETPOINT:
        return None
    levers = system.head_levers
    return HeadThermostat(
        setpoint_step_c=levers.setpoint_step_c,
        heat_range_c=levers.heat_range_c,
        cool_range_c=levers.cool_range_c,
    )


def _heartbeat_timeout_s(thermostat: HeadThermostat | None) -> float:
    """Setpoint-driven heads and the unit that follows them keep no watchdog: their
    interfaces have no heartbeat, and their own logic is what runs anyway."""
    return 0.0 if thermostat is not None else DEFAULT_HEARTBEAT_TIMEOUT_S


def house_from_config(
    loaded: LoadedConfig, system: HeatPumpSystem, thermostat: HeadThermostat | None = None
) -> HouseSim:
    """The house of one system from the config's `[simulator]` section: one room per zone of
    the system, reference units (setpoint-driven behind their interfaces with a
    ``thermostat``)."""
    config = loaded.config
    rooms = []
    for zone in system.zones:
        room = config.simulator.rooms.get(zone.id, SimRoomConfig())
        params = RoomParameters.for_floor(
            room.area_m2, unrenovated=room.unrenovated, aperture_m2=room.aperture_m2
        )
        rooms.append(Room(zone.id, params, room.initial_temperature))
    start_s = parse_time_of_year(config.simulator.start)
    plant = Plant(Building(tuple(rooms)), load_weather(), start_s)
    return HouseSim(
        plant,
        {zone.id: REFERENCE_HEAD for zone in system.zones},
        heartbeat_timeout_s=_heartbeat_timeout_s(thermostat),
        max_step_s=MAX_STEP_S,
        thermostat=thermostat,
    )


def served_bus(loaded: LoadedConfig) -> str:
    """The bus the simulator stands in for: the first outdoor unit's, else the first zone's."""
    for system in loaded.systems.values():
        if system.outdoor_unit is not None:
            return system.outdoor_unit.bus
    return loaded.config.zones[0].bus


def endpoint_from_config(loaded: LoadedConfig) -> tuple[str, int] | None:
    """The TCP address of the served bus (`served_bus`), when that bus is Modbus TCP."""
    bus = loaded.config.buses[served_bus(loaded)]
    return (bus.host, bus.port) if isinstance(bus, TcpBus) else None


def tcp_endpoints_from_config(loaded: LoadedConfig) -> list[tuple[str, int]]:
    """The TCP address of every other bus a unit of the config sits on (besides the served
    bus's), each once. SimulatorSetupError where one is a serial line: the simulator serves
    one serial line, given by name, and then every unit on it."""
    config = loaded.config
    used = [
        bus
        for system in loaded.systems.values()
        for bus in (
            *([] if system.outdoor_unit is None else [system.outdoor_unit.bus]),
            *(zone.bus for zone in system.zones),
        )
    ]
    served = endpoint_from_config(loaded)
    endpoints: list[tuple[str, int]] = []
    for name in dict.fromkeys(used):
        bus = config.buses[name]
        if not isinstance(bus, TcpBus):
            raise SimulatorSetupError(
                f"bus {name!r} is a serial line beside the Modbus TCP bus "
                f"{served_bus(loaded)!r}: the simulator serves TCP buses each at its address, "
                "or every unit on one endpoint named with --tcp or --serial"
            )
        if (bus.host, bus.port) not in (served, *endpoints):
            endpoints.append((bus.host, bus.port))
    return endpoints


def framing_from_config(loaded: LoadedConfig) -> tuple[int, str, int]:
    """Baud rate, parity and stop bits of the served bus (`served_bus`) when that is an RTU
    line (the controller talks with those), else the reference units' 19200 8E1
    (docs/reference-unit.md)."""
    bus = loaded.config.buses[served_bus(loaded)]
    if isinstance(bus, SerialBus):
        return bus.baudrate, bus.parity, bus.stopbits
    return 19200, "E", 1


async def run_simulator(
    loaded: LoadedConfig,
    *,
    tcp: tuple[str, int] | None,
    serial: str | None,
    speed: float,
    baudrate: int | None = None,
    parity: str | None = None,
    stopbits: int | None = None,
    scenario: Scenario | None = None,
    faults: Path | None = None,
    play_schedules: bool = False,
) -> None:
    """Serve the simulated house until cancelled, logging a summary every ~10 s, with the
    faults of a fault file (hil.faults) when one is given. A serial line's framing not given
    comes from `framing_from_config`. With ``play_schedules``, a homeowner (hil.homeowner)
    sets the zones as the scenario's schedules say, over the config's MQTT broker."""
    if play_schedules and scenario is None:
        raise SimulatorSetupError("playing the schedules needs a scenario: they are its own")
    if play_schedules and loaded.config.mqtt is None:
        raise SimulatorSetupError(
            "playing the schedules needs the config's [mqtt] section: the homeowner sets the"
            " zones through the controller's MQTT commands"
        )
    more: list[tuple[str, int]] = []  # the other TCP buses' addresses
    if tcp is None and serial is None:
        tcp = endpoint_from_config(loaded)
        if tcp is not None:
            more = tcp_endpoints_from_config(loaded)
        if tcp is None:
            bus = served_bus(loaded)
            odus = any(system.outdoor_unit for system in loaded.systems.values())
            whose = "the outdoor unit's" if odus else "the heads'"
            raise SimulatorSetupError(
                f"{whose} bus {bus!r} is a serial line: name the port to serve on "
                "(e.g. one end of a socat pty pair) or a TCP address"
            )
    default = framing_from_config(loaded)
    baudrate, parity, stopbits = (
        baudrate or default[0],
        parity or default[1],
        stopbits or default[2],
    )
    sim = Simulator(loaded, speed, scenario)
    if faults is not None:
        plan_fault_file(sim, faults, serial_line=serial is not None)
    async with sim.running(
        tcp=tcp, serial=serial, baudrate=baudrate, parity=parity, stopbits=stopbits, also_tcp=more
    ):
        where = " and ".join(
            part
            for part in (
                f"tcp {sim.tcp_address[0]}:{sim.tcp_address[1]}" if sim.tcp_address else "",
                *(f"tcp {host}:{port}" for host, port in more),
                f"serial {serial_line(serial, baudrate, parity, stopbits)}" if serial else "",
            )
            if part
        )
        LOG.info(
            "simulating %d heads%s (ids %s) on %s at %g× speed",
            len(sim.heads),
            {0: "", 1: " and the outdoor unit"}.get(
                len(sim.served_odus), f" and {len(sim.served_odus)} outdoor units"
            ),
            ", ".join(str(uid) for uid in sorted(sim.units)),
            where,
            speed,
        )
        homeowner = None
        if play_schedules:
            assert scenario is not None and loaded.config.mqtt is not None
            player = Homeowner(
                scenario,
                loaded.config.mqtt,
                loaded.config.controller_id,
                sim.current_time_s,
                speed,
            )
            homeowner = asyncio.create_task(player.run(), name="hil homeowner")
        try:
            while True:
                LOG.info("%s", sim.summary())
                await asyncio.sleep(SUMMARY_PERIOD_S)
        finally:
            if homeowner is not None:
                homeowner.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await homeowner


class FaultFileError(SimulatorSetupError):
    """A fault file that cannot be read, or names faults this simulator cannot inject."""


def plan_fault_file(sim: Simulator, path: Path, *, serial_line: bool) -> None:
    """Schedule the faults of ``path`` before serving, so a bad file stops the start-up."""
    try:
        planned, seed = load_fault_file(path)
        sim.faults.seed(seed)
        for fault in planned:
            sim.faults.add(fault)
        sim.faults.serve(serial_line=serial_line)  # refuses frame faults without an RTU line
        sim.faults.serve(serial_line=None)
    except OSError as err:
        raise FaultFileError(f"{path}: {err.strerror or err}") from None
    except (KeyError, ValueError) as err:
        reason = str(err.args[0] if isinstance(err, KeyError) else err)
        # load_fault_file names the file already; the injector's own checks do not.
        raise FaultFileError(
            reason if reason.startswith(str(path)) else f"{path}: {reason}"
        ) from None
    LOG.info("%d faults from %s", len(planned), path)
