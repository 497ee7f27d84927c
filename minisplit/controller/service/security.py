"""Which files of a config minisplit refuses to use, which it only warns about, and reading the
MQTT password.

- A secret (the MQTT password file, the TLS client key) must be private, as OpenSSH requires of
  private keys: no permission at all for group or others (none of the mode bits 0o077).
- The config file holds no secret: the schema has no key for a password or a key, and an
  unknown key (`password = …`) is a config error whose value is never printed. Others may read
  it, with a warning (it shows the broker, the user name and where the secrets are); nobody but
  its owner may change it (group/other write bits 0o022): it decides which broker the
  controller trusts, which files it reads and where it writes its state.
- Each of these files belongs to the user running minisplit or to root, since its owner can
  change it at any time. This holds for root too: root running on a file another user owns
  would read and write wherever that user points it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from minisplit.controller.config import LoadedConfig
from minisplit.drivers.textfile import UnreadableFile, read_text

#: A secret grants group and others no permission at all.
SECRET_FORBIDDEN_BITS = 0o077
#: Nobody but its owner may change the config.
WRITE_BITS = 0o022


class InsecureFileError(PermissionError):
    """A file that minisplit refuses to use: others can read a secret in it, or change it."""


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except (OSError, ValueError):  # missing, a name too long, under a plain file, a NUL...
        return None  # the code that reads it reports that


def _check_owner(path: Path, what: str, info: os.stat_result, euid: int | None) -> None:
    user = os.geteuid() if euid is None else euid
    if info.st_uid not in (user, 0):
        raise InsecureFileError(
            f"{what} {path} is owned by uid {info.st_uid}, who can change it at any time; "
            f"it must belong to the user running minisplit (uid {user}) or to root: "
            f"chown {user} {path}"
        )


def check_private_file(
    path: Path, what: str, *, euid: int | None = None, owner: bool = True
) -> None:
    """Raise InsecureFileError when the secret ``path`` grants group/other permissions, or (with
    ``owner``) is owned by a user other than ``euid`` (default: this process's) and root. A
    missing file passes: the code that reads it reports that."""
    info = _stat(path)
    if info is None or not stat.S_ISREG(info.st_mode):
        # Its reader refuses a device or a FIFO: its permission bits are no business of ours
        # ("chmod 600 /dev/zero" was the advice for `password_file = "/dev/zero"`).
        return
    mode = stat.S_IMODE(info.st_mode)
    if mode & SECRET_FORBIDDEN_BITS:
        raise InsecureFileError(
            f"{what} {path} is accessible by other users (mode {mode:04o}; group/other "
            f"permission bits {mode & SECRET_FORBIDDEN_BITS:03o} must be 0): make it private to "
            f"the service user with: chmod 600 {path}"
        )
    if owner:
        _check_owner(path, what, info, euid)


def check_config_file(path: Path, *, euid: int | None = None, owner: bool = True) -> str | None:
    """Raise InsecureFileError when others can change the config ``path`` (or, with ``owner``,
    it belongs to another user than ``euid`` and root); return a warning when others can read
    it, else None."""
    info = _stat(path)
    if info is None:
        return None
    mode = stat.S_IMODE(info.st_mode)
    if mode & WRITE_BITS:
        raise InsecureFileError(
            f"config file {path} can be changed by other users (mode {mode:04o}; group/other "
            f"write bits {mode & WRITE_BITS:03o} must be 0): chmod go-w {path}"
        )
    if owner:
        _check_owner(path, "config file", info, euid)
    if mode & SECRET_FORBIDDEN_BITS:
        return (
            f"config file {path} can be read by other users (mode {mode:04o}): it holds no "
            f"secret, but shows the broker, the user name and where the secrets are; to keep "
            f"it private: chmod 600 {path}"
        )
    return None


def read_secret(path: Path, what: str) -> str:
    """The secret in ``path`` (surrounding whitespace removed), after check_private_file; an
    unusable file raises UnreadableFile (an OSError, like a missing one)."""
    check_private_file(path, what)
    return read_text(path).strip()


def secret_files(loaded: LoadedConfig) -> list[tuple[Path, str]]:
    """The secrets a config names: its MQTT password file and TLS client key."""
    files = []
    mqtt = loaded.config.mqtt
    if mqtt is not None:
        if mqtt.password_file is not None:
            files.append((mqtt.password_file, "MQTT password file"))
        if mqtt.tls is not None and mqtt.tls.key_file is not None:
            files.append((mqtt.tls.key_file, "TLS client key"))
    return files


@dataclass
class FileFindings:
    """What `minisplit run` would refuse to start on, and what it warns about."""

    refusals: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def inspect_files(
    loaded: LoadedConfig,
    *,
    euid: int | None = None,
    owner: bool = True,
    locate: Callable[[Path], Path] = Path,
) -> FileFindings:
    """The config file and its secrets against the rules above, for the user ``euid`` (default:
    this process's; ``owner=False``: modes only, for a tree whose owners are not set yet).
    ``locate`` maps a secret's path as the config names it to where it is now (`install
    --root`); the config is at ``loaded.path``. A password
    file that exists must also be readable as text: a FIFO or binary file there is refused now
    rather than hanging or failing the broker connection later."""
    findings = FileFindings()
    try:
        warning = check_config_file(loaded.path, euid=euid, owner=owner)
    except InsecureFileError as err:
        findings.refusals.append(str(err))
    else:
        if warning is not None:
            findings.warnings.append(warning)
    for path, what in secret_files(loaded):
        here = locate(path)
        try:
            check_private_file(here, what, euid=euid, owner=owner)
        except InsecureFileError as err:
            findings.refusals.append(str(err))
            continue
        if what == "MQTT password file" and _stat(here) is not None:
            try:
                read_text(here)
            except UnreadableFile as err:
                findings.refusals.append(f"{what} {err}")
    return findings
