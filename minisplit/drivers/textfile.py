"""Reading the files a user names (configs, profiles, secrets): regular files only, of bounded
size, strict UTF-8, and TOML whose every failure is one line, never a hang or a traceback."""

from __future__ import annotations

import os
import re
import stat
import sys
import tomllib
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

#: Far above any real config, profile or password, far below what would hurt a small board.
MAX_BYTES = 1 << 20


def shipped_files(
    package: str, folder: str = "", suffix: str = ".toml", *, excluding: str | None = None
) -> list[Path]:
    """The files of a data folder that travels inside ``package`` whose names end in ``suffix``
    (but not in ``excluding``), sorted: the shipped configs, profiles, scenarios and fault files."""
    folder_path = resources.files(package)
    if folder:
        folder_path = folder_path.joinpath(folder)
    return sorted(
        Path(str(entry))
        for entry in folder_path.iterdir()
        if entry.name.endswith(suffix) and not (excluding and entry.name.endswith(excluding))
    )


def named_file(text: str | Path, shipped: Iterable[Path]) -> Path:
    """The file ``text`` names: a file that exists, or any path with a folder, as given; else the
    shipped file of that name (with or without ``.toml``), which works from any directory and
    from an installed package; else the name as given, for its reader to report (with
    `shipped_names`)."""
    path = Path(text)
    if path.exists() or path.parent != Path("."):
        return path
    by_name = {entry.stem: entry for entry in shipped}
    return by_name.get(path.name.removesuffix(".toml"), path)


def shipped_names(path: Path, shipped: Iterable[Path], what: str) -> list[str]:
    """For a file that cannot be read: if it was a bare name (maybe mistyped), one line listing
    the shipped ``what`` it could have named."""
    if path.parent != Path("."):
        return []
    return [f"nor is it a shipped {what}: {', '.join(sorted(entry.stem for entry in shipped))}"]


class UnreadableFile(OSError):
    """A file that cannot be used as text. An OSError, so that code retrying a file that may
    appear later (the MQTT password) treats it like a missing one. ``reason`` leaves out the
    path, for messages that name the file already."""

    def __init__(self, path: Path, reason: str, errno: int | None = None) -> None:
        super().__init__(errno, reason, str(path))
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _refuse_special(path: Path, mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise UnreadableFile(path, f"cannot read: it is {_kind(mode)}, not a regular file")


def read_text(path: Path, max_bytes: int = MAX_BYTES) -> str:
    """The UTF-8 text of the regular file ``path``. FIFOs, devices and directories are refused
    without being read (a FIFO or /dev/zero would block or never end); so is a file above
    ``max_bytes``."""
    try:
        _refuse_special(path, os.stat(path).st_mode)
        # O_NONBLOCK: should the path turn into a FIFO after the stat, opening it cannot block.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except ValueError:  # a NUL in the path
        raise UnreadableFile(path, "cannot read: the path contains a NUL character") from None
    except OSError as err:
        if isinstance(err, UnreadableFile):
            raise
        raise UnreadableFile(path, f"cannot read: {err.strerror}", err.errno) from None
    with os.fdopen(fd, "rb") as file:
        _refuse_special(path, os.fstat(fd).st_mode)
        data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UnreadableFile(path, f"cannot read: larger than {max_bytes} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise UnreadableFile(
            path, f"not UTF-8 text: byte 0x{data[err.start]:02x} on line {line}"
        ) from None


class TomlError(ValueError):
    """TOML that cannot be parsed; the message is one line, without the file's name."""


def parse_toml(text: str) -> dict[str, Any]:
    """``tomllib.loads``, with the failures it lets through (nesting deeper than Python's
    recursion limit, integers longer than its int-digits limit) as TomlError too."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise TomlError(f"not valid TOML: {err}") from None
    except RecursionError:
        raise TomlError("not valid TOML: arrays or tables nested too deeply") from None
    except ValueError as err:  # int(): more digits than sys.get_int_max_str_digits()
        limit = sys.get_int_max_str_digits()
        long = re.search(rf"(?:\d_?){{{limit + 1}}}", text)
        if long is None:
            raise TomlError(f"not valid TOML: {err}") from None
        line = text[: long.start()].count("\n") + 1
        raise TomlError(
            f"not valid TOML: an integer longer than {limit} digits (line {line})"
        ) from None
