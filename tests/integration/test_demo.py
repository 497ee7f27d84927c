"""`minisplit demo` end to end: broker, simulator and controller start, rooms heat, it stops."""

import os
import select
import signal
import subprocess
import sys
import time

import pytest


@pytest.mark.integration
def test_demo_runs_and_shows_the_rooms_heating(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "minisplit.controller.cli",
            "demo",
            "--duration",
            "4",
            "--speed",
            "60",
        ],
        cwd=tmp_path,  # the demo's state file lands here, not in the checkout
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    last_view = result.stdout.split("minisplit demo —")[-1]
    for zone in ("living", "kitchen", "bedroom", "office"):
        assert f"\n{zone} " in last_view
    assert "heating" in last_view
    assert "outdoor unit: mode heat" in last_view
    assert "mosquitto_pub -p" in last_view


@pytest.mark.integration
def test_ctrl_c_stops_the_demo_cleanly(tmp_path):
    """Ctrl-C in a terminal signals the whole foreground process group: the broker it started
    died with the demo and the controller logged its lost connection as errors."""
    process = subprocess.Popen(
        [sys.executable, "-m", "minisplit.controller.cli", "demo", "--speed", "60"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a process group of its own, as a terminal's job is
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        while "Ctrl-C stops" not in process.stdout.readline():  # the live view is up
            remaining = deadline - time.monotonic()
            assert remaining > 0 and select.select([process.stdout], [], [], remaining)[0]
        os.killpg(process.pid, signal.SIGINT)  # what the terminal does at Ctrl-C
        _, errors = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, errors
    assert "ERROR" not in errors, errors
    assert "Traceback" not in errors, errors
