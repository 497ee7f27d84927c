"""systemd's notify protocol (sd_notify): READY=1, WATCHDOG=1 and STATUS= datagrams to
``$NOTIFY_SOCKET``. Without that variable (not started by systemd) every call is a no-op."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Mapping


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
