"""The shipped profiles of real Modbus interfaces (docs/interfaces.md) against their manuals:
each parses, names its manual and says what it was checked against, and a few facts per
profile read as the manual prints them. Documentation tests: they pin what the manual says,
not what the product does with it."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from minisplit.drivers.capabilities import capabilities
from minisplit.drivers.profile import Table, load_profile, shipped_profile_names
from minisplit.drivers.registers import (
    RegisterValueError,
    check_writable,
    decode,
    enum_value,
    plan_reads,
)
from minisplit.drivers.vocabulary import HeadMode
from tests.drivers.test_profile import DATASHEETS

INTERFACES = ("intesis-mitsubishi", "intesis-daikin", "coolmasternet", "daikin-diii-net")
INTESIS = {"intesis-mitsubishi": 0x0500, "intesis-daikin": 0x0801}
# The manuals' sentinel for a temperature not initialised (0x8000), and the misprint of it
# some of their rows carry.
NOT_INITIALISED, MISPRINT = 0x8000, (-32678) & 0xFFFF


def header(name: str) -> str:
    """A shipped profile's leading comment block (everything before `[device]`)."""
    text = (resources.files("minisplit_data") / "profiles" / f"{name}.toml").read_text("utf-8")
    return text[: text.index("[device]")]


def test_every_shipped_profile_is_checked_against_a_datasheet_or_a_manual() -> None:
    """The reference unit's profiles against its datasheet (test_profile.py), the others here."""
    assert set(shipped_profile_names()) == set(DATASHEETS) | set(INTERFACES)


@pytest.mark.parametrize("name", sorted(shipped_profile_names()))
def test_every_shipped_profile_parses(name: str) -> None:
    profile = load_profile(name)
    assert profile.name == name
    assert profile.registers


@pytest.mark.parametrize("name", sorted(shipped_profile_names()))
def test_every_shipped_profile_gives_the_product_a_head_or_unit_to_drive(name: str) -> None:
    """Its capabilities derive (a head has a power lever, every enum label is known)."""
    found = capabilities(load_profile(name))
    assert found.levers


@pytest.mark.parametrize("name", INTERFACES)
def test_the_header_names_the_manual_and_what_it_was_checked_against(name: str) -> None:
    text = header(name)
    # A title in quotes on a "Manual:" or "Manuals:" line, with its revision or date.
    assert re.search(r'^# Manuals?: "[^"]+"', text, re.MULTILINE), text
    assert re.search(r"\b(r\d|Rev|version|\d{4}\.\d{2}|4P\d+)", text), text
    prose = re.sub(r"\s*\n#\s*", " ", text)  # the comment lines joined into one text
    assert "Checked against the manual, not against hardware" in prose


@pytest.mark.parametrize(("name", "device_id"), INTESIS.items())
def test_intesis_registers_read_as_the_manual_prints_them(name: str, device_id: int) -> None:
    profile = load_profile(name)
    assert profile.address_base == 0  # protocol addresses, as in the manual's first column
    assert {r.table for r in profile.registers.values()} == {Table.HOLDING}
    assert profile.identity == {"device_id": (device_id,)}
    assert profile["device_id"].address == 49
    mode = profile["mode"]
    assert (mode.address, enum_value(mode, "auto"), enum_value(mode, "cool")) == (1, 0, 4)
    external = profile["external_temperature"]
    assert (external.address, external.writable) == (22, True)
    assert decode(external, [NOT_INITIALISED]) is None
    assert decode(external, [215]) == 21.5  # °C × 10, the manual's default
    real_setpoint = profile["setpoint_in_use"]
    assert (real_setpoint.address, real_setpoint.writable) == (23, False)
    assert decode(real_setpoint, [MISPRINT]) is None
    assert profile["fault_code"].enum[65535] == "interface_lost_unit"
    # One register per write (function 16 only with a length of 1, §4.4).
    assert profile.max_write_registers == 1


@pytest.mark.parametrize("name", INTESIS)
def test_intesis_non_volatile_registers_are_never_written(name: str) -> None:
    """Registers 7, 8 and 9 are stored in non-volatile memory (the manuals' footnote): the
    profiles keep them read only, and the return-air register is read only in the manual."""
    profile = load_profile(name)
    for register in ("interface_disabled", "remote_lock", "operating_hours"):
        with pytest.raises(RegisterValueError):
            check_writable(profile[register], 0)
    assert [profile[r].address for r in ("interface_disabled", "remote_lock")] == [7, 8]
    assert not profile["return_air_temperature"].writable


@pytest.mark.parametrize("name", INTESIS)
def test_intesis_block_reads_skip_what_the_manual_does_not_document(name: str) -> None:
    profile = load_profile(name)
    blocks = plan_reads(
        profile.registers.values(), profile.max_read_registers, reserved=profile.reserved
    )
    read = {a for b in blocks for a in range(b.address, b.address + b.count)}
    assert not read & (set(range(16, 21)) | set(range(27, 49)))


def test_intesis_daikin_setpoint_ranges_are_the_manuals_per_mode() -> None:
    """The manual's ranges by mode (cool 18-32, heat 16-30, auto 18-30 °C), their union the
    register's range (dry and fan take it)."""
    setpoint = load_profile("intesis-daikin")["display_setpoint"]
    assert setpoint.range == (16.0, 32.0)
    assert setpoint.mode_ranges == {
        "heat": (16.0, 30.0),
        "cool": (18.0, 32.0),
        "auto": (18.0, 30.0),
    }
    assert setpoint.mode_range("dry") == (16.0, 32.0)


def test_coolmasternet_is_the_unit_at_va_1_in_document_numbering() -> None:
    """Base = VA·16 + 1 in the manual's 1-based numbering: VA 1's objects start at 17, wire 16."""
    profile = load_profile("coolmasternet")
    assert profile.address_base == 1
    wire = {name: (spec.table, spec.address) for name, spec in profile.registers.items()}
    assert wire["mode"] == (Table.HOLDING, 16)  # base + 0
    assert wire["display_setpoint"] == (Table.HOLDING, 18)  # base + 2
    assert wire["power"] == (Table.HOLDING, 19)  # base + 3
    assert wire["thermo_on"] == (Table.DISCRETE_INPUT, 16)  # base + 0
    mode = profile["mode"]
    assert [enum_value(mode, label) for label in ("cool", "heat", "heat_aux")] == [0, 1, 4]
    assert decode(profile["display_setpoint"], [225]) == 22.5
    # VA n is 16·(n - 1) further on: VA 3's mode at wire 16 + 32.
    assert (profile.unit_indices, profile.for_unit(3)["mode"].address) == ((1, 64), 48)


FIELDS = ("power", "vane_vertical", "fan", "mode")


def test_diii_net_limits_and_the_state_it_reads() -> None:
    profile = load_profile("daikin-diii-net")
    assert (profile.max_read_registers, profile.max_write_registers) == (32, 30)
    status = profile["status"]
    assert (status.table, status.address, status.bits[7]) == (Table.INPUT, 2000, "thermo_on")
    # On/off, louver and fan share command word 42001, mode is 42002's low bits: fields of
    # their words, each copied from the state field of the same bits (docs/interfaces.md).
    fields = {name: (profile[name].address, profile[name].bit_range) for name in FIELDS}
    assert fields == {
        "power": (2000, (0, 0)),
        "vane_vertical": (2000, (8, 10)),
        "fan": (2000, (12, 14)),
        "mode": (2001, (0, 3)),
    }
    assert {profile[name].copy_from for name in FIELDS} == {
        "power_state",
        "louver_state",
        "fan_state",
        "mode_state",
    }
    word = 1 | 7 << 8 | 3 << 12  # on, swing, fan M
    assert [decode(profile[name], [word]) for name in ("power", "vane_vertical", "fan")] == [
        1,
        7,
        3,
    ]
    assert profile.copy_before_write
    assert capabilities(profile).modes == (
        HeadMode.FAN_ONLY,
        HeadMode.HEAT,
        HeadMode.COOL,
        HeadMode.AUTO,
        HeadMode.DRY,
    )
    group = profile.for_unit(2)  # input stride 6, holding stride 3
    assert (group["status"].address, group["display_setpoint"].address) == (2012, 2008)
