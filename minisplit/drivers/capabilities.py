"""What a device can do, derived from its profile alone: the roles its registers play (which
levers the controller can move, which readings it gets), checked once, before anything is
read. The drivers read and write only the roles a profile declares; docs/profiles.md ('Roles')
has the table of every role and what the product does without it.

A role is a register name: `[registers.fan]` is the head's fan lever. A *flag* role (a yes/no
reading such as `thermo_on` or `defrost`) is a register, coil or discrete input of its name
(non-zero is yes) or a bit of that name in the device's bit-field register (`status`, or
`capabilities` for what the head has). A register whose name is no role is allowed: the
product does not use it, but `read_values` reads it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from minisplit.drivers.profile import DeviceKind, DeviceProfile, ProfileError, RegisterSpec
from minisplit.drivers.vocabulary import FanSpeed, HeadMode, OduMode, VanePosition


class Use(StrEnum):
    """What a role is to the controller."""

    LEVER = "lever"  # written: it must be writable
    READING = "reading"  # polled every cycle
    IDENTITY = "identity"  # read at probe


@dataclass(frozen=True)
class Role:
    name: str
    use: Use
    meaning: str
    without: str  # what the product does when the profile lacks it
    #: The vocabulary its enum labels come from (a profile maps any codes to any subset).
    labels: tuple[str, ...] | None = None
    #: The bit-field register in which a flag may be a named bit instead of its own register.
    bit_of: str | None = None
    #: A bit-field register: its `bits` name flags.
    bit_field: bool = False


ON_OFF = ("off", "on")
_HEAD_MODES = tuple(HeadMode)
_FANS = tuple(FanSpeed)
_VANES = tuple(VanePosition)


def _flag(name: str, bit_of: str, use: Use, meaning: str, without: str) -> Role:
    return Role(name, use, meaning, without, bit_of=bit_of)


_NONE = "not shown (None)"


def _fault_code(device: str) -> Role:
    return Role(
        "fault_code",
        Use.READING,
        f"the {device}'s fault; its `enum` names the codes",
        "a fault shows as `fault` without a code",
    )


def _status(device: str) -> Role:
    return Role(
        "status",
        Use.READING,
        f"a bit field: its `bits` name any of the {device}'s flags below",
        "each flag is its own register, or absent",
        bit_field=True,
    )


_HEARTBEAT = "no heartbeat is sent: the device's own fallback never runs"

HEAD_ROLES: tuple[Role, ...] = (
    # ---- levers ----
    Role(
        "power",
        Use.LEVER,
        "the head on or off (`enum` off/on, or 0/1)",
        "refused: every control must be able to switch a head off",
        labels=ON_OFF,
    ),
    Role(
        "mode",
        Use.LEVER,
        "the head's mode; its labels are the modes it has (heat, cool, dry, fan_only, auto), "
        "and its zone offers only those (heat_cool where it has heat and cool, or auto)",
        "the head keeps the mode it is in; its zone offers every mode",
        labels=_HEAD_MODES,
    ),
    Role(
        "fan",
        Use.LEVER,
        "the fan setting; its labels are the steps the head has, and its zone offers only those",
        "the head keeps its fan setting; its zone offers no fan modes",
        labels=_FANS,
    ),
    Role(
        "vane_vertical",
        Use.LEVER,
        "the vertical vane's position (auto, 1…5, swing)",
        "no vertical swing is offered",
        labels=_VANES,
    ),
    Role(
        "vane_horizontal",
        Use.LEVER,
        "the horizontal vane's position",
        "no horizontal swing is offered",
        labels=_VANES,
    ),
    Role(
        "capacity_request",
        Use.LEVER,
        "the share of the head's capacity it asks of the outdoor unit (%): a direct lever",
        "no direct capacity control: the head is driven by its display_setpoint (the setpoint "
        "strategy, chosen when no head of the config has this lever)",
    ),
    Role(
        "display_setpoint",
        Use.LEVER,
        "the head's own setpoint (°C): what its thermostat and display follow",
        "no setpoint is written; the head's display shows its own (and without "
        "capacity_request either the product cannot drive the head: refused at check-config)",
    ),
    Role(
        "external_temperature",
        Use.LEVER,
        "the room temperature the head regulates on, written by the master (°C)",
        "the head regulates on its own return-air sensor",
    ),
    Role(
        "heartbeat",
        Use.LEVER,
        "a counter the controller advances; the head falls back to its own logic when it stops",
        _HEARTBEAT,
    ),
    Role(
        "heartbeat_timeout",
        Use.LEVER,
        "the seconds without a heartbeat after which the head falls back (0 = never)",
        "the device's own timeout stays as it is",
    ),
    Role(
        "remote_ack",
        Use.LEVER,
        "1 acknowledges a handheld-remote request (clears `remote_change_pending`)",
        "a remote request is adopted but never acknowledged",
    ),
    # ---- readings ----
    Role(
        "return_air_temperature",
        Use.READING,
        "the head's own room sensor (°C)",
        "the zone needs a remote sensor to know its temperature",
    ),
    Role("coil_temperature", Use.READING, "the indoor coil (°C)", _NONE),
    Role("humidity", Use.READING, "the room's relative humidity (%)", "no humidity shown"),
    _fault_code("head"),
    Role("fan_speed_actual", Use.READING, "the fan's running step", _NONE),
    Role("valve_position", Use.READING, "the head's expansion valve (%)", _NONE),
    _status("head"),
    _flag("fan_running", "status", Use.READING, "the fan turns", _NONE),
    _flag("coil_freeze_protection", "status", Use.READING, "coil frost protection", _NONE),
    _flag("condensate_alarm", "status", Use.READING, "the condensate pump alarms", _NONE),
    _flag(
        "fault",
        "status",
        Use.READING,
        "the head reports a fault",
        "a `fault_code` other than `none` (0 without a label) is a fault; without either, "
        "no fault is shown",
    ),
    _flag(
        "cold_draft_prevention",
        "status",
        Use.READING,
        "the head holds its fan until its coil is warm",
        "the zone never shows `preheating`",
    ),
    _flag(
        "heartbeat_lost",
        "status",
        Use.READING,
        "the head's heartbeat lapsed: it runs on its own logic",
        "the head is taken to follow the controller",
    ),
    _flag(
        "thermo_on",
        "status",
        Use.READING,
        "the head's thermostat calls for refrigerant (0/1)",
        "the head's demand is not known",
    ),
    _flag(
        "remote_change_pending",
        "status",
        Use.READING,
        "the handheld remote changed something: `remote_*` hold the request",
        "changes made on the handheld remote are not adopted",
    ),
    Role("remote_power", Use.READING, "the remote's requested power", _NONE, labels=ON_OFF),
    Role("remote_mode", Use.READING, "the remote's requested mode", _NONE, labels=_HEAD_MODES),
    Role("remote_setpoint", Use.READING, "the remote's requested setpoint (°C)", _NONE),
    Role("remote_fan", Use.READING, "the remote's requested fan", _NONE, labels=_FANS),
    # ---- identity ----
    Role("firmware_version", Use.IDENTITY, "read once at probe", _NONE),
    Role("serial_number", Use.IDENTITY, "read once at probe", _NONE),
    Role(
        "rated_capacity",
        Use.IDENTITY,
        "the head's rated capacity (W)",
        "the head's share of the unit counts as 0 W",
    ),
    Role(
        "capabilities",
        Use.IDENTITY,
        "a bit field: which of the parts below this head has",
        "each part counts as present when its register is declared",
        bit_field=True,
    ),
    _flag(
        "humidity_sensor",
        "capabilities",
        Use.IDENTITY,
        "the head has a humidity sensor",
        "it has one if `humidity` is declared",
    ),
    _flag(
        "vertical_vane",
        "capabilities",
        Use.IDENTITY,
        "the head has a vertical vane",
        "it has one if `vane_vertical` is declared",
    ),
    _flag(
        "horizontal_vane",
        "capabilities",
        Use.IDENTITY,
        "the head has a horizontal vane",
        "it has one if `vane_horizontal` is declared",
    ),
)

ODU_ROLES: tuple[Role, ...] = (
    # ---- levers ----
    Role(
        "mode",
        Use.LEVER,
        "the compressor's direction: off, heat, cool",
        "the unit follows its heads' modes itself",
        labels=tuple(OduMode),
    ),
    Role(
        "frequency_setpoint",
        Use.LEVER,
        "the compressor frequency (Hz; 0 = stop): direct compressor control",
        "no direct compressor control: the unit's inverter follows its heads",
    ),
    Role("quiet_mode", Use.LEVER, "the unit's quiet (night) mode, 0/1", "no quiet mode"),
    Role(
        "demand_limit",
        Use.LEVER,
        "the cap on the unit's power (%)",
        "no demand limit can be set",
    ),
    Role(
        "heartbeat",
        Use.LEVER,
        "a counter the controller advances; the unit falls back to its own logic when it stops",
        _HEARTBEAT,
    ),
    Role(
        "heartbeat_timeout",
        Use.LEVER,
        "the seconds without a heartbeat after which the unit falls back (0 = never)",
        "the device's own timeout stays as it is",
    ),
    # ---- readings ----
    Role("compressor_frequency", Use.READING, "the compressor's frequency (Hz)", _NONE),
    Role(
        "allowed_max_frequency",
        Use.READING,
        "the highest frequency the unit allows now (Hz)",
        "the rated maximum is taken",
    ),
    Role(
        "outdoor_temperature",
        Use.READING,
        "the outdoor air (°C)",
        "as a failed outdoor sensor: the capacity estimate has no outdoor temperature",
    ),
    Role(
        "outdoor_coil_temperature",
        Use.READING,
        "the outdoor coil (°C)",
        "frost on the coil is not foreseen",
    ),
    Role("discharge_temperature", Use.READING, "the compressor's discharge (°C)", _NONE),
    Role("input_power", Use.READING, "the unit's electrical power (W)", "no power shown"),
    Role("energy", Use.READING, "the unit's energy meter (Wh)", "no energy shown"),
    _fault_code("unit"),
    Role("compressor_starts", Use.READING, "a counter of compressor starts", _NONE),
    Role("operating_hours", Use.READING, "the compressor's hours", _NONE),
    _status("unit"),
    _flag(
        "compressor_running",
        "status",
        Use.READING,
        "the compressor runs",
        "its running is taken from the last command",
    ),
    _flag(
        "defrost",
        "status",
        Use.READING,
        "the unit defrosts",
        "a defrost is not seen: the heads' cold air looks like a loss",
    ),
    _flag("oil_return", "status", Use.READING, "an oil-return cycle", _NONE),
    _flag(
        "fault",
        "status",
        Use.READING,
        "the unit reports a fault",
        "a `fault_code` other than `none` (0 without a label) is a fault; without either, "
        "no fault is shown",
    ),
    _flag("restart_lockout", "status", Use.READING, "the unit's restart lockout holds", _NONE),
    _flag("valve_heating", "status", Use.READING, "the four-way valve is in heating", _NONE),
    _flag(
        "heartbeat_lost",
        "status",
        Use.READING,
        "the unit's heartbeat lapsed: it runs on its own logic",
        "the unit is taken to follow the controller",
    ),
    _flag("quiet_active", "status", Use.READING, "quiet mode is in effect", _NONE),
    # ---- identity ----
    Role("firmware_version", Use.IDENTITY, "read once at probe", _NONE),
    Role("serial_number", Use.IDENTITY, "read once at probe", _NONE),
    Role(
        "rated_heating_capacity",
        Use.IDENTITY,
        "rated heating (W)",
        "counts as 0 W",
    ),
    Role("rated_cooling_capacity", Use.IDENTITY, "rated cooling (W)", "counts as 0 W"),
    Role(
        "min_frequency",
        Use.IDENTITY,
        "the compressor's lowest frequency (Hz)",
        "the `frequency_setpoint` range's low end, else the control's",
    ),
    Role(
        "max_frequency",
        Use.IDENTITY,
        "the compressor's highest frequency (Hz)",
        "the `frequency_setpoint` range's high end, else the control's",
    ),
    Role("max_heads", Use.IDENTITY, "how many heads the unit serves", _NONE),
)

ROLES: Mapping[DeviceKind, Mapping[str, Role]] = {
    DeviceKind.INDOOR_HEAD: {role.name: role for role in HEAD_ROLES},
    DeviceKind.OUTDOOR_UNIT: {role.name: role for role in ODU_ROLES},
}
#: The roles a profile must declare, per kind, and why: every control needs them.
REQUIRED: Mapping[DeviceKind, Mapping[str, str]] = {
    DeviceKind.INDOOR_HEAD: {
        "power": "every control must be able to switch a head on and off",
    },
    DeviceKind.OUTDOOR_UNIT: {},
}


@dataclass(frozen=True)
class Capabilities:
    """What one device's profile gives the product: the levers it can move, the readings it
    gets (identity included), and the labels of each enum role, in the profile's order."""

    kind: DeviceKind
    levers: frozenset[str]
    readings: frozenset[str]
    labels: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    #: Registers whose name is no role: not used by the product.
    unused: tuple[str, ...] = ()

    def has(self, role: str) -> bool:
        return role in self.levers or role in self.readings

    @property
    def modes(self) -> tuple[HeadMode, ...]:
        """A head's modes (empty without a mode lever)."""
        return tuple(HeadMode(label) for label in self._lever_labels("mode"))

    @property
    def fans(self) -> tuple[FanSpeed, ...]:
        """A head's fan steps (empty without a fan lever)."""
        return tuple(FanSpeed(label) for label in self._lever_labels("fan"))

    def vanes(self, lever: str) -> tuple[VanePosition, ...]:
        """A vane lever's positions (``vane_vertical`` or ``vane_horizontal``)."""
        return tuple(VanePosition(label) for label in self._lever_labels(lever))

    def _lever_labels(self, lever: str) -> tuple[str, ...]:
        return self.labels.get(lever, ()) if lever in self.levers else ()

    def summary(self) -> str:
        """One line: the levers (with their labels) and the live readings (not the identity
        read at probe, nor the bit-field registers, whose flags are listed)."""
        levers = [
            f"{name} ({'/'.join(self.labels[name])})" if name in self.labels else name
            for name in _in_role_order(self.kind, self.levers)
        ]
        roles = ROLES[self.kind]
        readings = [
            name
            for name in _in_role_order(self.kind, self.readings)
            if roles[name].use is Use.READING and not roles[name].bit_field
        ]
        return f"levers: {', '.join(levers) or 'none'}; readings: {', '.join(readings) or 'none'}"


def _in_role_order(kind: DeviceKind, names: Iterable[str]) -> list[str]:
    order = list(ROLES[kind])
    return sorted(names, key=order.index)


def capabilities(profile: DeviceProfile) -> Capabilities:
    """The device's capabilities; ProfileError (naming the file and the register) when a role
    is declared in a way the product cannot use, or a required one is missing."""
    where = f"profile {profile.name!r} ({profile.source})"
    roles = ROLES[profile.kind]
    problems: list[str] = []
    levers: set[str] = set()
    readings: set[str] = set()
    labels: dict[str, tuple[str, ...]] = {}
    bit_names = {
        bit: spec.name
        for spec in profile.registers.values()
        if spec.name in roles and roles[spec.name].bit_field
        for bit in spec.bits.values()
    }
    for spec in profile.registers.values():
        role = roles.get(spec.name)
        if role is None:
            continue
        problem = _role_problem(role, spec)
        if problem is not None:
            problems.append(f"registers.{spec.name}: {problem}")
            continue
        if role.bit_of is not None and spec.name in bit_names:
            problems.append(
                f"registers.{spec.name}: {spec.name} is also a bit of "
                f"registers.{bit_names[spec.name]}: keep one"
            )
            continue
        (levers if role.use is Use.LEVER else readings).add(spec.name)
        if spec.enum and role.labels is not None:
            labels[spec.name] = tuple(spec.enum.values())
    for bit, register in bit_names.items():
        role = roles.get(bit)
        if role is not None and role.bit_of == register:
            readings.add(bit)
    for name, why in REQUIRED[profile.kind].items():
        if name not in levers and not problems:
            problems.append(f"lacks a writable registers.{name}: {why}")
    if not levers and not readings and not problems:
        problems.append(
            f"declares none of the roles a {profile.kind} has "
            f"(docs/profiles.md, 'Roles'): {', '.join(roles)}"
        )
    if problems:
        raise ProfileError(f"{where}: " + "; ".join(problems))
    used = set(roles) | set(profile.identity)
    unused = tuple(name for name in profile.registers if name not in used)
    return Capabilities(profile.kind, frozenset(levers), frozenset(readings), labels, unused)


def _role_problem(role: Role, spec: RegisterSpec) -> str | None:
    """Why ``spec`` cannot play ``role``, or None."""
    if role.use is Use.LEVER and not spec.writable:
        return f"the {role.name} lever must be writable (writable = true)"
    if role.bit_field and not spec.bits:
        return "a bit field: name its bits (bits = { 0 = ..., })"
    if role.labels is None:
        if spec.enum and role.name != "fault_code" and role.bit_of is None:
            return f"{role.name} is a number: it takes no enum"
        return None
    if role.labels == ON_OFF and not spec.enum:
        return None  # 0 = off, 1 = on
    if not spec.enum:
        return f"give its enum: labels out of {', '.join(role.labels)}"
    if strange := [label for label in spec.enum.values() if label not in role.labels]:
        return (
            f"enum label(s) {', '.join(map(repr, strange))} unknown: "
            f"{role.name} takes {', '.join(role.labels)}"
        )
    if role.use is Use.LEVER and role.labels == ON_OFF and set(spec.enum.values()) != {*ON_OFF}:
        return "a power lever's enum needs both off and on"
    return None
