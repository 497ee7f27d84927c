"""systemd's notify protocol (sd_notify): READY=1, WATCHDOG=1 and STATUS= datagrams to
``$NOTIFY_SOCKET``, and when the controller sends which. Without that variable (not started by
systemd) every call is a no-op."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Mapping
from typing import Protocol

log = logging.getLogger(__name__)
STATUS_REFRESH_S = 10.0  # wall seconds between STATUS= updates when systemd has no watchdog


class SystemdNotifier:
    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        path = environ.get("NOTIFY_SOCKET", "")
        # "@name" is a socket in the abstract namespace, which the kernel spells "\0name".
        self.address = "\0" + path[1:] if path.startswith("@") else path
        usec = environ.get("WATCHDOG_USEC", "")
        pid = environ.get("WATCHDOG_PID", "")
        # The watchdog is ours unless systemd names another process (WATCHDOG_PID).
        ours = usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid()))
        self.watchdog_s: float | None = int(usec) / 1e6 if ours else None

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def notify(self, *fields: str) -> None:
        """Send one datagram of ``KEY=value`` lines; a lost message is systemd's to notice."""
        if not self.enabled:
            return
        message = "\n".join(field.replace("\n", " ") for field in fields).encode()
        with (
            socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock,
            contextlib.suppress(OSError),
        ):
            sock.sendto(message, self.address)


class Watched(Protocol):
    """What the notifier needs to know of the controller."""

    @property
    def cycle_done(self) -> asyncio.Event: ...
    @property
    def tick_deadline(self) -> float:
        """Wall (loop) time by which the control loop must have moved on."""

    @property
    def cycle_budget_s(self) -> float: ...
    @property
    def start_timeout_s(self) -> float: ...
    def reached_units(self) -> bool: ...
    def not_started_reason(self) -> str: ...
    def status_line(self) -> str: ...


async def report_to_systemd(notifier: SystemdNotifier, watched: Watched) -> None:
    """READY=1 after the first cycle that reached the units (or the start timeout, saying
    why), then WATCHDOG=1 at half the watchdog period only while the control tick keeps its
    deadline: a hung loop stops the pings and systemd restarts the process."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(watched.start_timeout_s):
            while not watched.reached_units():
                await watched.cycle_done.wait()
        status = watched.status_line()
    except TimeoutError:
        reason = watched.not_started_reason()
        status = f"no bus cycle completed within {watched.start_timeout_s:g} s: {reason}"
        log.warning("reporting ready anyway: %s", status)
    notifier.notify("READY=1", f"STATUS={status}")
    watchdog_s = notifier.watchdog_s
    interval = watchdog_s / 2 if watchdog_s else STATUS_REFRESH_S
    stalled = False
    while True:
        await asyncio.sleep(interval)
        if loop.time() <= watched.tick_deadline:
            stalled = False
            pings = ("WATCHDOG=1",) if watchdog_s else ()
            notifier.notify(f"STATUS={watched.status_line()}", *pings)
        elif not stalled:
            stalled = True
            log.error("control loop stalled: no cycle within %g s", watched.cycle_budget_s)
            notifier.notify("STATUS=control loop stalled")
