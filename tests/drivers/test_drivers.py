"""The outdoor-unit and head drivers against a real pymodbus server: probing, decoding polls,
writing only what changed, refusing what the profile forbids, the heartbeat and the remote."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from minisplit.drivers.bus import BusScheduler, DeviceTimeout
from minisplit.drivers.driver import (
    ImplausibleIdentity,
    Reading,
    UndecodableValue,
    UnexpectedDevice,
)
from minisplit.drivers.head import HeadDriver
from minisplit.drivers.odu import OutdoorUnitDriver, implausible_identity
from minisplit.drivers.profile import (
    DeviceProfile,
    ProfileError,
    RegisterSpec,
    Table,
    load_profile,
    parse_profile,
)
from minisplit.drivers.records import (
    HeadCommand,
    HeadInfo,
    OduCommand,
    OduInfo,
    RemoteRequest,
)
from minisplit.drivers.registers import RegisterValueError, encode_value
from minisplit.drivers.vocabulary import FanSpeed, HeadMode, OduMode, VanePosition
from tests.drivers.conftest import HEAD_ID, ODU_ID, FakeLine, FakeUnit, rtu_bus, running

HEAT_AT_45 = OduCommand(mode=OduMode.HEAT, frequency_hz=45.0, quiet=False, demand_limit_pct=100)
COMFORT = HeadCommand(
    power=True,
    mode=HeadMode.HEAT,
    fan=FanSpeed.AUTO,
    vane_vertical=VanePosition.SWING,
    vane_horizontal=VanePosition.P3,
    capacity_request_pct=55.5,
    display_setpoint=21.5,
)


@pytest.fixture
def odu(tcp_scheduler: BusScheduler, odu_profile: DeviceProfile) -> OutdoorUnitDriver:
    return OutdoorUnitDriver(tcp_scheduler, ODU_ID, odu_profile)


@pytest.fixture
def head(tcp_scheduler: BusScheduler, head_profile: DeviceProfile) -> HeadDriver:
    return HeadDriver(tcp_scheduler, HEAD_ID, head_profile)


def _set_odu_identity(unit: FakeUnit) -> None:
    for name, value in {
        "firmware_version": 0x0203,
        "serial_number": 0x01020304,
        "rated_heating_capacity": 8000,
        "rated_cooling_capacity": 7100,
        "min_frequency": 20.0,
        "max_frequency": 90.0,
        "max_heads": 8,
    }.items():
        unit.set(name, value)


# ---- probe ----------------------------------------------------------------------------------


async def test_probe_reads_the_outdoor_units_identity(
    odu: OutdoorUnitDriver, line: FakeLine
) -> None:
    _set_odu_identity(line.units[ODU_ID])
    assert await odu.probe() == OduInfo(
        firmware_version=0x0203,
        serial_number=0x01020304,
        rated_heating_capacity_w=8000,
        rated_cooling_capacity_w=7100,
        min_frequency_hz=20.0,
        max_frequency_hz=90.0,
        max_heads=8,
    )
    assert odu.bus.stats(ODU_ID).transactions == 1


async def test_probe_reads_the_heads_capabilities(head: HeadDriver, line: FakeLine) -> None:
    unit = line.units[HEAD_ID]
    unit.set("rated_capacity", 2500)
    unit.set("capabilities", 0b101)
    unit.set("serial_number", 70_000)
    info = await head.probe()
    assert info == HeadInfo(
        firmware_version=0,
        serial_number=70_000,
        rated_capacity_w=2500,
        has_humidity_sensor=True,
        has_vertical_vane=False,
        has_horizontal_vane=True,
    )


async def test_probe_refuses_another_kind_of_device(
    tcp_scheduler: BusScheduler, head_profile: DeviceProfile
) -> None:
    wrong = HeadDriver(tcp_scheduler, ODU_ID, head_profile)  # unit 1 is the outdoor unit
    with pytest.raises(
        UnexpectedDevice, match=r"device_kind reads 1, but profile .* expects 2"
    ) as err:
        await wrong.probe()
    assert err.value.fault == "wrong_device: device_kind=1"


def _head_identified_by(head_profile: DeviceProfile, identity: dict) -> DeviceProfile:
    """The head's profile, its device_kind register labelled, checking ``identity``."""
    data = _profile_data(head_profile)
    data["registers"]["device_kind"]["enum"] = {"1": "outdoor_unit", "2": "indoor_head"}
    data["device"]["identity"] = identity
    return parse_profile(data, "custom.toml")


@pytest.mark.parametrize(
    "identity",
    [
        {"device_kind": 2, "firmware_version": 0x0105},
        {"device_kind": "indoor_head"},  # an enum label
        {"device_kind": [3, 2], "firmware_version": [0x0104, 0x0105]},  # one of several
    ],
)
async def test_probe_accepts_a_unit_whose_identity_registers_read_one_of_their_values(
    tcp_scheduler: BusScheduler, line: FakeLine, head_profile: DeviceProfile, identity: dict
) -> None:
    line.units[HEAD_ID].set("firmware_version", 0x0105)
    profile = _head_identified_by(head_profile, identity)
    info = await HeadDriver(tcp_scheduler, HEAD_ID, profile).probe()
    assert info.firmware_version == 0x0105


@pytest.mark.parametrize(
    ("unit_id", "identity", "message", "fault"),
    [
        (
            HEAD_ID,
            {"device_kind": 2, "firmware_version": [0x0106, 0x0107]},
            r"firmware_version reads 261, but profile 'custom' expects one of \[262, 263\]",
            "wrong_device: firmware_version=261",
        ),
        (
            ODU_ID,
            {"device_kind": "indoor_head"},
            r"device_kind reads 'outdoor_unit', but profile 'custom' expects 'indoor_head'",
            "wrong_device: device_kind=outdoor_unit",
        ),
    ],
)
async def test_probe_refuses_a_unit_whose_identity_register_reads_another_value(
    tcp_scheduler: BusScheduler,
    line: FakeLine,
    head_profile: DeviceProfile,
    unit_id: int,
    identity: dict,
    message: str,
    fault: str,
) -> None:
    line.units[HEAD_ID].set("firmware_version", 0x0105)
    profile = _head_identified_by(head_profile, identity)
    with pytest.raises(UnexpectedDevice, match=message) as err:
        await HeadDriver(tcp_scheduler, unit_id, profile).probe()
    assert err.value.fault == fault


async def test_a_profile_without_identity_probes_its_info_registers_only(
    tcp_scheduler: BusScheduler, line: FakeLine, head_profile: DeviceProfile
) -> None:
    """No identity table, no device_kind register: the driver takes the profile and its probe
    checks nothing (address 0, the reference unit's device_kind, is not even read)."""
    data = _profile_data(head_profile)
    del data["device"]["identity"], data["registers"]["device_kind"]
    profile = parse_profile(data, "custom.toml")
    line.units[HEAD_ID].set("device_kind", 9)
    line.units[HEAD_ID].set("rated_capacity", 2500)
    info = await HeadDriver(tcp_scheduler, HEAD_ID, profile).probe()
    assert info.rated_capacity_w == 2500
    assert line.requests == [(HEAD_ID, 4, 1)]  # one read of input registers, from address 1


async def test_probe_refuses_a_unit_without_the_registers_its_profile_names(
    tcp_scheduler: BusScheduler, head_profile: DeviceProfile
) -> None:
    data = _profile_data(head_profile)
    data["registers"]["capabilities"]["address"] = 40  # past the head's last input register
    head = HeadDriver(tcp_scheduler, HEAD_ID, parse_profile(data, "custom.toml"))
    with pytest.raises(UnexpectedDevice, match=r"exception reply 0x02: the unit has no") as err:
        await head.probe()
    assert err.value.fault == "wrong_profile: capabilities exception 0x02"


async def test_probe_refuses_an_implausible_identity_naming_the_register(
    odu: OutdoorUnitDriver, line: FakeLine
) -> None:
    unit = line.units[ODU_ID]
    _set_odu_identity(unit)
    unit.set("min_frequency", 0.0)
    with pytest.raises(ImplausibleIdentity, match=r"min_frequency=0 \(0 or 0xFFFF") as err:
        await odu.probe()
    assert err.value.fault == "implausible_identity: min_frequency=0"


IDENTITY = {
    "rated_heating_capacity": 8000,
    "rated_cooling_capacity": 7100,
    "min_frequency": 20.0,
    "max_frequency": 90.0,
}


def _identity(profile: DeviceProfile, **changes: float) -> Reading:
    """An outdoor unit's identity registers as read: the reference unit's, with ``changes``."""
    words = {
        name: encode_value(profile[name], value) for name, value in {**IDENTITY, **changes}.items()
    }
    return Reading("odu", profile, words)


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({}, []),
        ({"min_frequency": 0.0}, ["min_frequency=0"]),
        ({"rated_heating_capacity": 0}, ["rated_heating_capacity=0"]),
        ({"rated_cooling_capacity": 65535}, ["rated_cooling_capacity=65535"]),
        ({"max_frequency": 6553.5}, ["max_frequency=6553.5"]),  # an erased register
        ({"min_frequency": 60.0, "max_frequency": 40.0}, ["min_frequency=60>max_frequency=40"]),
        ({"min_frequency": 10.0}, ["min_frequency=10"]),  # below the profile's setpoint range
        ({"max_frequency": 120.0}, ["max_frequency=120"]),  # above it
        ({"min_frequency": 50.0, "max_frequency": 50.0}, []),  # one speed is a range of one
    ],
)
def test_implausible_identity_names_each_register_that_no_working_unit_reports(
    odu_profile: DeviceProfile, changes: dict[str, float], named: list[str]
) -> None:
    setpoint_range = odu_profile["frequency_setpoint"].range
    assert setpoint_range == (20.0, 90.0)
    problems = implausible_identity(_identity(odu_profile, **changes), setpoint_range)
    assert [what for what, _ in problems] == named


def test_without_a_setpoint_range_only_the_ratings_themselves_are_judged(
    odu_profile: DeviceProfile,
) -> None:
    assert implausible_identity(_identity(odu_profile, max_frequency=120.0), None) == []
    problems = implausible_identity(_identity(odu_profile, min_frequency=95.0), None)
    assert [what for what, _ in problems] == ["min_frequency=95>max_frequency=90"]


# ---- poll -----------------------------------------------------------------------------------


async def test_odu_poll_decodes_through_the_profile_in_two_reads(
    odu: OutdoorUnitDriver, line: FakeLine
) -> None:
    unit = line.units[ODU_ID]
    unit.set("status", 0b1010_0011)  # running, defrost, valve heating, quiet active
    unit.set("compressor_frequency", 42.3)
    unit.set("allowed_max_frequency", 75.0)
    unit.set("outdoor_temperature", -12.5)
    unit.set("outdoor_coil_temperature", None)  # sensor fault
    unit.set("discharge_temperature", 71.2)
    unit.set("input_power", 1830)
    unit.set("energy", 123_456_789)
    unit.set("fault_code", 2)
    unit.set("compressor_starts", 65535)
    unit.set("operating_hours", 1200)
    unit.set("mode", 1)
    unit.set("frequency_setpoint", 45.0)
    unit.set("quiet_mode", 1)
    unit.set("demand_limit", 80)

    status = await odu.poll()

    assert odu.reads_per_poll == 2
    assert odu.bus.stats(ODU_ID).transactions == 2
    assert status.compressor_running and status.defrost and status.valve_heating
    assert status.quiet_active
    assert not (status.oil_return or status.fault or status.restart_lockout)
    assert not status.heartbeat_lost
    assert status.compressor_frequency_hz == 42.3
    assert status.allowed_max_frequency_hz == 75.0
    assert status.outdoor_temperature == -12.5
    assert status.outdoor_coil_temperature is None
    assert status.discharge_temperature == 71.2
    assert status.input_power_w == 1830
    assert status.energy_wh == 123_456_789
    assert status.fault_code == "discharge_overheat"
    assert (status.compressor_starts, status.operating_hours) == (65535, 1200)
    assert status.mode == "heat"
    assert status.frequency_setpoint_hz == 45.0
    assert status.quiet_mode is True
    assert status.demand_limit_pct == 80


async def test_head_poll_decodes_in_two_reads_without_a_remote_request(
    head: HeadDriver, line: FakeLine
) -> None:
    unit = line.units[HEAD_ID]
    unit.set("status", 0b0010_0001)  # fan running, cold-draft prevention
    unit.set("return_air_temperature", 22.4)
    unit.set("coil_temperature", None)
    unit.set("humidity", None)  # no humidity sensor: 0xFFFF
    unit.set("fan_speed_actual", 3)
    unit.set("valve_position", 37.5)
    unit.set("remote_setpoint", 25.0)  # stale: status b4 is not set
    unit.set("power", 1)
    unit.set("mode", 1)
    unit.set("fan", 5)
    unit.set("vane_vertical", 6)
    unit.set("vane_horizontal", 2)
    unit.set("capacity_request", 62.5)
    unit.set("display_setpoint", -1.5)

    status = await head.poll()

    assert head.reads_per_poll == 2
    assert head.bus.stats(HEAD_ID).transactions == 2
    assert status.fan_running and status.cold_draft_prevention
    assert not (status.coil_freeze_protection or status.condensate_alarm or status.fault)
    assert status.return_air_temperature == 22.4
    assert status.coil_temperature is None
    assert status.humidity is None
    assert status.fault_code == "none"
    assert (status.fan_speed_actual, status.valve_position_pct) == (3, 37.5)
    assert status.remote_request is None
    assert (status.power, status.mode, status.fan) == (True, "cool", "turbo")
    assert (status.vane_vertical, status.vane_horizontal) == ("swing", "2")
    # The register's word decodes to the shared vocabulary's member, not just its word.
    assert status.mode is HeadMode.COOL and status.fan is FanSpeed.TURBO
    assert status.vane_vertical is VanePosition.SWING and status.vane_horizontal is VanePosition.P2
    assert status.capacity_request_pct == 62.5
    assert status.display_setpoint == -1.5


async def test_remote_request_is_decoded_while_status_b4_is_set(
    head: HeadDriver, line: FakeLine
) -> None:
    unit = line.units[HEAD_ID]
    unit.set("status", 1 << 4)
    unit.set("remote_power", 1)
    unit.set("remote_mode", 0)
    unit.set("remote_setpoint", 23.5)
    unit.set("remote_fan", 2)
    status = await head.poll()
    assert status.remote_request == RemoteRequest(
        power=True, mode=HeadMode.HEAT, setpoint=23.5, fan=FanSpeed.LOW
    )

    await head.ack_remote()
    await head.ack_remote()  # always sent, even though the register already holds 1
    assert line.writes(HEAD_ID) == [(6, 107), (6, 107)]
    assert unit.get("remote_ack") == 1


async def test_garbled_remote_fields_become_none(head: HeadDriver, line: FakeLine) -> None:
    unit = line.units[HEAD_ID]
    unit.set("status", 1 << 4)
    unit.words[unit.profile["remote_mode"].table][21] = 9
    unit.set("remote_setpoint", None)
    request = (await head.poll()).remote_request
    assert request is not None
    assert (request.power, request.mode, request.setpoint, request.fan) == (
        False,
        None,
        None,
        "auto",
    )


async def test_unknown_fault_code_comes_through_but_an_unknown_mode_is_an_error(
    odu: OutdoorUnitDriver, line: FakeLine
) -> None:
    unit = line.units[ODU_ID]
    unit.set("fault_code", 9)
    assert (await odu.poll()).fault_code == "unknown_9"
    unit.set("mode", 7)
    with pytest.raises(UndecodableValue, match="mode reads 7, not in its enum"):
        await odu.poll()


# ---- apply: write only what changed ---------------------------------------------------------


async def test_odu_apply_writes_only_what_changed(odu: OutdoorUnitDriver, line: FakeLine) -> None:
    bus = odu.bus
    await odu.apply(HEAT_AT_45)  # nothing known yet: mode..demand_limit in one fc16
    assert line.writes(ODU_ID) == [(16, 100)]
    unit = line.units[ODU_ID]
    assert [unit.get(n) for n in ("mode", "frequency_setpoint", "quiet_mode", "demand_limit")] == [
        1,
        45.0,
        0,
        100,
    ]

    before = bus.total_transactions
    await odu.apply(HEAT_AT_45)
    assert bus.total_transactions == before  # an identical command sends nothing

    await odu.apply(dataclasses.replace(HEAT_AT_45, frequency_hz=52.5))
    assert line.writes(ODU_ID)[1:] == [(6, 101)]

    await odu.apply(
        dataclasses.replace(HEAT_AT_45, mode=OduMode.COOL, frequency_hz=52.5, quiet=True)
    )
    assert line.writes(ODU_ID)[2:] == [(6, 100), (6, 102)]  # not contiguous: two writes

    await odu.apply(
        dataclasses.replace(HEAT_AT_45, frequency_hz=30.0, quiet=False, demand_limit_pct=50)
    )
    assert line.writes(ODU_ID)[4:] == [(16, 100)]  # 100..103 changed: one write


async def test_apply_after_a_poll_compares_with_the_read_back(
    head: HeadDriver, line: FakeLine
) -> None:
    unit = line.units[HEAD_ID]
    for name, value in {
        "power": 1,
        "mode": 0,
        "fan": 0,
        "vane_vertical": 6,
        "vane_horizontal": 3,
        "capacity_request": 55.5,
        "display_setpoint": 21.5,
    }.items():
        unit.set(name, value)
    await head.poll()
    await head.apply(COMFORT)
    assert line.writes(HEAD_ID) == []  # the head already does exactly this

    unit.set("fan", 4)  # someone changed it at the head
    await head.poll()
    await head.apply(COMFORT)
    assert line.writes(HEAD_ID) == [(6, 102)]
    assert unit.get("fan") == 0


async def test_a_command_that_overtakes_a_poll_is_not_undone_by_its_read_back(
    head: HeadDriver, line: FakeLine
) -> None:
    bus = head.bus
    await head.apply(COMFORT)
    sent = bus.total_transactions
    poll = asyncio.create_task(head.poll())
    async with asyncio.timeout(2):  # until its read of the holding block is on the wire
        while bus.total_transactions == sent:  # noqa: ASYNC110 - a counter, no event to wait on
            await asyncio.sleep(0)
    changed = dataclasses.replace(COMFORT, display_setpoint=23.0)
    await head.apply(changed)  # jumps ahead of the poll's second read
    await poll
    sent = bus.total_transactions
    await head.apply(changed)
    assert bus.total_transactions == sent


async def test_a_heartbeat_during_a_poll_does_not_hide_other_read_backs(
    head: HeadDriver, line: FakeLine
) -> None:
    await head.apply(COMFORT)
    line.units[HEAD_ID].set("fan", 4)  # changed at the head
    await asyncio.gather(head.poll(), head.heartbeat())
    await head.apply(COMFORT)
    assert line.writes(HEAD_ID)[-1] == (6, 102)
    assert line.units[HEAD_ID].get("fan") == 0


@pytest.mark.parametrize(
    "odu_profile", [dataclasses.replace(load_profile("reference-odu"), max_write_registers=2)]
)
async def test_a_run_longer_than_the_units_write_limit_goes_out_in_several_writes(
    odu: OutdoorUnitDriver, line: FakeLine
) -> None:
    await odu.apply(HEAT_AT_45)  # mode..demand_limit (100..103): two registers a write
    assert line.writes(ODU_ID) == [(16, 100), (16, 102)]
    unit = line.units[ODU_ID]
    assert [unit.get(n) for n in ("mode", "frequency_setpoint", "quiet_mode", "demand_limit")] == [
        1,
        45.0,
        0,
        100,
    ]


def _with_a_32_bit_frequency() -> DeviceProfile:
    """frequency_setpoint as a u32 at 101..102, the holding registers after it one further."""
    profile = load_profile("reference-odu")
    moved = {
        name: dataclasses.replace(profile[name], address=profile[name].address + 1)
        for name in ("quiet_mode", "demand_limit", "heartbeat", "heartbeat_timeout")
    }
    moved["frequency_setpoint"] = dataclasses.replace(profile["frequency_setpoint"], type="u32")
    registers = {**profile.registers, **moved}
    return dataclasses.replace(profile, registers=registers, max_write_registers=2)


@pytest.mark.parametrize("odu_profile", [_with_a_32_bit_frequency()])
async def test_the_write_limit_counts_registers_and_never_splits_a_32_bit_value(
    odu: OutdoorUnitDriver, line: FakeLine
) -> None:
    await odu.apply(HEAT_AT_45)  # mode 100, frequency 101..102, quiet 103, demand_limit 104
    assert line.writes(ODU_ID) == [(6, 100), (16, 101), (16, 103)]
    assert line.units[ODU_ID].get("frequency_setpoint") == 45.0


def _with_reserved_gap() -> DeviceProfile:
    """operating_hours moved from 21 to 23, and 22 reserved: the poll must not read 22."""
    profile = load_profile("reference-odu")
    hours = dataclasses.replace(profile["operating_hours"], address=23)
    registers = {**profile.registers, "operating_hours": hours}
    return dataclasses.replace(profile, registers=registers, reserved=((22, 22),))


@pytest.mark.parametrize("odu_profile", [_with_reserved_gap()])
async def test_a_poll_never_reads_a_reserved_register(
    odu: OutdoorUnitDriver, line: FakeLine
) -> None:
    line.units[ODU_ID].set("operating_hours", 1200)
    status = await odu.poll()
    assert odu.reads_per_poll == 3
    assert [a for _, fc, a in line.requests if fc == 4] == [10, 23]
    assert status.operating_hours == 1200


@pytest.mark.parametrize(
    "command",
    [
        dataclasses.replace(HEAT_AT_45, frequency_hz=15.0),  # 1..min-1 Hz
        dataclasses.replace(HEAT_AT_45, frequency_hz=95.0),
        dataclasses.replace(HEAT_AT_45, demand_limit_pct=120),
        dataclasses.replace(HEAT_AT_45, mode="dry"),  # type: ignore[arg-type]
    ],
)
async def test_odu_apply_refuses_what_the_profile_forbids_and_sends_nothing(
    odu: OutdoorUnitDriver, command: OduCommand
) -> None:
    with pytest.raises(RegisterValueError, match="refused, nothing written"):
        await odu.apply(command)
    assert odu.bus.total_transactions == 0


async def test_frequency_zero_stops_the_compressor(odu: OutdoorUnitDriver, line: FakeLine) -> None:
    await odu.apply(dataclasses.replace(HEAT_AT_45, frequency_hz=0.0))
    assert line.units[ODU_ID].get("frequency_setpoint") == 0


@pytest.mark.parametrize(
    "command",
    [
        dataclasses.replace(COMFORT, display_setpoint=40.0),
        dataclasses.replace(COMFORT, capacity_request_pct=100.5),
        dataclasses.replace(COMFORT, mode=HeadMode.AUTO),  # the reference head has no auto
    ],
)
async def test_head_apply_refuses_what_the_profile_forbids(
    head: HeadDriver, command: HeadCommand
) -> None:
    with pytest.raises(RegisterValueError):
        await head.apply(command)
    assert head.bus.total_transactions == 0


async def test_a_fan_step_the_head_lacks_is_not_written_and_the_rest_is(
    tcp_scheduler: BusScheduler, head_profile: DeviceProfile, line: FakeLine
) -> None:
    """A 3-step head: the zone's default `auto` fan (and the control's quiet one) must not keep
    the head from being switched on and set."""
    data = _profile_data(head_profile)
    data["registers"]["fan"]["enum"] = {"1": "low", "2": "medium", "3": "high"}
    head = HeadDriver(tcp_scheduler, HEAD_ID, parse_profile(data, "custom.toml"))
    unit = line.units[HEAD_ID]
    unit.set("fan", 3)
    await head.apply(dataclasses.replace(COMFORT, fan=FanSpeed.QUIET))
    assert unit.get("power") == 1 and unit.get("capacity_request") == 55.5
    assert unit.get("fan") == 3  # kept: high
    await head.apply(dataclasses.replace(COMFORT, fan=FanSpeed.LOW))
    assert unit.get("fan") == 1


# ---- heartbeat ------------------------------------------------------------------------------


async def test_heartbeat_increments_and_wraps(odu: OutdoorUnitDriver, line: FakeLine) -> None:
    unit = line.units[ODU_ID]
    assert await odu.heartbeat() == 1
    assert await odu.heartbeat() == 2
    assert unit.get("heartbeat") == 2
    unit.set("heartbeat", 65535)
    await odu.poll()
    assert await odu.heartbeat() == 0
    assert unit.get("heartbeat") == 0


async def test_heartbeat_keeps_counting_after_a_failed_write(
    odu: OutdoorUnitDriver, line: FakeLine
) -> None:
    assert await odu.heartbeat() == 1
    line.silent.add(ODU_ID)
    with pytest.raises(DeviceTimeout):
        await odu.heartbeat()  # 2 may or may not have reached the unit
    line.silent.clear()
    assert await odu.heartbeat() == 3


async def test_a_write_that_failed_is_sent_again(head: HeadDriver, line: FakeLine) -> None:
    line.silent.add(HEAD_ID)
    with pytest.raises(DeviceTimeout):
        await head.apply(COMFORT)
    line.silent.clear()
    await head.apply(COMFORT)
    await head.apply(COMFORT)
    assert line.writes(HEAD_ID) == [(16, 100)] * 3  # two silent attempts, then one answered
    assert line.units[HEAD_ID].get("display_setpoint") == 21.5


async def test_heartbeat_timeout_is_written_only_when_it_differs(
    head: HeadDriver, line: FakeLine
) -> None:
    await head.poll()  # reads back the default 60 s
    await head.set_heartbeat_timeout(60)
    assert line.writes(HEAD_ID) == []
    await head.set_heartbeat_timeout(30)
    await head.set_heartbeat_timeout(30)
    assert line.writes(HEAD_ID) == [(6, 109)]
    assert line.units[HEAD_ID].get("heartbeat_timeout") == 30


# ---- profiles the drivers cannot use --------------------------------------------------------


def test_driver_refuses_a_profile_of_the_other_kind(
    tcp_scheduler: BusScheduler, head_profile: DeviceProfile
) -> None:
    with pytest.raises(ProfileError, match="describes a indoor_head, not a outdoor_unit"):
        OutdoorUnitDriver(tcp_scheduler, ODU_ID, head_profile)


def _profile_data(profile: DeviceProfile) -> dict:
    registers = {}
    for name, spec in profile.registers.items():
        reg = {"address": spec.address, "table": str(spec.table), "type": spec.type}
        if spec.enum:
            reg["enum"] = {str(k): v for k, v in spec.enum.items()}
        if spec.bits:
            reg["bits"] = {str(k): v for k, v in spec.bits.items()}
        if spec.writable:
            reg["writable"] = True
        if spec.scale != 1:
            reg["scale"] = spec.scale
        if spec.invalid is not None:
            reg["invalid"] = spec.invalid
        if spec.range is not None:
            reg["range"] = list(spec.range)
        registers[name] = reg
    device = {
        "name": "custom",
        "kind": str(profile.kind),
        "identity": {name: list(values) for name, values in profile.identity.items()},
        "default_unit_id": profile.default_unit_id,
    }
    return {"device": device, "registers": registers}


async def test_a_profile_without_an_optional_register_is_polled_without_it(
    tcp_scheduler: BusScheduler, odu_profile: DeviceProfile, line: FakeLine
) -> None:
    """Every role but a head's power is optional: what the profile lacks is None, never read."""
    data = _profile_data(odu_profile)
    del data["registers"]["discharge_temperature"]
    odu = OutdoorUnitDriver(tcp_scheduler, ODU_ID, parse_profile(data, "custom.toml"))
    line.units[ODU_ID].set("outdoor_temperature", -3.5)
    status = await odu.poll()
    assert status.discharge_temperature is None
    assert status.outdoor_temperature == -3.5
    assert "discharge_temperature" not in odu.capabilities.readings


def test_driver_refuses_enum_labels_outside_the_vocabulary(
    tcp_scheduler: BusScheduler, head_profile: DeviceProfile
) -> None:
    data = _profile_data(head_profile)
    data["registers"]["fan"]["enum"]["6"] = "silent"
    with pytest.raises(
        ProfileError, match=r"registers\.fan: enum label\(s\) 'silent' unknown: fan takes auto, "
    ):
        HeadDriver(tcp_scheduler, HEAD_ID, parse_profile(data, "custom.toml"))


async def test_a_status_bit_the_profile_does_not_name_reads_as_none(
    tcp_scheduler: BusScheduler, head_profile: DeviceProfile, line: FakeLine
) -> None:
    data = _profile_data(head_profile)
    del data["registers"]["status"]["bits"]["0"]  # fan_running
    head = HeadDriver(tcp_scheduler, HEAD_ID, parse_profile(data, "custom.toml"))
    line.units[HEAD_ID].set("status", 0b0010_1001)  # bit 0 set, but unnamed; fault; cold draft
    status = await head.poll()
    assert status.fan_running is None
    assert status.fault is True and status.cold_draft_prevention is True
    assert status.condensate_alarm is False


async def test_without_a_fault_flag_a_fault_code_other_than_none_is_the_fault(
    tcp_scheduler: BusScheduler, head_profile: DeviceProfile, line: FakeLine
) -> None:
    data = _profile_data(head_profile)
    del data["registers"]["status"]["bits"]["3"]  # fault
    head = HeadDriver(tcp_scheduler, HEAD_ID, parse_profile(data, "custom.toml"))
    unit = line.units[HEAD_ID]
    unit.set("status", 1 << 3)  # the unnamed bit is not read
    assert (await head.poll()).fault is False  # fault_code 0: none
    unit.set("fault_code", 3)
    status = await head.poll()
    assert (status.fault, status.fault_code) == (True, "condensate_overflow")


# ---- the whole path over Modbus RTU on a pty pair -------------------------------------------


@pytest.mark.integration
async def test_drivers_over_modbus_rtu(
    rtu_server: str, line: FakeLine, odu_profile: DeviceProfile, head_profile: DeviceProfile
) -> None:
    _set_odu_identity(line.units[ODU_ID])
    line.units[HEAD_ID].set("return_air_temperature", 20.5)
    line.units[HEAD_ID].set("status", 1 << 4)
    line.units[HEAD_ID].set("remote_setpoint", 24.0)
    async with running(BusScheduler("rs485", rtu_bus(rtu_server))) as bus:
        odu = OutdoorUnitDriver(bus, ODU_ID, odu_profile)
        head = HeadDriver(bus, HEAD_ID, head_profile)
        assert (await odu.probe()).max_heads == 8
        assert (await head.probe()).rated_capacity_w == 0
        await odu.set_heartbeat_timeout(30)
        await odu.apply(HEAT_AT_45)
        await head.apply(COMFORT)
        odu_status, head_status = await asyncio.gather(odu.poll(), head.poll())
        assert (odu_status.mode, odu_status.frequency_setpoint_hz) == ("heat", 45.0)
        assert head_status.return_air_temperature == 20.5
        assert head_status.display_setpoint == 21.5
        assert head_status.remote_request is not None
        assert head_status.remote_request.setpoint == 24.0

        cycle_start = bus.total_transactions
        await asyncio.gather(odu.poll(), head.poll(), odu.heartbeat(), head.heartbeat())
        await asyncio.gather(odu.apply(HEAT_AT_45), head.apply(COMFORT))
        # a steady control cycle: 2 reads per device, one heartbeat write each, nothing else
        assert bus.total_transactions - cycle_start == 6
        assert bus.stats(ODU_ID).errors == bus.stats(HEAD_ID).errors == 0


async def test_read_each_reads_every_register_and_names_the_ones_the_unit_refuses(
    tcp_scheduler: BusScheduler, line: FakeLine, head_profile: DeviceProfile
) -> None:
    # A register past the unit's last input register, close enough to share its block: the
    # unit refuses the block, then the register alone, and answers the others one by one.
    last = max(spec.last_address for spec in head_profile.table(Table.INPUT))
    extra = RegisterSpec(name="thermo_on", address=last + 3, table=Table.INPUT, type="u16")
    profile = dataclasses.replace(
        head_profile, registers={**head_profile.registers, "thermo_on": extra}
    )
    head = HeadDriver(tcp_scheduler, HEAD_ID, profile)
    reading, refused = await head.read_each()
    assert list(refused) == ["thermo_on"] and refused["thermo_on"].code == 0x02
    assert set(reading.words) == set(head_profile.registers)
    assert reading.value("display_setpoint") == line.units[HEAD_ID].get("display_setpoint")
    # Only what is named, and without a refusal in the way: one read per block.
    line.requests.clear()
    reading, refused = await head.read_each(["display_setpoint", "mode"])
    assert (set(reading.words), refused, len(line.requests)) == (
        {"display_setpoint", "mode"},
        {},
        1,
    )
