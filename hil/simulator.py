"""The simulated house behind `minisplit sim`: plant, units and Modbus server on one clock.

Physics advances with the event loop's clock times the speed (DESIGN §3.2: never the wall
clock directly), in a background task and, so that every Modbus answer is current, just
before each request is served. Tests can also drive it directly with `step`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from pymodbus.server import ModbusSerialServer, ModbusTcpServer

from controller.config import LoadedConfig, SimRoomConfig, TcpBus
from hil.plant import Plant, RoomModel, RoomParameters
from hil.server import start_serial_server, start_tcp_server, tcp_address
from hil.units import IndoorHead, ModbusUnit, OutdoorUnit
from hil.weather import format_time_of_year, load_weather, parse_time_of_year

LOG = logging.getLogger(__name__)

# The firmware rules (ramps at 1 Hz/s, 180 s lockout, heartbeat timeouts) are evaluated at
# least this often in simulated time; the plant sub-steps on its own as it needs.
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


class Simulator:
    """One outdoor unit and the heads of every zone in the config, over the plant model.

    Every unit answers on the endpoint(s) given to `running`, whatever bus the config puts
    it on; unit ids must therefore be unique across the config."""

    def __init__(self, loaded: LoadedConfig, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        config = loaded.config
        self.speed = speed
        self.config = loaded
        rooms: dict[str, RoomModel] = {}
        for zone in config.zones:
            room = config.simulator.rooms.get(zone.id, SimRoomConfig())
            params = RoomParameters.for_floor(
                room.area_m2, unrenovated=room.unrenovated, aperture_m2=room.aperture_m2
            )
            rooms[zone.id] = RoomModel(params, room.initial_temperature)
        self.plant = Plant(rooms, load_weather(), parse_time_of_year(config.simulator.start))
        self._heads = {
            zone.id: IndoorHead(loaded.head_profile(zone), zone.id, zone.unit_id, self.plant)
            for zone in config.zones
        }
        self.odu = OutdoorUnit(loaded.odu_profile, config.outdoor_unit.unit_id, self.plant)
        self.units: dict[int, ModbusUnit] = {self.odu.unit_id: self.odu}
        for head in self._heads.values():
            if head.unit_id in self.units:
                raise ValueError(
                    f"zone {head.zone_id!r}: unit id {head.unit_id} is taken; the simulator "
                    "serves all units on one endpoint, so unit ids must be unique"
                )
            self.units[head.unit_id] = head
        self._clock: _Clock | None = None
        self.tcp_address: tuple[str, int] | None = None

    # ---- time ----

    @property
    def sim_time_s(self) -> float:
        """Simulated seconds since Jan 1 00:00 of the weather year."""
        return self.plant.time_s

    def step(self, seconds: float) -> None:
        """Advance the physics by ``seconds`` of simulated time now."""
        if seconds < 0:
            raise ValueError("time runs forward only")
        self._advance_to(self.plant.time_s + seconds)
        if self._clock is not None:
            self._clock.sim_origin += seconds

    def _advance_to(self, target_s: float) -> None:
        while target_s - self.plant.time_s > _TIME_EPSILON_S:
            self._step_once(min(MAX_STEP_S, target_s - self.plant.time_s))

    def _step_once(self, dt: float) -> None:
        # The firmware decides at the start of the interval, the plant runs through it.
        for head in self._heads.values():
            head.tick()
        drives = {zone: head.drive() for zone, head in self._heads.items()}
        self.odu.tick(dt, drives)
        self.plant.step(dt, self.odu.compressor(), drives)
        for unit in self.units.values():
            unit.now = self.plant.time_s
        self.odu.record(dt)

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
    ) -> AsyncIterator[Simulator]:
        """Run the physics on the loop's clock and serve Modbus until the block ends.

        ``tcp=(host, 0)`` listens on a free port; `tcp_address` then says which."""
        if self._clock is not None:
            raise RuntimeError("the simulator is already running")
        loop = asyncio.get_running_loop()
        self._clock = _Clock(loop, loop.time(), self.plant.time_s, self.speed)
        physics = asyncio.create_task(self._physics(), name="hil physics")
        servers: list[ModbusTcpServer | ModbusSerialServer] = []
        try:
            if tcp is not None:
                tcp_server = await start_tcp_server(self.units, *tcp, self._catch_up)
                servers.append(tcp_server)
                self.tcp_address = tcp_address(tcp_server)
            if serial is not None:
                servers.append(
                    await start_serial_server(
                        self.units,
                        serial,
                        self._catch_up,
                        baudrate=baudrate,
                        parity=parity,
                        stopbits=stopbits,
                    )
                )
            yield self
        finally:
            for server in servers:
                await server.shutdown()
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
        return self.plant.rooms[zone_id].air_c

    def outdoor_temperature(self) -> float:
        self._catch_up()
        return self.plant.outdoor().temperature_c

    def head_register(self, zone_id: str, name: str) -> float | int | None:
        """A head's register, decoded as a Modbus master would (None = invalid sentinel)."""
        self._catch_up()
        return self.head(zone_id).value(name)

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
        rooms = " ".join(f"{zone} {room.air_c:.1f}" for zone, room in self.plant.rooms.items())
        odu = self.plant.outdoor_state
        return (
            f"{format_time_of_year(self.plant.time_s)} out {self.plant.outdoor().temperature_c:.1f}"
            f" | rooms °C {rooms} | {self.odu.frequency_hz:.1f} Hz {odu.input_power_w:.0f} W"
        )


def endpoint_from_config(loaded: LoadedConfig) -> tuple[str, int] | None:
    """The TCP address of the outdoor unit's bus, when that bus is Modbus TCP."""
    config = loaded.config
    bus = config.buses[config.outdoor_unit.bus]
    return (bus.host, bus.port) if isinstance(bus, TcpBus) else None


async def run_simulator(
    loaded: LoadedConfig,
    *,
    tcp: tuple[str, int] | None,
    serial: str | None,
    speed: float,
    baudrate: int = 19200,
    parity: str = "E",
) -> None:
    """Serve the simulated house until cancelled, logging a summary every ~10 s."""
    if tcp is None and serial is None:
        tcp = endpoint_from_config(loaded)
        if tcp is None:
            bus = loaded.config.outdoor_unit.bus
            raise ValueError(
                f"the outdoor unit's bus {bus!r} is a serial line: name the port to serve on "
                "(e.g. one end of a socat pty pair) or a TCP address"
            )
    sim = Simulator(loaded, speed)
    async with sim.running(tcp=tcp, serial=serial, baudrate=baudrate, parity=parity):
        where = " and ".join(
            part
            for part in (
                f"tcp {sim.tcp_address[0]}:{sim.tcp_address[1]}" if sim.tcp_address else "",
                f"serial {serial} {baudrate} 8{parity}1" if serial else "",
            )
            if part
        )
        LOG.info(
            "simulating %d heads and the outdoor unit (ids %s) on %s at %g× speed",
            len(sim.heads),
            ", ".join(str(uid) for uid in sorted(sim.units)),
            where,
            speed,
        )
        while True:
            LOG.info("%s", sim.summary())
            await asyncio.sleep(SUMMARY_PERIOD_S)
