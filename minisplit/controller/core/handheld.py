"""Adopting a change made on a head's handheld IR remote as the zone's new settings (pure).

The remote sends its whole state with every press (power, mode, setpoint, fan), so only what
differs from what the controller shows on the head counts as the homeowner's change. The
change is made of the same transitions as an MQTT command, applied by the same rules
(`minisplit/controller/core/transitions.py`)."""

from __future__ import annotations

from minisplit.controller.core.settings import ZoneMode, ZoneSettings, zone_mode_of
from minisplit.controller.core.transitions import (
    SetFan,
    SetMode,
    SetPower,
    SetTarget,
    Side,
    ZoneTransition,
    apply_zone,
    clamp_setpoint,
)
from minisplit.drivers.records import RemoteRequest
from minisplit.drivers.vocabulary import HeadMode

# The head's display holds 0.1 °C: anything closer is the same setpoint.
SETPOINT_TOLERANCE_K = 0.05


def adopt_remote_request(
    settings: ZoneSettings,
    request: RemoteRequest,
    *,
    shown_setpoint: float | None = None,
    limits: tuple[float, float] | None = None,
) -> ZoneSettings:
    """The zone's settings after the homeowner's handheld-remote request.

    ``shown_setpoint`` is what the controller last wrote to the head's display (the preset's
    setpoint, say); a remote setpoint equal to it is no change. Without it the zone's own
    setpoint is the reference. ``limits`` (the zone's min, max) clamps an adopted setpoint to
    what an MQTT command may set on that side (`setpoint_range`).

    - power off switches the zone off (remembering its mode, as MQTT `power OFF` does);
    - a heat_cool zone stays in heat_cool when the remote shows heat or cool (it shows the
      direction the zone works in), and a setpoint then moves the low (heat) or high (cool)
      setpoint;
    - the head's own `auto` is the zone's heat_cool (the product picks heat or cool, as the
      head would); a setpoint sent with it moves the low (heat) setpoint;
    - a changed setpoint ends any preset, as a manual setpoint does over MQTT."""
    changes: list[ZoneTransition] = []
    heat_cool = ZoneMode.HEAT_COOL in (settings.mode, settings.last_on_mode)
    if request.fan is not None and request.fan is not settings.fan_mode:
        changes.append(SetFan(request.fan))
    if not request.power:
        return apply_zone(settings, *changes, SetPower(False))

    auto = request.mode is HeadMode.AUTO
    keeps_heat_cool = auto or (heat_cool and request.mode in (HeadMode.HEAT, HeadMode.COOL, None))
    if keeps_heat_cool:
        if settings.mode is not ZoneMode.HEAT_COOL:
            changes.append(SetMode(ZoneMode.HEAT_COOL))
    elif request.mode is not None and zone_mode_of(request.mode) is not settings.mode:
        changes.append(SetMode(zone_mode_of(request.mode)))
    elif request.mode is None and settings.mode is ZoneMode.OFF:
        changes.append(SetPower(True))

    if request.setpoint is not None:
        if keeps_heat_cool:
            cooling = request.mode is HeadMode.COOL
            side = Side.HIGH if cooling else Side.LOW
            own = settings.target_temperature_high if cooling else settings.target_temperature_low
        else:
            side, own = Side.TARGET, settings.target_temperature
        reference = own if shown_setpoint is None else shown_setpoint
        if abs(request.setpoint - reference) > SETPOINT_TOLERANCE_K:
            setpoint = request.setpoint
            if limits is not None:
                setpoint = clamp_setpoint(setpoint, *limits, side)
            changes.append(SetTarget(side, setpoint))
    return apply_zone(settings, *changes)
