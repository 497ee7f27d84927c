"""The kit's pytest plugin as an engineer meets it: loaded through the package's entry point, its
options in `pytest --help`, and `--minisplit-modbus` running the same test file on "real units"
(the simulator standing in for a Modbus TCP gateway, at real time): what is safe runs, what
needs the simulator's truth or writes is skipped with the reason docs/testing.md gives."""

from __future__ import annotations

import asyncio

import pytest

from minisplit.controller.config import config_file, load_config
from minisplit.hil.simulator import Simulator

pytestmark = pytest.mark.integration

ENGINEERS_TESTS = """
import pytest

pytestmark = pytest.mark.asyncio


@pytest.mark.minisplit(controller=None)
async def test_reads_registers(hil):
    assert 5 < await hil.read_register("living", "return_air_temperature") < 35
    assert await hil.read_register("odu", "max_frequency") > 0


@pytest.mark.minisplit(controller=None)
@pytest.mark.minisplit_needs_simulator
async def test_marked_as_needing_the_simulator(hil):
    assert 5 < hil.room_temperature("bedroom") < 35


@pytest.mark.minisplit(controller=None)
async def test_asks_for_the_truth_unmarked(hil):
    assert 5 < hil.room_temperature("kitchen") < 35


async def test_runs_the_controller(hil):
    state = await hil.published_state("office")
    assert state["mode"] in ("off", "heat", "cool", "heat_cool", "dry", "fan_only")
"""


async def run_pytest(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """A fresh pytest on the engineer's file (blocking: in a thread, so the simulator of the
    calling test keeps answering on this loop)."""
    return await asyncio.to_thread(
        pytester.runpytest_subprocess, "-p", "no:cacheprovider", "-rs", *args, timeout=180
    )


async def test_on_the_simulator_every_test_runs(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_engineer=ENGINEERS_TESTS)
    result = await run_pytest(pytester)
    result.assert_outcomes(passed=4)


async def test_on_real_units_what_needs_the_simulator_or_writes_is_skipped_with_its_reason(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_engineer=ENGINEERS_TESTS)
    gateway = Simulator(load_config(config_file("demo")), speed=1.0)
    async with gateway.running(tcp=("127.0.0.1", 0)):
        assert gateway.tcp_address is not None
        host, port = gateway.tcp_address
        endpoint = f"--minisplit-modbus=tcp://{host}:{port}"
        result = await run_pytest(pytester, endpoint)
        with_writes = await run_pytest(pytester, endpoint, "--minisplit-allow-writes")
    result.assert_outcomes(passed=1, skipped=3)
    result.stdout.fnmatch_lines_random(
        [
            f"SKIPPED*needs the simulator's truth;"
            f" --minisplit-modbus runs on real units at tcp://{host}:{port}",
            "SKIPPED*needs the simulator's truth (the true"
            " temperature of kitchen); the test runs on real units",
            "SKIPPED*test_engineer.py:*writes to the units: on real units only with"
            " --minisplit-allow-writes",
        ]
    )
    # Allowed to write, the controller runs on the "gateway" at real time.
    with_writes.assert_outcomes(passed=2, skipped=2)


async def test_on_a_real_serial_line_the_read_only_test_runs(
    pytester: pytest.Pytester, pty_pair: tuple[str, str]
) -> None:
    """The endpoint as a serial device: the simulator answers at the other end of a pty pair
    (parity N: Linux refuses even parity on a pty)."""
    pytester.makepyfile(test_engineer=ENGINEERS_TESTS)
    line, units_end = pty_pair
    gateway = Simulator(load_config(config_file("demo")), speed=1.0)
    async with gateway.running(serial=units_end, baudrate=19200, parity="N"):
        result = await run_pytest(pytester, f"--minisplit-modbus=rtu://{line}?parity=N")
    result.assert_outcomes(passed=1, skipped=3)


def test_pytest_help_shows_the_kits_options(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(
        [
            "minisplit hardware-in-the-loop kit (docs/testing.md):",
            "*--minisplit-modbus=ENDPOINT*",
            "*--minisplit-config=FILE*",
            "*--minisplit-allow-writes*",
        ]
    )


def test_an_endpoint_it_cannot_read_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_nothing="def test_nothing(): pass\n")
    result = pytester.runpytest_subprocess("--minisplit-modbus=udp://gateway")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--minisplit-modbus: 'udp://gateway': expected tcp://HOST*"])
