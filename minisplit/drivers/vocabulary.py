"""The words the units, the controller and the simulator share: one enum per concept.

They live at the bottom of the layers (drivers import nothing from the controller) so that the
register maps, the control core, the simulator and the MQTT edge all use the same members.
Each enum is a StrEnum whose values are the words of the register maps' enums
(config/profiles) and of the saved settings, so a member is written, stored and published as
that word, and compares equal to it."""

from __future__ import annotations

from enum import StrEnum


class OduMode(StrEnum):
    """The outdoor unit's mode: the compressor's direction (the four-way valve), or stopped."""

    OFF = "off"
    HEAT = "heat"
    COOL = "cool"


class HeadMode(StrEnum):
    """An indoor head's mode: what it does with refrigerant (dry is slow cooling) or only fan,
    or `auto`: the head picks heat or cool itself, on its own thermostat. The product's zones
    call that `heat_cool` (controller.core.settings.ZoneMode), where the controller picks; a
    head's `auto` read from its registers (a handheld-remote request) means that zone mode.
    `heat_aux` (heating with the unit's auxiliary heater, a mode some gateways expose) is heating
    to the zones."""

    HEAT = "heat"
    COOL = "cool"
    DRY = "dry"
    FAN_ONLY = "fan_only"
    AUTO = "auto"
    HEAT_AUX = "heat_aux"


class FanSpeed(StrEnum):
    """An indoor head's fan setting, slowest to fastest after `auto` (the head chooses): the
    steps real units have, a superset. A profile's fan enum maps its device's codes to any
    subset (3-step: low, medium, high; 5-step: low, medium_low, medium, medium_high, high;
    with quiet or turbo beside them), and the head's capabilities list that subset
    (drivers.capabilities)."""

    AUTO = "auto"
    QUIET = "quiet"
    LOW = "low"
    MEDIUM_LOW = "medium_low"
    MEDIUM = "medium"
    MEDIUM_HIGH = "medium_high"
    HIGH = "high"
    TURBO = "turbo"


class VanePosition(StrEnum):
    """A vane's setting: `auto` (the head chooses), a fixed position 1…5, or swinging."""

    AUTO = "auto"
    P1 = "1"
    P2 = "2"
    P3 = "3"
    P4 = "4"
    P5 = "5"
    SWING = "swing"


class ZoneAction(StrEnum):
    """What a zone is doing now (not what it is set to): off, fan only, idle (it wants nothing,
    or waits for the unit to run its way), or what the refrigerant does for it. The MQTT edge
    turns it into Home Assistant's `hvac_action` word
    (minisplit/controller/service/discovery.py)."""

    OFF = "off"
    FAN = "fan"
    IDLE = "idle"
    HEATING = "heating"
    PREHEATING = "preheating"  # heating, while the head holds its fan until its coil is warm
    DEFROSTING = "defrosting"  # heating, while the unit melts the ice off its outdoor coil
    COOLING = "cooling"
    DRYING = "drying"
