"""Every shipped profile against the reference unit's datasheet (docs/reference-unit.md), and the
profile loader's refusals."""

from __future__ import annotations

import copy
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import pytest

from minisplit.drivers.profile import (
    DeviceKind,
    DeviceProfile,
    ProfileError,
    RegisterSpec,
    Table,
    load_profile,
    load_profile_file,
    parse_profile,
    shipped_profile_names,
)

IN, HOLD = Table.INPUT, Table.HOLDING
ROOT = Path(__file__).resolve().parents[2]


class Encoding(TypedDict, total=False):
    """How several rows of the datasheet encode their value alike."""

    type: str
    scale: float
    unit: str
    invalid: int


TEMP: Encoding = {"type": "s16", "scale": 0.1, "unit": "°C", "invalid": 0x8000}
TENTH_HZ: Encoding = {"scale": 0.1, "unit": "Hz"}


@dataclass(frozen=True)
class Row:
    """One line of the datasheet: what the profile must say about a register."""

    address: int
    table: Table
    type: str = "u16"
    scale: float = 1.0
    unit: str = ""
    enum: dict[int, str] = field(default_factory=dict)
    bits: dict[int, str] = field(default_factory=dict)
    invalid: int | tuple[int, ...] | None = None
    writable: bool = False
    word_order: str = "high_first"
    range: tuple[float, float] | None = None
    allow_zero: bool = False


HEAD_MODES = {0: "heat", 1: "cool", 2: "dry", 3: "fan_only"}
FANS = {0: "auto", 1: "quiet", 2: "low", 3: "medium", 4: "high", 5: "turbo"}
VANES = {0: "auto", 1: "1", 2: "2", 3: "3", 4: "4", 5: "5", 6: "swing"}
ON_OFF = {0: "off", 1: "on"}
ANY_WORD = (0, 65535)

ODU_DATASHEET = {
    "device_kind": Row(0, IN),
    "firmware_version": Row(1, IN),
    "serial_number": Row(2, IN, "u32"),
    "rated_heating_capacity": Row(4, IN, unit="W"),
    "rated_cooling_capacity": Row(5, IN, unit="W"),
    "min_frequency": Row(6, IN, **TENTH_HZ),
    "max_frequency": Row(7, IN, **TENTH_HZ),
    "max_heads": Row(8, IN),
    "status": Row(
        10,
        IN,
        bits={
            0: "compressor_running",
            1: "defrost",
            2: "oil_return",
            3: "fault",
            4: "restart_lockout",
            5: "valve_heating",
            6: "heartbeat_lost",
            7: "quiet_active",
        },
    ),
    "compressor_frequency": Row(11, IN, **TENTH_HZ),
    "allowed_max_frequency": Row(12, IN, **TENTH_HZ),
    "outdoor_temperature": Row(13, IN, **TEMP),
    "outdoor_coil_temperature": Row(14, IN, **TEMP),
    "discharge_temperature": Row(15, IN, **TEMP),
    "input_power": Row(16, IN, unit="W"),
    "energy": Row(17, IN, "u32", unit="Wh"),
    "fault_code": Row(
        19,
        IN,
        enum={
            0: "none",
            1: "outdoor_sensor",
            2: "discharge_overheat",
            3: "high_pressure",
            4: "low_pressure",
            5: "inverter_overcurrent",
            6: "head_comms_lost",
        },
    ),
    "compressor_starts": Row(20, IN),
    "operating_hours": Row(21, IN, unit="h"),
    "mode": Row(100, HOLD, enum={0: "off", 1: "heat", 2: "cool"}, writable=True),
    "frequency_setpoint": Row(
        101, HOLD, writable=True, range=(20.0, 90.0), allow_zero=True, **TENTH_HZ
    ),
    "quiet_mode": Row(102, HOLD, writable=True, range=(0, 1)),
    "demand_limit": Row(103, HOLD, unit="%", writable=True, range=(0, 100)),
    "heartbeat": Row(104, HOLD, writable=True, range=ANY_WORD),
    "heartbeat_timeout": Row(105, HOLD, unit="s", writable=True, range=ANY_WORD),
}

HEAD_DATASHEET = {
    "device_kind": Row(0, IN),
    "firmware_version": Row(1, IN),
    "serial_number": Row(2, IN, "u32"),
    "rated_capacity": Row(4, IN, unit="W"),
    "capabilities": Row(
        5, IN, bits={0: "humidity_sensor", 1: "vertical_vane", 2: "horizontal_vane"}
    ),
    "status": Row(
        10,
        IN,
        bits={
            0: "fan_running",
            1: "coil_freeze_protection",
            2: "condensate_alarm",
            3: "fault",
            4: "remote_change_pending",
            5: "cold_draft_prevention",
            6: "heartbeat_lost",
        },
    ),
    "return_air_temperature": Row(11, IN, **TEMP),
    "coil_temperature": Row(12, IN, **TEMP),
    "humidity": Row(13, IN, scale=0.1, unit="%", invalid=0xFFFF),
    "fault_code": Row(
        14,
        IN,
        enum={
            0: "none",
            1: "return_air_sensor",
            2: "coil_sensor",
            3: "condensate_overflow",
            4: "fan_motor",
            5: "odu_comms",
        },
    ),
    "fan_speed_actual": Row(15, IN),
    "valve_position": Row(16, IN, scale=0.1, unit="%"),
    "remote_power": Row(20, IN, enum=ON_OFF),
    "remote_mode": Row(21, IN, enum=HEAD_MODES),
    "remote_setpoint": Row(22, IN, **TEMP),
    "remote_fan": Row(23, IN, enum=FANS),
    "power": Row(100, HOLD, enum=ON_OFF, writable=True),
    "mode": Row(101, HOLD, enum=HEAD_MODES, writable=True),
    "fan": Row(102, HOLD, enum=FANS, writable=True),
    "vane_vertical": Row(103, HOLD, enum=VANES, writable=True),
    "vane_horizontal": Row(104, HOLD, enum=VANES, writable=True),
    "capacity_request": Row(105, HOLD, scale=0.1, unit="%", writable=True, range=(0.0, 100.0)),
    # The datasheet gives no range; the profile's 5..35 °C is the head display's.
    "display_setpoint": Row(106, HOLD, "s16", 0.1, "°C", writable=True, range=(5.0, 35.0)),
    "remote_ack": Row(107, HOLD, writable=True, range=(0, 1)),
    "heartbeat": Row(108, HOLD, writable=True, range=ANY_WORD),
    "heartbeat_timeout": Row(109, HOLD, unit="s", writable=True, range=ANY_WORD),
}

DATASHEETS = {
    "reference-odu": (DeviceKind.OUTDOOR_UNIT, 1, 1, ODU_DATASHEET),
    "reference-head": (DeviceKind.INDOOR_HEAD, 2, 11, HEAD_DATASHEET),
}


def test_the_reference_profiles_are_shipped() -> None:
    # The interface profiles are checked against their manuals in
    # test_shipped_interface_profiles.py.
    assert set(DATASHEETS) <= set(shipped_profile_names())


@pytest.mark.parametrize("name", sorted(DATASHEETS))
def test_shipped_profile_matches_the_datasheet(name: str) -> None:
    kind, device_kind, unit_id, datasheet = DATASHEETS[name]
    profile = load_profile(name)
    assert (profile.kind, profile.identity, profile.default_unit_id) == (
        kind,
        {"device_kind": (device_kind,)},
        unit_id,
    )
    assert profile.max_read_registers == 32
    assert set(profile.registers) == set(datasheet)
    for reg_name, row in datasheet.items():
        spec = profile[reg_name]
        found = Row(
            spec.address,
            spec.table,
            spec.type,
            spec.scale,
            spec.unit,
            spec.enum,
            spec.bits,
            spec.invalid,
            spec.writable,
            spec.word_order,
            spec.range,
            spec.allow_zero,
        )
        assert found == row, reg_name


def test_heartbeat_timeout_defaults_to_the_datasheets_60_s() -> None:
    for name in DATASHEETS:
        assert load_profile(name)["heartbeat_timeout"].default == 60


def test_odu_profile_carries_the_restart_lockout() -> None:
    assert load_profile("reference-odu").min_restart_s == 180


# ---- refusals -----------------------------------------------------------------------------

MINIMAL: dict[str, Any] = {
    "device": {"name": "t", "kind": "indoor_head", "default_unit_id": 11},
    "registers": {
        "status": {"address": 10, "table": "input", "type": "u16"},
        "mode": {"address": 101, "table": "holding", "type": "u16", "writable": True},
    },
}


def _with(**registers: dict) -> dict:
    data = copy.deepcopy(MINIMAL)
    data["registers"].update(registers)
    return data


def test_minimal_profile_loads() -> None:
    assert isinstance(parse_profile(copy.deepcopy(MINIMAL)), DeviceProfile)


def test_unknown_key_is_refused_naming_it() -> None:
    data = _with(fan={"address": 102, "table": "holding", "type": "u16", "scael": 0.1})
    with pytest.raises(ProfileError, match=r"registers\.fan\.scael"):
        parse_profile(data, "bad.toml")


def test_unknown_device_key_is_refused_naming_it() -> None:
    data = copy.deepcopy(MINIMAL)
    data["device"]["baud"] = 9600
    with pytest.raises(ProfileError, match=r"bad\.toml.*device\.baud"):
        parse_profile(data, "bad.toml")


def test_overlapping_registers_are_refused_naming_both() -> None:
    data = _with(energy={"address": 9, "table": "input", "type": "u32"})
    with pytest.raises(ProfileError, match=r"'(status|energy)' and '(status|energy)' overlap"):
        parse_profile(data)


def test_same_address_in_different_tables_is_not_an_overlap() -> None:
    parse_profile(_with(other={"address": 101, "table": "input", "type": "u16"}))


def test_range_on_a_read_only_register_is_refused_naming_it() -> None:
    data = _with(humidity={"address": 13, "table": "input", "type": "u16", "range": [0, 100]})
    with pytest.raises(ProfileError, match=r"registers\.humidity.*'range' is only meaningful"):
        parse_profile(data)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("scale", math.inf),
        ("range", [math.nan, 30.0]),
        ("range", [-math.inf, math.inf]),
        ("default", math.nan),
    ],
)
def test_a_number_that_is_not_finite_is_refused_naming_it(key: str, value: object) -> None:
    """check-config said OK: a NaN range refused every write, an infinite one none."""
    register = {"address": 102, "table": "holding", "type": "u16", "writable": True, key: value}
    with pytest.raises(ProfileError, match=rf"registers\.setpoint\.{key}.*finite"):
        parse_profile(_with(setpoint=register))


def test_writable_input_register_is_refused() -> None:
    data = _with(x={"address": 1, "table": "input", "type": "u16", "writable": True})
    with pytest.raises(ProfileError, match=r"registers\.x.*input registers cannot be writable"):
        parse_profile(data)


def test_a_register_is_one_description_whoever_builds_it() -> None:
    """The profile's schema is RegisterSpec itself: one built in code meets the same rules."""
    with pytest.raises(ValueError, match="input registers cannot be writable"):
        RegisterSpec(name="x", address=1, table=Table.INPUT, type="u16", writable=True)
    with pytest.raises(ValueError, match="u32 and s32 registers only"):
        RegisterSpec(name="x", address=1, table=Table.INPUT, type="s16", word_order="low_first")


def test_a_registers_name_is_its_key() -> None:
    profile = parse_profile(_with(x={"address": 1, "table": "input", "type": "u16"}))
    assert profile["x"].name == "x"
    data = _with(x={"address": 1, "table": "input", "type": "u16", "name": "y"})
    with pytest.raises(ProfileError, match=r"registers\.x\.name: unknown key"):
        parse_profile(data)


def test_word_order_on_a_16_bit_register_is_refused() -> None:
    data = _with(x={"address": 1, "table": "input", "type": "s16", "word_order": "low_first"})
    with pytest.raises(ProfileError, match=r"registers\.x.*u32 and s32 registers only"):
        parse_profile(data)


def test_unknown_profile_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ProfileError, match="reference-head, reference-odu"):
        load_profile("no-such-profile")


@pytest.mark.parametrize(
    ("register", "key", "message"),
    [
        ({"address": "102"}, "address", "valid integer (got '102')"),
        ({"writable": 1}, "writable", "valid boolean (got 1)"),
        ({"scale": "0.1"}, "scale", "valid number (got '0.1')"),
        ({"range": [16, "30"]}, "range[1]", "valid number (got '30')"),
    ],
)
def test_values_of_the_wrong_type_are_not_converted(register: dict, key: str, message: str) -> None:
    fan = {"address": 102, "table": "holding", "type": "u16", "range": [0, 5], "writable": True}
    with pytest.raises(ProfileError) as info:
        parse_profile(_with(fan=fan | register), "bad.toml")
    assert str(info.value) == f"bad.toml: registers.fan.{key}: Input should be a {message}"


def test_a_profile_file_error_names_the_line(tmp_path: Path) -> None:
    text = (ROOT / "config" / "profiles" / "reference-head.toml").read_text()
    bad = tmp_path / "head.toml"
    bad.write_text(text.replace("address = 100", 'address = "100"', 1))
    line = text[: text.index("address = 100")].count("\n") + 1
    with pytest.raises(ProfileError, match=rf"^{bad}: line {line}: registers\.\w+\.address: "):
        load_profile_file(bad)


def test_enum_keys_and_ranges_as_toml_writes_them_load() -> None:
    profile = load_profile("reference-head")
    assert profile["mode"].enum[0] == "heat"
    assert isinstance(profile["display_setpoint"].range, tuple)


# ---- addresses as the manual prints them ----------------------------------------------------


def test_a_one_based_file_holds_protocol_addresses_one_lower() -> None:
    data = _with(x={"address": 1, "table": "holding", "type": "u16"})
    data["device"]["address_base"] = 1
    profile = parse_profile(data)
    assert profile.address_base == 1
    assert (profile["x"].address, profile["status"].address, profile["mode"].address) == (0, 9, 100)
    assert (
        parse_profile(_with(x={"address": 1, "table": "holding", "type": "u16"}))["x"].address == 1
    )


def test_an_address_below_a_one_based_files_first_is_refused_naming_it() -> None:
    data = _with(x={"address": 0, "table": "holding", "type": "u16"})
    data["device"]["address_base"] = 1
    with pytest.raises(ProfileError, match=r"^bad\.toml: registers\.x\.address: .*address_base 1"):
        parse_profile(data, "bad.toml")


@pytest.mark.parametrize("base", [2, -1, True, "1"])
def test_an_address_base_other_than_0_or_1_is_refused_naming_it(base: object) -> None:
    data = copy.deepcopy(MINIMAL)
    data["device"]["address_base"] = base
    with pytest.raises(ProfileError, match=r"^bad\.toml: device\.address_base: "):
        parse_profile(data, "bad.toml")


# ---- sentinels ------------------------------------------------------------------------------


def test_invalid_takes_a_list_of_sentinels_signed_or_as_the_word() -> None:
    register = {"address": 1, "table": "input", "type": "s16", "invalid": [-32768, 0xFFFF]}
    spec = parse_profile(_with(t=register))["t"]
    assert spec.sentinels == (0x8000, 0xFFFF)


@pytest.mark.parametrize(
    ("type_", "invalid", "message"),
    [
        ("u16", -1, "invalid -1 does not fit in u16"),
        ("u16", [0, 0x10000], "invalid 65536 does not fit in u16"),
        ("s16", -32769, "invalid -32769 does not fit in s16"),
        ("u32", 0x100000000, "invalid 4294967296 does not fit in u32"),
        ("u16", [], "names no sentinel"),
    ],
)
def test_a_sentinel_the_type_cannot_carry_is_refused_naming_it(
    type_: str, invalid: object, message: str
) -> None:
    register = {"address": 1, "table": "input", "type": type_, "invalid": invalid}
    with pytest.raises(ProfileError, match=rf"^bad\.toml: registers\.t: .*{message}"):
        parse_profile(_with(t=register), "bad.toml")


def test_an_s32_takes_two_registers_and_a_word_order() -> None:
    register = {"address": 1, "table": "input", "type": "s32", "word_order": "low_first"}
    profile = parse_profile(_with(t=register))
    assert (profile["t"].count, profile["t"].last_address) == (2, 2)
    with pytest.raises(ProfileError, match=r"overlap"):
        parse_profile(_with(t=register | {"address": 9}))


# ---- °F -------------------------------------------------------------------------------------


def test_a_fahrenheit_registers_range_and_default_are_read_as_the_manual_prints_them() -> None:
    """The file says °F like the manual; the product works in °C: converted once, at load."""
    register = {
        "address": 4,
        "table": "holding",
        "type": "s16",
        "unit": "°F",
        "writable": True,
        "range": [60, 86.0],
        "default": 68,
    }
    spec = parse_profile(_with(setpoint=register))["setpoint"]
    assert spec.fahrenheit
    assert spec.range == (15.555556, 30.0)
    assert spec.default == 20.0
    celsius_spec = parse_profile(_with(setpoint=register | {"unit": "°C"}))["setpoint"]
    assert (celsius_spec.range, celsius_spec.default) == ((60.0, 86.0), 68.0)


def test_a_fahrenheit_range_that_is_not_numbers_is_refused_naming_it() -> None:
    register = {"address": 4, "table": "holding", "type": "s16", "unit": "degF"}
    register |= {"writable": True, "range": [60, "86"]}
    with pytest.raises(ProfileError, match=r"^bad\.toml: registers\.sp\.range\[1\]: "):
        parse_profile(_with(sp=register), "bad.toml")


# ---- write limit and reserved registers -----------------------------------------------------


def test_the_write_limit_defaults_to_modbuss_and_reserved_to_none() -> None:
    profile = parse_profile(copy.deepcopy(MINIMAL))
    assert (profile.max_write_registers, profile.reserved) == (123, ())
    assert load_profile("reference-head").max_write_registers == 123


@pytest.mark.parametrize("limit", [0, 124])
def test_a_write_limit_modbus_cannot_carry_is_refused_naming_it(limit: int) -> None:
    data = copy.deepcopy(MINIMAL)
    data["device"]["max_write_registers"] = limit
    with pytest.raises(ProfileError, match=r"^bad\.toml: device\.max_write_registers: "):
        parse_profile(data, "bad.toml")


def test_reserved_ranges_are_read_as_printed() -> None:
    data = copy.deepcopy(MINIMAL)
    data["device"] |= {"address_base": 1, "reserved": [[12, 20], [30, 30]]}
    assert parse_profile(data).reserved == ((11, 19), (29, 29))


@pytest.mark.parametrize(
    ("reserved", "message"),
    [
        ([[5, 3]], r"device\.reserved\[0\]: reserved \[5, 3\] is empty"),
        ([[1, 2], [0, 3]], r"device\.reserved\[1\]: reserved \[0, 3\] starts below .* 1"),
        ([[1, 2, 3]], r"device\.reserved\[0\]: "),
        ([[8, 12]], r"registers\.status\.address, device\.reserved\[0\]: register 'status' lies"),
    ],
)
def test_a_bad_reserved_range_is_refused_naming_it(reserved: list, message: str) -> None:
    data = copy.deepcopy(MINIMAL)
    data["device"] |= {"address_base": 1, "reserved": reserved}
    with pytest.raises(ProfileError, match=rf"^bad\.toml: {message}"):
        parse_profile(data, "bad.toml")


def test_the_example_in_the_profile_format_page_loads_as_it_says() -> None:
    """docs/profiles.md's example: 1-based numbering, °F limits, two sentinels, reserved."""
    page = (ROOT / "docs" / "profiles.md").read_text(encoding="utf-8")
    # The one whole profile among the page's TOML fragments (a config's zone is another).
    (example,) = [b for b in re.findall(r"```toml\n(.*?)```", page, re.DOTALL) if "[device]" in b]
    profile = parse_profile(tomllib.loads(example), "docs/profiles.md")
    assert (profile["setpoint"].address, profile["room_temperature"].address) == (4, 5)
    assert (profile["setpoint"].range, profile["setpoint"].default) == ((15.555556, 30.0), 20.0)
    assert profile["room_temperature"].sentinels == (0x8000, 0xFFFF)
    assert (profile.reserved, profile.max_write_registers) == (((6, 8),), 4)
    assert profile.identity_raws("model") == (25, 35)


def test_a_write_limit_below_a_writable_32_bit_register_is_refused_naming_both() -> None:
    data = _with(total={"address": 1, "table": "holding", "type": "s32", "writable": True})
    data["device"]["max_write_registers"] = 1
    message = r"device\.max_write_registers, registers\.total\.type: writable register 'total'"
    with pytest.raises(ProfileError, match=rf"^bad\.toml: {message}"):
        parse_profile(data, "bad.toml")
    data["registers"]["total"]["writable"] = False
    assert parse_profile(data).max_write_registers == 1


# ---- identity registers ---------------------------------------------------------------------


def _identified_by(identity: dict) -> dict:
    data = _with(
        model={"address": 0, "table": "input", "type": "u16", "enum": {"7": "a7", "8": "a8"}},
        device_id={"address": 2, "table": "input", "type": "s32"},
    )
    data["device"]["identity"] = identity
    return data


def test_a_profile_without_identity_checks_nothing_at_probe() -> None:
    assert parse_profile(copy.deepcopy(MINIMAL)).identity == {}


def test_identity_values_are_kept_as_written_and_read_as_raw_values() -> None:
    profile = parse_profile(_identified_by({"model": ["a8", 7], "device_id": -1}))
    assert profile.identity == {"model": ("a8", 7), "device_id": (-1,)}
    assert profile.identity_raws("model") == (8, 7)
    assert (profile.identity_default("model"), profile.identity_default("status")) == (8, 0)


@pytest.mark.parametrize(
    ("identity", "message"),
    [
        ({"serial": 1}, r"device\.identity\.serial: identity register 'serial' is not in"),
        ({"model": "a9"}, r"device\.identity\.model: 'a9' is not in registers\.model\.enum"),
        ({"model": 0x10000}, r"device\.identity\.model: 65536 does not fit in registers\.model"),
        ({"model": -1}, r"device\.identity\.model: -1 does not fit"),
        ({"device_id": 1 << 31}, r"device\.identity\.device_id: 2147483648 does not fit"),
        ({"model": []}, r"device\.identity\.model"),
        ({"model": 1.5}, r"device\.identity\.model"),
    ],
)
def test_an_identity_the_profile_cannot_read_is_refused_naming_it(
    identity: dict, message: str
) -> None:
    with pytest.raises(ProfileError, match=rf"^bad\.toml: {message}"):
        parse_profile(_identified_by(identity), "bad.toml")


def test_the_old_device_kind_key_is_refused_pointing_to_identity() -> None:
    data = copy.deepcopy(MINIMAL)
    data["device"]["device_kind"] = 2
    with pytest.raises(
        ProfileError,
        match=r"^bad\.toml: device\.device_kind: replaced by identity = \{ device_kind = 2 \}$",
    ):
        parse_profile(data, "bad.toml")
