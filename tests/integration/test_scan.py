"""`minisplit scan` against the simulator, as an installer runs it: over Modbus TCP and over RTU
through a socat pty pair; the draft config it writes passes `minisplit check-config`; a
gateway's indoor units are listed; bad input (a missing port, an unreachable gateway, a bad id
range, a unit that answers garbage or only exceptions, a line where nothing answers) gets a
clear message. Narrow id ranges keep each test to a second or two."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
from pathlib import Path

import pytest

from minisplit.controller.cli import main
from minisplit.controller.config import ConfigError, config_file, load_config, parse_config
from minisplit.controller.service.scan import COMMON_SETTINGS, LineSetting, scan
from minisplit.controller.service.scan_command import draft_config, table
from minisplit.drivers.bus_config import SerialBus, TcpBus
from minisplit.drivers.profile import load_profile, load_profile_file
from minisplit.drivers.transport import TransportError
from minisplit.hil.broker import free_port
from minisplit.hil.faults import Fault, FaultKind
from minisplit.hil.simulator import Simulator
from tests.fixtures.hostile_modbus import Corruption, rtu_corruptor, tcp_corruptor

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 0.2  # per id: a loaded machine's simulator still answers within it
TCP_LOCAL = ("127.0.0.1", 0)


async def minisplit(*args: str) -> tuple[int, str, str]:
    """`minisplit ARGS` in a child process (the simulator keeps answering on this loop)."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "minisplit.controller.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(child.communicate(), timeout=60)
    assert child.returncode is not None
    return child.returncode, out.decode(), err.decode()


def tcp_bus(simulator: Simulator) -> TcpBus:
    assert simulator.tcp_address is not None
    host, port = simulator.tcp_address
    return TcpBus(type="tcp", host=host, port=port)


async def test_tcp_finds_each_unit_with_its_profile_and_writes_a_config_check_config_accepts(
    tmp_path: Path,
) -> None:
    draft = tmp_path / "draft.toml"
    simulator = Simulator(load_config(config_file("demo")), speed=1.0)
    async with simulator.running(tcp=TCP_LOCAL):
        bus = tcp_bus(simulator)
        code, out, err = await minisplit(
            "scan",
            "--tcp",
            f"{bus.host}:{bus.port}",
            "--ids",
            "1-14",
            "--timeout",
            "0.2",
            "--write-config",
            str(draft),
        )
    assert code == 0, err
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:-1]}
    assert sorted(rows, key=int) == ["1", "11", "12", "13", "14"]
    assert rows["1"][1:3] == ["tcp", "reference-odu"]
    # firmware 0x0102 and the serial number the simulator serves (docs/reference-unit.md)
    assert rows["11"][1:5] == ["tcp", "reference-head", "258", "2025000011"]
    assert "14/14 ids" in err
    code, out, err = await minisplit("check-config", str(draft))
    assert code == 0, err
    assert "outdoor unit: bus line unit 1 profile reference-odu" in out
    assert "zone unit14 (Unit 14): bus line unit 14" in out


@pytest.mark.parametrize(
    ("config", "profile", "indices"),
    [
        ("demo-gateway", "coolmasternet", [1, 2, 3, 4]),
        ("demo-diii-net", "daikin-diii-net", [0, 1, 2, 3]),
    ],
)
async def test_a_gateway_lists_the_indoor_units_behind_its_address(
    config: str, profile: str, indices: list[int]
) -> None:
    simulator = Simulator(load_config(config_file(config)), speed=1.0)
    async with simulator.running(tcp=TCP_LOCAL):
        bus = tcp_bus(simulator)
        result = await scan(bus, range(1, 3), COMMON_SETTINGS, timeout_s=TIMEOUT_S)
    [found] = result.found
    assert (found.unit_id, found.profiles) == (1, [profile])
    assert [u.index for u in found.indoor_units] == indices
    assert f"indoor units at index {', '.join(map(str, indices))}" in table(result)
    loaded = parse_config(draft_config(result, bus))
    assert [(z.unit_id, z.unit_index, z.profile) for z in loaded.config.zones] == [
        (1, i, profile) for i in indices
    ]
    # Its commented lines, uncommented as an installer would, make a valid config too.
    uncommented = re.sub(r"(?m)^# (\[mqtt\]|\w+ = )", r"\1", draft_config(result, bus))
    filled = parse_config(uncommented).config
    assert filled.mqtt is not None and filled.mqtt.username == "minisplit"
    assert {str(z.initial_mode) for z in filled.zones} == {"heat"}


async def test_rtu_over_a_pty_finds_the_units_once_at_the_first_line_setting(
    pty_pair: tuple[str, str],
) -> None:
    line, units_end = pty_pair
    simulator = Simulator(load_config(config_file("demo")), speed=1.0)
    async with simulator.running(serial=units_end, baudrate=19200, parity="N"):
        result = await scan(
            SerialBus(type="rtu", device=line), range(10, 13), COMMON_SETTINGS, timeout_s=0.1
        )
    # A pty carries bytes whatever the setting: the first one tried finds them, the others
    # do not find them again.
    assert [(f.unit_id, f.setting, f.profiles) for f in result.found] == [
        (11, COMMON_SETTINGS[0], ["reference-head"]),
        (12, COMMON_SETTINGS[0], ["reference-head"]),
    ]
    assert result.settings == list(COMMON_SETTINGS)
    text = draft_config(result, SerialBus(type="rtu", device=line))
    assert 'baudrate = 19200\nparity = "E"\nstopbits = 1' in text
    # Heads found without their outdoor unit: the draft is what answered, and the config check
    # says what it lacks.
    with pytest.raises(ConfigError, match=r"the config needs an \[outdoor_unit\]"):
        parse_config(text)


async def test_rtu_cli_with_one_fixed_line_setting(pty_pair: tuple[str, str]) -> None:
    line, units_end = pty_pair
    simulator = Simulator(load_config(config_file("demo")), speed=1.0)
    async with simulator.running(serial=units_end, baudrate=9600, parity="N"):
        code, out, err = await minisplit(
            "scan", "--serial", line, "--ids", "1-2", "--baudrate", "9600", "--parity", "N",
            "--stopbits", "1",
        )  # fmt: skip
    assert code == 0, err
    assert out.splitlines()[2].split()[:4] == ["1", "9600", "8N1", "reference-odu"]
    assert "at 1 line setting(s)" in err


async def test_a_line_where_nothing_answers_says_what_was_tried(pty_pair: tuple[str, str]) -> None:
    line, _ = pty_pair  # nothing listens at the other end
    code, out, err = await minisplit(
        "scan", "--serial", line, "--ids", "1-2", "--baudrate", "9600", "--timeout", "0.05"
    )
    assert code == 1
    assert "0 unit id(s) answered" in out
    assert f"no unit answered on {line} at 9600 8E1, 9600 8N2, 9600 8N1 (ids 1-2)" in err
    assert "check A/B" in err


@pytest.mark.parametrize(
    ("how", "why"),
    [
        (Corruption.FUNCTION_CODE, "malformed reply"),
        (Corruption.BYTE_COUNT, "malformed reply"),
        (Corruption.OTHER_TABLE, "reply has function code 0x03, not 0x04"),
    ],
)
async def test_a_unit_that_answers_garbage_is_listed_as_such(how: Corruption, why: str) -> None:
    simulator = Simulator(load_config(config_file("demo")), speed=1.0)
    async with (
        simulator.running(tcp=TCP_LOCAL),
        tcp_corruptor(simulator.tcp_address or TCP_LOCAL, how) as proxy,
    ):
        proxy.targets = {11}
        bus = TcpBus(type="tcp", host="127.0.0.1", port=proxy.port)
        result = await scan(bus, range(11, 13), COMMON_SETTINGS, timeout_s=TIMEOUT_S)
    by_id = {f.unit_id: f for f in result.found}
    assert by_id[12].profiles == ["reference-head"]
    assert by_id[11].garbage is not None and why in by_id[11].garbage
    assert by_id[11].profiles == []
    row = next(line for line in table(result).splitlines() if line.startswith("11 "))
    assert "answers garbage: " in row
    assert "unit11" not in draft_config(result, bus)  # no zone for it


async def test_a_device_that_answers_only_exceptions_is_an_unknown_device() -> None:
    """Shown a gateway but told only the reference profiles, the scan says what it answered."""
    simulator = Simulator(load_config(config_file("demo-gateway")), speed=1.0)
    profiles = [load_profile("reference-odu"), load_profile("reference-head")]
    async with simulator.running(tcp=TCP_LOCAL):
        result = await scan(
            tcp_bus(simulator), range(1, 2), COMMON_SETTINGS, timeout_s=TIMEOUT_S, profiles=profiles
        )
    [found] = result.found
    assert not found.known
    assert "unknown device, answers at tcp: input 0: exception 0x02" in table(result)


def test_a_missing_serial_device_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "--serial", "/dev/ttyUSB-not-here", "--ids", "1"]) == 1
    err = capsys.readouterr().err
    assert "/dev/ttyUSB-not-here does not exist (is the adapter plugged in" in err


def test_an_unreachable_gateway_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    assert main(["scan", "--tcp", f"127.0.0.1:{port}", "--ids", "1"]) == 1
    assert f"Modbus TCP 127.0.0.1:{port}: cannot connect" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ids", "0-5"], "--ids '0-5': unit ids run from 1 to 247"),
        (["--ids", "20-10"], "--ids '20-10': unit ids run from 1 to 247"),
        (["--ids", "1-248"], "--ids '1-248': unit ids run from 1 to 247"),
        (["--ids", "one"], "--ids 'one': expected a unit id or a range like 1-247"),
        (["--timeout", "0"], "--timeout 0: expected more than 0 and at most 10 s"),
        (["--baudrate", "9600"], "--baudrate, --parity and --stopbits need --serial"),
    ],
)
def test_bad_options_are_refused(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scan", "--tcp", "127.0.0.1:1502", *args]) == 2
    assert f"minisplit scan: {message}" in capsys.readouterr().err


def test_a_bad_gateway_address_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "--tcp", "gateway"]) == 2
    assert "--tcp 'gateway': expected HOST:PORT" in capsys.readouterr().err


def test_fixing_a_setting_keeps_the_common_ones_that_fit() -> None:
    from minisplit.controller.service.scan import line_settings

    assert line_settings(9600, "N", None) == [LineSetting(9600, "N", 2), LineSetting(9600, "N", 1)]
    assert line_settings(None, None, None) == list(COMMON_SETTINGS)
    assert line_settings(38400, None, None) == [LineSetting(38400, "E", 1)]


async def test_a_gap_between_a_gateways_units_is_no_unit() -> None:
    """VAs 1, 3, 4 and 6 on the gateway: 2 and 5 read as zeros between them, not as units."""
    path = config_file("demo-gateway")
    text = path.read_text(encoding="utf-8").replace("unit_index = 2 ", "unit_index = 6 ", 1)
    simulator = Simulator(parse_config(text, str(path), path.parent), speed=1.0)
    async with simulator.running(tcp=TCP_LOCAL):
        result = await scan(tcp_bus(simulator), range(1, 2), COMMON_SETTINGS, timeout_s=TIMEOUT_S)
    assert [u.index for u in result.found[0].indoor_units] == [1, 3, 4, 6]


async def test_rtu_a_unit_that_answers_garbage_is_listed_as_such(tmp_path: Path) -> None:
    simulator = Simulator(load_config(config_file("demo")), speed=1.0)
    async with rtu_corruptor(tmp_path, Corruption.FUNCTION_CODE) as (proxy, line, units_end):
        proxy.targets = {11}
        async with simulator.running(serial=units_end, baudrate=19200, parity="N"):
            result = await scan(
                SerialBus(type="rtu", device=line),
                range(11, 13),
                [LineSetting(19200, "N", 1)],
                timeout_s=TIMEOUT_S,
            )
    by_id = {f.unit_id: f for f in result.found}
    assert by_id[12].profiles == ["reference-head"]
    assert "malformed reply" in (by_id[11].garbage or "")


async def test_the_draft_check_says_what_the_found_units_lack(
    pty_pair: tuple[str, str], tmp_path: Path
) -> None:
    """Heads that answer without their outdoor unit: the draft is written, and the scan says
    why `check-config` refuses it."""
    line, units_end = pty_pair
    draft = tmp_path / "draft.toml"
    simulator = Simulator(load_config(config_file("demo")), speed=1.0)
    async with simulator.running(serial=units_end, baudrate=19200, parity="N"):
        code, out, err = await minisplit(
            "scan", "--serial", line, "--ids", "11-12", "--baudrate", "19200", "--parity", "E",
            "--write-config", str(draft),
        )  # fmt: skip
    assert code == 1
    assert [row.split()[0] for row in out.splitlines()[2:-1]] == ["11", "12"]
    assert f"`minisplit check-config {draft}` refuses the draft:" in err
    assert "the config needs an [outdoor_unit]" in err
    assert 'id = "unit12"' in draft.read_text(encoding="utf-8")


async def test_a_link_that_drops_during_the_scan_ends_it_with_the_reason() -> None:
    """A gateway that closes the connection on the first request."""

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        bus = TcpBus(type="tcp", host="127.0.0.1", port=port)
        with pytest.raises(TransportError, match="the link dropped during the scan, at id 5"):
            await scan(bus, range(5, 8), COMMON_SETTINGS, timeout_s=1.0)
    finally:
        server.close()
        await server.wait_closed()


async def test_a_unit_the_gateway_has_lost_is_no_indoor_unit() -> None:
    """CoolMasterNet's `indoor_comm_failure` set for the kitchen's VA 2: the gateway still
    serves its registers, but it is not listed."""
    simulator = Simulator(load_config(config_file("demo-gateway")), speed=1.0)
    simulator.faults.add(
        Fault(FaultKind.SENSOR_VALUE, "kitchen", register="indoor_comm_failure", value=1)
    )
    async with simulator.running(tcp=TCP_LOCAL):
        result = await scan(tcp_bus(simulator), range(1, 2), COMMON_SETTINGS, timeout_s=TIMEOUT_S)
    assert [u.index for u in result.found[0].indoor_units] == [1, 3, 4]


async def test_a_device_silent_to_some_reads_costs_one_timeout_per_profile() -> None:
    """A Modbus TCP device that refuses a read of holding register 49 (exception 0x02) and
    ignores every other request: it is an unknown device, each read says what came back, and
    each gateway profile is given up at its first silent read (not 64 timeouts each)."""

    async def refuse_holding(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                header = await reader.readexactly(7)  # MBAP: tid, protocol, length, unit id
                pdu = await reader.readexactly(int.from_bytes(header[4:6]) - 1)
                if pdu[:3] == bytes([3, 0, 49]):
                    writer.write(header[:4] + (3).to_bytes(2) + header[6:7] + bytes([0x83, 2]))
                    await writer.drain()

    server = await asyncio.start_server(refuse_holding, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        bus = TcpBus(type="tcp", host="127.0.0.1", port=port)
        result = await scan(bus, range(7, 8), COMMON_SETTINGS, timeout_s=0.1)
    finally:
        server.close()
        await server.wait_closed()
    [found] = result.found
    assert found.answers == ["holding 49: exception 0x02", "input 0: no answer"]
    assert not found.known and found.garbage is None
    # three timeouts: the second identity read and the first read of each gateway profile
    assert result.seconds < 1.5


async def test_a_profile_matches_only_when_each_of_its_identity_registers_does(
    tmp_path: Path,
) -> None:
    """A profile that also wants firmware 999: the reference head (firmware 258) is not one."""
    text = (ROOT / "config/profiles/reference-head.toml").read_text(encoding="utf-8")
    picky = text.replace('name = "reference-head"', 'name = "picky-head"').replace(
        "identity = { device_kind = 2 }", "identity = { device_kind = 2, firmware_version = 999 }"
    )
    (tmp_path / "picky.toml").write_text(picky, encoding="utf-8")
    profiles = [load_profile("reference-head"), load_profile_file(tmp_path / "picky.toml")]
    simulator = Simulator(load_config(config_file("demo")), speed=1.0)
    async with simulator.running(tcp=TCP_LOCAL):
        result = await scan(
            tcp_bus(simulator),
            range(11, 12),
            COMMON_SETTINGS,
            timeout_s=TIMEOUT_S,
            profiles=profiles,
        )
    assert result.found[0].profiles == ["reference-head"]
