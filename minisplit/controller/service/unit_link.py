"""The controller's link to one unit, the outdoor unit and every head alike: probe and identity
check, polls with a few failures tolerated, availability, heartbeat, the unit's autonomous
fallback, and writes.

A unit that does not answer one poll keeps its last status (a noisy line must not flap a
zone's availability, nor stop the compressor, for one lost frame): only after more failed polls
in a row than its bus tolerates (`[buses.<name>] failed_polls_tolerated`, like Home Assistant's
`lazy_error_count`) is it unavailable. Its report (`report`) is what the observation step
(`controller.core.observation`) takes."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from minisplit.controller.config import HeatPumpSystem, LoadedConfig
from minisplit.controller.core.observation import HeadReport, OduReport
from minisplit.controller.service.probing import RefusedUnits
from minisplit.controller.service.state_report import ODU_UNIT
from minisplit.drivers.bus import Backoff, BusError, BusScheduler
from minisplit.drivers.driver import DeviceDriver, DeviceError
from minisplit.drivers.head import HeadDriver
from minisplit.drivers.odu import OutdoorUnitDriver
from minisplit.drivers.records import (
    HeadCommand,
    HeadInfo,
    HeadStatus,
    OduCommand,
    OduInfo,
    OduStatus,
)

log = logging.getLogger(__name__)
# Controller seconds until a refused unit (wrong kind of device, implausible identity) is probed
# again: the period at first, doubling up to this; such a unit answers, so the bus never backs
# off from it by itself.
REFUSED_REPROBE_MAX_S = 600.0
InfoT = TypeVar("InfoT")
StatusT = TypeVar("StatusT", OduStatus, HeadStatus)
CommandT = TypeVar("CommandT")


def _named(unit: str) -> str:
    """How logs name a unit: the outdoor unit, or a zone's head."""
    return unit if unit == ODU_UNIT else f"zone {unit} head"


class UnitLink(Generic[InfoT, StatusT, CommandT]):
    """One unit as the controller knows it: ``name`` is `ODU_UNIT` or the zone's id."""

    def __init__(
        self,
        name: str,
        driver: DeviceDriver[InfoT, StatusT, CommandT],
        refused: RefusedUnits,
        *,
        failed_polls_tolerated: int,
        heartbeat_timeout_s: int,
        on_availability: Callable[[bool], None] | None = None,
    ) -> None:
        self.name = name
        self.driver: DeviceDriver[InfoT, StatusT, CommandT] = driver
        self.info: InfoT | None = None
        self.status: StatusT | None = None  # the last poll that answered
        self.available = False
        self.failed_polls = 0  # in a row
        self.autonomous = False  # it reports its heartbeat lapsed: it runs on its own logic
        self._refused = refused
        self._tolerated = failed_polls_tolerated
        self._heartbeat_timeout_s = heartbeat_timeout_s
        self._on_availability = on_availability
        self._following = False  # available, and its heartbeat holds
        self._answered = False  # it has answered a poll since the start

    @property
    def refusal(self) -> str | None:
        """The fault the unit was refused for at its last probe, if it was."""
        return self._refused.fault(self.name)

    async def probe(self, now: float) -> bool:
        """Find the unit if it is not known yet: True when it was found now. A unit that does
        not answer stays unknown; one that answers as no unit the controller can run is
        refused (a fault, logged once, probed again later); either way the others go on."""
        if self.info is not None or not self._refused.due(self.name, now):
            return False
        try:
            info = await self.driver.probe()
            await self.driver.set_heartbeat_timeout(self._heartbeat_timeout_s)
        except BusError:
            return False
        except DeviceError as err:
            delay, news = self._refused.refuse(self.name, err.fault, now)
            log.log(
                logging.ERROR if news else logging.DEBUG,
                "%s refused: %s (probed again in %g s, then less often)",
                _named(self.name),
                err,
                delay,
            )
            return False
        if (fault := self._refused.accept(self.name)) is not None:
            log.warning("%s accepted: it was refused for %s", _named(self.name), fault)
        log.info("%s found: %s", _named(self.name), info)
        self.info = info
        return True

    async def read(self) -> StatusT:
        """One poll of the unit (BusError when it is not found yet); see `poll_all`."""
        if self.info is None:
            raise BusError("not probed")
        return await self.driver.poll()

    def polled(self, result: StatusT | BaseException) -> None:
        """Take a poll's status, or the error it failed with."""
        if not isinstance(result, BaseException):
            self.status = result
            self.failed_polls = 0
            self._set_available(True)
            return
        self.failed_polls += 1
        if self.failed_polls > self._tolerated or self.info is None:
            self._set_available(False)

    def _set_available(self, available: bool) -> None:
        """A WARNING when the unit stops answering and when it answers again. Its first answer
        is no return from anything: its probe has just logged it as found."""
        if available != self.available:
            if available and not self._answered:
                self._answered = True
            else:
                again = "answers again" if available else "does not answer"
                log.warning("%s %s", _named(self.name), again)
        self.available = available
        if self._on_availability is not None:
            self._on_availability(available)

    def notice_autonomous(self) -> bool:
        """Whether the unit reports its heartbeat lapsed (it runs on its own logic); said once
        when that begins and when it ends."""
        status = self.status
        lapsed = self.available and status is not None and status.heartbeat_lost is True
        if lapsed and not self.autonomous:
            # Expected until the first heartbeat after start-up or after the unit was away; a
            # warning only when a unit that followed the controller lets go.
            log.log(
                logging.WARNING if self._following else logging.INFO,
                "%s reports its heartbeat lapsed: it runs on its own logic",
                _named(self.name),
            )
        elif self.autonomous and not lapsed:
            log.info("%s follows the controller", _named(self.name))
        self.autonomous = lapsed
        self._following = self.available and not lapsed
        return lapsed

    async def heartbeat(self) -> None:
        if self.info is not None and self.failed_polls == 0:
            await self.driver.heartbeat()

    async def write(self, command: CommandT) -> None:
        """Write what changed of ``command``; a failure is logged (the next tick writes again).

        A unit that missed its last poll gets no writes (nor heartbeats) until it answers
        again: each would cost the line a timeout, and it would count against the unit on the
        bus, which could then give it up before the polls the link tolerates have failed. What
        was not written goes out with the first tick after it answers."""
        if self.failed_polls:
            return
        try:
            await self.driver.apply(command)
        except (BusError, ValueError) as err:
            log.log(self._write_failure_level, "%s write failed: %s", _named(self.name), err)

    # A lost write to the outdoor unit is worth a warning; the heads' writes are many and the
    # next tick's repeats them.
    _write_failure_level = logging.DEBUG


class OduLink(UnitLink[OduInfo, OduStatus, OduCommand]):
    _write_failure_level = logging.WARNING

    def report(self) -> OduReport:
        return OduReport(self.info, self.status, self.available, self.refusal, self.autonomous)


class HeadLink(UnitLink[HeadInfo, HeadStatus, HeadCommand]):
    def __init__(
        self,
        name: str,
        driver: HeadDriver,
        refused: RefusedUnits,
        *,
        failed_polls_tolerated: int,
        heartbeat_timeout_s: int,
        on_availability: Callable[[bool], None] | None = None,
    ) -> None:
        super().__init__(
            name,
            driver,
            refused,
            failed_polls_tolerated=failed_polls_tolerated,
            heartbeat_timeout_s=heartbeat_timeout_s,
            on_availability=on_availability,
        )
        self._head = driver  # as a HeadDriver: for the remote's acknowledgement

    def report(self) -> HeadReport:
        return HeadReport(self.info, self.status, self.available, self.refusal, self.autonomous)

    async def write_external_temperature(self, celsius: float) -> None:
        """The room temperature the head regulates on, written again even if unchanged (the
        head ignores one it was not sent for a while); a failure is logged, as `write`'s."""
        try:
            await self._head.write_external_temperature(celsius, refresh=True)
        except (BusError, ValueError) as err:
            log.debug("zone %s: writing the external temperature failed: %s", self.name, err)

    async def ack_remote(self) -> None:
        """Tell the head its handheld-remote change was adopted."""
        try:
            await self._head.ack_remote()
        except BusError as err:  # still latched: adopted again (idempotent) after the next poll
            log.debug("zone %s: acknowledging the remote failed: %s", self.name, err)


async def poll_all(links: Sequence[UnitLink[Any, Any, Any]]) -> None:
    """One poll of every unit at once (each bus serves its units in turn)."""
    results = await asyncio.gather(*(link.read() for link in links), return_exceptions=True)
    for link, result in zip(links, results, strict=True):
        link.polled(result)


class Heartbeats:
    """The heartbeat every unit's watchdog waits for: sent at a third of its timeout, and at
    once when a unit reports it lapsed."""

    def __init__(self, timeout_s: int) -> None:
        self._timeout_s = timeout_s
        self._last: float | None = None

    def lapsed(self) -> None:
        self._last = None

    async def beat_if_due(self, links: Iterable[UnitLink[Any, Any, Any]], now: float) -> None:
        timeout = self._timeout_s
        if timeout == 0 or (self._last is not None and now - self._last < timeout / 3):
            return
        self._last = now
        await asyncio.gather(*(link.heartbeat() for link in links), return_exceptions=True)


def unit_links(
    loaded: LoadedConfig,
    system: HeatPumpSystem,
    buses: Mapping[str, BusScheduler],
    on_availability: Callable[[str, bool], None] | None = None,
) -> tuple[OduLink | None, dict[str, HeadLink]]:
    """The links to ``system``'s outdoor unit (None where it has none) and heads (by zone id),
    on their ``buses``; ``on_availability`` hears each head's availability after each poll."""
    config = loaded.config
    refused = RefusedUnits(Backoff(config.control.period_s, REFUSED_REPROBE_MAX_S))
    heartbeat_s = system.heartbeat_timeout_s
    odu, odu_profile = system.outdoor_unit, system.odu_profile
    odu_link = (
        None
        if odu is None or odu_profile is None
        else OduLink(
            ODU_UNIT if system.topic_level is None else f"{ODU_UNIT} of system {system.name}",
            OutdoorUnitDriver(buses[odu.bus], odu.unit_id, odu_profile),
            refused,
            failed_polls_tolerated=config.buses[odu.bus].failed_polls_tolerated,
            heartbeat_timeout_s=heartbeat_s,
        )
    )
    heads = {
        zone.id: HeadLink(
            zone.id,
            HeadDriver(buses[zone.bus], zone.unit_id, loaded.head_profile(zone)),
            refused,
            failed_polls_tolerated=config.buses[zone.bus].failed_polls_tolerated,
            heartbeat_timeout_s=heartbeat_s,
            on_availability=None
            if on_availability is None
            else functools.partial(on_availability, zone.id),
        )
        for zone in system.zones
    }
    return odu_link, heads
