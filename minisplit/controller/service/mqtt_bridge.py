"""The MQTT side of the supervisor: publishes state and discovery, turns messages into commands
and room sensors' readings.

The control tick hands over state through sync, non-blocking calls that only store the latest
payload per topic; one publisher task sends what changed (retained, QoS 1) while connected, and
repeats unchanged state at a slow keep-alive. Incoming messages are dispatched the moment the
client reads them, never queued: a valid command reaches the supervisor at once, junk is
rejected at once, so no amount of junk can push a command out of a queue. Rejects go to
``<base>/error`` and the log, a few per kind and minute, the rest counted. Commands delivered
from the broker's retained store are not acted on. The connection is retried forever with
capped exponential backoff, and every (re)connect republishes status, discovery and all
stored state, so a broker restart loses nothing. Temperatures are °C inside; a Fahrenheit
house sees °F on MQTT both ways.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import math
import ssl
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from functools import partial
from typing import Any

import aiomqtt
from pydantic import TypeAdapter, ValidationError

from minisplit.controller.config import Identifier, MqttConfig, SiteConfig, ZoneConfig
from minisplit.controller.schedule_config import SETPOINT_KEYS, SwitchPoint, program_document
from minisplit.controller.service.commands import (
    UNIT_FIELDS,
    ZONE_FIELDS,
    Command,
    CommandError,
    ProgramCommand,
    SensorReading,
    ZoneCommand,
    parse_remote_sensor,
    parse_unit_command,
    parse_zone_command,
    quote_payload,
)
from minisplit.controller.service.discovery import (
    OFFLINE,
    ONLINE,
    Topics,
    UnitSystem,
    discovery_messages,
    hvac_action,
    legacy_discovery_topics,
    retired_head_setpoint_sensors,
    retired_schedule_switches,
    retired_unit_discovery,
    retired_zone_discovery,
    retired_zone_topics,
    schedule_switch_claim,
    unit_entities_offered,
)
from minisplit.controller.service.rate_limit import ReportLimiter
from minisplit.controller.service.security import read_secret
from minisplit.controller.service.state_report import (
    UNIT_TEMPERATURE_FIELDS,
    ZONE_TEMPERATURE_FIELDS,
)
from minisplit.controller.service.temperature_units import (
    TemperatureUnit,
    convert_state,
    from_celsius,
)
from minisplit.controller.service.weather import (
    ForecastPoint,
    WeatherForecast,
    forecast_document,
    parse_forecast,
)
from minisplit.drivers.cancellation import raise_if_cancelling
from minisplit.drivers.capabilities import Capabilities
from minisplit.drivers.records import HeadInfo

log = logging.getLogger(__name__)

_QOS = 1
# Bound on paho's outgoing queue, so a stalled broker can never grow memory without limit.
_MAX_QUEUED_OUTGOING = 1000
# One-off messages (error reports, clearing of retired topics) waiting for the publisher;
# the error reports are rate-limited before they get here, this only bounds the rest.
_MAX_PENDING_MESSAGES = 256
# Zones no longer configured whose discovery topics the bridge will look at to clear them: each
# costs subscriptions, and the zone ids come from retained messages anyone could have left.
_MAX_RETIRED_ZONES = 64
_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)
# How long a goodbye (`offline`) may take before we give up on it and just disconnect.
_GOODBYE_TIMEOUT_S = 2.0
# How long `close()` lets run() finish on its own (a connect attempt may be under way).
_CLOSE_TIMEOUT_S = 5.0
# Reconnect pauses double from the first to the cap. A few seconds at most: a broker that is
# back must see status, discovery and state within seconds (an attempt against a dead broker
# costs one refused TCP connect, so there is nothing to save by waiting longer).
BACKOFF_INITIAL_S = 0.5
BACKOFF_MAX_S = 5.0
# What an incoming message may become.
Received = Command | SensorReading | WeatherForecast


class MqttBridge:
    """Connects the supervisor to one MQTT broker (docs/mqtt.md)."""

    def __init__(
        self,
        config: MqttConfig,
        controller_id: str,
        zones: Sequence[ZoneConfig],
        on_command: Callable[[Command], None],
        on_remote_reading: Callable[[str, float], None],
        *,
        republish_interval_s: float = 600.0,
        backoff_initial_s: float = BACKOFF_INITIAL_S,
        backoff_max_s: float = BACKOFF_MAX_S,
        reports: ReportLimiter | None = None,
        clock: Callable[[], float] | None = None,
        capabilities: Mapping[str, Capabilities] | None = None,
        outdoor_unit: bool = True,
        systems: Sequence[UnitSystem] | None = None,
        programmed: Collection[str] | None = None,
        has_program: Callable[[str], bool] | None = None,
        on_forecast: Callable[[WeatherForecast], None] | None = None,
        site: SiteConfig | None = None,
    ) -> None:
        """``capabilities``: each zone's head's, from its profile (the modes and fan steps its
        entity offers and its commands accept; all of them where it is not given);
        ``systems``: each system's unit (`UnitSystem`); without it, the config's one system,
        with an ``outdoor_unit`` or not (else its entities are not announced); ``programmed``:
        the zones with a weekly program at the start (without it, those whose config has one),
        then as `publish_zone_program` says; ``has_program``: whether a zone has a program as
        the settings last asked for have it (one just sent is on its way to disk, not yet
        published), which `set/schedule` needs (without it, as published); ``on_forecast``
        takes each weather forecast sent to `set/forecast` (without it, the topic is not
        listened to; it may refuse one with a CommandError), whose cloud cover is sun only
        with the ``site``."""
        self._config = config
        self._systems = list(systems or [UnitSystem(outdoor_unit=outdoor_unit)])
        # With several systems, each unit's topics have a level of their own.
        self._levels = {s.level: s for s in self._systems if s.level is not None}
        self._capabilities = dict(capabilities or {})
        self._topics = Topics.for_controller(config, controller_id)
        self._unit = TemperatureUnit(config.temperature_unit)
        self._zones = {zone.id: zone for zone in zones}
        self._has_program = has_program or (lambda zone_id: zone_id in self._programmed)
        self._programmed = (
            {zone.id for zone in zones if zone.schedule} if programmed is None else set(programmed)
        )
        self._on_command = on_command
        self._on_remote_reading = on_remote_reading
        self._on_forecast = on_forecast
        self._site = site
        self._said_unlit = False  # that cloud cover gives no sun without a site (said once)
        self._republish_interval_s = republish_interval_s
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._client_id = config.client_id or f"minisplit-{controller_id}"
        # What each head said about itself (None until it answered): decides what its climate
        # entity offers (humidity, swing) and which swing commands are accepted.
        self._heads: dict[str, HeadInfo | None] = dict.fromkeys(self._zones)
        self._discovery = self._build_discovery()
        self._discovery_sent: dict[str, bytes] = {}
        # Foreign sensor topic -> the zones that follow it (several rooms may share a sensor).
        self._sensor_routes: dict[str, list[ZoneConfig]] = {}
        for zone in zones:
            if zone.remote_sensor_topic:
                self._sensor_routes.setdefault(zone.remote_sensor_topic, []).append(zone)
        # Latest payload per state topic, and what was last sent there on this connection (and
        # when): both hold one entry per topic, so memory is bounded by the number of topics.
        self._latest: dict[str, bytes] = {}
        self._sent: dict[str, tuple[bytes, float]] = {}
        # One-off messages: (topic, payload, retain).
        self._pending: deque[tuple[str, bytes, bool]] = deque(maxlen=_MAX_PENDING_MESSAGES)
        # Status is state too: a keep-alive repeats it, and anything else seen there (a forged
        # retained `offline`) makes the publisher say `online` again.
        self._latest[self._topics.status] = ONLINE.encode()
        # Discovery topics that this controller may have published before under another name
        # (an older id layout, or a zone no longer configured), with the unique_id it gave them
        # there: such a topic is cleared only if the retained config found there carries it.
        self._claims: dict[str, str] = legacy_discovery_topics(self._topics, zones)
        # The schedule switch of a zone whose program was taken out of the config goes too.
        self._claims |= retired_schedule_switches(self._topics, zones, self._programmed)
        # So does the head-setpoint sensor of a zone whose head is no longer setpoint-driven.
        self._claims |= retired_head_setpoint_sensors(self._topics, zones, self._capabilities)
        for system in self._systems:
            # Its entities announced while it had an outdoor unit, or its profile their roles,
            # go.
            kept = unit_entities_offered(system.odu) if system.outdoor_unit else ()
            self._claims |= retired_unit_discovery(self._topics, system, kept)
        if self._levels:  # so do those of the unit of a config of one system, as it was
            self._claims |= retired_unit_discovery(self._topics)
        self._retired: set[str] = set()
        self._to_subscribe: list[str] = []
        self._reports = reports or ReportLimiter()
        self._clock = clock
        # Messages rejected (reported or not), for those who count.
        self.rejected = 0
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._connected = False
        self._up_since: float | None = None
        # Loop time the broker was last lost (or first missed), until the next connect.
        self._down_since: float | None = None
        self._running: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def topics(self) -> Topics:
        return self._topics

    @property
    def subscriptions(self) -> list[str]:
        """Every topic filter the bridge subscribes to."""
        return [
            self._topics.zone_set_filter,
            self._topics.system_unit_set_filter if self._levels else self._topics.unit_set_filter,
            self._topics.zone_availability_filter,
            self._topics.status,
            self._topics.ha_status,
            *([self._topics.forecast_set] if self._on_forecast else []),
            *self._sensor_routes,
            *self._claims,
        ]

    @property
    def discovery(self) -> dict[str, bytes]:
        """The discovery payload of every entity, as published."""
        return dict(self._discovery)

    # -- called by the supervisor (from the event loop's thread): they only store the payload
    # and wake the publisher, so they never block and never wait on I/O --

    def publish_zone_state(self, zone_id: str, state: Mapping[str, object]) -> None:
        """The zone's state JSON (docs/mqtt.md), temperatures in °C, its action a ZoneAction."""
        payload = convert_state(state, ZONE_TEMPERATURE_FIELDS, self._unit)
        payload["action"] = hvac_action(str(payload["action"]))
        self._store(self._topics.zone_state(self._known(zone_id)), _encode(payload))

    def publish_zone_availability(self, zone_id: str, online: bool) -> None:
        topic = self._topics.zone_availability(self._known(zone_id))
        self._store(topic, (ONLINE if online else OFFLINE).encode())

    def publish_unit_state(self, state: Mapping[str, object], system: str | None = None) -> None:
        """A system's unit state JSON (docs/mqtt.md), temperatures in °C; ``system`` is its
        level in the topics (None: the config's one system)."""
        payload = convert_state(state, UNIT_TEMPERATURE_FIELDS, self._unit)
        self._store(self._topics.unit_state_of(system), _encode(payload))

    def publish_zone_program(self, zone_id: str, points: Sequence[SwitchPoint]) -> None:
        """The zone's weekly program in effect (none: it has none), setpoints in °C: published
        as JSON; a zone that gains or loses its program gains or loses its schedule switch."""
        payload = [
            {key: self._published_setpoint(key, value) for key, value in point.items()}
            for point in program_document(points)
        ]
        self._store(self._topics.zone_program(self._known(zone_id)), _encode(payload))
        if bool(points) == (zone_id in self._programmed):
            return
        topic, _ = schedule_switch_claim(self._topics, zone_id)
        if points:
            self._programmed.add(zone_id)
            self._claims.pop(topic, None)  # its retained config is ours again
            kept = [message for message in self._pending if message[0] != topic]
            self._pending = deque(kept, maxlen=_MAX_PENDING_MESSAGES)
        else:
            self._programmed.discard(zone_id)
            self._discovery_sent.pop(topic, None)
            self._send_once(topic, b"", retain=True)
        self._discovery = self._build_discovery()
        self._wake.set()

    def publish_forecast(self, points: Sequence[ForecastPoint]) -> None:
        """The weather forecast in use (none: `[]`), temperatures in °C."""
        document = forecast_document(tuple(points), self._unit)
        self._store(self._topics.forecast, _encode(document))

    def _published_setpoint(self, key: str, value: object) -> object:
        if key not in SETPOINT_KEYS or not isinstance(value, float):
            return value
        return round(from_celsius(value, self._unit), 1)

    def set_head_info(self, zone_id: str, info: HeadInfo | None) -> None:
        """What the zone's head can do, once it answered: its entity is re-published to match."""
        self._heads[self._known(zone_id)] = info
        self._discovery = self._build_discovery()
        self._wake.set()

    def _known(self, zone_id: str) -> str:
        if zone_id not in self._zones:
            raise KeyError(f"unknown zone {zone_id!r}; configured: {', '.join(self._zones)}")
        return zone_id

    def _store(self, topic: str, payload: bytes) -> None:
        self._latest[topic] = payload
        sent = self._sent.get(topic)
        if sent is None or sent[0] != payload:
            self._wake.set()

    def _build_discovery(self) -> dict[str, bytes]:
        messages = discovery_messages(
            self._topics,
            list(self._zones.values()),
            self._unit,
            self._heads,
            self._capabilities,
            systems=self._systems,
            programmed=self._programmed,
        )
        return {topic: _encode(payload) for topic, payload in messages.items()}

    # -- incoming messages --

    def dispatch(
        self, topic: str, payload: bytes, *, retained: bool = False
    ) -> list[Received | CommandError]:
        """Handle one incoming message at once (no I/O): commands go to ``on_command``, room
        temperatures to ``on_remote_reading`` (zone id, °C), rejects to the error topic.
        ``retained``: the broker delivered it from its retained store (it was published some
        time before we subscribed): a weather forecast is taken all the same (its points say
        how old they are), a command is not. Returns what became of it, one outcome per
        recipient."""
        topics = self._topics
        if topic == topics.status:
            # A retained one is from before we subscribed (our own `offline` from the last
            # stop, most often): the `online` we publish right after subscribing replaces it.
            if not retained:
                self._status_seen(payload)
            return []
        if topic == topics.ha_status:
            if payload.strip() == ONLINE.encode():
                self._note("home assistant online", "Home Assistant is online: republishing")
                self._discovery_sent.clear()
                self._sent.clear()
                self._wake.set()
            return []
        if topic in self._claims:
            self._claim(topic, payload)
            return []
        if (zone_id := topics.parse_zone_availability(topic)) is not None:
            # Only what the broker kept from earlier runs tells of a zone left behind.
            if zone_id not in self._zones and payload and retained:
                self._retire_zone(zone_id)
            return []
        parsers: list[tuple[str, Callable[[], Received]]] = []
        if topic == topics.forecast_set and self._on_forecast is not None:
            if not payload:
                return []
            return self._handle(
                [("forecast", partial(self._parse_forecast, payload))], topic, payload
            )
        if (zone_field := topics.parse_zone_set(topic)) is not None:
            kind = self._zone_set_kind(*zone_field)
            parsers.append((kind, partial(self._parse_zone_set, *zone_field, payload)))
        elif self._levels and (system_field := topics.parse_system_unit_set(topic)) is not None:
            kind = self._unit_set_kind(system_field[1], system_field[0])
            parsers.append((kind, partial(self._parse_unit_set, *system_field, payload)))
        elif not self._levels and (unit_field := topics.parse_unit_set(topic)) is not None:
            kind = self._unit_set_kind(unit_field)
            parsers.append((kind, partial(self._parse_unit_set, None, unit_field, payload)))
        if parsers and retained:
            parsers = [("retained command", partial(_refuse_retained, payload))]
        for route, zones in self._sensor_routes.items():
            if _matches(topic, route):
                if retained:  # of unknown age: the zone waits for a fresh one
                    log.debug("ignoring a retained reading on %s", topic)
                    continue
                kind = f"remote sensor {route}"
                parsers += [(kind, partial(self._remote_reading, z, payload)) for z in zones]
        if parsers and not payload:
            # No command and no reading: an empty payload is how MQTT clears a retained message
            # (`mosquitto_pub -r -n`, e.g. to remove a retained command refused here).
            log.debug("ignoring an empty payload on %s", topic)
            return []
        if not parsers:
            log.debug("ignoring a message on %s", topic)
        return self._handle(parsers, topic, payload)

    def _handle(
        self,
        parsers: list[tuple[str, Callable[[], Received]]],
        topic: str,
        payload: bytes,
    ) -> list[Received | CommandError]:
        """Each parser's outcome handed to its recipient, or its reject reported."""
        outcomes: list[Received | CommandError] = []
        for kind, parse in parsers:
            try:
                outcome = parse()
                if isinstance(outcome, SensorReading):
                    self._on_remote_reading(outcome.zone_id, outcome.celsius)
                elif isinstance(outcome, WeatherForecast):
                    assert self._on_forecast is not None
                    self._on_forecast(outcome)
                    self._note(
                        "forecast taken",
                        f"weather forecast taken: {len(outcome.points)} points",
                    )
                else:
                    self._on_command(outcome)
            except CommandError as err:
                self._reject(topic, payload, err, kind)
                outcomes.append(err)
            except Exception:  # a consumer's bug must not take the bridge down
                log.exception(
                    "handling the message on %s (payload %s) failed",
                    topic,
                    quote_payload(payload),
                )
            else:
                outcomes.append(outcome)
        return outcomes

    def _zone_set_kind(self, zone_id: str, field: str) -> str:
        """The kind of reject a bad zone command counts as: one per field, never a name taken
        from the message (the kinds must stay a small fixed set)."""
        if zone_id not in self._zones:
            return "unknown zone"
        return f"zone {field}" if field in ZONE_FIELDS else "unknown zone field"

    def _unit_set_kind(self, field: str, system: str | None = None) -> str:
        if system is not None and system not in self._levels:
            return "unknown system"
        return f"unit {field}" if field in UNIT_FIELDS else "unknown unit field"

    def _parse_unit_set(self, system: str | None, field: str, payload: bytes) -> Command:
        if system is not None and system not in self._levels:
            raise CommandError(
                f"unknown system {system!r} (payload {quote_payload(payload)}); "
                f"configured: {', '.join(self._levels)}"
            )
        command = parse_unit_command(field, payload, system)
        unit = self._levels[system] if system is not None else self._systems[0]
        if field not in unit_entities_offered(unit.odu) or not unit.outdoor_unit:
            # Taken, it would show in the unit's state and move nothing.
            whose = "the outdoor unit" if system is None else f"system {system!r}'s outdoor unit"
            why = "the controller reaches none" if not unit.outdoor_unit else "its profile has none"
            raise CommandError(
                f"{whose} has no {field} lever: {why} (payload {quote_payload(payload)})"
            )
        return command

    def _parse_zone_set(
        self, zone_id: str, field: str, payload: bytes
    ) -> ZoneCommand | ProgramCommand | SensorReading:
        zone = self._zones.get(zone_id)
        if zone is None:
            raise CommandError(
                f"unknown zone {zone_id!r} (payload {quote_payload(payload)}); "
                f"configured: {', '.join(self._zones)}"
            )
        return parse_zone_command(
            zone,
            field,
            payload,
            self._unit,
            self._heads[zone_id],
            self._capabilities.get(zone_id),
            programmed=self._has_program(zone_id),
        )

    def _parse_forecast(self, payload: bytes) -> WeatherForecast:
        forecast = parse_forecast(payload, self._unit, self._site)
        if forecast.unlit and not self._said_unlit:
            self._said_unlit = True
            log.warning(
                "the weather forecast gives cloud_coverage without solar_w_m2, and the config "
                "has no [site] latitude and longitude: its cloud cover gives no sun (said once)"
            )
        return forecast

    def _remote_reading(self, zone: ZoneConfig, payload: bytes) -> SensorReading:
        unit = TemperatureUnit(zone.remote_sensor_unit or self._unit)
        return SensorReading(zone.id, parse_remote_sensor(payload, zone.remote_sensor_field, unit))

    def _now(self) -> float:
        return self._clock() if self._clock else asyncio.get_running_loop().time()

    def _reject(self, topic: str, payload: bytes, err: CommandError, kind: str) -> None:
        """Report a rejected message on the error topic and in the log: a few of each kind per
        window; the rest are counted, and the count is said with the next report of that kind
        or in the periodic summary (a flood must not become a flood of reports or log lines)."""
        self.rejected += 1
        message = str(err)
        held_back = self._reports.admit(kind, self._now())
        if held_back is None:
            log.debug("rejected MQTT message on %s: %s", topic, message)
            return
        more = f" ({held_back} more of this kind were not reported)" if held_back else ""
        log.warning("rejected MQTT message on %s: %s%s", topic, message, more)
        report = {
            "topic": topic,
            "payload": payload[:256].decode("utf-8", errors="replace"),
            "error": message,
            "suppressed": held_back,
        }
        self._send_once(self._topics.error, _encode(report), retain=False)

    def _note(self, kind: str, text: str) -> None:
        """An info line about a message that is not an error, rate-limited as rejects are."""
        if self._reports.admit(kind, self._now()) is None:
            log.debug("%s", text)
        else:
            log.info("%s", text)

    def _status_seen(self, payload: bytes) -> None:
        """Our own status topic says something else than `online` while we are connected (a
        forged or stale retained `offline`): say `online` again."""
        if payload.strip() == ONLINE.encode() or self._stop.is_set() or not self._connected:
            return
        self._note(
            "status not online",
            f"{self._topics.status} says {quote_payload(payload)} while connected: "
            "publishing online again",
        )
        self._sent.pop(self._topics.status, None)
        self._wake.set()

    def _retire_zone(self, zone_id: str) -> None:
        """A zone that is no longer configured left retained topics behind: clear its state and
        availability (under our base topic), and look at its discovery topics, to clear those
        that hold what we published (which removes its entities from Home Assistant)."""
        if zone_id in self._retired or not _is_identifier(zone_id):
            return  # done, or a name no config could have held (it would make odd filters)
        if len(self._retired) >= _MAX_RETIRED_ZONES:
            self._note("too many retired zones", f"not clearing the topics of zone {zone_id!r}")
            return
        self._retired.add(zone_id)
        log.info("zone %r is no longer configured: clearing its retained MQTT topics", zone_id)
        for topic in retired_zone_topics(self._topics, [zone_id], list(self._zones.values())):
            self._send_once(topic, b"", retain=True)
        claims = retired_zone_discovery(self._topics, zone_id)
        self._claims |= claims
        self._to_subscribe += claims
        self._wake.set()

    def _claim(self, topic: str, payload: bytes) -> None:
        """A discovery topic this controller may have published before: cleared if the config
        retained there is the one we published (its unique_id), left alone otherwise."""
        if not payload:
            return
        try:
            unique_id = json.loads(payload).get("unique_id")
        except (ValueError, AttributeError):
            unique_id = None
        if unique_id != self._claims[topic]:
            log.debug("leaving %s alone: it holds another's discovery config", topic)
            return
        log.info("clearing %s, which this controller published earlier", topic)
        del self._claims[topic]
        self._send_once(topic, b"", retain=True)

    def _send_once(self, topic: str, payload: bytes, *, retain: bool) -> None:
        self._pending.append((topic, payload, retain))
        self._wake.set()

    # -- the connection --

    async def run(self) -> None:
        """Stay connected until `close()` or cancellation; broker trouble never escapes."""
        self._running = asyncio.current_task()
        loop = asyncio.get_running_loop()
        backoff = self._backoff_initial_s
        outage_logged = False
        while not self._stop.is_set():
            self._up_since = None
            try:
                await self._session()
            except Exception as err:  # whatever broke, the bridge reconnects
                if self._down_since is None:
                    self._down_since = loop.time()
                if self._up_since is not None:
                    log.warning("MQTT connection lost (%s); reconnecting", _describe(err))
                    outage_logged = True
                    if loop.time() - self._up_since > self._backoff_max_s:
                        backoff = self._backoff_initial_s  # a long session ended: retry promptly
                elif not outage_logged:
                    log.warning(
                        "cannot connect to the MQTT broker at %s:%d (%s); retrying every %g..%g s",
                        self._config.host,
                        self._config.port,
                        _describe(err),
                        self._backoff_initial_s,
                        self._backoff_max_s,
                    )
                    outage_logged = True
                else:
                    log.debug("MQTT connection attempt failed: %s", _describe(err))
                if not isinstance(err, aiomqtt.MqttError | OSError):
                    log.error("unexpected error in the MQTT bridge", exc_info=err)
            else:
                return  # closed on request
            await _wait(self._stop, backoff)
            backoff = min(backoff * 2, self._backoff_max_s)

    async def close(self) -> None:
        """Publish `offline` (retained) when connected, disconnect, and end `run()`."""
        self._stop.set()
        task = self._running
        if task is None or task is asyncio.current_task():
            return
        _, pending = await asyncio.wait([task], timeout=_CLOSE_TIMEOUT_S)
        if pending:  # stuck connecting to an unresponsive broker: give up on it
            task.cancel()
            await asyncio.wait([task])

    def _make_client(self) -> aiomqtt.Client:
        return mqtt_client(
            self._config,
            self._client_id,
            will=aiomqtt.Will(self._topics.status, OFFLINE, qos=_QOS, retain=True),
            queue_type=_handing_over(self._receive),
            max_queued_outgoing_messages=_MAX_QUEUED_OUTGOING,
        )

    async def _session(self) -> None:
        """One connection: announce, then publish and receive until it breaks or we stop.
        Returns only when stopped; a broken connection raises."""
        client = self._make_client()
        try:
            await self._connection(client)
        finally:
            _retrieve_loss(client)

    async def _connection(self, client: aiomqtt.Client) -> None:
        async with client:
            self._connected = True
            self._up_since = asyncio.get_running_loop().time()
            outage = ""
            if self._down_since is not None:
                outage = f" after {self._up_since - self._down_since:.1f} s without a broker"
                self._down_since = None
            log.info(
                "MQTT connected to %s:%d as %s%s; publishing status, discovery and state",
                self._config.host,
                self._config.port,
                self._client_id,
                outage,
            )
            try:
                # The broker may have lost everything: send it all again.
                self._sent.clear()
                self._discovery_sent.clear()
                await self._serve(client)
                await self._goodbye(client)
            except asyncio.CancelledError:
                await self._goodbye(client)
                raise
            finally:
                self._connected = False

    async def _serve(self, client: aiomqtt.Client) -> None:
        """Announce, publish and receive until the connection breaks (raises) or a stop is
        requested. The receiver runs from the start: it is what notices a broker lost while
        the bridge subscribes (aiomqtt would otherwise wait out its operation timeout for the
        acknowledgement, and leave the disconnection error unretrieved)."""
        tasks = [
            asyncio.create_task(self._announce_and_publish(client)),
            asyncio.create_task(_until_disconnected(client)),
            asyncio.create_task(self._summarize_rejects()),
            asyncio.create_task(self._stop.wait()),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            if not task.cancelled() and (error := task.exception()) is not None:
                raise error
        if not self._stop.is_set():
            raise aiomqtt.MqttError("the message stream ended")

    async def _goodbye(self, client: aiomqtt.Client) -> None:
        # Leaving: the broker echoes our own `offline` back, and that is no forgery to correct.
        self._connected = False
        # A graceful disconnect suppresses the will, so say `offline` ourselves first.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(_GOODBYE_TIMEOUT_S):
                await client.publish(self._topics.status, OFFLINE, qos=_QOS, retain=True)
        log.info("MQTT disconnected (closing)")

    async def _announce_and_publish(self, client: aiomqtt.Client) -> None:
        # Subscribed before saying `online`, so `online` means commands are heard.
        self._to_subscribe.clear()
        await client.subscribe([(topic, _QOS) for topic in self.subscriptions])
        status = self._topics.status
        await _publish(client, status, self._latest[status], retain=True)
        self._sent[status] = (self._latest[status], asyncio.get_running_loop().time())
        await self._publish_loop(client)

    async def _publish_loop(self, client: aiomqtt.Client) -> None:
        """Discovery first (an entity must exist before its state matters), then state that
        changed or is due for its keep-alive, then one-off messages; then sleep until woken or
        the next keep-alive is due."""
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            if self._to_subscribe:
                filters, self._to_subscribe = self._to_subscribe, []
                await client.subscribe([(topic, _QOS) for topic in filters])
            for topic, payload in list(self._discovery.items()):
                if self._discovery_sent.get(topic) != payload:
                    await _publish(client, topic, payload, retain=True)
                    self._discovery_sent[topic] = payload
            now = loop.time()
            for topic, payload in list(self._latest.items()):
                sent = self._sent.get(topic)
                if (
                    sent is None
                    or sent[0] != payload
                    or now - sent[1] >= self._republish_interval_s
                ):
                    await _publish(client, topic, payload, retain=True)
                    self._sent[topic] = (payload, now)
            while self._pending:
                topic, payload, retain = self._pending[0]
                await _publish(client, topic, payload, retain=retain)
                self._pending.popleft()
            if self._sent:
                next_due = min(at for _, at in self._sent.values()) + self._republish_interval_s
                timeout: float | None = max(0.0, next_due - loop.time())
            else:
                timeout = None
            await _wait(self._wake, timeout)

    def _receive(self, message: aiomqtt.Message) -> None:
        payload = message.payload
        if not isinstance(payload, bytes | bytearray):
            payload = b"" if payload is None else str(payload).encode()
        self.dispatch(message.topic.value, bytes(payload), retained=message.retain)

    async def _summarize_rejects(self) -> None:
        """Say, once a window, how many messages of each kind (rejects, or notes such as Home
        Assistant's `online`) were not reported one by one (looked at four times a window, so
        a count is said at most a quarter window late)."""
        while True:
            await asyncio.sleep(self._reports.window_s / 4)
            for kind, count in self._reports.due_summaries(self._now()):
                log.warning(
                    "%d more MQTT messages of the kind '%s' were not reported one by one",
                    count,
                    kind,
                )


def mqtt_client(config: MqttConfig, identifier: str, **options: Any) -> aiomqtt.Client:
    """A client for the config's broker, with its credentials and TLS; ``options`` go to
    `aiomqtt.Client` as they are (a will, a queue type...)."""
    password: str | None = None
    if config.password_file is not None:
        # Read at every attempt (a fixed file is picked up without a restart), and checked
        # every time: a password file others can read is refused, never used.
        password = read_secret(config.password_file, "MQTT password file")
    tls = config.tls
    return aiomqtt.Client(
        config.host,
        config.port,
        username=config.username,
        password=password,
        identifier=identifier,
        keepalive=config.keepalive_s,
        tls_params=None
        if tls is None
        else aiomqtt.TLSParameters(
            ca_certs=str(tls.ca_file),
            certfile=None if tls.cert_file is None else str(tls.cert_file),
            keyfile=None if tls.key_file is None else str(tls.key_file),
            cert_reqs=ssl.CERT_REQUIRED,
        ),
        tls_insecure=None if tls is None else tls.insecure,
        **options,
    )


def _handing_over(
    receive: Callable[[aiomqtt.Message], None],
) -> type[asyncio.Queue[aiomqtt.Message]]:
    """aiomqtt's incoming-message queue, except that nothing waits in it: each message is
    handed to ``receive`` as the client reads it. Handling is cheap and never blocks, so a
    flood is turned away message by message instead of filling a queue that would then
    discard whatever came next, valid commands included."""

    class HandingOver(asyncio.Queue[aiomqtt.Message]):
        def put_nowait(self, item: aiomqtt.Message) -> None:
            receive(item)

    return HandingOver


def _retrieve_loss(client: aiomqtt.Client) -> None:
    """A connection lost while we were leaving (the broker stopped with us): aiomqtt's exit
    then returns early and leaves the loss unretrieved, which asyncio logs as an ERROR."""
    lost = client._disconnected  # aiomqtt offers no public way to it
    if lost.done() and not lost.cancelled():
        lost.exception()


async def _until_disconnected(client: aiomqtt.Client) -> None:
    """aiomqtt's message iterator is what raises when the connection is lost; it yields
    nothing here (see `_handing_over`), it only waits for that."""
    async for _ in client.messages:
        pass


def _is_identifier(text: str) -> bool:
    try:
        _IDENTIFIER.validate_python(text)
    except ValidationError:
        return False
    return True


def _refuse_retained(payload: bytes) -> Command:
    raise CommandError(
        f"retained command (payload {quote_payload(payload)}) not acted on: it was published "
        "with retain and would be replayed at every restart; publish commands without retain, "
        "and clear this one with an empty retained message"
    )


async def _publish(client: aiomqtt.Client, topic: str, payload: bytes, *, retain: bool) -> None:
    await client.publish(topic, payload, qos=_QOS, retain=retain)
    raise_if_cancelling()  # aiomqtt's wait for the acknowledgement may have swallowed it


async def _wait(event: asyncio.Event, limit_s: float | None) -> None:
    """Until ``event`` is set or ``limit_s`` seconds have passed. Not `asyncio.wait_for`: on
    Python 3.11 it can swallow a cancellation that arrives as the event is set, and the task
    would then never end."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(limit_s):
            await event.wait()


def _matches(topic: str, route: str) -> bool:
    """Whether ``topic`` matches the subscription filter ``route`` (False for a topic that is
    not a valid topic name)."""
    try:
        return aiomqtt.Topic(topic).matches(route)
    except ValueError:
        return False


def _encode(data: Mapping[str, object] | Sequence[Mapping[str, object]]) -> bytes:
    """Stable JSON (sorted keys, so equal states give equal bytes); non-finite numbers -> null."""
    return json.dumps(
        _jsonable(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()


def _jsonable(value: object) -> object:
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


def _describe(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror:
        text = f"{err.strerror}: {err.filename}" if err.filename else err.strerror
    else:
        text = str(err) or type(err).__name__
    # aiomqtt wraps the real reason ("connection lost", "not authorised") as the cause.
    return f"{text}: {_describe(err.__cause__)}" if err.__cause__ is not None else text
