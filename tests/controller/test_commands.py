"""Parsing of MQTT command payloads into settings transitions and sensor readings."""

from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minisplit.controller.config import ZoneConfig
from minisplit.controller.core.settings import Preset, ZoneMode, ZoneSettings
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
    UnitTransition,
    ZoneTransition,
    apply_zone,
)
from minisplit.controller.schedule_config import SwitchPoint
from minisplit.controller.service.commands import (
    UNIT_FIELDS,
    ZONE_FIELDS,
    CommandError,
    ProgramCommand,
    SensorReading,
    ZoneCommand,
    parse_remote_sensor,
    parse_unit_command,
    parse_zone_command,
)
from minisplit.controller.service.temperature_units import TemperatureUnit
from minisplit.drivers.capabilities import capabilities
from minisplit.drivers.profile import load_profile
from minisplit.drivers.records import HeadInfo
from minisplit.drivers.vocabulary import FanSpeed, VanePosition
from tests.fixtures.profiles import head_with

REFERENCE_HEAD = capabilities(load_profile("reference-head"))
ZONE = ZoneConfig(id="living", name="Living room", bus="rs485", unit_id=11)  # 16..30 °C

VALID_ZONE: list[tuple[str, bytes, ZoneTransition | SensorReading]] = [
    ("mode", b"heat", SetMode(ZoneMode.HEAT)),
    ("mode", b"off", SetMode(ZoneMode.OFF)),
    ("mode", b" heat_cool\n", SetMode(ZoneMode.HEAT_COOL)),
    ("mode", b"fan_only", SetMode(ZoneMode.FAN_ONLY)),
    ("temperature", b"21.5", SetTarget(Side.TARGET, 21.5)),
    ("temperature", b"21", SetTarget(Side.TARGET, 21.0)),
    ("temperature", b"16", SetTarget(Side.TARGET, 16.0)),
    ("temperature", b"30.0", SetTarget(Side.TARGET, 30.0)),
    ("temperature", b"21.449999", SetTarget(Side.TARGET, 21.4)),
    ("temperature", b"15.96", SetTarget(Side.TARGET, 16.0)),  # rounds onto the limit
    ("temperature", b"2.15e1", SetTarget(Side.TARGET, 21.5)),
    ("temperature_low", b"19.5", SetTarget(Side.LOW, 19.5)),
    ("temperature_low", b"29", SetTarget(Side.LOW, 29.0)),
    ("temperature_high", b"25", SetTarget(Side.HIGH, 25.0)),
    ("temperature_high", b"17", SetTarget(Side.HIGH, 17.0)),
    ("fan_mode", b"auto", SetFan(FanSpeed.AUTO)),
    ("fan_mode", b"turbo", SetFan(FanSpeed.TURBO)),
    ("swing_mode", b"swing", SetSwing(VanePosition.SWING)),
    ("swing_mode", b"3", SetSwing(VanePosition.P3)),
    ("swing_horizontal_mode", b"auto", SetSwingHorizontal(VanePosition.AUTO)),
    ("swing_horizontal_mode", b"5", SetSwingHorizontal(VanePosition.P5)),
    ("preset_mode", b"eco", SetPreset(Preset.ECO)),
    ("preset_mode", b"none", SetPreset(Preset.NONE)),
    ("power", b"ON", SetPower(True)),
    ("power", b"OFF", SetPower(False)),
    # A room sensor's reading: no change to the settings.
    ("remote_temperature", b"20.37", SensorReading("living", 20.37)),
    ("remote_temperature", b"-30", SensorReading("living", -30.0)),
    ("remote_temperature", b"60", SensorReading("living", 60.0)),
]


def _celsius(outcome: ZoneCommand | ProgramCommand | SensorReading) -> float:
    """The temperature a setpoint command or a reading carries."""
    if isinstance(outcome, SensorReading):
        return outcome.celsius
    assert isinstance(outcome, ZoneCommand) and isinstance(outcome.change, SetTarget), outcome
    return outcome.change.celsius


@pytest.mark.parametrize(("field", "payload", "expected"), VALID_ZONE)
def test_valid_zone_commands_are_typed(
    field: str, payload: bytes, expected: ZoneTransition | SensorReading
) -> None:
    outcome = parse_zone_command(ZONE, field, payload)
    if isinstance(expected, SensorReading):
        assert outcome == expected
    else:
        assert outcome == ZoneCommand("living", expected)
    if isinstance(expected, SetTarget | SensorReading):
        assert type(_celsius(outcome)) is float


INVALID_ZONE = [
    ("mode", b"", "empty"),
    ("mode", b"   ", "empty"),
    ("mode", b"HEAT", "allowed: off, heat, cool, heat_cool, dry, fan_only"),
    ("mode", b"auto", "allowed"),
    ("mode", b"\xff\xfe", "UTF-8"),
    ("mode", b"heat" * 100, "longer than"),
    ("temperature", b"warm", "not a decimal number"),
    ("temperature", b"nan", "not a decimal number"),
    ("temperature", b"NaN", "not a decimal number"),
    ("temperature", b"inf", "not a decimal number"),
    ("temperature", b"-Infinity", "not a decimal number"),
    ("temperature", b"1e999", "not a finite number"),
    ("temperature", b"2_1", "not a decimal number"),
    ("temperature", "٢١".encode(), "not a decimal number"),  # Arabic-Indic digits
    ("temperature", b"21,5", "not a decimal number"),
    ("temperature", b'{"temperature": 21}', "not a decimal number"),
    ("temperature", b"0x15", "not a decimal number"),
    ("temperature", b"15.9", "outside 16..30"),
    ("temperature", b"30.06", "outside 16..30"),
    ("temperature", b"-5", "outside"),
    ("temperature", b"", "empty"),
    ("temperature", b"\xc3\x28", "UTF-8"),
    ("temperature_low", b"29.5", "outside 16..29"),  # leaves no room for the deadband
    ("temperature_high", b"16.5", "outside 17..30"),
    ("fan_mode", b"Auto", "allowed: auto, quiet, low, medium, high, turbo"),
    ("fan_mode", b"2", "allowed"),
    ("swing_mode", b"on", "allowed: auto, 1, 2, 3, 4, 5, swing"),
    ("swing_mode", b"6", "allowed"),
    ("swing_horizontal_mode", b"off", "allowed"),
    ("preset_mode", b"home", "allowed: none, comfort, eco, away, sleep, boost"),
    ("power", b"on", "allowed: ON, OFF"),
    ("power", b"1", "allowed: ON, OFF"),
    ("power", b"true", "allowed"),
    ("remote_temperature", b"-30.1", "outside -30..60"),
    ("remote_temperature", b"85", "outside -30..60"),
    ("remote_temperature", b"nan", "not a decimal number"),
    ("remote_temperature", b"", "empty"),
    ("target_temperature", b"21", "unknown zone field 'target_temperature'"),
    ("quiet", b"ON", "unknown zone field"),
]


@pytest.mark.parametrize(("field", "payload", "why"), INVALID_ZONE)
def test_invalid_zone_commands_say_why(field: str, payload: bytes, why: str) -> None:
    with pytest.raises(CommandError) as raised:
        parse_zone_command(ZONE, field, payload, capabilities=REFERENCE_HEAD)
    message = str(raised.value)
    assert why in message
    assert field in message  # names the field …
    assert len(message) < 400  # … and quotes a long payload only in part


def test_error_message_quotes_the_payload() -> None:
    with pytest.raises(CommandError, match=r"temperature: payload '35' rejected: 35 is outside"):
        parse_zone_command(ZONE, "temperature", b"35")


def test_zone_limits_come_from_the_zone_config() -> None:
    cold_room = ZONE.model_copy(update={"min_temperature": 10.0, "max_temperature": 22.0})
    assert _celsius(parse_zone_command(cold_room, "temperature", b"10")) == 10.0
    with pytest.raises(CommandError, match=r"outside 10\.\.22"):
        parse_zone_command(cold_room, "temperature", b"23")


@pytest.mark.parametrize(
    ("field", "payload", "expected"),
    [
        ("quiet", b"ON", SetQuiet(True)),
        ("quiet", b"OFF ", SetQuiet(False)),
        ("demand_limit", b"0", SetDemandLimit(0)),
        ("demand_limit", b"55", SetDemandLimit(55)),
        ("demand_limit", b"100", SetDemandLimit(100)),
        # what Home Assistant's number entity may send
        ("demand_limit", b"40.0", SetDemandLimit(40)),
    ],
)
def test_valid_unit_commands(field: str, payload: bytes, expected: UnitTransition) -> None:
    command = parse_unit_command(field, payload).change
    assert command == expected
    if isinstance(command, SetDemandLimit):
        assert type(command.pct) is int


@pytest.mark.parametrize(
    ("field", "payload", "why"),
    [
        ("quiet", b"on", "allowed: ON, OFF"),
        ("quiet", b"", "empty"),
        ("quiet", b"\x80", "UTF-8"),
        ("demand_limit", b"101", "outside 0..100"),
        ("demand_limit", b"-1", "outside 0..100"),
        ("demand_limit", b"50.5", "whole number"),
        ("demand_limit", b"nan", "not a decimal number"),
        ("demand_limit", b"1e400", "not a finite number"),
        ("demand_limit", b"half", "not a decimal number"),
        ("demand_limit", b"", "empty"),
        ("mode", b"heat", "unknown unit field 'mode'"),
    ],
)
def test_invalid_unit_commands_say_why(field: str, payload: bytes, why: str) -> None:
    with pytest.raises(CommandError, match=why):
        parse_unit_command(field, payload)


ALL_FIELDS = [("zone", f) for f in ZONE_FIELDS] + [("unit", f) for f in UNIT_FIELDS]


# Random bytes, random text, numbers of every kind and the words the parsers know.
PAYLOADS = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=40).map(str.encode),
    st.floats().map(lambda f: repr(f).encode()),
    st.integers(-(10**30), 10**30).map(lambda i: str(i).encode()),
    st.sampled_from([v for _, p, _ in VALID_ZONE for v in (p, p.upper(), p + b"\x00")]),
)


@pytest.mark.parametrize(("kind", "field"), ALL_FIELDS)
@given(payload=PAYLOADS)
def test_any_payload_gives_a_command_or_a_command_error(
    kind: str, field: str, payload: bytes
) -> None:
    try:
        if kind == "zone":
            outcome: ZoneCommand | ProgramCommand | SensorReading | UnitTransition = (
                parse_zone_command(ZONE, field, payload)
            )
        else:
            outcome = parse_unit_command(field, payload).change
    except CommandError:
        return
    if kind == "unit":
        assert isinstance(outcome, SetQuiet if field == "quiet" else SetDemandLimit)
        return
    assert isinstance(outcome, ZoneCommand | SensorReading)
    assert isinstance(outcome, SensorReading) == (field == "remote_temperature")
    if field in ("temperature", "temperature_low", "temperature_high", "remote_temperature"):
        celsius = _celsius(outcome)
        assert celsius == celsius  # not NaN
        assert -30.0 <= celsius <= 60.0


@given(payload=st.binary(max_size=300), field=st.none() | st.sampled_from(["temperature", "t"]))
def test_any_remote_sensor_payload_gives_a_reading_or_a_command_error(
    payload: bytes, field: str | None
) -> None:
    try:
        value = parse_remote_sensor(payload, field)
    except CommandError:
        return
    assert -30.0 <= value <= 60.0


# What Zigbee2MQTT publishes for an Aqara temperature sensor with `last_seen` on: 301 bytes,
# all of it refused when sensor payloads had the commands' limit of 256.
ZIGBEE2MQTT_AQARA = (
    b'{"battery":100,"device_temperature":24,"elapsed":300012,"humidity":45.12,'
    b'"last_seen":"2026-12-06T16:34:20.072Z","linkquality":156,"power_outage_count":12,'
    b'"pressure":1012.3,"temperature":21.47,"update":{"installed_version":-1,'
    b'"latest_version":-1,"state":"idle"},"update_available":false,"voltage":3015}'
)


@pytest.mark.parametrize(
    ("payload", "field", "value"),
    [
        (b"21.3", None, 21.3),
        (b" 21.3 ", "temperature", 21.3),  # a plain number is fine even with a field set
        (b'{"temperature": 22.41, "humidity": 48, "battery": 90}', "temperature", 22.41),
        (b'{"temperature": 19, "linkquality": 120}', "temperature", 19.0),
        (b'{"temp_c": -4.5}', "temp_c", -4.5),
        (ZIGBEE2MQTT_AQARA, "temperature", 21.47),
    ],
)
def test_remote_sensor_readings(payload: bytes, field: str | None, value: float) -> None:
    assert parse_remote_sensor(payload, field) == value


@pytest.mark.parametrize(
    ("payload", "field", "why"),
    [
        (b'{"temperature": 21}', None, "needs remote_sensor_field"),
        (b'{"humidity": 40}', "temperature", "no field 'temperature'"),
        (b'{"temperature": "21"}', "temperature", "not a number"),
        (b'{"temperature": null}', "temperature", "not a number"),
        (b'{"temperature": true}', "temperature", "not a number"),
        (b'{"temperature": NaN}', "temperature", "not valid JSON"),
        (b'{"temperature": 1e999}', "temperature", "not a finite number"),
        (b'{"temperature": 99}', "temperature", "outside -30..60"),
        (b'{"temperature": 21', "temperature", "not valid JSON"),
        (b"[21]", "temperature", "expected a JSON object"),
        (b"offline", None, "expected a number"),
        (b"", "temperature", "empty"),
        (b"\xff", None, "UTF-8"),
        (b'{"a":' + b"[" * 2000 + b"]" * 2000 + b"}", "temperature", "not valid JSON"),
        (b'{"temperature": 21, "x": "' + b"a" * 4096 + b'"}', "temperature", "longer than"),
    ],
)
def test_unusable_remote_sensor_payloads(payload: bytes, field: str | None, why: str) -> None:
    with pytest.raises(CommandError, match=why):
        parse_remote_sensor(payload, field)


# -- parsed commands applied: the limits leave room for the heat_cool deadband --


@pytest.mark.parametrize(
    ("field", "payload"),
    [("temperature_low", b"29"), ("temperature_high", b"17")],
)
def test_pushed_setpoints_stay_within_the_zone_limits(field: str, payload: bytes) -> None:
    command = parse_zone_command(ZONE, field, payload)
    assert isinstance(command, ZoneCommand)
    settings = apply_zone(ZoneSettings(mode=ZoneMode.HEAT_COOL), command.change)
    low, high = settings.target_temperature_low, settings.target_temperature_high
    assert ZONE.min_temperature <= low <= high - 1.0 <= ZONE.max_temperature - 1.0


# -- Fahrenheit houses and what the head can do --

F = TemperatureUnit.FAHRENHEIT


@pytest.mark.parametrize(
    ("field", "payload", "celsius"),
    [
        ("temperature", b"72", 22.222),
        ("temperature", b"60.8", 16.0),  # exactly the 16 °C limit
        ("temperature", b"86", 30.0),
        ("temperature_low", b"68.5", 20.278),
        ("temperature_high", b"77", 25.0),
        ("remote_temperature", b"70.1", 21.167),
    ],
)
def test_fahrenheit_commands_arrive_in_celsius(field: str, payload: bytes, celsius: float) -> None:
    outcome = parse_zone_command(ZONE, field, payload, F)
    assert _celsius(outcome) == pytest.approx(celsius, abs=1e-9)


@pytest.mark.parametrize(
    ("field", "payload", "why"),
    [
        ("temperature", b"60.7", "60.7 is outside 60.8..86 °F"),
        ("temperature", b"21", "outside 60.8..86 °F"),  # a °C value sent by mistake
        ("temperature_high", b"61", "outside 62.6..86 °F"),
        ("remote_temperature", b"150", "outside -22..140 °F"),
    ],
)
def test_fahrenheit_rejects_speak_fahrenheit(field: str, payload: bytes, why: str) -> None:
    with pytest.raises(CommandError, match=re.escape(why)):
        parse_zone_command(ZONE, field, payload, F)


def test_a_remote_sensor_may_publish_in_fahrenheit() -> None:
    assert parse_remote_sensor(b'{"t": 68}', "t", F) == pytest.approx(20.0)
    with pytest.raises(CommandError, match="°F"):
        parse_remote_sensor(b"212", None, F)


HEAD = HeadInfo(
    firmware_version=1,
    serial_number=1,
    rated_capacity_w=2500.0,
    has_humidity_sensor=False,
    has_vertical_vane=True,
    has_horizontal_vane=False,
)


def test_swing_commands_need_the_vane() -> None:
    swing = parse_zone_command(ZONE, "swing_mode", b"swing", head=HEAD)
    assert swing == ZoneCommand("living", SetSwing(VanePosition.SWING))
    with pytest.raises(CommandError, match="has no horizontal vane"):
        parse_zone_command(ZONE, "swing_horizontal_mode", b"swing", head=HEAD)
    no_vanes = dataclasses.replace(HEAD, has_vertical_vane=False)
    with pytest.raises(CommandError, match="has no vertical vane"):
        parse_zone_command(ZONE, "swing_mode", b"auto", head=no_vanes)
    # Before the head has answered, nothing is known and nothing is refused for it.
    assert parse_zone_command(ZONE, "swing_horizontal_mode", b"3") == ZoneCommand(
        "living", SetSwingHorizontal(VanePosition.P3)
    )


def test_swing_commands_take_only_the_vanes_own_positions() -> None:
    """Intesis Daikin's vanes only swing or not (auto); the DIII-net louver has five
    positions and swing, no auto."""
    intesis = capabilities(load_profile("intesis-daikin"))
    command = parse_zone_command(ZONE, "swing_horizontal_mode", b"swing", capabilities=intesis)
    assert command == ZoneCommand("living", SetSwingHorizontal(VanePosition.SWING))
    with pytest.raises(CommandError, match="allowed: auto, swing"):
        parse_zone_command(ZONE, "swing_mode", b"3", capabilities=intesis)
    diii = capabilities(load_profile("daikin-diii-net"))
    with pytest.raises(CommandError, match="allowed: 1, 2, 3, 4, 5, swing"):
        parse_zone_command(ZONE, "swing_mode", b"auto", capabilities=diii)
    with pytest.raises(CommandError, match="none"):  # it has no left/right louver
        parse_zone_command(ZONE, "swing_horizontal_mode", b"swing", capabilities=diii)


def test_mode_and_fan_commands_take_only_the_heads_own() -> None:
    five_steps = head_with(
        '{ 0 = "auto", 1 = "heat", 2 = "cool" }',
        '{ 1 = "low", 2 = "medium_low", 3 = "medium", 4 = "medium_high", 5 = "high" }',
    )
    command = parse_zone_command(ZONE, "fan_mode", b"medium_high", capabilities=five_steps)
    assert command == ZoneCommand("living", SetFan(FanSpeed.MEDIUM_HIGH))
    with pytest.raises(CommandError, match="allowed: low, medium_low, medium, medium_high, high"):
        parse_zone_command(ZONE, "fan_mode", b"turbo", capabilities=five_steps)
    with pytest.raises(CommandError, match=r"allowed: off, heat, cool, heat_cool$"):
        parse_zone_command(ZONE, "mode", b"dry", capabilities=five_steps)
    no_fan = head_with('{ 1 = "heat" }', None)
    with pytest.raises(CommandError, match=r"allowed: none \(the head has no such lever\)"):
        parse_zone_command(ZONE, "fan_mode", b"auto", capabilities=no_fan)


def test_the_schedule_switch_takes_on_or_off_for_a_zone_with_a_program() -> None:
    program = [SwitchPoint(at="06:30", mode=ZoneMode.HEAT)]
    programmed = ZONE.model_copy(update={"schedule": program})
    assert parse_zone_command(programmed, "schedule", b"OFF") == ZoneCommand(
        "living", SetSchedule(False)
    )
    assert parse_zone_command(programmed, "schedule", b" ON\n") == ZoneCommand(
        "living", SetSchedule(True)
    )
    with pytest.raises(CommandError, match="schedule: payload 'on' rejected: allowed: ON, OFF"):
        parse_zone_command(programmed, "schedule", b"on")
    with pytest.raises(CommandError, match="zone 'living' has no weekly program"):
        parse_zone_command(ZONE, "schedule", b"ON")
    with pytest.raises(CommandError, match="zone 'living' has no weekly program"):
        parse_zone_command(programmed, "schedule", b"ON", programmed=False)
    # A program sent over MQTT makes the schedule switchable too (the bridge knows of it).
    assert parse_zone_command(ZONE, "schedule", b"OFF", programmed=True) == ZoneCommand(
        "living", SetSchedule(False)
    )


# ---- set/program: a weekly program as JSON ---------------------------------------------------


def test_a_program_is_taken_with_the_configs_keys_and_put_in_canonical_order() -> None:
    payload = (
        b'[{"at": "22:00", "mode": "heat", "temperature": 18, "preset": "sleep"},'
        b' {"at": "06:30", "days": ["sat", "mon", "sat"], "mode": "heat_cool",'
        b'  "temperature_low": 20, "temperature_high": 23.5, "fan": "low"}]'
    )
    command = parse_zone_command(ZONE, "program", payload, capabilities=REFERENCE_HEAD)
    assert command == ProgramCommand(
        "living",
        (
            SwitchPoint(
                at="06:30",
                days=["mon", "sat"],
                mode=ZoneMode.HEAT_COOL,
                temperature_low=20.0,
                temperature_high=23.5,
                fan=FanSpeed.LOW,
            ),
            SwitchPoint(at="22:00", mode=ZoneMode.HEAT, temperature=18.0, preset=Preset.SLEEP),
        ),
    )
    assert parse_zone_command(ZONE, "program", b" []\n") == ProgramCommand("living", ())


def test_a_program_in_a_fahrenheit_house_is_sent_in_fahrenheit() -> None:
    payload = b'[{"at": "07:00", "mode": "heat", "temperature": 70}]'
    command = parse_zone_command(ZONE, "program", payload, TemperatureUnit.FAHRENHEIT)
    assert isinstance(command, ProgramCommand)
    assert command.points[0].temperature == pytest.approx(21.111)
    with pytest.raises(CommandError, match=r"\[0\]\.temperature: 30\.556 °C is outside"):
        parse_zone_command(
            ZONE,
            "program",
            b'[{"at":"07:00","mode":"heat","temperature":87}]',
            TemperatureUnit.FAHRENHEIT,
        )


PROGRAM_REJECTS = [
    (b"[{nope", "not valid JSON"),
    (b'{"at": "07:00", "mode": "heat"}', "not a JSON list of switch points"),
    (b'[{"at": "7:00", "mode": "heat"}]', r"\[0\]\.at: not a time of day"),
    (b'[{"at": "07:00", "mode": "heat", "temp": 21}]', r"\[0\]\.temp: unknown key"),
    (b'[{"at": "07:00"}]', r"\[0\]\.mode: required key is missing"),
    (b'[{"at": "07:00", "mode": "heat", "days": []}]', r"\[0\]\.days: List should have at least 1"),
    (
        b'[{"at": "07:00", "mode": "heat_cool", "temperature_low": 22, "temperature_high": 22.5}]',
        r"\[0\]: temperature_low 22\.0 must be below temperature_high 22\.5 by at least 1 K",
    ),
    (
        b'[{"at": "07:00", "mode": "off"}, {"at": "08:00", "mode": "heat", "temperature": 31}]',
        r"\[1\]\.temperature: 31 °C is outside the zone's range 16\.\.30 °C",
    ),
    (
        b'[{"at": "07:00", "mode": "heat", "temperature": NaN}]',
        "not valid JSON",
    ),
    (b"[" * 5000 + b"]" * 5000, "not valid JSON"),
    (
        b"[" + b'{"at":"07:00","mode":"off"},' * 64 + b'{"at":"08:00","mode":"off"}]',
        "65 switch points: at most 64",
    ),
    (b"[" + b" " * 40000 + b"]", "longer than 32768 bytes"),
]


@pytest.mark.parametrize(("payload", "why"), PROGRAM_REJECTS)
def test_a_bad_program_is_refused_saying_why(payload: bytes, why: str) -> None:
    with pytest.raises(CommandError, match=rf"^program: payload .* rejected: .*({why})"):
        parse_zone_command(ZONE, "program", payload, capabilities=REFERENCE_HEAD)


def test_a_program_may_set_only_the_modes_the_head_runs() -> None:
    heat_only = head_with('{ 1 = "heat" }', None)
    payload = b'[{"at": "07:00", "mode": "cool", "temperature": 24}]'
    with pytest.raises(
        CommandError, match=r"\[0\]\.mode: 'cool' is not a mode the head runs \(off, heat\)"
    ):
        parse_zone_command(ZONE, "program", payload, capabilities=heat_only)


def test_a_program_with_many_problems_says_the_first_few() -> None:
    payload = (
        b"["
        + b",".join(b'{"at": "07:00", "mode": "heat", "temperature": 40}' for _ in range(9))
        + b"]"
    )
    with pytest.raises(CommandError, match=r"\[3\]\.temperature: .*; and 5 more$"):
        parse_zone_command(ZONE, "program", payload)
