"""The setpoint strategy in the supervisor (docs/architecture.md, 'Strategies'): from one tick's
observation to the inputs of `controller.core.head_setpoint`, and from its settings to each
head's command and the zone's action.

The `Controller` still runs on the same observation for what it does besides the compressor:
the room sensors' check and choice, the presets and the boost; its capacity requests and
compressor commands are not written. The loop here is given the sensor it chose (a remote
sensor's reading; the head's own with its offset, whose bias the setpoint loop estimates
itself) and the setpoint of the preset in effect."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import NamedTuple, Protocol

from minisplit.controller.core.control import ControlOutput, ZoneInput
from minisplit.controller.core.head_setpoint import HeadSetting, HeadZoneInput
from minisplit.controller.core.observation import Observation
from minisplit.controller.core.room_sensor import SensorSource
from minisplit.controller.core.settings import ZoneMode, ZoneSettings
from minisplit.drivers.records import HeadCommand
from minisplit.drivers.vocabulary import HeadMode, ZoneAction


class SetpointZone(NamedTuple):
    """What the setpoint strategy did for one zone: what the published state shows of it."""

    setting: HeadSetting
    action: ZoneAction


def strategy_inputs(
    seen: Observation,
    followed: Mapping[str, ZoneInput],
    output: ControlOutput | None,
    thermo_on: Mapping[str, bool | None],
) -> dict[str, HeadZoneInput]:
    """Each zone's input: its settings at the preset's setpoint, the head's reading (with its
    static offset) unless the sensor check refused it, the remote sensor's where the control
    follows one, the head's thermo-on."""
    inputs = {}
    for zone_id, zone in seen.zones.items():
        out = output.zones.get(zone_id) if output else None
        # The settings the control ran the zone on (a switch point met early, `optimal_start`).
        settings = zone.settings if out is None or out.settings is None else out.settings
        if out is not None and out.setpoint is not None and settings.mode is not ZoneMode.HEAT_COOL:
            settings = replace(settings, target_temperature=out.setpoint)
        chosen = followed.get(zone_id)
        remote = (
            chosen.temperature
            if chosen is not None and chosen.sensor is SensorSource.REMOTE
            else None
        )
        # A head reading the sensor check refused (missing, out of range, stuck) is none: the
        # loop would otherwise switch the head off on a 150 °C reading, or trim on a frozen one.
        head = zone.temperature
        if chosen is None or (chosen.sensor is SensorSource.HEAD and chosen.temperature is None):
            head = None
        inputs[zone_id] = HeadZoneInput(settings, head, remote, thermo_on.get(zone_id))
    return inputs


def head_command(setting: HeadSetting, settings: ZoneSettings) -> HeadCommand:
    """The head's command: the strategy's power, mode and setpoint, the homeowner's fan and
    vanes; no capacity request (the head has none)."""
    return HeadCommand(
        power=setting.power,
        mode=setting.mode,
        fan=settings.fan_mode,
        vane_vertical=settings.swing_mode,
        vane_horizontal=settings.swing_horizontal_mode,
        capacity_request_pct=0.0,
        display_setpoint=setting.setpoint,
    )


def zone_action(setting: HeadSetting, thermo_on: bool | None) -> ZoneAction:
    """What the zone does: off, fan, idle (its thermostat is satisfied, where the head reports
    thermo-on, or it waits for the unit to turn its way) or heating or cooling."""
    if not setting.power:
        return ZoneAction.OFF
    if setting.mode is HeadMode.FAN_ONLY:
        return ZoneAction.FAN
    if setting.mode_conflict or thermo_on is False:
        return ZoneAction.IDLE
    return ZoneAction.HEATING if setting.mode is HeadMode.HEAT else ZoneAction.COOLING


def supplies_external(setting: HeadSetting) -> bool:
    """The loop gives the head the room's temperature to regulate on: it heats or cools the
    room on a reading it has. Without one (the room's sensor and the head's both lost), or in
    a mode the loop does not run (fan, dry, standing by for the other direction), the value
    last written would go stale."""
    return (
        setting.external_temperature is not None
        and setting.temperature is not None
        and setting.mode in (HeadMode.HEAT, HeadMode.COOL)
    )


class ExternalTemperatureLever(Protocol):
    """A head's external-temperature register, as its link writes it."""

    async def write_external_temperature(self, celsius: float) -> None: ...

    async def release_external_temperature(self) -> bool: ...


class ExternalFeed:
    """The external room temperature each head is given: written when the loop (re)writes it,
    and handed back to the head's own sensor (the profile's `release` value) once the loop
    stops supplying it, so the head never regulates on a stale value."""

    def __init__(self) -> None:
        # Per zone: when the value the head holds was written (the loop's
        # `external_written_at`); None (or absent) while it holds none of ours.
        self._held: dict[str, float | None] = {}

    async def write(
        self, zone_id: str, head: ExternalTemperatureLever, setting: HeadSetting
    ) -> None:
        held = self._held.get(zone_id)
        value = setting.external_temperature
        if value is not None and supplies_external(setting):
            if setting.external_written_at != held:  # a new value, or supplied again
                await head.write_external_temperature(value)
                self._held[zone_id] = setting.external_written_at
        elif held is not None and await head.release_external_temperature():
            self._held[zone_id] = None
