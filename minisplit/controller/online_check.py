"""`minisplit check-config --online`: after the offline checks, each configured unit is asked
whether it answers, is the device its profile describes (the driver's own probe) and has the
registers the driver reads and its system's strategy writes (docs/commissioning.md)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from minisplit.controller import unit_access
from minisplit.controller.config import LoadedConfig, Strategy
from minisplit.drivers.bus import BusError, BusScheduler
from minisplit.drivers.capabilities import ROLES
from minisplit.drivers.driver import DeviceError
from minisplit.drivers.profile import DeviceKind

#: The response timeout of the check, at most: a unit that is there answers in milliseconds,
#: and a missing one must not hold the check for the line's full timeout and retries.
ONLINE_TIMEOUT_S = 0.5

#: The levers each strategy cannot do without, by kind of unit (docs/architecture.md,
#: 'Strategies'); the check reads them with everything else the driver reads.
STRATEGY_LEVERS: dict[Strategy, dict[DeviceKind, tuple[str, ...]]] = {
    Strategy.DIRECT: {
        DeviceKind.INDOOR_HEAD: ("capacity_request",),
        DeviceKind.OUTDOOR_UNIT: ("frequency_setpoint",),
    },
    Strategy.SETPOINT: {DeviceKind.INDOOR_HEAD: ("display_setpoint",)},
}


def units_of(loaded: LoadedConfig) -> list[tuple[unit_access.UnitTarget, Strategy]]:
    """Every configured unit, each with its system's strategy: outdoor unit first."""
    units = []
    for name, system in loaded.systems.items():
        odu = unit_access.odu_target(loaded, name)
        if odu is not None:
            units.append((odu, system.strategy))
        units += [
            (unit_access.zone_target(loaded, zone.id), system.strategy) for zone in system.zones
        ]
    return units


async def check_online(
    loaded: LoadedConfig,
    show: Callable[[str], None],
    timeout_s: float = ONLINE_TIMEOUT_S,
    infos: dict[str, object] | None = None,
) -> list[str]:
    """Contact every configured unit (``show`` gets a line per unit that passes); the problems
    found, each naming the unit, its bus and the register. ``infos`` gets what each unit that
    identified said of itself (its probe's info), by the unit's name (`str` of its target)."""
    problems: list[str] = []
    units = units_of(loaded)
    async with contextlib.AsyncExitStack() as stack:
        buses: dict[str, BusScheduler | unit_access.UnitAccessError] = {}
        for target, _ in units:
            if target.bus_name in buses:
                continue
            timeout = min(timeout_s, target.bus.timeout_s)
            try:
                buses[target.bus_name] = await stack.enter_async_context(
                    unit_access.opened_bus(target.bus_name, target.bus, timeout_s=timeout)
                )
            except unit_access.UnitAccessError as err:
                buses[target.bus_name] = err
        for target, strategy in units:
            bus = buses[target.bus_name]
            if isinstance(bus, unit_access.UnitAccessError):
                problems.append(f"{target}: {bus}")
                continue
            problem = await _check_unit(bus, target, strategy, infos)
            if problem is None:
                show(f"  online: {target}: answers as {target.profile.name}")
            else:
                problems.append(problem)
    return problems


def _and_index(target: unit_access.UnitTarget) -> str:
    return "" if target.profile.unit_index is None else " and index"


async def _check_unit(
    bus: BusScheduler,
    target: unit_access.UnitTarget,
    strategy: Strategy,
    infos: dict[str, object] | None,
) -> str | None:
    driver = unit_access.driver_for(bus, target)
    try:
        info = await driver.probe()
        if infos is not None:
            infos[str(target)] = info
        needed = [name for name in target.profile.registers if name in ROLES[target.profile.kind]]
        _, refused = await driver.read_each(needed)
    except DeviceError as err:  # its message begins with the driver's name of the unit
        return f"{target}: {str(err).removeprefix(f'{driver}: ')}"
    except BusError as err:
        return f"{target}: no answer: {err}"
    if not refused:
        return None
    replies = {unit_access.refusal(reply) for reply in refused.values()}
    if len(refused) == len(needed) and len(replies) == 1:
        return (
            f"{target}: refuses every register the product reads ({len(needed)}): "
            f"{replies.pop()}: is a unit at this id{_and_index(target)}?"
        )
    levers = STRATEGY_LEVERS[strategy].get(target.profile.kind, ())
    base = target.profile.address_base
    named = []
    for name, reply in refused.items():
        spec = target.profile[name]
        why = f", which the {strategy} strategy writes" if name in levers else ""
        named.append(
            f"{name} ({spec.table} {spec.address + base}{why}): {unit_access.refusal(reply)}"
        )
    return f"{target}: refuses " + "; ".join(named)


def run_online_check(loaded: LoadedConfig, show: Callable[[str], None]) -> list[str]:
    """The online check, refused while a controller runs with this config
    (`controller_stopped`)."""
    try:
        with unit_access.controller_stopped(loaded.config.state_file):
            return asyncio.run(check_online(loaded, show))
    except unit_access.UnitAccessError as err:
        return [str(err)]
