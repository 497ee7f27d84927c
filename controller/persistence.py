"""User settings on disk: atomic writes (temp file, fsync, rename, fsync dir) and safe restore.

A corrupt or truncated state file is reported and the last good copy is used; never a crash."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from controller.settings import UnitSettings, ZoneSettings

log = logging.getLogger(__name__)
FORMAT_VERSION = 1


@dataclass(frozen=True)
class SavedState:
    zones: dict[str, ZoneSettings] = field(default_factory=dict)
    unit: UnitSettings = field(default_factory=UnitSettings)


def encode_state(state: SavedState) -> bytes:
    doc = {
        "version": FORMAT_VERSION,
        "zones": {zone_id: s.to_dict() for zone_id, s in sorted(state.zones.items())},
        "unit": state.unit.to_dict(),
    }
    return json.dumps(doc, indent=1, sort_keys=True).encode()


def decode_state(data: bytes) -> SavedState:
    """Parse a state file's bytes; raises ValueError on anything malformed."""
    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"not valid JSON: {err}") from None
    if not isinstance(doc, dict) or doc.get("version") != FORMAT_VERSION:
        raise ValueError(f"not a version {FORMAT_VERSION} state document")
    try:
        zones = {str(k): ZoneSettings.from_dict(v) for k, v in doc["zones"].items()}
        unit = UnitSettings.from_dict(doc["unit"])
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ValueError(f"malformed settings: {err!r}") from None
    return SavedState(zones, unit)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash at any instant leaves old or new, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class StateStore:
    """The state file and its last good copy (``<name>.bak``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.backup = path.with_name(path.name + ".bak")
        self._last_written: bytes | None = None

    def load(self) -> SavedState:
        for candidate in (self.path, self.backup):
            try:
                data = candidate.read_bytes()
            except FileNotFoundError:
                continue
            except OSError as err:
                log.error("cannot read state file %s: %s", candidate, err.strerror)
                continue
            try:
                state = decode_state(data)
            except ValueError as err:
                log.error(
                    "state file %s is unusable (%s); trying the last good copy", candidate, err
                )
                continue
            self._last_written = data
            if candidate is self.backup:
                log.warning("restored settings from the last good copy %s", self.backup)
            return state
        return SavedState()

    def save(self, state: SavedState) -> bool:
        """Write the state if it changed; returns True when something was written."""
        data = encode_state(state)
        if data == self._last_written:
            return False
        if self._last_written is not None:
            write_atomically(self.backup, self._last_written)
        write_atomically(self.path, data)
        self._last_written = data
        return True
