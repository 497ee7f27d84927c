"""The homeowner of `minisplit sim --scenario S --play-schedules`: moves each zone's settings at
the scenario's switch points, by MQTT commands to the controller that runs against the simulator,
as a person with Home Assistant would (docs/mqtt.md, 'Commands').

Commands are heard only while the controller is connected, so the homeowner watches its status
topic: whenever the controller comes online it is told every zone's settings of the moment, and
after that each zone whose settings change at a switch point. Times are simulated, read from the
simulator's clock."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import aiomqtt

from minisplit.controller.config import MqttConfig
from minisplit.controller.core.schedule import settings_transitions
from minisplit.controller.core.settings import ZoneSettings
from minisplit.controller.core.transitions import (
    SetFan,
    SetMode,
    SetPower,
    SetPreset,
    SetSchedule,
    SetSwing,
    SetSwingHorizontal,
    SetTarget,
    ZoneTransition,
)
from minisplit.controller.service.commands import SETPOINT_FIELDS
from minisplit.controller.service.discovery import ONLINE, Topics
from minisplit.controller.service.mqtt_bridge import mqtt_client
from minisplit.controller.service.temperature_units import TemperatureUnit, from_celsius
from minisplit.drivers.cancellation import raise_if_cancelling
from minisplit.hil.scenario import Scenario
from minisplit.hil.weather import format_time_of_year

LOG = logging.getLogger(__name__)

_QOS = 1
RETRY_S = 2.0
_SETPOINT_FIELD = {side: field for field, side in SETPOINT_FIELDS.items()}
# A switch point is reached when the simulated clock is this close (float time).
_EPSILON_S = 1e-6


def command_message(change: ZoneTransition, unit: TemperatureUnit) -> tuple[str, str]:
    """The ``<base>/zone/<zone>/set/<field>`` field and payload that make ``change``: the
    inverse of `minisplit.controller.service.commands.parse_zone_command`."""
    if isinstance(change, SetMode):
        return "mode", change.mode.value
    if isinstance(change, SetTarget):
        return _SETPOINT_FIELD[change.side], f"{round(from_celsius(change.celsius, unit), 1):g}"
    if isinstance(change, SetFan):
        return "fan_mode", change.fan.value
    if isinstance(change, SetPreset):
        return "preset_mode", change.preset.value
    if isinstance(change, SetPower):
        return "power", "ON" if change.on else "OFF"
    if isinstance(change, SetSwing):
        return "swing_mode", change.position.value
    if isinstance(change, SetSchedule):
        return "schedule", "ON" if change.on else "OFF"
    assert isinstance(change, SetSwingHorizontal)
    return "swing_horizontal_mode", change.position.value


class Homeowner:
    """Plays a scenario's schedules over MQTT against the controller ``controller_id``."""

    def __init__(
        self,
        scenario: Scenario,
        mqtt: MqttConfig,
        controller_id: str,
        clock: Callable[[], float],
        speed: float,
    ) -> None:
        self._scenario = scenario
        self._mqtt = mqtt
        self._topics = Topics.for_controller(mqtt, controller_id)
        self._unit = TemperatureUnit(mqtt.temperature_unit)
        self._client_id = f"{mqtt.client_id or f'minisplit-{controller_id}'}-homeowner"
        self._clock = clock
        self._speed = speed
        self._online = False
        self._changed = asyncio.Event()
        # What the controller was told for each zone since it last came online.
        self._told: dict[str, ZoneSettings] = {}

    async def run(self) -> None:
        """Play the schedules until cancelled; a lost broker is retried every few seconds."""
        while True:
            try:
                async with (
                    mqtt_client(self._mqtt, self._client_id) as client,
                    asyncio.TaskGroup() as tasks,
                ):
                    await client.subscribe(self._topics.status, qos=_QOS)
                    LOG.info("homeowner: playing the schedules of %s", self._scenario.name)
                    tasks.create_task(self._watch_status(client))
                    tasks.create_task(self._play(client))
            except* aiomqtt.MqttError as lost:
                # A cancel that arrived as the client disconnected is no lost broker.
                raise_if_cancelling()
                LOG.warning("homeowner: MQTT: %s; retrying in %g s", lost.exceptions[0], RETRY_S)
            self._online = False
            await asyncio.sleep(RETRY_S)

    async def _watch_status(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            raise_if_cancelling()  # aiomqtt may have swallowed it (drivers/cancellation.py)
            online = message.payload == ONLINE.encode()
            if online != self._online:
                self._online = online
                self._told.clear()  # a controller back online hears everything again
                self._changed.set()
        raise aiomqtt.MqttError("the message stream ended")

    async def _play(self, client: aiomqtt.Client) -> None:
        while True:
            # Python 3.11's wait_for, which aiomqtt's publish awaits its acknowledgement with,
            # may return the acknowledgement and drop a cancel that came with it: this loop
            # would then play on, and the rig or `sim` that stops it would wait forever.
            raise_if_cancelling()
            self._changed.clear()
            delay: float | None = None
            if self._online:
                now = self._clock()
                settings, until = self._scenario.settings_span(now + _EPSILON_S)
                for zone, wanted in settings.items():
                    if self._told.get(zone) != wanted:
                        await self._tell(client, zone, wanted, now)
                delay = max(0.0, (until - self._clock()) / self._speed)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._changed.wait()

    async def _tell(
        self, client: aiomqtt.Client, zone: str, wanted: ZoneSettings, now: float
    ) -> None:
        messages = [command_message(change, self._unit) for change in settings_transitions(wanted)]
        # Noted first: should the controller drop away while these go out, the watcher's
        # forgetting comes after, and it is told again when it is back.
        self._told[zone] = wanted
        for field, payload in messages:
            await client.publish(self._topics.zone_set(zone, field), payload, qos=_QOS)
            raise_if_cancelling()  # see _play
        LOG.info(
            "homeowner at %s: %s %s",
            format_time_of_year(now),
            zone,
            " ".join(f"{field}={payload}" for field, payload in messages),
        )
