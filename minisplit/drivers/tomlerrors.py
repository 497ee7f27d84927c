"""Validation errors of a TOML file as one line each: the dotted path of every key concerned
(``zones[2].unit_id``) with its line in the file where it can be found, and the bad value when
it is short; never the whole table it sits in."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

Loc = tuple[str | int, ...]

#: Values longer than this are cut in messages (a 4,000-digit integer, a long string).
_MAX_VALUE_CHARS = 60
# A whole part of a message (where, what), long enough for any real key path and message.
_MAX_PART_CHARS = 300


class KeysError(ValueError):
    """A model validator's error about several keys at once; ``keys`` are paths relative to the
    model that raises it, so the message can name each key and its line."""

    def __init__(self, message: str, *keys: Loc) -> None:
        super().__init__(message)
        self.keys = keys


def key_path(loc: Loc, tags: frozenset[str] = frozenset()) -> str:
    """``("zones", 2, "unit_id")`` as ``zones[2].unit_id``; ``tags`` are pydantic's
    discriminator values in a location, which are not keys."""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item in tags and parts:
            continue
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def line_of(text: str, loc: Loc, tags: frozenset[str] = frozenset()) -> int | None:
    """The 1-based line where the key at ``loc`` is written (else the line of the table that
    holds it), when found."""
    keys = [k for k in loc if not (isinstance(k, str) and k in tags)]
    table: list[Any] = []
    counters: dict[str, int] = {}
    best: int | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if m := re.match(r"^\[\[\s*([^\]]+?)\s*\]\]", stripped):
            name = m.group(1)
            counters[name] = counters.get(name, -1) + 1
            table = [*name.split("."), counters[name]]
        elif m := re.match(r"^\[\s*([^\]]+?)\s*\]", stripped):
            table = m.group(1).split(".")
        elif m := re.match(r"^([A-Za-z0-9_\-\"]+)\s*=", stripped):
            path = [*table, m.group(1).strip('"')]
            if path == keys[: len(path)] and len(path) >= len(table) + 1:
                best = number
                if len(path) == len(keys):
                    return number
        if table and keys[: len(table)] == table and best is None:
            best = number
    return best


def at_key(text: str, loc: Loc, message: str, tags: frozenset[str] = frozenset()) -> str:
    """``line N: path: message`` (without ``line N:`` when the key is not found), each part cut
    short when long: a key or a value of 70,000 characters made a line of 70,000."""
    return f"{_cut(_where(text, loc, tags))}: {_cut(message)}"


def _cut(text: str) -> str:
    """``text`` with its middle left out when long: the start says what, the end often why."""
    if len(text) <= _MAX_PART_CHARS:
        return text
    half = _MAX_PART_CHARS // 2
    return f"{text[:half]}…{text[-half:]}"


def _where(text: str, loc: Loc, tags: frozenset[str]) -> str:
    line = line_of(text, loc, tags)
    return f"line {line}: {key_path(loc, tags)}" if line else key_path(loc, tags)


def _value(value: object) -> str:
    """`` (got VALUE)`` for a scalar, cut short when long; nothing for a table or an array (it
    would repeat the file)."""
    if isinstance(value, dict | list | tuple):
        return ""
    if isinstance(value, int) and value.bit_length() > 4 * _MAX_VALUE_CHARS:
        # repr() of a very long integer is slow, and refused beyond Python's digits limit.
        return f" (got an integer of {value.bit_length()} bits)"
    text = repr(value)
    if len(text) > _MAX_VALUE_CHARS:
        text = text[:_MAX_VALUE_CHARS] + "…"
    return f" (got {text})"


def describe(errors: Sequence[Any], text: str, tags: frozenset[str] = frozenset()) -> list[str]:
    """One message per pydantic error (``ValidationError.errors()``), for the file's ``text``."""
    return [_describe(error, text, tags) for error in errors]


def _describe(err: Any, text: str, tags: frozenset[str]) -> str:
    loc: Loc = tuple(err["loc"])
    cause = err.get("ctx", {}).get("error")
    if isinstance(cause, KeysError):
        where = ", ".join(_where(text, loc + key, tags) for key in cause.keys)
        return f"{where}: {cause}"
    if err["type"] in ("extra_forbidden", "unexpected_keyword_argument"):  # a model, a dataclass
        # The value is left out: an unknown key may hold a secret (`password = "…"`).
        return at_key(text, loc, "unknown key", tags)
    if err["type"] == "missing":
        return at_key(text, loc, "required key is missing", tags)
    message = err["msg"].removeprefix("Value error, ")
    return at_key(text, loc, message + _value(err["input"]), tags)
