"""The sd_notify sender, and the supervisor's READY / WATCHDOG / STATUS through a fake
``$NOTIFY_SOCKET`` (a datagram socket the test reads, as systemd would)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Iterator

import pytest

from minisplit.controller.service.notify import SystemdNotifier
from minisplit.controller.service.supervisor import Supervisor
from minisplit.hil.broker import free_port
from minisplit.hil.simulator import Simulator
from minisplit.testing.harness import running, tcp_config, wait_until

SPEED = 60.0


@pytest.fixture
def notify_socket(tmp_path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.setblocking(False)
        yield sock, path


def received(sock: socket.socket) -> list[str]:
    messages = []
    with contextlib.suppress(BlockingIOError):
        while True:
            messages.append(sock.recv(4096).decode())
    return messages


def test_without_notify_socket_every_call_is_a_no_op():
    notifier = SystemdNotifier({})
    assert not notifier.enabled
    assert notifier.watchdog_s is None
    notifier.notify("READY=1")


def test_sends_one_datagram_of_lines_to_a_path(notify_socket):
    sock, path = notify_socket
    SystemdNotifier({"NOTIFY_SOCKET": path}).notify("READY=1", "STATUS=two\nlines")
    assert received(sock) == ["READY=1\nSTATUS=two lines"]


def test_abstract_namespace_socket():
    name = f"minisplit-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.setblocking(False)
        SystemdNotifier({"NOTIFY_SOCKET": "@" + name}).notify("WATCHDOG=1")
        assert received(sock) == ["WATCHDOG=1"]


def test_a_vanished_socket_is_not_an_error(tmp_path):
    SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone")}).notify("READY=1")


def test_watchdog_period_from_the_environment():
    assert SystemdNotifier({"WATCHDOG_USEC": "30000000"}).watchdog_s == 30.0
    mine = {"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}
    assert SystemdNotifier(mine).watchdog_s == 2.0
    # The watchdog belongs to another process, or is off.
    assert SystemdNotifier({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}).watchdog_s is None
    assert SystemdNotifier({"WATCHDOG_USEC": "0"}).watchdog_s is None


def supervisor_with_watchdog(tmp_path, port: int, path: str, **options: float) -> Supervisor:
    notifier = SystemdNotifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"})
    loaded = tcp_config(port, tmp_path / "state.json")
    supervisor = Supervisor(loaded, time_scale=SPEED, notifier=notifier, **options)
    supervisor.cycle_budget_s = 0.5
    return supervisor


@pytest.mark.integration
async def test_ready_after_the_first_cycle_then_watchdog_until_the_tick_stalls(
    tmp_path, notify_socket
):
    sock, path = notify_socket
    port = free_port()
    simulator = Simulator(tcp_config(port, tmp_path / "sim.json"), speed=SPEED)
    async with (
        simulator.running(tcp=("127.0.0.1", port)),
        running(supervisor_with_watchdog(tmp_path, port, path)) as supervisor,
    ):
        messages: list[str] = []
        cycles_at_ready: list[int] = []

        def ready() -> bool:
            new = received(sock)
            if any("READY=1" in m for m in new) and not cycles_at_ready:
                cycles_at_ready.append(supervisor.cycles)
            messages.extend(new)
            return bool(cycles_at_ready)

        await wait_until(ready, 10, "READY=1")
        assert cycles_at_ready[0] >= 1
        ready_message = next(m for m in messages if "READY=1" in m)
        assert "STATUS=zones 4/4 ok; ODU " in ready_message
        assert "faults: none" in ready_message
        await asyncio.sleep(1.0)
        pings = [m for m in received(sock) if "WATCHDOG=1" in m]
        assert len(pings) >= 5  # every 0.1 s while the loop ticks

        async def hung_cycle() -> None:
            await asyncio.Event().wait()

        supervisor.cycle = hung_cycle  # type: ignore[method-assign]
        await asyncio.sleep(1.0)  # the budget (0.5 s) runs out during this second
        received(sock)
        await asyncio.sleep(1.0)
        after = received(sock)
        assert not any("WATCHDOG=1" in m for m in after), after


@pytest.mark.integration
async def test_ready_after_the_start_timeout_says_why(tmp_path, notify_socket):
    sock, path = notify_socket
    supervisor = supervisor_with_watchdog(tmp_path, free_port(), path, start_timeout_s=0.5)
    async with running(supervisor):
        messages: list[str] = []

        def read() -> list[str]:
            messages.extend(received(sock))
            return messages

        await wait_until(read, 10, "READY=1")
        assert messages[0].startswith("READY=1\nSTATUS=no bus cycle completed within 0.5 s: ")
        assert messages[0].endswith("bus sim not connected")
        # Nothing answers, but the control tick is alive: the watchdog is fed.
        await asyncio.sleep(0.5)
        assert any("WATCHDOG=1" in m for m in received(sock))
