"""Which files must be private to the service user, and the check that refuses to start otherwise.

The rule, the same as OpenSSH's for private keys: a private file grants no permission at all to
its group or to other users (none of the mode bits 0o077: group/other read, write or execute),
and it is owned by the user that runs minisplit (or by root). That covers the config file (it
names the broker, the credentials' location and the state file; a file others can change could
redirect the controller), the MQTT password file and the TLS client key. The fix is always the
same: ``chmod 600 FILE`` (and ``chown`` it to the service user).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from controller.config import LoadedConfig

#: Group and other permission bits: a private file has none of them.
FORBIDDEN_BITS = 0o077


class InsecureFileError(PermissionError):
    """A private file that other users can read or change."""


def check_private_file(path: Path, what: str, *, euid: int | None = None) -> None:
    """Raise InsecureFileError when ``path`` grants group/other permissions, or is owned by a
    user other than ``euid`` (default: this process's) and root. A missing file passes: the
    code that reads it reports that."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    mode = stat.S_IMODE(info.st_mode)
    if mode & FORBIDDEN_BITS:
        raise InsecureFileError(
            f"{what} {path} is accessible by other users (mode {mode:04o}; group/other "
            f"permission bits {mode & FORBIDDEN_BITS:03o} must be 0): make it private to "
            f"the service user with: chmod 600 {path}"
        )
    user = os.geteuid() if euid is None else euid
    if user != 0 and info.st_uid not in (user, 0):
        raise InsecureFileError(
            f"{what} {path} is owned by uid {info.st_uid}, who can change it at any time; "
            f"it must belong to the user running minisplit (uid {user}) or to root: "
            f"chown {user} {path} && chmod 600 {path}"
        )


def private_files(loaded: LoadedConfig) -> list[tuple[Path, str]]:
    """Every file of a config that must be private: the config itself and its secrets."""
    files = [(loaded.path, "config file")]
    mqtt = loaded.config.mqtt
    if mqtt is not None:
        if mqtt.password_file is not None:
            files.append((mqtt.password_file, "MQTT password file"))
        if mqtt.tls is not None and mqtt.tls.key_file is not None:
            files.append((mqtt.tls.key_file, "TLS client key"))
    return files


def insecure_files(loaded: LoadedConfig) -> list[str]:
    """One message per private file that is not private (empty when all are fine)."""
    problems = []
    for path, what in private_files(loaded):
        try:
            check_private_file(path, what)
        except InsecureFileError as err:
            problems.append(str(err))
    return problems
