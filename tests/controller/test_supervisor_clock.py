"""The supervisor's clock: monotonic, scaled, and on the wall clock's epoch (calendar hours)."""

import asyncio
import time

from controller.supervisor import Supervisor
from tests.integration.harness import tcp_config


async def test_controller_time_is_wall_epoch_seconds_advancing_with_the_loop(tmp_path):
    supervisor = Supervisor(tcp_config(1, tmp_path / "state.json"), time_scale=1.0)
    first = supervisor.now()
    assert abs(first - time.time()) < 1.0  # its hours are the homeowner's calendar hours
    await asyncio.sleep(0.05)
    assert supervisor.now() - first >= 0.04


async def test_scaled_controller_time_runs_faster_from_the_same_epoch(tmp_path):
    supervisor = Supervisor(tcp_config(1, tmp_path / "state.json"), time_scale=100.0)
    first = supervisor.now()
    assert abs(first - time.time()) < 1.0
    await asyncio.sleep(0.05)
    assert supervisor.now() - first >= 100.0 * 0.04
