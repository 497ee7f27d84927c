"""`minisplit demo` end to end: broker, simulator and controller start, rooms heat, it stops."""

import contextlib
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

SHORT = ("--duration", "4", "--speed", "60")


def last_view_of_demo(tmp_path: Path, *options: str) -> str:
    """The last live view of a 4-second demo at 60x speed (it must end cleanly)."""
    result = subprocess.run(
        [sys.executable, "-m", "minisplit.controller.cli", "demo", *options, *SHORT],
        cwd=tmp_path,  # the demo's state file lands here, not in the checkout
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split("minisplit demo —")[-1]


@pytest.mark.integration
def test_demo_runs_and_shows_the_rooms_heating(tmp_path):
    last_view = last_view_of_demo(tmp_path)
    for zone in ("living", "kitchen", "bedroom", "office"):
        assert f"\n{zone} " in last_view
    assert "heating" in last_view
    assert "outdoor unit: mode heat" in last_view
    assert "mosquitto_pub -p" in last_view


@pytest.mark.integration
@pytest.mark.parametrize("config", ["demo-intesis", "demo-gateway", "demo-diii-net"])
def test_the_interface_demos_drive_setpoint_heads(tmp_path, config):
    """The shipped configs of interface heads: no outdoor unit, the heads driven by their
    setpoints, each shown beside the homeowner's target."""
    last_view = last_view_of_demo(tmp_path, "--config", config)
    assert "head °C" in last_view
    rows = [line for line in last_view.splitlines() if line.startswith("living ")]
    assert rows and "heating" in rows[-1], last_view
    assert re.search(r"living +\S+ +\S+ +21\.0 +\d+\.\d +heat ", rows[-1]), rows[-1]
    assert "outdoor unit: not reached (its inverter follows the heads)" in last_view


@pytest.mark.integration
def test_the_two_systems_demo_shows_each_outdoor_unit(tmp_path):
    """Each system's outdoor unit on a line of its own: upstairs heats, downstairs is not
    reached; the rooms of both heat."""
    last_view = last_view_of_demo(tmp_path, "--config", "demo-two-systems")
    assert "outdoor unit upstairs: mode heat" in last_view, last_view
    assert "outdoor unit downstairs: not reached (its inverter follows the heads)" in last_view
    for zone in ("living", "bedroom"):
        rows = [line for line in last_view.splitlines() if line.startswith(f"{zone} ")]
        assert rows and "heating" in rows[-1], last_view


def start_demo(tmp_path: Path, *, own_group: bool) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "minisplit.controller.cli", "demo", "--speed", "60"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=own_group,
    )


def wait_for_the_live_view(process: subprocess.Popen[str]) -> str:
    """What the demo printed up to its first full view (which ends with "Ctrl-C stops")."""
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    seen = ""
    while "Ctrl-C stops" not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0 and select.select([process.stdout], [], [], remaining)[0]
        seen += process.stdout.readline()
    return seen


@pytest.mark.integration
def test_ctrl_c_stops_the_demo_cleanly(tmp_path):
    """Ctrl-C in a terminal signals the whole foreground process group: the broker it started
    died with the demo and the controller logged its lost connection as errors."""
    # A process group of its own, as a terminal's job is.
    process = start_demo(tmp_path, own_group=True)
    try:
        wait_for_the_live_view(process)
        os.killpg(process.pid, signal.SIGINT)  # what the terminal does at Ctrl-C
        _, errors = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, errors
    assert "ERROR" not in errors, errors
    assert "Traceback" not in errors, errors


@pytest.mark.integration
def test_sigterm_stops_the_demo_and_the_broker_it_started(tmp_path):
    """`timeout 60 minisplit demo` or `kill` sends SIGTERM to the demo alone: it stops as at
    Ctrl-C, exit 0, and takes its broker with it (it left mosquitto running, orphaned, on the
    port the next demo wanted)."""
    process = start_demo(tmp_path, own_group=False)
    children: list[int] = []
    try:
        (port,) = set(re.findall(r"mosquitto_pub -p (\d+)", wait_for_the_live_view(process)))
        children = children_of(process.pid)  # the broker, in a process group of its own
        process.send_signal(signal.SIGTERM)  # to the demo alone, as timeout(1) and kill do
        _, errors = process.communicate(timeout=30)
        assert process.returncode == 0, errors
        assert "Traceback" not in errors, errors
        with (
            pytest.raises(ConnectionRefusedError),
            socket.create_connection(("127.0.0.1", int(port)), timeout=5),
        ):
            pass  # nothing listens there any more: the broker stopped with the demo
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for child in children:  # an orphaned broker
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux's /proc)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # pid (comm) state ppid ...: comm may hold spaces, so split after its ")".
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(stat.parent.name))
    return children
