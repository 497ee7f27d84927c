"""The demo's local broker: mosquitto when installed, else amqtt in-process (no root needed)."""

import asyncio
import sys
from pathlib import Path

import aiomqtt
import pytest

from minisplit.hil import broker


@pytest.mark.parametrize("use_mosquitto", [True, False])
async def test_local_broker_carries_a_retained_message(use_mosquitto, monkeypatch):
    if not use_mosquitto:
        monkeypatch.setattr(broker, "mosquitto_path", lambda: None)
    elif broker.mosquitto_path() is None:
        pytest.skip("mosquitto is not installed")
    port = broker.free_port()
    async with broker.local_broker("127.0.0.1", port) as name:
        assert name == ("mosquitto" if use_mosquitto else "amqtt")
        async with aiomqtt.Client("127.0.0.1", port) as client:
            await client.publish("demo/x", "hello", retain=True)
            await client.subscribe("demo/#")
            async with asyncio.timeout(10):  # bounded: a broker that drops it fails, not hangs
                message = await anext(aiter(client.messages))
            assert message.payload == b"hello"


def test_free_port_prefers_the_wanted_one_when_free():
    port = broker.free_port()
    assert broker.free_port("127.0.0.1", port) == port


def test_free_ports_come_from_outside_the_kernels_ephemeral_range_and_never_twice():
    """A port from bind(0) is released before the simulator binds it, and in that moment the
    kernel handed it to an outgoing connection: CI saw "cannot serve Modbus TCP on
    127.0.0.1:33817". Ports the kernel never allocates on its own cannot be taken that way."""
    ephemeral = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
    low = int(ephemeral.split()[0])
    ports = [broker.free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    assert all(1024 < port < low for port in ports)


def test_a_taken_preferred_port_gives_another():
    import socket

    with socket.socket() as held:
        held.bind(("127.0.0.1", broker.free_port()))
        held.listen()
        taken = held.getsockname()[1]
        assert broker.free_port("127.0.0.1", taken) != taken


async def test_without_mosquitto_or_amqtt_the_broker_says_what_to_install(monkeypatch):
    """A plain `pip install .` has no amqtt (the demo extra): on a machine without mosquitto
    `minisplit demo` ended in a ModuleNotFoundError traceback."""
    monkeypatch.setattr(broker, "mosquitto_path", lambda: None)
    monkeypatch.setitem(sys.modules, "amqtt.broker", None)  # its import fails as if absent
    with pytest.raises(broker.NoBroker, match=r"apt-get install mosquitto.*minisplit\[demo\]"):
        async with broker.local_broker("127.0.0.1", broker.free_port()):
            pass
