"""What the commissioning commands share to reach one configured or given unit: its line opened
under a short timeout, its driver, the lock of a controller running with its config, and a
unit's exception replies in words (docs/commissioning.md)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from minisplit.controller.config import LoadedConfig
from minisplit.controller.service.persistence import AlreadyRunning, hold_state_lock
from minisplit.drivers.bus import BusScheduler, ModbusExceptionReply
from minisplit.drivers.bus_config import SerialBus, TcpBus
from minisplit.drivers.driver import DeviceDriver
from minisplit.drivers.head import HeadDriver
from minisplit.drivers.odu import OutdoorUnitDriver
from minisplit.drivers.profile import DeviceKind, DeviceProfile
from minisplit.drivers.transport import describe

#: How long a command waits for the line to open (a TCP connect, a serial port) before it says
#: the line cannot be reached: the scheduler itself keeps trying with backoff, as a service must.
CONNECT_TIMEOUT_S = 3.0

Driver = DeviceDriver[Any, Any, Any]


class UnitAccessError(Exception):
    """A unit that cannot be named or reached as asked; the message says what to fix."""


@dataclass(frozen=True)
class UnitTarget:
    """One unit to talk to: where it is, its unit id and the profile it is read by."""

    what: str  # "zone living", "outdoor unit", or the profile's name for one given directly
    bus_name: str
    bus: SerialBus | TcpBus
    unit_id: int
    profile: DeviceProfile
    # The state file of the config it comes from: a controller running with it holds the lock.
    state_file: Path | None = None
    zone_id: str | None = None  # the zone whose head it is, for a config's head

    def __str__(self) -> str:
        index = self.profile.unit_index
        behind = "" if index is None else f" index {index}"
        return f"{self.what} (unit {self.unit_id}{behind} on bus {self.bus_name})"


@contextlib.contextmanager
def controller_stopped(state_file: Path | None) -> Iterator[None]:
    """Hold the controller's lock (the one `minisplit run` takes) while a command talks to a
    config's units; UnitAccessError while a controller runs with the config: it owns the lines (a
    serial line takes one master: requests of both would collide). Where none has run yet (no
    lock file), nothing is made."""
    lock = None
    if state_file is not None and state_file.with_name(state_file.name + ".lock").exists():
        try:
            lock = hold_state_lock(state_file)
        except AlreadyRunning as err:
            raise UnitAccessError(f"not contacting the units: {err}") from None
    try:
        yield
    finally:
        if lock is not None:
            os.close(lock)


def driver_for(bus: BusScheduler, target: UnitTarget) -> Driver:
    """The project's driver of the target's kind: the one decoding path for its registers."""
    if target.profile.kind is DeviceKind.OUTDOOR_UNIT:
        return OutdoorUnitDriver(bus, target.unit_id, target.profile)
    return HeadDriver(bus, target.unit_id, target.profile)


@contextlib.asynccontextmanager
async def opened_bus(
    name: str, bus: SerialBus | TcpBus, *, timeout_s: float | None = None
) -> AsyncIterator[BusScheduler]:
    """A running scheduler of one line, connected within CONNECT_TIMEOUT_S (else UnitAccessError);
    ``timeout_s`` replaces the line's response timeout."""
    if timeout_s is not None:
        bus = bus.model_copy(update={"timeout_s": timeout_s})
    scheduler = BusScheduler(name, bus)
    task = asyncio.create_task(scheduler.run(), name=f"bus {name}")
    try:
        try:
            await asyncio.wait_for(scheduler.wait_connected(), CONNECT_TIMEOUT_S)
        except TimeoutError:
            raise UnitAccessError(
                f"bus {name}: cannot open {describe(bus)} (no connection within "
                f"{CONNECT_TIMEOUT_S:g} s): is the address, the port or the adapter right?"
            ) from None
        yield scheduler
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


#: What the exception codes a unit refuses a read with say (Modbus Application Protocol 1.1b3,
#: section 7).
EXCEPTION_NAMES = {
    0x01: "illegal function",
    0x02: "illegal data address",
    0x03: "illegal data value",
    0x04: "device failure",
    0x05: "acknowledge",
    0x06: "busy",
}


def refusal(reply: ModbusExceptionReply) -> str:
    """The unit's exception reply, short: its code and what the code says."""
    name = EXCEPTION_NAMES.get(reply.code)
    return f"exception 0x{reply.code:02X}" + (f" ({name})" if name else "")


def zone_target(loaded: LoadedConfig, zone_id: str) -> UnitTarget:
    zone = loaded.config.zone(zone_id)
    bus = loaded.config.buses[zone.bus]
    profile = loaded.head_profile(zone)
    state_file = loaded.config.state_file
    return UnitTarget(
        f"zone {zone.id}", zone.bus, bus, zone.unit_id, profile, state_file, zone_id=zone.id
    )


def odu_target(loaded: LoadedConfig, system_name: str) -> UnitTarget | None:
    system = loaded.systems[system_name]
    odu, profile = system.outdoor_unit, system.odu_profile
    if odu is None or profile is None:
        return None
    what = "outdoor unit" if system.topic_level is None else f"outdoor unit of {system.name}"
    bus = loaded.config.buses[odu.bus]
    return UnitTarget(what, odu.bus, bus, odu.unit_id, profile, loaded.config.state_file)
