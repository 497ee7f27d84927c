"""The MQTT bridge against a real mosquitto: status and will, state, commands, outages, auth."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import random
import shutil
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import aiomqtt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minisplit.controller.config import MqttConfig, TlsConfig, ZoneConfig
from minisplit.controller.core.settings import Preset, UnitSettings, ZoneMode, ZoneSettings
from minisplit.controller.core.transitions import (
    SetDemandLimit,
    SetFan,
    SetMode,
    SetPower,
    SetPreset,
    SetQuiet,
    SetSchedule,
    SetSwing,
    SetSwingHorizontal,
    SetTarget,
    Side,
    apply_unit,
    apply_zone,
)
from minisplit.controller.schedule_config import SwitchPoint
from minisplit.controller.service.commands import (
    UNIT_FIELDS,
    ZONE_FIELDS,
    Command,
    CommandError,
    ProgramCommand,
    SensorReading,
    UnitCommand,
    ZoneCommand,
)
from minisplit.controller.service.discovery import UnitSystem
from minisplit.controller.service.mqtt_bridge import MqttBridge
from minisplit.controller.service.rate_limit import ReportLimiter
from minisplit.drivers.records import HeadInfo
from minisplit.drivers.vocabulary import FanSpeed, VanePosition, ZoneAction
from minisplit.testing.broker import MessageRecorder, Mosquitto, recording, wait_for_message
from tests.controller.test_discovery import SPARSE_ODU

pytestmark = pytest.mark.integration

ZONES = [
    ZoneConfig(id="living", name="Living room", bus="rs485", unit_id=11),
    ZoneConfig(
        id="bedroom",
        name="Bedroom",
        bus="rs485",
        unit_id=12,
        remote_sensor_topic="zigbee2mqtt/bedroom_sensor",
        remote_sensor_field="temperature",
    ),
    ZoneConfig(
        id="office",
        name="Office",
        bus="rs485",
        unit_id=13,
        remote_sensor_topic="sensors/office/temperature",
        schedule=[SwitchPoint(at="06:30", mode=ZoneMode.HEAT)],
    ),
]
BASE = "minisplit/house"
STATE = {
    "current_temperature": 20.4,
    "target_temperature": 21.0,
    "target_temperature_low": 20.0,
    "target_temperature_high": 24.0,
    "mode": ZoneMode.HEAT,
    "action": ZoneAction.PREHEATING,
    "fan_mode": "auto",
    "swing_mode": "auto",
    "swing_horizontal_mode": "auto",
    "preset": "none",
    "humidity": None,
    "demand": 42.0,
    "sensor": "head",
    "available": True,
    "mode_conflict": False,
    "fault": 0,
}
PASSWORD = "Zq9-unguessable-hunter2"


Received = Command | SensorReading


class Recipient(Protocol):
    """What the bridge hands messages to: commands (``__call__``) and readings."""

    def __call__(self, command: Command) -> None: ...

    def reading(self, zone_id: str, celsius: float) -> None: ...


class Commands:
    """The bridge's on_command and on_remote_reading: records both, in the order they came;
    tests wait for them with a bound."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[Received] = asyncio.Queue()

    def __call__(self, command: Command) -> None:
        self.received.put_nowait(command)

    def reading(self, zone_id: str, celsius: float) -> None:
        self.received.put_nowait(SensorReading(zone_id, celsius))

    async def next(self, timeout: float = 5.0) -> Received:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            return await self.received.get()


def make_bridge(
    config: MqttConfig,
    recipient: Recipient | None = None,
    controller_id: str = "house",
    zones: list[ZoneConfig] = ZONES,
    **options: Any,  # MqttBridge's keyword options
) -> MqttBridge:
    recipient = recipient or Commands()
    return MqttBridge(config, controller_id, zones, recipient, recipient.reading, **options)


def _config(broker: Mosquitto, **options: object) -> MqttConfig:
    return MqttConfig(host=broker.host, port=broker.port, keepalive_s=5, **options)  # type: ignore[arg-type]


@asynccontextmanager
async def running(
    broker: Mosquitto,
    recipient: Recipient | None = None,
    *,
    config: MqttConfig | None = None,
    controller_id: str = "house",
    zones: list[ZoneConfig] = ZONES,
    **options: Any,  # MqttBridge's keyword options
) -> AsyncIterator[MqttBridge]:
    options = {"backoff_initial_s": 0.05, "backoff_max_s": 0.4} | options
    bridge = make_bridge(config or _config(broker), recipient, controller_id, zones, **options)
    task = asyncio.create_task(bridge.run())
    try:
        yield bridge
    finally:
        async with asyncio.timeout(10):
            await bridge.close()
            await task  # run() returns after close(), it does not raise


async def ready(recorder: MessageRecorder, controller_id: str = "house", after: int = 0) -> None:
    """Wait until the bridge is subscribed: it publishes discovery after subscribing, and the
    demand-limit number is the last discovery message."""
    await recorder.wait_for(
        f"homeassistant/number/{controller_id}-unit-demand_limit/config", after=after
    )


async def retained(broker: Mosquitto, topic: str, **client_options: object) -> bytes:
    """The retained payload of ``topic``, as a fresh subscriber sees it.

    A message that arrives live (the bridge published it just after we subscribed) proves only
    that it was published: then a second fresh subscriber must find it retained."""
    for _ in range(2):
        async with broker.client(**client_options) as client:
            await client.subscribe(topic, qos=1)
            async with asyncio.timeout(5):
                message = await anext(aiter(client.messages))
        if message.retain:
            return bytes(message.payload)
    raise AssertionError(f"{topic}: {message.payload!r} arrives live but is not retained")


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Poll a condition of the bridge itself (no message to wait for), with a bound."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - the bridge offers no event for these
            await asyncio.sleep(0.01)


async def test_status_online_retained_then_offline_on_close(
    mosquitto: Mosquitto, mqtt_recorder: MessageRecorder
) -> None:
    async with running(mosquitto) as bridge:
        await ready(mqtt_recorder)
        assert bridge.connected
        assert await retained(mosquitto, f"{BASE}/status") == b"online"
    assert not bridge.connected
    await mqtt_recorder.wait_for(f"{BASE}/status", lambda m: m.payload == b"offline")
    assert await retained(mosquitto, f"{BASE}/status") == b"offline"


async def test_cancelling_run_says_offline(
    mosquitto: Mosquitto, mqtt_recorder: MessageRecorder
) -> None:
    bridge = make_bridge(_config(mosquitto))
    task = asyncio.create_task(bridge.run())
    await ready(mqtt_recorder)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await retained(mosquitto, f"{BASE}/status") == b"offline"


BRIDGE_PROCESS = textwrap.dedent(
    """
    import asyncio, sys
    from minisplit.controller.config import MqttConfig, ZoneConfig
    from minisplit.controller.service.mqtt_bridge import MqttBridge

    zone = ZoneConfig(id="living", name="Living room", bus="rs485", unit_id=11)
    config = MqttConfig(host="127.0.0.1", port=int(sys.argv[1]), keepalive_s=5)
    asyncio.run(MqttBridge(config, "house", [zone], lambda c: None, lambda z, t: None).run())
    """
)


async def test_last_will_says_offline_when_the_process_is_killed(
    mosquitto: Mosquitto, mqtt_recorder: MessageRecorder
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        BRIDGE_PROCESS,
        str(mosquitto.port),
        cwd=Path(__file__).parents[2],
    )
    try:
        await ready(mqtt_recorder)
        await mqtt_recorder.wait_for(f"{BASE}/status", lambda m: m.payload == b"online")
        process.kill()  # SIGKILL: no goodbye, the broker must send the will
        async with asyncio.timeout(5):
            await process.wait()
        await mqtt_recorder.wait_for(f"{BASE}/status", lambda m: m.payload == b"offline")
        assert await retained(mosquitto, f"{BASE}/status") == b"offline"
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


class CutAtGoodbye:
    """A loopback proxy to the broker that, once ``armed``, drops the connection at the next
    bytes the client sends (its goodbye), as a broker stopping at that moment does."""

    def __init__(self, broker: Mosquitto) -> None:
        self.broker = broker
        self.armed = False
        self.port = 0

    @asynccontextmanager
    async def running(self) -> AsyncIterator[CutAtGoodbye]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        async with server:
            yield self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.broker.host, self.broker.port)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            while data := await source.read(65536):
                if self.armed and sink is up_writer:
                    writer.transport.abort()
                    up_writer.transport.abort()
                    return
                sink.write(data)
                await sink.drain()

        await asyncio.gather(
            pipe(reader, up_writer), pipe(up_reader, writer), return_exceptions=True
        )


async def test_a_broker_lost_during_the_goodbye_is_no_error(
    mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    """The broker stopped with the controller (a host shutting down): aiomqtt left the loss
    unretrieved and asyncio logged 'Future exception was never retrieved' with its error."""
    async with CutAtGoodbye(mosquitto).running() as proxy:
        await _stop_while_the_broker_goes(mosquitto, proxy)
    gc.collect()  # a future's unretrieved exception is logged when it is collected
    assert "never retrieved" not in caplog.text


async def _stop_while_the_broker_goes(broker: Mosquitto, proxy: CutAtGoodbye) -> None:
    """Run a bridge through the proxy and cancel it (as SIGTERM does) once the proxy is armed;
    nothing of it outlives this call (a traceback kept would keep its client alive)."""
    config = MqttConfig(host="127.0.0.1", port=proxy.port, keepalive_s=5)
    bridge = make_bridge(config)
    task = asyncio.create_task(bridge.run())
    await until(lambda: bridge.connected)
    assert await retained(broker, f"{BASE}/status") == b"online"
    proxy.armed = True
    task.cancel()
    await asyncio.wait([task])


async def test_zone_state_is_retained_and_published_only_on_change(
    mosquitto: Mosquitto, mqtt_recorder: MessageRecorder
) -> None:
    topic = f"{BASE}/zone/living/state"
    async with running(mosquitto) as bridge:
        await ready(mqtt_recorder)
        bridge.publish_zone_state("living", STATE)
        first = await mqtt_recorder.wait_for(topic)
        assert json.loads(first.payload) == STATE | {"mode": "heat", "action": "preheating"}

        bridge.publish_zone_state("living", dict(reversed(STATE.items())))  # same state
        bridge.publish_unit_state({"available": True, "quiet": False})  # a marker after it
        await mqtt_recorder.wait_for(f"{BASE}/unit/state")
        assert len(mqtt_recorder.on(topic)) == 1

        bridge.publish_zone_state("living", STATE | {"current_temperature": 20.5})
        second = await mqtt_recorder.wait_for(topic, after=mqtt_recorder.messages.index(first) + 1)
        assert json.loads(second.payload)["current_temperature"] == 20.5
        assert json.loads(await retained(mosquitto, topic))["current_temperature"] == 20.5

        bridge.publish_zone_availability("living", False)
        await mqtt_recorder.wait_for(f"{BASE}/zone/living/availability")
        assert await retained(mosquitto, f"{BASE}/zone/living/availability") == b"offline"


async def test_unchanged_state_is_republished_slowly(
    mosquitto: Mosquitto, mqtt_recorder: MessageRecorder
) -> None:
    topic = f"{BASE}/unit/state"
    async with running(mosquitto, republish_interval_s=0.3) as bridge:
        await ready(mqtt_recorder)
        bridge.publish_unit_state({"available": True, "energy": 12.5, "power": float("nan")})
        first = await mqtt_recorder.wait_for(topic)
        assert json.loads(first.payload)["power"] is None
        again = await mqtt_recorder.wait_for(topic, after=mqtt_recorder.messages.index(first) + 1)
        assert again.payload == first.payload


async def test_a_setpoint_command_reaches_on_command_typed(
    mosquitto: Mosquitto, mqtt_recorder: MessageRecorder
) -> None:
    commands = Commands()
    async with running(mosquitto, commands), mosquitto.client() as client:
        await ready(mqtt_recorder)
        await client.publish(f"{BASE}/zone/living/set/temperature", b"21.5", qos=1)
        assert await commands.next() == ZoneCommand("living", SetTarget(Side.TARGET, 21.5))
        await client.publish(f"{BASE}/zone/living/set/mode", b"cool", qos=1)
        assert await commands.next() == ZoneCommand("living", SetMode(ZoneMode.COOL))
        await client.publish(f"{BASE}/unit/set/quiet", b"ON", qos=1)
        assert await commands.next() == UnitCommand(None, SetQuiet(True))
        await client.publish(f"{BASE}/unit/set/demand_limit", b"70", qos=1)
        assert await commands.next() == UnitCommand(None, SetDemandLimit(70))


@pytest.mark.parametrize(
    ("topic", "payload", "why"),
    [
        (f"{BASE}/zone/living/set/temperature", b"hot", "not a decimal number"),
        (f"{BASE}/zone/living/set/temperature", b"45", "outside 16..30"),
        (f"{BASE}/zone/living/set/mode", b"\xff", "UTF-8"),
        (f"{BASE}/zone/attic/set/mode", b"heat", "unknown zone 'attic'"),
        (f"{BASE}/zone/living/set/colour", b"red", "unknown zone field 'colour'"),
        (f"{BASE}/unit/set/demand_limit", b"250", "outside 0..100"),
        (f"{BASE}/unit/set/turbo", b"ON", "unknown unit field 'turbo'"),
        ("zigbee2mqtt/bedroom_sensor", b'{"humidity": 40}', "no field 'temperature'"),
    ],
)
async def test_a_bad_command_is_reported_and_not_applied(
    mosquitto: Mosquitto,
    mqtt_recorder: MessageRecorder,
    caplog: pytest.LogCaptureFixture,
    topic: str,
    payload: bytes,
    why: str,
) -> None:
    commands = Commands()
    async with running(mosquitto, commands), mosquitto.client() as client:
        await ready(mqtt_recorder)
        caplog.clear()
        await client.publish(topic, payload, qos=1)
        error = await mqtt_recorder.wait_for(f"{BASE}/error")
        report = json.loads(error.payload)
        assert report["topic"] == topic
        assert report["payload"] == payload.decode(errors="replace")
        assert why in report["error"]
        assert not error.retain
        # A good command sent afterwards is the first one to arrive: the bad one was dropped.
        await client.publish(f"{BASE}/zone/living/set/fan_mode", b"low", qos=1)
        assert await commands.next() == ZoneCommand("living", SetFan(FanSpeed.LOW))
    warnings = [
        r
        for r in caplog.records
        if r.name == "minisplit.controller.service.mqtt_bridge" and r.levelno == logging.WARNING
    ]
    assert len(warnings) == 1
    assert why in warnings[0].getMessage()


async def test_a_command_error_from_on_command_is_reported(
    mosquitto: Mosquitto, mqtt_recorder: MessageRecorder
) -> None:
    class Refusing(Commands):
        def __call__(self, command: Command) -> None:
            raise CommandError("power: the head of this zone is offline")

    async with running(mosquitto, Refusing()), mosquitto.client() as client:
        await ready(mqtt_recorder)
        await client.publish(f"{BASE}/zone/living/set/power", b"ON", qos=1)
        error = await mqtt_recorder.wait_for(f"{BASE}/error")
        assert "head of this zone is offline" in json.loads(error.payload)["error"]


async def test_a_crashing_on_command_does_not_stop_the_bridge(
    mosquitto: Mosquitto, mqtt_recorder: MessageRecorder
) -> None:
    class Flaky(Commands):
        def __call__(self, command: Command) -> None:
            if isinstance(command, ZoneCommand) and isinstance(command.change, SetPower):
                raise RuntimeError("bug in the consumer")
            super().__call__(command)

    received = Flaky()
    async with running(mosquitto, received) as bridge, mosquitto.client() as client:
        await ready(mqtt_recorder)
        await client.publish(f"{BASE}/zone/living/set/power", b"ON", qos=1)
        await client.publish(f"{BASE}/zone/living/set/preset_mode", b"eco", qos=1)
        assert await received.next() == ZoneCommand("living", SetPreset(Preset.ECO))
        assert bridge.connected


async def test_remote_sensors_plain_and_json(
    mosquitto: Mosquitto, mqtt_recorder: MessageRecorder
) -> None:
    commands = Commands()
    async with running(mosquitto, commands), mosquitto.client() as client:
        await ready(mqtt_recorder)
        await client.publish(
            "zigbee2mqtt/bedroom_sensor",
            b'{"battery": 97, "humidity": 51.2, "linkquality": 87, "temperature": 19.4}',
            qos=1,
        )
        assert await commands.next() == SensorReading("bedroom", 19.4)
        await client.publish("sensors/office/temperature", b"22.1", qos=1)
        assert await commands.next() == SensorReading("office", 22.1)


async def test_discovery_and_state_are_republished_when_home_assistant_comes_online(
    mosquitto: Mosquitto, mqtt_recorder: MessageRecorder
) -> None:
    climate = "homeassistant/climate/house-living/config"
    async with running(mosquitto) as bridge, mosquitto.client() as client:
        await ready(mqtt_recorder)
        first = await mqtt_recorder.wait_for(climate)
        assert json.loads(first.payload)["unique_id"] == "minisplit-house-living-climate"
        bridge.publish_zone_state("living", STATE)
        await mqtt_recorder.wait_for(f"{BASE}/zone/living/state")
        mark = len(mqtt_recorder.messages)
        await client.publish("homeassistant/status", b"online", qos=1)
        await mqtt_recorder.wait_for(climate, after=mark)
        await mqtt_recorder.wait_for(f"{BASE}/zone/living/state", after=mark)
        assert len(mqtt_recorder.on(climate)) == 2


async def test_broker_outage_and_return(
    mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="minisplit.controller.service.mqtt_bridge")
    async with running(mosquitto) as bridge:
        async with recording(mosquitto) as recorder:
            await ready(recorder)
            bridge.publish_zone_state("living", STATE)
            await recorder.wait_for(f"{BASE}/zone/living/state")

        mosquitto.stop()
        await until(lambda: not bridge.connected)
        # While the broker is away, the tick's calls neither block nor raise.
        for temperature in (20.6, 20.7, 20.8):
            bridge.publish_zone_state("living", STATE | {"current_temperature": temperature})
            bridge.publish_zone_availability("living", True)
            bridge.publish_unit_state({"available": True, "power": 900})
        await until(lambda: "attempt failed" in caplog.text)  # it keeps trying …

        mosquitto.start()  # no persistence: the broker comes back empty
        await until(lambda: bridge.connected)
        assert await retained(mosquitto, f"{BASE}/status") == b"online"
        state = json.loads(await retained(mosquitto, f"{BASE}/zone/living/state"))
        assert state["current_temperature"] == 20.8
        assert await retained(mosquitto, f"{BASE}/zone/living/availability") == b"online"
        assert json.loads(await retained(mosquitto, f"{BASE}/unit/state"))["power"] == 900
        climate = await retained(mosquitto, "homeassistant/climate/house-living/config")
        assert json.loads(climate)["name"] is None
    lost = [r for r in caplog.records if "connection lost" in r.getMessage()]
    assert len(lost) == 1  # … but says so once


async def test_starts_with_the_broker_down(
    mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="minisplit.controller.service.mqtt_bridge")
    mosquitto.stop()
    async with running(mosquitto) as bridge:
        await until(lambda: caplog.text.count("attempt failed") >= 2)
        assert not bridge.connected
        mosquitto.start()
        await until(lambda: bridge.connected)
        assert await retained(mosquitto, f"{BASE}/status") == b"online"
    unavailable = [r for r in caplog.records if "cannot connect" in r.getMessage()]
    assert len(unavailable) == 1
    assert unavailable[0].levelno == logging.WARNING


async def test_retired_zones_are_removed_from_home_assistant(
    mosquitto: Mosquitto, mqtt_recorder: MessageRecorder
) -> None:
    attic_climate = "homeassistant/climate/house-attic/config"
    attic_config = b'{"name": null, "unique_id": "minisplit-house-attic-climate"}'
    async with mosquitto.client() as client:  # what an earlier config with an attic left behind
        await client.publish(f"{BASE}/zone/attic/availability", b"online", qos=1, retain=True)
        await client.publish(attic_climate, attic_config, qos=1, retain=True)
    async with running(mosquitto):
        await mqtt_recorder.wait_for(attic_climate, lambda m: m.payload == b"")
        await mqtt_recorder.wait_for(f"{BASE}/zone/attic/availability", lambda m: m.payload == b"")
    probe = f"{BASE}/probe"
    async with mosquitto.client() as client:
        topics = [attic_climate, f"{BASE}/zone/attic/availability", probe]
        await client.subscribe([(topic, 1) for topic in topics])
        await client.publish(probe, b"end", qos=1)
        # Retained messages would be delivered right after the subscription, before the probe.
        first = await wait_for_message(client, "#")
        assert first.topic.value == probe, f"{first.topic.value} is still retained"


def _password_broker(mosquitto_factory: Callable[..., Mosquitto], tmp_path: Path) -> Mosquitto:
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        pytest.skip("mosquitto_passwd is not installed (Debian: mosquitto)")
    passwords = tmp_path / "passwd"
    subprocess.run(
        [tool, "-b", "-c", str(passwords), "controller", PASSWORD],
        check=True,
        capture_output=True,
    )
    return mosquitto_factory(f"allow_anonymous false\npassword_file {passwords}\n")


async def test_password_from_a_file_and_never_logged(
    mosquitto_factory: Callable[..., Mosquitto],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    broker = _password_broker(mosquitto_factory, tmp_path)
    secret = tmp_path / "mqtt-password"
    secret.write_text(PASSWORD + "\n")  # a trailing newline, as editors leave it
    secret.chmod(0o600)
    config = _config(broker, username="controller", password_file=secret)
    credentials = {"username": "controller", "password": PASSWORD}
    async with recording(broker, **credentials) as recorder, running(broker, config=config) as b:
        await ready(recorder)
        assert b.connected
    assert PASSWORD not in caplog.text
    assert "connected" in caplog.text


async def test_a_wrong_password_is_retried_and_never_logged(
    mosquitto_factory: Callable[..., Mosquitto],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    broker = _password_broker(mosquitto_factory, tmp_path)
    secret = tmp_path / "mqtt-password"
    wrong = "Wrong-" + PASSWORD
    secret.write_text(wrong)
    secret.chmod(0o600)
    config = _config(broker, username="controller", password_file=secret)
    async with running(broker, config=config) as bridge:
        await until(lambda: caplog.text.count("attempt failed") >= 2)
        assert not bridge.connected
        secret.write_text(PASSWORD)  # the password file is read at every attempt
        await until(lambda: bridge.connected)
    assert wrong not in caplog.text
    assert PASSWORD not in caplog.text


async def test_two_controllers_share_a_broker(
    mosquitto: Mosquitto, mqtt_recorder: MessageRecorder
) -> None:
    house, cabin = Commands(), Commands()
    async with (
        running(mosquitto, house, controller_id="house"),
        running(mosquitto, cabin, controller_id="cabin"),
        mosquitto.client() as client,
    ):
        await ready(mqtt_recorder, "house")
        await ready(mqtt_recorder, "cabin")
        await client.publish("minisplit/cabin/zone/living/set/temperature", b"18", qos=1)
        assert await cabin.next() == ZoneCommand("living", SetTarget(Side.TARGET, 18.0))
        assert house.received.empty()
        assert await retained(mosquitto, "minisplit/house/status") == b"online"
        assert await retained(mosquitto, "minisplit/cabin/status") == b"online"


def test_unknown_zone_ids_are_a_programming_error() -> None:
    bridge = make_bridge(MqttConfig())
    with pytest.raises(KeyError, match="attic"):
        bridge.publish_zone_state("attic", STATE)


async def test_close_before_run_is_harmless(mosquitto: Mosquitto) -> None:
    bridge = make_bridge(_config(mosquitto))
    await bridge.close()
    async with asyncio.timeout(1):
        await bridge.run()  # returns at once: it was closed
    assert not bridge.connected


async def test_tls_settings_reach_the_client(tmp_path: Path) -> None:
    """TLS parameters are handed to paho (a TLS broker is out of scope for these tests)."""
    ca = tmp_path / "ca.pem"
    config = MqttConfig.model_validate({"tls": {"ca_file": ca, "insecure": True}})
    client = make_bridge(config)._make_client()
    assert client._tls_params is not None
    assert client._tls_params.ca_certs == str(ca)
    assert client._tls_insecure is True


async def test_a_missing_password_file_is_reported_and_retried(
    mosquitto: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="minisplit.controller.service.mqtt_bridge")
    missing = tmp_path / "not-there"
    config = _config(mosquitto, username="controller", password_file=missing)
    async with running(mosquitto, config=config) as bridge:
        await until(lambda: caplog.text.count("attempt failed") >= 2)
        assert not bridge.connected
    assert f"No such file or directory: {missing}" in caplog.text


# ---- the whole command contract through the broker -------------------------------------------

# (topic suffix under BASE, payload, what on_command receives, or the reason of the reject)
CONTRACT: list[tuple[str, bytes, Received | str]] = [
    ("zone/living/set/mode", b"heat_cool", ZoneCommand("living", SetMode(ZoneMode.HEAT_COOL))),
    ("zone/living/set/mode", b"auto", "allowed: off, heat"),
    ("zone/living/set/temperature", b"22.5", ZoneCommand("living", SetTarget(Side.TARGET, 22.5))),
    ("zone/living/set/temperature", b"31", "outside 16..30 °C"),
    ("zone/living/set/temperature_low", b"19", ZoneCommand("living", SetTarget(Side.LOW, 19.0))),
    ("zone/living/set/temperature_low", b"low", "not a decimal number"),
    ("zone/living/set/temperature_high", b"25", ZoneCommand("living", SetTarget(Side.HIGH, 25.0))),
    ("zone/living/set/temperature_high", b"16", "outside 17..30 °C"),
    ("zone/living/set/fan_mode", b"turbo", ZoneCommand("living", SetFan(FanSpeed.TURBO))),
    ("zone/living/set/fan_mode", b"max", "allowed: auto, quiet"),
    ("zone/living/set/swing_mode", b"swing", ZoneCommand("living", SetSwing(VanePosition.SWING))),
    ("zone/living/set/swing_mode", b"7", "allowed: auto, 1"),
    (
        "zone/living/set/swing_horizontal_mode",
        b"2",
        ZoneCommand("living", SetSwingHorizontal(VanePosition.P2)),
    ),
    ("zone/living/set/swing_horizontal_mode", b"left", "allowed: auto, 1"),
    ("zone/living/set/preset_mode", b"away", ZoneCommand("living", SetPreset(Preset.AWAY))),
    ("zone/living/set/preset_mode", b"vacation", "allowed: none, comfort"),
    ("zone/living/set/power", b"OFF", ZoneCommand("living", SetPower(False))),
    ("zone/living/set/power", b"off", "allowed: ON, OFF"),
    (
        "zone/living/set/remote_temperature",
        b"20.4",
        SensorReading("living", 20.4),
    ),
    ("zone/living/set/remote_temperature", b"hot", "not a decimal number"),
    ("zone/office/set/schedule", b"OFF", ZoneCommand("office", SetSchedule(False))),
    ("zone/office/set/schedule", b"off", "allowed: ON, OFF"),
    ("zone/living/set/schedule", b"ON", "zone 'living' has no weekly program"),
    (
        "zone/living/set/program",
        b'[{"at": "22:00", "mode": "heat", "temperature": 18}, {"at": "06:30", "mode": "off"}]',
        ProgramCommand(
            "living",
            (
                SwitchPoint(at="06:30", mode=ZoneMode.OFF),
                SwitchPoint(at="22:00", mode=ZoneMode.HEAT, temperature=18.0),
            ),
        ),
    ),
    ("zone/living/set/program", b"[]", ProgramCommand("living", ())),
    ("zone/living/set/program", b"06:30 heat", "not valid JSON"),
    ("zone/living/set/program", b'{"at": "06:30"}', "not a JSON list of switch points"),
    ("zone/living/set/program", b'[{"at": "06:30", "mode": "hot"}]', "[0].mode: Input should be"),
    (
        "zone/living/set/program",
        b'[{"at": "06:30", "mode": "heat", "temperature": 31}]',
        "[0].temperature: 31 °C is outside the zone's range 16..30 °C",
    ),
    (
        "zone/living/set/program",
        b"[" + b'{"at": "06:30", "mode": "off"},' * 64 + b'{"at": "07:00", "mode": "off"}]',
        "65 switch points: at most 64",
    ),
    ("unit/set/quiet", b"ON", UnitCommand(None, SetQuiet(True))),
    ("unit/set/quiet", b"yes", "allowed: ON, OFF"),
    ("unit/set/demand_limit", b"60", UnitCommand(None, SetDemandLimit(60))),
    ("unit/set/demand_limit", b"120", "outside 0..100"),
]


async def test_every_command_topic_with_valid_and_invalid_payloads(
    mosquitto: Mosquitto, mqtt_recorder: MessageRecorder
) -> None:
    commands = Commands()
    async with running(mosquitto, commands), mosquitto.client() as client:
        await ready(mqtt_recorder)
        for suffix, payload, expected in CONTRACT:
            mark = len(mqtt_recorder.messages)
            await client.publish(f"{BASE}/{suffix}", payload, qos=1)
            if isinstance(expected, str):
                error = await mqtt_recorder.wait_for(f"{BASE}/error", after=mark)
                report = json.loads(error.payload)
                assert report["topic"] == f"{BASE}/{suffix}"
                assert expected in report["error"], (suffix, report)
            else:
                assert await commands.next() == expected, suffix
        assert commands.received.empty()  # no reject reached on_command
    assert {suffix.rsplit("/", 1)[1] for suffix, _, _ in CONTRACT} == {*ZONE_FIELDS, *UNIT_FIELDS}


async def test_rejects_are_reported_a_few_per_kind_then_counted(
    mosquitto: Mosquitto, mqtt_recorder: MessageRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    """A flood of bad payloads costs a few log lines and error reports per kind and window, and
    what was held back is said in a summary."""
    commands = Commands()
    reports = ReportLimiter(burst=3, window_s=1.0)
    topic = f"{BASE}/zone/living/set/temperature"
    async with running(mosquitto, commands, reports=reports) as bridge, mosquitto.client() as c:
        await ready(mqtt_recorder)
        caplog.clear()
        for n in range(200):  # each payload distinct
            await c.publish(topic, f"{100 + n}".encode(), qos=1)
        await c.publish(f"{BASE}/unit/set/quiet", b"maybe", qos=1)  # another kind: reported
        await c.publish(f"{BASE}/zone/living/set/fan_mode", b"low", qos=1)
        await commands.next()
        assert bridge.rejected == 201
        summary = "197 more MQTT messages of the kind 'zone temperature' were not reported"
        await until(lambda: summary in caplog.text)
        errors = [json.loads(m.payload) for m in mqtt_recorder.on(f"{BASE}/error")]
        assert [e["topic"] for e in errors] == [topic] * 3 + [f"{BASE}/unit/set/quiet"]
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 5  # 3 + the other kind + the summary


async def test_home_assistant_online_floods_are_logged_a_few_times(
    mosquitto: Mosquitto, mqtt_recorder: MessageRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    """2,000 `homeassistant/status` made 2,000 log lines: now a few, then a count."""
    caplog.set_level(logging.INFO, logger="minisplit.controller.service.mqtt_bridge")
    reports = ReportLimiter(burst=3, window_s=1.0)
    async with running(mosquitto, reports=reports), mosquitto.client() as client:
        await ready(mqtt_recorder)
        caplog.clear()
        for _ in range(50):
            await client.publish("homeassistant/status", b"online", qos=1)
        summary = "47 more MQTT messages of the kind 'home assistant online'"
        await until(lambda: summary in caplog.text)
    assert caplog.text.count("Home Assistant is online") == 3


def _head(humidity: bool, vertical: bool, horizontal: bool) -> HeadInfo:
    return HeadInfo(1, 2025000011, 2500.0, humidity, vertical, horizontal)


async def test_the_entity_follows_what_the_head_says_it_can_do(
    mosquitto: Mosquitto, mqtt_recorder: MessageRecorder
) -> None:
    climate = "homeassistant/climate/house-living/config"
    async with running(mosquitto) as bridge, mosquitto.client() as client:
        await ready(mqtt_recorder)
        first = json.loads((await mqtt_recorder.wait_for(climate)).payload)
        assert "swing_modes" not in first and "current_humidity_topic" not in first
        mark = len(mqtt_recorder.messages)
        bridge.set_head_info("living", _head(humidity=True, vertical=True, horizontal=False))
        second = json.loads((await mqtt_recorder.wait_for(climate, after=mark)).payload)
        assert "swing_modes" in second and "current_humidity_topic" in second
        assert "swing_horizontal_modes" not in second
        await client.publish(f"{BASE}/zone/living/set/swing_horizontal_mode", b"swing", qos=1)
        error = await mqtt_recorder.wait_for(f"{BASE}/error")
        assert "has no horizontal vane" in json.loads(error.payload)["error"]
        # Only the entity that changed is published again.
        assert len(mqtt_recorder.on("homeassistant/climate/house-bedroom/config")) == 1


async def test_a_fahrenheit_house_sees_and_sends_fahrenheit(
    mosquitto: Mosquitto, mqtt_recorder: MessageRecorder
) -> None:
    commands = Commands()
    config = _config(mosquitto, temperature_unit="F")
    zones = [*ZONES[:2], ZONES[2].model_copy(update={"remote_sensor_unit": "C"})]
    async with (
        running(mosquitto, commands, config=config, zones=zones) as bridge,
        mosquitto.client() as client,
    ):
        await ready(mqtt_recorder)
        bridge.publish_zone_state("living", STATE)
        bridge.publish_unit_state({"outdoor_temperature": -10.0, "power": 800})
        state = json.loads((await mqtt_recorder.wait_for(f"{BASE}/zone/living/state")).payload)
        assert (state["current_temperature"], state["target_temperature"]) == (68.7, 69.8)
        assert (state["target_temperature_low"], state["target_temperature_high"]) == (68.0, 75.2)
        unit = json.loads((await mqtt_recorder.wait_for(f"{BASE}/unit/state")).payload)
        assert unit == {"outdoor_temperature": 14.0, "power": 800}
        await client.publish(f"{BASE}/zone/living/set/temperature", b"72", qos=1)
        command = await commands.next()
        assert isinstance(command, ZoneCommand) and isinstance(command.change, SetTarget)
        assert command.change.celsius == pytest.approx(22.222)
        await client.publish("zigbee2mqtt/bedroom_sensor", b'{"temperature": 68.9}', qos=1)
        reading = await commands.next()
        assert isinstance(reading, SensorReading) and reading.zone_id == "bedroom"
        assert reading.celsius == pytest.approx(20.5)
        await client.publish("sensors/office/temperature", b"19.5", qos=1)  # a °C sensor
        assert await commands.next() == SensorReading("office", 19.5)
        climate = json.loads(
            (await mqtt_recorder.wait_for("homeassistant/climate/house-living/config")).payload
        )
        assert (climate["temperature_unit"], climate["min_temp"], climate["max_temp"]) == (
            "F",
            61.0,
            86.0,
        )


async def test_closing_while_publishing_never_hangs(mosquitto: Mosquitto) -> None:
    """A stop that lands while a publish is being acknowledged ends the bridge (Python 3.11's
    `wait_for` would swallow that cancellation)."""
    for _ in range(8):
        bridge = make_bridge(_config(mosquitto))
        task = asyncio.create_task(bridge.run())

        def connected(b: MqttBridge = bridge) -> bool:
            return b.connected

        await until(connected)
        async with asyncio.timeout(3):
            await bridge.close()
            await task


# ---- random payloads on every command topic ------------------------------------------------


class Model:
    """The bridge's consumer in the fuzz test: applies what comes and checks every result."""

    def __init__(self, zones: list[ZoneConfig]) -> None:
        self.zones = {zone.id: zone for zone in zones}
        self.settings = {zone.id: ZoneSettings() for zone in zones}
        self.unit = UnitSettings()
        self.applied = 0

    def __call__(self, command: Command) -> None:
        self.applied += 1
        if isinstance(command, UnitCommand):
            self.unit = apply_unit(self.unit, command.change)
            assert 0 <= self.unit.demand_limit_pct <= 100
            return
        zone = self.zones[command.zone_id]
        if isinstance(command, ProgramCommand):
            for point in command.points:
                assert zone.min_temperature <= point.temperature <= zone.max_temperature
            return
        settings = apply_zone(self.settings[command.zone_id], command.change)
        for value in (
            settings.target_temperature,
            settings.target_temperature_low,
            settings.target_temperature_high,
        ):
            assert zone.min_temperature <= value <= zone.max_temperature, settings
        assert settings.target_temperature_high - settings.target_temperature_low >= 1.0 - 1e-9
        self.settings[command.zone_id] = settings

    def reading(self, zone_id: str, celsius: float) -> None:
        self.applied += 1
        assert zone_id in self.zones
        assert isinstance(celsius, float) and -30.0 <= celsius <= 60.0


FIELDS = [*ZONE_FIELDS, "colour", ""]
FUZZ_TOPICS = st.one_of(
    st.builds(
        lambda zone, field: f"{BASE}/zone/{zone}/set/{field}",
        st.sampled_from(["living", "bedroom", "office", "attic", "+", ""]),
        st.sampled_from(FIELDS),
    ),
    st.builds(lambda field: f"{BASE}/unit/set/{field}", st.sampled_from([*UNIT_FIELDS, "x"])),
    st.sampled_from(
        [
            "zigbee2mqtt/bedroom_sensor",
            "sensors/office/temperature",
            "homeassistant/status",
            f"{BASE}/zone/attic/availability",
            f"{BASE}/zone/living/availability",
        ]
    ),
    st.text(max_size=30).map(lambda t: f"{BASE}/{t}"),
)
FUZZ_PAYLOADS = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=40).map(str.encode),
    st.floats().map(lambda f: repr(f).encode()),
    st.integers(-(10**6), 10**6).map(lambda i: str(i).encode()),
    st.sampled_from(
        [
            b"ON",
            b"OFF",
            b"heat",
            b"heat_cool",
            b"swing",
            b"eco",
            b"none",
            b"online",
            b"21.5",
            b"16",
            b"29",
            b'{"temperature": 21.5}',
            b'{"temperature": "x"}',
        ]
    ),
)


class Consumer:
    """Hands the bridge's commands and readings to the model of the current example."""

    model = Model(ZONES)

    def __call__(self, command: Command) -> None:
        self.model(command)

    def reading(self, zone_id: str, celsius: float) -> None:
        self.model.reading(zone_id, celsius)


FUZZED = make_bridge(MqttConfig(), Consumer(), clock=lambda: 0.0)
FUZZED.set_head_info("living", _head(humidity=True, vertical=True, horizontal=False))


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=st.lists(st.tuples(FUZZ_TOPICS, FUZZ_PAYLOADS), min_size=1, max_size=8))
def test_random_messages_give_only_rejects_and_valid_changes(
    messages: list[tuple[str, bytes]],
) -> None:
    """Thousands of random messages, dispatched as the receive loop does (the broker adds
    nothing to what the bridge sees; a few hundred go through it in the next test)."""
    model = Consumer.model = Model(ZONES)
    bridge = FUZZED
    for topic, payload in messages:
        before = (dict(model.settings), model.unit, model.applied)
        outcomes = bridge.dispatch(topic, payload)
        for outcome in outcomes:
            assert isinstance(outcome, ZoneCommand | UnitCommand | SensorReading | CommandError)
        if outcomes and all(isinstance(o, CommandError) for o in outcomes):
            assert (dict(model.settings), model.unit, model.applied) == before
    for topic, payload, retain in bridge._pending:  # what would be published
        if topic == f"{BASE}/error":
            report = json.loads(payload)
            assert set(report) == {"topic", "payload", "error", "suppressed"} and not retain
            assert len(report["payload"]) <= 256


async def test_random_payloads_through_the_broker(
    mosquitto: Mosquitto, mqtt_recorder: MessageRecorder
) -> None:
    """A few hundred of them over the real broker: the bridge answers every one and stays up."""
    rng = random.Random(4)
    model = Model(ZONES)
    async with running(mosquitto, model) as bridge, mosquitto.client() as client:
        await ready(mqtt_recorder)
        fields = [*ZONE_FIELDS, "colour"]
        words = [b"ON", b"OFF", b"heat", b"cool", b"auto", b"swing", b"eco", b"21.5", b"\xff"]
        for _ in range(300):
            topic = f"{BASE}/zone/{rng.choice(['living', 'bedroom', 'attic'])}/set/"
            topic += rng.choice(fields)
            payload = rng.choice(
                [rng.choice(words), str(rng.uniform(-50, 80)).encode(), rng.randbytes(8)]
            )
            await client.publish(topic, payload, qos=1)
        await client.publish(f"{BASE}/unit/set/quiet", b"ON", qos=1)
        await until(lambda: model.unit.quiet, timeout=10)
        # Every message was either applied or rejected; a few rejects of each kind reported.
        await until(lambda: bridge.rejected + model.applied == 301)
        assert bridge.connected
        kinds = len(ZONE_FIELDS) + 2  # a field each, an unknown zone, an unknown field
        await until(lambda: len(mqtt_recorder.on(f"{BASE}/error")) > 0)
        assert len(mqtt_recorder.on(f"{BASE}/error")) <= 5 * kinds
        assert 0 < model.applied < 300


# ---- TLS -------------------------------------------------------------------------------------


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def _certificates(directory: Path) -> dict[str, Path]:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca, ca_key = directory / "ca.pem", directory / "ca.key"
    files = {"ca.pem": ca}
    _openssl("req", "-x509", *new_key, "-keyout", ca_key, "-out", ca, "-subj", "/CN=test CA")
    for who, subject in (("server", "/CN=127.0.0.1"), ("client", "/CN=controller")):
        key, csr, pem, ext = (directory / f"{who}.{s}" for s in ("key", "csr", "pem", "ext"))
        ext.write_text("subjectAltName=IP:127.0.0.1\n" if who == "server" else "")
        _openssl("req", *new_key, "-keyout", key, "-out", csr, "-subj", subject)
        signing: list[str | Path] = ["-CA", ca, "-CAkey", ca_key, "-CAcreateserial"]
        signing += ["-extfile", ext]
        _openssl("x509", "-req", "-in", csr, *signing, "-out", pem, "-days", "1")
        key.chmod(0o600)
        files[f"{who}.key"], files[f"{who}.pem"] = key, pem
    return files


async def test_tls_with_a_ca_and_a_client_certificate(
    mosquitto_factory: Callable[..., Mosquitto], tmp_path: Path
) -> None:
    certs = _certificates(tmp_path)
    broker = mosquitto_factory(
        f"cafile {certs['ca.pem']}\ncertfile {certs['server.pem']}\n"
        f"keyfile {certs['server.key']}\nrequire_certificate true\n"
    )
    tls = TlsConfig(
        ca_file=certs["ca.pem"], cert_file=certs["client.pem"], key_file=certs["client.key"]
    )
    client_tls = aiomqtt.TLSParameters(
        ca_certs=str(certs["ca.pem"]),
        certfile=str(certs["client.pem"]),
        keyfile=str(certs["client.key"]),
    )
    commands = Commands()
    async with (
        recording(broker, tls_params=client_tls) as recorder,
        running(broker, commands, config=_config(broker, tls=tls)),
        broker.client(tls_params=client_tls) as client,
    ):
        await ready(recorder)
        await client.publish(f"{BASE}/zone/living/set/temperature", b"20", qos=1)
        assert await commands.next() == ZoneCommand("living", SetTarget(Side.TARGET, 20.0))


async def test_tls_refuses_a_broker_it_cannot_verify(
    mosquitto_factory: Callable[..., Mosquitto], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    certs = _certificates(tmp_path)
    (tmp_path / "other").mkdir()
    other = _certificates(tmp_path / "other")
    broker = mosquitto_factory(
        f"cafile {certs['ca.pem']}\ncertfile {certs['server.pem']}\nkeyfile {certs['server.key']}\n"
    )
    tls = TlsConfig(ca_file=other["ca.pem"])  # a CA that did not sign the broker's certificate
    async with running(broker, config=_config(broker, tls=tls)) as bridge:
        await until(lambda: "certificate verify failed" in caplog.text)
        assert not bridge.connected


# ---- floods, retained messages, other controllers' topics --------------------------------------


async def flood(broker: Mosquitto, topic: str, count: int) -> None:
    """``count`` junk messages on ``topic`` as fast as mosquitto_pub (another process) sends."""
    pub = shutil.which("mosquitto_pub")
    if pub is None:
        pytest.skip("mosquitto_pub is not installed (apt-get install mosquitto-clients)")
    process = await asyncio.create_subprocess_exec(
        *[pub, "-h", broker.host, "-p", str(broker.port), "-t", topic, "-q", "0", "-l"],
        stdin=asyncio.subprocess.PIPE,
    )
    lines = "".join(f"junk {n}\n" for n in range(count)).encode()
    async with asyncio.timeout(60):
        await process.communicate(lines)
    assert process.returncode == 0


async def test_a_command_behind_a_flood_of_junk_is_applied(mosquitto: Mosquitto) -> None:
    """30,000 junk messages (they overran aiomqtt's 1,000-message queue, and the command the
    broker had acknowledged after them was discarded): the command still arrives."""
    commands = Commands()
    async with (
        recording(mosquitto, f"{BASE}/status") as status,
        running(mosquitto, commands) as bridge,
        mosquitto.client() as client,
    ):
        await status.wait_for(f"{BASE}/status", lambda m: m.payload == b"online")
        await flood(mosquitto, f"{BASE}/zone/living/set/temperature", 30_000)
        await client.publish(f"{BASE}/zone/living/set/fan_mode", b"low", qos=1)
        assert await commands.next(timeout=60) == ZoneCommand("living", SetFan(FanSpeed.LOW))
        # mosquitto drops QoS 0 messages for a subscriber that lags (its own queue limit), so
        # not all 30,000 arrive; far more than the 1,000 the old queue held do.
        assert 1_000 < bridge.rejected <= 30_000


async def test_retained_commands_are_not_acted_on(
    mosquitto: Mosquitto, mqtt_recorder: MessageRecorder
) -> None:
    """A command someone published with retain would be replayed at every (re)connect and
    override newer settings: it is refused, with a report that says why."""
    topic = f"{BASE}/zone/living/set/temperature"
    async with mosquitto.client() as client:
        await client.publish(topic, b"25", qos=1, retain=True)
        await client.publish(f"{BASE}/unit/set/quiet", b"ON", qos=1, retain=True)
    commands = Commands()
    async with running(mosquitto, commands) as bridge, mosquitto.client() as client:
        await ready(mqtt_recorder)
        error = await mqtt_recorder.wait_for(f"{BASE}/error")
        assert "retained" in json.loads(error.payload)["error"]
        await client.publish(topic, b"22", qos=1)  # the same topic, live: acted on
        assert await commands.next() == ZoneCommand("living", SetTarget(Side.TARGET, 22.0))
        assert commands.received.empty()
        assert bridge.rejected == 2


async def test_an_empty_payload_clears_a_retained_command_silently(
    mosquitto: Mosquitto, mqtt_recorder: MessageRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    """`mosquitto_pub -r -n` is how a user removes the retained command refused above: an
    empty payload is no command (nor a reading), retained or live, so it is neither applied nor
    reported; it was a WARNING and an error report saying "empty"."""
    caplog.set_level(logging.DEBUG, logger="minisplit.controller.service.mqtt_bridge")
    topic = f"{BASE}/zone/living/set/mode"
    async with mosquitto.client() as client:
        await client.publish(topic, b"heat", qos=1, retain=True)
    commands = Commands()
    async with running(mosquitto, commands) as bridge, mosquitto.client() as client:
        await ready(mqtt_recorder)
        await mqtt_recorder.wait_for(f"{BASE}/error")  # the retained command, refused
        assert bridge.rejected == 1
        caplog.clear()
        for empty_on in (
            topic,
            f"{BASE}/unit/set/quiet",
            f"{BASE}/zone/attic/set/mode",
            "sensors/office/temperature",
        ):
            await client.publish(empty_on, b"", qos=1, retain=True)
            await client.publish(empty_on, b"", qos=1)
        # Delivered after the empty ones (one publisher, QoS 1: in order), so they are handled.
        await client.publish(topic, b"cool", qos=1)
        assert await commands.next() == ZoneCommand("living", SetMode(ZoneMode.COOL))
        assert commands.received.empty()
        assert bridge.rejected == 1
        assert len(mqtt_recorder.on(f"{BASE}/error")) == 1
        assert [r.message for r in caplog.records if r.levelno >= logging.INFO] == []
        assert f"ignoring an empty payload on {topic}" in caplog.text


async def test_a_retained_sensor_reading_waits_for_a_fresh_one(
    mosquitto: Mosquitto, mqtt_recorder: MessageRecorder
) -> None:
    """A retained reading may be hours old: the zone keeps its own sensor until one arrives."""
    async with mosquitto.client() as client:
        await client.publish("sensors/office/temperature", b"15.0", qos=1, retain=True)
    commands = Commands()
    async with running(mosquitto, commands), mosquitto.client() as client:
        await ready(mqtt_recorder)
        await client.publish("sensors/office/temperature", b"22.1", qos=1)
        assert await commands.next() == SensorReading("office", 22.1)


async def test_a_forged_offline_status_is_corrected(
    mosquitto: Mosquitto, mqtt_recorder: MessageRecorder
) -> None:
    async with running(mosquitto), mosquitto.client() as client:
        await ready(mqtt_recorder)
        mark = len(mqtt_recorder.messages)
        await client.publish(f"{BASE}/status", b"offline", qos=1, retain=True)
        await mqtt_recorder.wait_for(f"{BASE}/status", lambda m: m.payload == b"online", after=mark)
        assert await retained(mosquitto, f"{BASE}/status") == b"online"


async def test_its_own_offline_is_not_taken_for_a_forgery(
    mosquitto: Mosquitto, mqtt_recorder: MessageRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    """The `offline` its last stop left retained, and the echo of the one it says while
    stopping, are its own: no `online` again, no log line saying so (it said that at every
    start and every stop)."""
    caplog.set_level(logging.INFO, logger="minisplit.controller.service.mqtt_bridge")
    async with mosquitto.client() as client:
        await client.publish(f"{BASE}/status", b"offline", qos=1, retain=True)
    bridge = make_bridge(_config(mosquitto))
    task = asyncio.create_task(bridge.run())
    await ready(mqtt_recorder)
    assert await retained(mosquitto, f"{BASE}/status") == b"online"
    task.cancel()  # as SIGTERM and Ctrl-C stop it
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await retained(mosquitto, f"{BASE}/status") == b"offline"
    assert "publishing online again" not in caplog.text


async def test_two_controllers_whose_ids_joined_with_underscore_coincide(
    mosquitto: Mosquitto, mqtt_recorder: MessageRecorder
) -> None:
    """Controller `a` zone `b_c` and controller `a_b` zone `c` keep one entity each."""
    zone = ZONES[0]
    async with (
        running(mosquitto, controller_id="a", zones=[zone.model_copy(update={"id": "b_c"})]),
        running(mosquitto, controller_id="a_b", zones=[zone.model_copy(update={"id": "c"})]),
    ):
        await ready(mqtt_recorder, "a")
        await ready(mqtt_recorder, "a_b")
        for topic, unique_id in [
            ("homeassistant/climate/a-b_c/config", "minisplit-a-b_c-climate"),
            ("homeassistant/climate/a_b-c/config", "minisplit-a_b-c-climate"),
        ]:
            assert json.loads(await retained(mosquitto, topic))["unique_id"] == unique_id


async def test_discovery_is_cleared_only_where_it_holds_what_we_published(
    mosquitto: Mosquitto, mqtt_recorder: MessageRecorder
) -> None:
    """Older versions named discovery topics `<controller>_<zone>`: this controller's are
    cleared (no duplicate entities in Home Assistant), but not another controller's at a name
    this one could also have had (controller `house_attic` there, where zone `attic` of `house`
    would have been), not even when a zone `attic` of `house` was left behind."""
    ours = "homeassistant/climate/house_living/config"
    theirs = "homeassistant/climate/house_attic/config"
    their_config = b'{"unique_id": "minisplit-house_attic-climate"}'
    retired = "homeassistant/sensor/house-attic-demand/config"  # zone attic, removed since
    async with mosquitto.client() as client:
        for topic, payload in [
            (ours, b'{"unique_id": "minisplit-house-living-climate"}'),
            (theirs, their_config),
            (retired, b'{"unique_id": "minisplit-house-attic-demand"}'),
            (f"{BASE}/zone/attic/availability", b"online"),
        ]:
            await client.publish(topic, payload, qos=1, retain=True)
    async with running(mosquitto), mosquitto.client() as client:
        await mqtt_recorder.wait_for(ours, lambda m: m.payload == b"")
        await mqtt_recorder.wait_for(retired, lambda m: m.payload == b"")
        # `online` for a zone it does not have, published now by anyone: nothing is cleared.
        await client.publish(f"{BASE}/zone/attic/availability", b"online", qos=1)
        await client.publish(f"{BASE}/zone/cellar/availability", b"online", qos=1)
        await ready(mqtt_recorder)
    assert await retained(mosquitto, theirs) == their_config


async def test_without_an_outdoor_unit_its_announced_entities_are_cleared(
    mosquitto: Mosquitto, mqtt_recorder: MessageRecorder
) -> None:
    """A config that had an [outdoor_unit] and has none now (setpoint-driven heads): the unit's
    entities it announced are removed from Home Assistant, and no new ones are announced."""
    frequency = "homeassistant/sensor/house-unit-compressor_frequency/config"
    quiet = "homeassistant/switch/house-unit-quiet/config"
    async with mosquitto.client() as client:
        for topic, unique_id in [
            (frequency, "minisplit-house-unit-compressor_frequency"),
            (quiet, "minisplit-house-unit-quiet"),
        ]:
            payload = json.dumps({"unique_id": unique_id}).encode()
            await client.publish(topic, payload, qos=1, retain=True)
    async with running(mosquitto, outdoor_unit=False):
        await mqtt_recorder.wait_for(frequency, lambda m: m.payload == b"")
        await mqtt_recorder.wait_for(quiet, lambda m: m.payload == b"")
        # The last zone's demand sensor is the last discovery message without a unit.
        await mqtt_recorder.wait_for("homeassistant/sensor/house-office-demand/config")
    announced = mqtt_recorder.on("homeassistant/+/+/config")
    # Only the two published above.
    assert [m.topic.value for m in announced if b"-unit-" in m.payload] == [frequency, quiet]


async def test_an_entity_the_outdoor_units_profile_lacks_is_cleared(
    mosquitto: Mosquitto, mqtt_recorder: MessageRecorder
) -> None:
    """A unit whose profile has no quiet lever (say, after a profile change): the quiet switch
    announced before is removed from Home Assistant; what it has stays announced."""
    quiet = "homeassistant/switch/house-unit-quiet/config"
    temperature = "homeassistant/sensor/house-unit-outdoor_temperature/config"
    async with mosquitto.client() as client:
        payload = json.dumps({"unique_id": "minisplit-house-unit-quiet"}).encode()
        await client.publish(quiet, payload, qos=1, retain=True)
    async with running(mosquitto, systems=[UnitSystem(odu=SPARSE_ODU)]):
        await mqtt_recorder.wait_for(quiet, lambda m: m.payload == b"")
        await mqtt_recorder.wait_for(temperature, lambda m: m.payload != b"")
        await mqtt_recorder.wait_for("homeassistant/sensor/house-office-demand/config")
    announced = {m.topic.value for m in mqtt_recorder.on("homeassistant/+/+/config")}
    assert not any("frequency" in t or "demand_limit" in t or "power" in t for t in announced)


def test_only_a_retained_availability_of_a_zone_id_retires_it() -> None:
    """Pure dispatch: what makes the bridge look at a zone's discovery topics."""
    bridge = make_bridge(MqttConfig(), clock=lambda: 0.0)
    before = bridge.subscriptions
    bridge.dispatch(f"{BASE}/zone/attic/availability", b"online")  # live: anyone may say it
    bridge.dispatch(f"{BASE}/zone/no-id/availability", b"online", retained=True)
    bridge.dispatch(f"{BASE}/zone/living/availability", b"online", retained=True)  # configured
    assert bridge.subscriptions == before
    bridge.dispatch(f"{BASE}/zone/attic/availability", b"online", retained=True)
    assert set(bridge.subscriptions) - set(before) == {
        "homeassistant/climate/house-attic/config",
        "homeassistant/climate/house_attic/config",
        "homeassistant/sensor/house-attic-demand/config",
        "homeassistant/sensor/house_attic_demand/config",
        "homeassistant/switch/house-attic-schedule/config",
        "homeassistant/binary_sensor/house-attic-forecast_hold/config",
    }


# ---- weekly programs over MQTT -----------------------------------------------------------------

LIVING_SWITCH = "homeassistant/switch/house-living-schedule/config"
LIVING_PROGRAM = f"{BASE}/zone/living/program"


async def test_a_zone_given_a_program_over_mqtt_gets_its_schedule_switch_and_loses_it_with_it(
    mosquitto: Mosquitto, mqtt_recorder: MessageRecorder
) -> None:
    """The living room has no program in its config: none published, no schedule switch, and
    set/schedule refused; with a program from MQTT, the program is published, the switch
    announced and set/schedule taken; the program cleared, the switch goes again."""
    commands = Commands()
    async with running(mosquitto, commands) as bridge, mosquitto.client() as client:
        await ready(mqtt_recorder)
        bridge.publish_zone_program("living", ())
        await mqtt_recorder.wait_for(LIVING_PROGRAM, lambda m: m.payload == b"[]")
        assert await retained(mosquitto, LIVING_PROGRAM) == b"[]"
        assert not mqtt_recorder.on(LIVING_SWITCH)
        points = (
            SwitchPoint(at="06:30", days=["mon", "tue"], mode=ZoneMode.HEAT, temperature=21.5),
        )
        bridge.publish_zone_program("living", points)
        switch = json.loads((await mqtt_recorder.wait_for(LIVING_SWITCH)).payload)
        assert switch["command_topic"] == f"{BASE}/zone/living/set/schedule"
        await mqtt_recorder.wait_for(LIVING_PROGRAM, lambda m: m.payload != b"[]")
        assert json.loads(await retained(mosquitto, LIVING_PROGRAM)) == [
            {
                "at": "06:30",
                "days": ["mon", "tue"],
                "mode": "heat",
                "temperature": 21.5,
                "temperature_low": 20.0,
                "temperature_high": 24.0,
                "fan": "auto",
                "preset": "none",
            }
        ]
        await client.publish(f"{BASE}/zone/living/set/schedule", b"OFF", qos=1)
        assert await commands.next() == ZoneCommand("living", SetSchedule(False))
        mark = len(mqtt_recorder.messages)
        bridge.publish_zone_program("living", ())
        await mqtt_recorder.wait_for(LIVING_SWITCH, lambda m: m.payload == b"", after=mark)
        await mqtt_recorder.wait_for(LIVING_PROGRAM, lambda m: m.payload == b"[]", after=mark)
        await client.publish(f"{BASE}/zone/living/set/schedule", b"ON", qos=1)
        error = await mqtt_recorder.wait_for(f"{BASE}/error", after=mark)
        assert "zone 'living' has no weekly program" in json.loads(error.payload)["error"]
    assert commands.received.empty()


async def test_a_program_is_published_in_the_houses_unit(
    mosquitto: Mosquitto, mqtt_recorder: MessageRecorder
) -> None:
    config = _config(mosquitto, temperature_unit="F")
    async with running(mosquitto, config=config) as bridge:
        await ready(mqtt_recorder)
        bridge.publish_zone_program("living", (SwitchPoint(at="06:30", mode=ZoneMode.HEAT),))
        (point,) = json.loads((await mqtt_recorder.wait_for(LIVING_PROGRAM)).payload)
    # The defaults 21, 20 and 24 °C.
    assert (point["temperature"], point["temperature_low"], point["temperature_high"]) == (
        69.8,
        68.0,
        75.2,
    )


def test_a_zone_started_with_a_program_from_mqtt_keeps_its_schedule_switch() -> None:
    """Pure: a program saved from MQTT at the start; the living room's switch is announced and
    its retained config not claimed for clearing (only a zone without any program's is)."""
    bridge = make_bridge(MqttConfig(), clock=lambda: 0.0, programmed={"living", "office"})
    assert LIVING_SWITCH in bridge.discovery
    assert LIVING_SWITCH not in bridge.subscriptions
    assert "homeassistant/switch/house-bedroom-schedule/config" in bridge.subscriptions
    assert (
        make_bridge(MqttConfig(), clock=lambda: 0.0).discovery.keys() - bridge.discovery.keys()
        == set()
    )
