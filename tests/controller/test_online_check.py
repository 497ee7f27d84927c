"""`minisplit check-config --online` against the real simulator: every unit answers as its
profile says, or the problem names the zone, the unit id (and index), the bus and the register;
the exit code says whether any unit failed."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from minisplit.controller.cli import main
from minisplit.controller.config import load_config
from minisplit.controller.online_check import check_online
from minisplit.controller.service.persistence import hold_state_lock
from minisplit.hil.broker import free_port
from minisplit.hil.simulator import Simulator
from tests.fixtures.commissioning import demo_config, demo_simulator, head_profile_with
from tests.fixtures.hostile_modbus import Corruption, tcp_corruptor

ROOT = Path(__file__).resolve().parents[2]


def exit_code(argv: list[str]) -> int:
    """The command's exit code, whether it returns it or exits with it."""
    try:
        return main(argv)
    except SystemExit as exited:
        return int(exited.code or 0)


async def problems_of(config: Path) -> tuple[list[str], list[str]]:
    """The check's problems and the lines it showed for the units that passed."""
    shown: list[str] = []
    problems = await check_online(load_config(config), shown.append)
    return problems, shown


async def test_every_unit_of_the_demo_house_passes(tmp_path):
    async with demo_simulator(tmp_path) as (_, port):
        problems, shown = await problems_of(demo_config(tmp_path, port))
    assert problems == []
    assert shown == [
        "  online: outdoor unit (unit 1 on bus sim): answers as reference-odu",
        *(
            f"  online: zone {zone} (unit {uid} on bus sim): answers as reference-head"
            for zone, uid in (("living", 11), ("kitchen", 12), ("bedroom", 13), ("office", 14))
        ),
    ]


async def test_the_gateway_units_pass_each_at_its_index(tmp_path):
    text = (ROOT / "config" / "demo-gateway.toml").read_text()
    port = free_port()
    config = tmp_path / "gateway.toml"
    config.write_text(text.replace("port = 5020", f"port = {port}"))
    loaded = load_config(config)
    # The office at a virtual address no unit has on the gateway.
    wrong = tmp_path / "wrong-index.toml"
    wrong.write_text(config.read_text().replace("unit_index = 4 ", "unit_index = 6 "))
    async with Simulator(loaded).running(tcp=("127.0.0.1", port)):
        problems, shown = await problems_of(config)
        wrong_problems, _ = await problems_of(wrong)
    assert problems == []
    assert "  online: zone kitchen (unit 1 index 2 on bus sim): answers as coolmasternet" in shown
    assert wrong_problems == [
        "zone office (unit 1 index 6 on bus sim): refuses every register the product reads (8): "
        "exception 0x02 (illegal data address): is a unit at this id and index?"
    ]


async def test_over_rtu_on_a_pty(tmp_path, pty_pair):
    controller_end, sim_end = pty_pair
    port = free_port()
    tcp = f'type = "tcp"\nhost = "127.0.0.1"\nport = {port}\n'
    config = demo_config(tmp_path, port, (tcp, f'type = "rtu"\ndevice = "{controller_end}"\n'))
    async with Simulator(load_config(config)).running(serial=sim_end):
        # The kitchen's head is on the line: the bedroom's id, 99, is not.
        problems, shown = await problems_of(
            demo_config(
                tmp_path,
                port,
                (tcp, f'type = "rtu"\ndevice = "{controller_end}"\n'),
                ("unit_id = 13", "unit_id = 99"),
            )
        )
    assert len(shown) == 4 and "  online: zone kitchen (unit 12 on bus sim)" in shown[2]
    assert [p.split(": ")[0] for p in problems] == ["zone bedroom (unit 99 on bus sim)"]
    assert "no answer" in problems[0]


async def test_a_wrong_device_at_the_unit_id_fails_its_identity(tmp_path):
    async with demo_simulator(tmp_path) as (_, port):
        # The kitchen's head answers at 12; the config puts the office's (13 is the bedroom's
        # head, also a head: identity passes) ... and the outdoor unit's id on the kitchen.
        config = demo_config(
            tmp_path, port, ("unit_id = 1\n", "unit_id = 5\n"), ("unit_id = 12", "unit_id = 1")
        )
        problems, _ = await problems_of(config)
    assert any(
        p.startswith("zone kitchen (unit 1 on bus sim): device_kind reads 1, but profile ")
        and "expects 2: is the unit id or the profile wrong?" in p
        for p in problems
    ), problems


async def test_a_missing_unit_is_named_with_its_bus(tmp_path):
    async with demo_simulator(tmp_path) as (_, port):
        config = demo_config(tmp_path, port, ("unit_id = 13", "unit_id = 99"))
        problems, shown = await problems_of(config)
    assert len(problems) == 1, problems
    assert problems[0].startswith("zone bedroom (unit 99 on bus sim): no answer: ")
    assert len(shown) == 4  # the others pass


async def test_a_register_the_strategy_needs_that_the_unit_refuses(tmp_path):
    # The config's head profile has a register the simulated head does not serve.
    extra = '\n[registers.thermo_on]\naddress = 30\ntable = "input"\ntype = "u16"\n'
    profile = head_profile_with(tmp_path, extra)
    async with demo_simulator(tmp_path) as (_, port):
        config = demo_config(
            tmp_path, port, ('id = "office"\n', f'id = "office"\nprofile = "{profile}"\n')
        )
        problems, _ = await problems_of(config)
    assert len(problems) == 1, problems
    assert problems[0] == (
        "zone office (unit 14 on bus sim): refuses thermo_on (input 30): exception 0x02 "
        "(illegal data address)"
    )


async def test_a_unit_that_answers_garbage_is_a_problem(tmp_path):
    async with (
        demo_simulator(tmp_path) as (_, port),
        tcp_corruptor(("127.0.0.1", port), Corruption.FUNCTION_CODE) as proxy,
    ):
        proxy.targets.add(12)
        problems, _ = await problems_of(demo_config(tmp_path, proxy.port))
    assert proxy.corrupted[12] > 0
    assert [p.split(": ")[0] for p in problems] == ["zone kitchen (unit 12 on bus sim)"]


async def test_an_unreachable_bus_fails_each_unit_on_it(tmp_path):
    problems, _ = await problems_of(demo_config(tmp_path, free_port()))
    assert len(problems) == 5
    assert all("bus sim: cannot open Modbus TCP 127.0.0.1:" in p for p in problems)


async def test_the_command_exits_1_and_lists_the_problems(tmp_path, capsys):
    async with demo_simulator(tmp_path) as (_, port):
        config = demo_config(tmp_path, port, ("unit_id = 14", "unit_id = 98"))
        code = await asyncio.to_thread(exit_code, ["check-config", "--online", str(config)])
    assert code == 1
    captured = capsys.readouterr()
    assert "  online: zone living (unit 11 on bus sim): answers as reference-head" in captured.out
    assert (
        "the online check found 1 problem(s):\n  zone office (unit 98 on bus sim)" in captured.err
    )


async def test_the_command_passes_without_problems(tmp_path, capsys):
    async with demo_simulator(tmp_path) as (_, port):
        config = demo_config(tmp_path, port)
        assert await asyncio.to_thread(main, ["check-config", "--online", str(config)]) == 0
    assert capsys.readouterr().out.count("  online: ") == 5


def test_refused_while_a_controller_runs_with_the_config(tmp_path, capsys):
    config = demo_config(tmp_path, free_port())
    lock = hold_state_lock(load_config(config).config.state_file)  # as `minisplit run` does
    assert lock is not None
    try:
        assert exit_code(["check-config", "--online", str(config)]) == 1
    finally:
        os.close(lock)
    err = capsys.readouterr().err
    assert "not contacting the units: another minisplit controller runs" in err


def test_without_online_no_unit_is_contacted(tmp_path, capsys):
    assert main(["check-config", str(demo_config(tmp_path, free_port()))]) == 0
    assert "  online: " not in capsys.readouterr().out
