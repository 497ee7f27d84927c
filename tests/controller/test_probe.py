"""`minisplit probe` against the real simulator, over Modbus TCP and over a pty (RTU): every
register decoded through the profile; refused registers, an unreachable line, a unit that
answers garbage and bad arguments each said clearly."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path

import pytest

from minisplit.controller.cli import main
from minisplit.controller.config import load_config
from minisplit.controller.probe import _probe
from minisplit.controller.service.persistence import hold_state_lock
from minisplit.controller.unit_access import UnitTarget
from minisplit.drivers.bus_config import TcpBus
from minisplit.drivers.profile import load_profile
from minisplit.hil.broker import free_port
from minisplit.hil.simulator import Simulator
from tests.fixtures.commissioning import demo_config, demo_simulator, head_profile_with
from tests.fixtures.hostile_modbus import Corruption, tcp_corruptor

ROOT = Path(__file__).resolve().parents[2]


async def probe(*argv: str) -> int:
    """The command, run as a user runs it (its own event loop), in a worker thread beside the
    test's simulator."""
    return await asyncio.to_thread(main, ["--log-level", "WARNING", "probe", *argv])


async def test_a_zone_of_a_config_reads_every_register_decoded(tmp_path, capsys):
    async with demo_simulator(tmp_path) as (simulator, port):
        simulator.head("living")  # served
        assert await probe("-c", str(demo_config(tmp_path, port)), "--zone", "living") == 0
    out = capsys.readouterr().out
    assert out.startswith("zone living (unit 11 on bus sim): profile reference-head on Modbus TCP")
    rows = {line.split()[0]: line for line in out.splitlines()[2:]}
    assert len(rows) == len(load_profile("reference-head").registers)
    # value with unit, raw word, table, address, role
    assert rows["display_setpoint"].split() == [
        "display_setpoint",
        "21",
        "°C",
        "0x00D2",
        "holding",
        "106",
        "lever",
    ]
    assert "0 (heat)" in rows["mode"]
    assert rows["remote_setpoint"].split()[1:4] == ["invalid", "(its", "sentinel)"]
    assert rows["device_kind"].split()[-1] == "identity"
    assert "0x78B3 0x0C4B" in rows["serial_number"]


async def test_the_outdoor_unit_as_json(tmp_path, capsys):
    async with demo_simulator(tmp_path) as (_, port):
        config = str(demo_config(tmp_path, port))
        assert await probe("-c", config, "--unit", "odu", "--json") == 0
    read = json.loads(capsys.readouterr().out)
    assert (read["unit"], read["unit_id"], read["profile"]) == ("outdoor unit", 1, "reference-odu")
    registers = {r["name"]: r for r in read["registers"]}
    assert registers["device_kind"]["raw"] == [1] and registers["device_kind"]["role"] == "identity"
    assert registers["frequency_setpoint"]["role"] == "lever"
    assert registers["frequency_setpoint"]["table"] == "holding"


async def test_a_gateway_unit_given_directly_numbers_addresses_as_its_manual(tmp_path, capsys):
    loaded = load_config(ROOT / "config" / "demo-gateway.toml")
    port = free_port()
    async with Simulator(loaded).running(tcp=("127.0.0.1", port)):
        argv = ["--tcp", f"127.0.0.1:{port}", "--unit-id", "1", "--profile", "coolmasternet"]
        assert await probe(*argv, "--unit-index", "2", "--json") == 0
        read = json.loads(capsys.readouterr().out)
        # No unit at index 7: the gateway refuses every register of it.
        assert await probe(*argv, "--unit-index", "7") == 1
    captured = capsys.readouterr()
    assert "refused: exception 0x02 (illegal data address)" in captured.out
    assert "coolmasternet (unit 1 index 7 on bus line) refuses every register" in captured.err
    assert (read["unit_index"], read["address_base"]) == (2, 1)
    registers = {r["name"]: r for r in read["registers"]}
    spec = load_profile("coolmasternet").for_unit(2)["display_setpoint"]
    # The manual's number (address_base 1): one above the protocol address on the wire.
    assert registers["display_setpoint"]["address"] == spec.address + 1
    assert registers["display_setpoint"]["value"] == 21.0


async def test_registers_the_unit_refuses_are_shown_as_refused(tmp_path, capsys):
    extra = '\n[registers.thermo_on]\naddress = 30\ntable = "input"\ntype = "u16"\n'
    profile = head_profile_with(tmp_path, extra)
    async with demo_simulator(tmp_path) as (_, port):
        argv = ["--tcp", f"127.0.0.1:{port}", "--unit-id", "11", "--profile", str(profile)]
        assert await probe(*argv, "--json") == 0
    registers = {r["name"]: r for r in json.loads(capsys.readouterr().out)["registers"]}
    assert registers["thermo_on"]["raw"] is None
    assert registers["thermo_on"]["refused"] == "exception 0x02 (illegal data address)"
    assert registers["display_setpoint"]["value"] == 21.0  # the rest is read
    # Read with remote_* (20..23) in one block, which the unit refuses whole: then one by one.
    assert registers["remote_fan"]["raw"] == [0]


async def test_an_unreachable_port_is_said_and_exits_1(capsys):
    port = free_port()  # nothing listens
    argv = ["--tcp", f"127.0.0.1:{port}", "--unit-id", "11", "--profile", "reference-head"]
    assert await probe(*argv) == 1
    err = capsys.readouterr().err
    assert f"cannot open Modbus TCP 127.0.0.1:{port}" in err


async def test_a_missing_unit_is_no_answer(tmp_path, capsys):
    async with demo_simulator(tmp_path) as (_, port):
        argv = ["--tcp", f"127.0.0.1:{port}", "--unit-id", "42", "--profile", "reference-head"]
        assert await probe(*argv, "--timeout", "0.2") == 1
    err = capsys.readouterr().err
    assert "reference-head (unit 42 on bus line): no answer:" in err


async def test_a_unit_that_answers_garbage_is_no_answer(tmp_path, capsys):
    async with (
        demo_simulator(tmp_path) as (_, port),
        tcp_corruptor(("127.0.0.1", port), Corruption.BYTE_COUNT) as proxy,
    ):
        proxy.targets.add(11)
        argv = ["--tcp", f"127.0.0.1:{proxy.port}", "--unit-id", "11", "--profile"]
        assert await probe(*argv, "reference-head", "--timeout", "0.2") == 1
    assert proxy.corrupted[11] > 0
    assert "no answer" in capsys.readouterr().err


async def test_over_rtu_on_a_pty(tmp_path, capsys, pty_pair):
    controller_end, sim_end = pty_pair
    loaded = load_config(demo_config(tmp_path, free_port()))
    async with Simulator(loaded).running(serial=sim_end, baudrate=19200, parity="E"):
        argv = ["--serial", controller_end, "--unit-id", "12", "--profile", "reference-head"]
        assert await probe(*argv, "--json") == 0
    read = json.loads(capsys.readouterr().out)
    assert read["line"] == f"serial port {controller_end}"
    assert {r["name"]: r for r in read["registers"]}["device_kind"]["raw"] == [2]


async def watched(directory: Path, as_json: bool, reads: int, marks: str) -> list[str]:
    """What a watching probe of the living room shows until ``reads`` of its lines hold
    ``marks``; then it is stopped."""
    shown: list[str] = []
    enough = asyncio.Event()

    def show(line: str) -> None:
        shown.append(line)
        if sum(marks in text for text in shown) == reads:
            enough.set()

    async with demo_simulator(directory) as (_, port):
        bus = TcpBus(type="tcp", host="127.0.0.1", port=port)
        target = UnitTarget("zone living", "sim", bus, 11, load_profile("reference-head"))
        task = asyncio.create_task(_probe(target, None, 0.05, as_json, show))
        await asyncio.wait_for(enough.wait(), 5)
        task.cancel()
    return shown


async def test_watch_reads_again_until_stopped(tmp_path):
    shown = await watched(tmp_path, True, 2, '"registers"')
    assert [json.loads(line)["unit"] for line in shown[:2]] == ["zone living", "zone living"]


async def test_watch_as_text_says_when_each_read_was(tmp_path):
    shown = await watched(tmp_path, False, 2, "read every")
    assert shown[0].endswith(", read every 0.05 s until Ctrl-C")
    assert shown[1].startswith("zone living (unit 11 on bus sim): profile reference-head")
    assert "display_setpoint" in shown[2]


def test_refused_while_a_controller_runs_with_the_config(tmp_path, capsys):
    config = demo_config(tmp_path, free_port())
    lock = hold_state_lock(load_config(config).config.state_file)  # as `minisplit run` does
    assert lock is not None
    try:
        assert main(["probe", "-c", str(config), "--zone", "living"]) == 1
    finally:
        os.close(lock)
    assert "not contacting the units: another minisplit controller runs" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        ([], "name a unit"),
        (["--zone", "living"], "give it with -c"),
        (["--tcp", "127.0.0.1:502", "--unit-id", "1", "--profile", "nope"], "unknown profile"),
        (["--tcp", "nohost", "--unit-id", "1", "--profile", "reference-head"], "not HOST:PORT"),
        (["--tcp", "h:502", "--unit-id", "300", "--profile", "reference-head"], "outside"),
        (["--tcp", "h:502", "--unit-id", "0", "--profile", "reference-head"], "outside the unit"),
        (
            ["--tcp", "h:1", "--unit-id", "1", "--profile", "coolmasternet", "--unit-index", "99"],
            "unit indices",
        ),
        (["-c", "demo", "--zone", "attic"], "no zone 'attic'"),
        (["-c", "demo", "--unit", "head"], "only the outdoor unit"),
        (["-c", "demo-intesis", "--unit", "odu"], "has no outdoor unit"),
        (["-c", "demo", "--zone", "living", "--unit-id", "3"], "takes the unit from the config"),
        (
            ["--tcp", "h:1", "--unit-id", "1", "--profile", "reference-head", "--timeout", "0"],
            "--timeout takes above 0",
        ),
    ],
)
def test_bad_arguments_are_refused_with_exit_2(argv, says, capsys):
    assert main(["probe", *argv]) == 2
    assert says in capsys.readouterr().err


async def test_the_line_s_info_lines_stay_out_of_the_output_and_the_level_comes_back(
    tmp_path, capsys, caplog
):
    """At the default log level the bus's "connected to …" would sit among the registers; the
    command quiets it while it runs, and leaves the logger as it found it."""
    caplog.set_level(logging.INFO)
    bus_log = logging.getLogger("minisplit.drivers.bus")
    before = bus_log.level
    async with demo_simulator(tmp_path) as (_, port):
        config = str(demo_config(tmp_path, port))
        argv = ["probe", "-c", config, "--zone", "living"]
        assert await asyncio.to_thread(main, argv) == 0
    assert not [r for r in caplog.records if r.name == "minisplit.drivers.bus"]
    assert bus_log.level == before
    assert capsys.readouterr().out.startswith("zone living")
