"""`minisplit demo` end to end: broker, simulator and controller start, rooms heat, it stops."""

import subprocess
import sys

import pytest


@pytest.mark.integration
def test_demo_runs_and_shows_the_rooms_heating(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "controller.cli", "demo", "--duration", "4", "--speed", "60"],
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
