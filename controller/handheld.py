"""Adopting a change made on a head's handheld IR remote as the zone's new settings (pure).

The remote sends its whole state with every press (power, mode, setpoint, fan), so only what
differs from what the controller shows on the head counts as the homeowner's change. The
change is applied through the same rules as an MQTT command (`apply_zone_command`)."""

from __future__ import annotations

from controller.commands import ZoneCommand, apply_zone_command
from controller.settings import FanMode, ZoneMode, ZoneSettings
from drivers.devices import RemoteRequest

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
    setpoint is the reference. ``limits`` clamps an adopted setpoint to the zone's range.

    - power off switches the zone off (remembering its mode, as MQTT `power OFF` does);
    - a heat_cool zone stays in heat_cool when the remote shows heat or cool (the head has no
      auto mode; it shows the direction the zone works in), and a setpoint then moves the
      low (heat) or high (cool) setpoint;
    - a changed setpoint ends any preset, as a manual setpoint does over MQTT."""
    zone_id = ""
    commands: list[ZoneCommand] = []
    heat_cool = ZoneMode.HEAT_COOL in (settings.mode, settings.last_on_mode)
    if request.fan is not None and FanMode(request.fan) is not settings.fan_mode:
        commands.append(ZoneCommand(zone_id, "fan_mode", FanMode(request.fan)))
    if not request.power:
        commands.append(ZoneCommand(zone_id, "power", False))
        return _apply(settings, commands)

    keeps_heat_cool = heat_cool and request.mode in ("heat", "cool", None)
    if keeps_heat_cool:
        if settings.mode is not ZoneMode.HEAT_COOL:
            commands.append(ZoneCommand(zone_id, "mode", ZoneMode.HEAT_COOL))
    elif request.mode is not None and ZoneMode(request.mode) is not settings.mode:
        commands.append(ZoneCommand(zone_id, "mode", ZoneMode(request.mode)))
    elif request.mode is None and settings.mode is ZoneMode.OFF:
        commands.append(ZoneCommand(zone_id, "power", True))

    if request.setpoint is not None:
        if keeps_heat_cool:
            cooling = request.mode == "cool"
            field = "temperature_high" if cooling else "temperature_low"
            own = settings.target_temperature_high if cooling else settings.target_temperature_low
        else:
            field, own = "temperature", settings.target_temperature
        reference = own if shown_setpoint is None else shown_setpoint
        if abs(request.setpoint - reference) > SETPOINT_TOLERANCE_K:
            setpoint = request.setpoint
            if limits is not None:
                setpoint = min(max(setpoint, limits[0]), limits[1])
            commands.append(ZoneCommand(zone_id, field, setpoint))
    return _apply(settings, commands)


def _apply(settings: ZoneSettings, commands: list[ZoneCommand]) -> ZoneSettings:
    for command in commands:
        settings = apply_zone_command(settings, command)
    return settings
