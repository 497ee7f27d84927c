"""What kind of serial port a device path is: a real line, or a pty that only carries bytes.

Both ends of the project open serial ports (the controller as master, the simulator as the
units), and both must treat a pty the same way."""

from __future__ import annotations

import os
import stat

# Linux's pseudo-terminal slaves (/dev/pts/N) have these character-device majors (the kernel's
# admin-guide/devices.txt: "Unix98 PTY slaves").
_PTY_SLAVE_MAJORS = range(136, 144)


def is_pseudo_terminal(port: str) -> bool:
    """Whether ``port`` is a pty (e.g. one end of a socat pair) rather than a serial port.

    A pty carries bytes, not a line: baud rate, parity and stop bits change nothing on it. Its
    driver even clears the parity bit on every settings change, and the C library of Debian (and
    Fedora: a distribution patch) then fails the change (tcsetattr: EINVAL) whenever nothing
    else in it took effect, as every time pyserial re-applies its settings after opening: an
    "8E1" pty cannot be opened."""
    try:
        status = os.stat(port)
    except (OSError, ValueError):
        return False  # not a local device node (or none): opening it will say why
    return stat.S_ISCHR(status.st_mode) and os.major(status.st_rdev) in _PTY_SLAVE_MAJORS


def parity_to_open(port: str, parity: str) -> str:
    """The parity to open ``port`` with: the one asked for on a real serial port (which must
    honour it or refuse), none on a pty (which has no means to carry it)."""
    return "N" if is_pseudo_terminal(port) else parity
