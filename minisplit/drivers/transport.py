"""Opens the pymodbus client for one bus config: Modbus RTU on a serial port, or Modbus TCP.

The client is left deliberately dumb: pymodbus's own retries, reconnects and "disconnect after
N silent requests" are switched off, because the bus scheduler (minisplit/drivers/bus.py) owns those
decisions and counts them per device. A reply frame that cannot be decoded (a wrong byte count,
a function code that does not fit) becomes a `MalformedReply` answer to the request on the wire,
instead of an exception in pymodbus's receive handler that drops the TCP link (or, on a serial
line, logs a traceback and leaves the request to time out).
"""

from __future__ import annotations

import asyncio
import errno
import os
import struct
import termios
from collections.abc import Awaitable, Callable
from typing import Protocol

import serial
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient, ModbusBaseClient
from pymodbus.exceptions import ModbusException
from pymodbus.framer import FramerBase, FramerRTU, FramerSocket, FramerType
from pymodbus.pdu import ModbusPDU
from serial.rs485 import RS485Settings

from minisplit.drivers.bus_config import SerialBus, TcpBus
from minisplit.drivers.serial_port import parity_to_open

#: pymodbus uses one timeout for connecting and for every response. The scheduler enforces the
#: per-device response timeout itself (config allows at most 10 s), so the client's own timeout
#: is only a ceiling that never fires first.
RESPONSE_TIMEOUT_CEILING_S = 11.0
CONNECT_TIMEOUT_S = 5.0
_NEVER_DISCONNECT = 2**31
_OPEN_HINTS = {
    errno.ENOENT: " (is the adapter plugged in, and is the device path right?)",
    errno.EACCES: " (is the service user in the 'dialout' group?)",
}


class ModbusClient(Protocol):
    """The part of a pymodbus async client that the bus scheduler uses (fakes implement it)."""

    @property
    def connected(self) -> bool: ...

    def read_input_registers(
        self, address: int, *, count: int = 1, device_id: int = 1
    ) -> Awaitable[ModbusPDU]: ...

    def read_holding_registers(
        self, address: int, *, count: int = 1, device_id: int = 1
    ) -> Awaitable[ModbusPDU]: ...

    def read_coils(
        self, address: int, *, count: int = 1, device_id: int = 1
    ) -> Awaitable[ModbusPDU]: ...

    def read_discrete_inputs(
        self, address: int, *, count: int = 1, device_id: int = 1
    ) -> Awaitable[ModbusPDU]: ...

    def write_coil(
        self, address: int, value: bool, *, device_id: int = 1
    ) -> Awaitable[ModbusPDU]: ...

    def write_coils(
        self, address: int, values: list[bool], *, device_id: int = 1
    ) -> Awaitable[ModbusPDU]: ...

    def write_register(
        self, address: int, value: int, *, device_id: int = 1
    ) -> Awaitable[ModbusPDU]: ...

    def write_registers(
        self, address: int, values: list[int], *, device_id: int = 1
    ) -> Awaitable[ModbusPDU]: ...

    def close(self) -> None: ...


#: Opens a connected client for a bus; ``on_lost`` is called when the link drops by itself.
ClientFactory = Callable[[SerialBus | TcpBus, Callable[[], None]], Awaitable[ModbusClient]]


class TransportError(ConnectionError):
    """The line cannot be opened; the message names the port and the reason."""


_SHOWN_BYTES = 16  # of a malformed reply, in its message
# What pymodbus's decoders raise on a frame whose content does not fit its function code.
_DECODE_ERRORS = (ModbusException, ValueError, IndexError, struct.error)


class MalformedReply(ModbusPDU):
    """A reply frame that arrived whole (its length or CRC fits) but whose PDU cannot be
    decoded: the answer of a confused unit or gateway, which fails its request only."""

    def __init__(self, frame: bytes, dev_id: int, transaction_id: int) -> None:
        super().__init__(dev_id=dev_id, transaction_id=transaction_id)
        self.frame = frame

    def __str__(self) -> str:
        shown = self.frame[:_SHOWN_BYTES].hex(" ")
        more = " ..." if len(self.frame) > _SHOWN_BYTES else ""
        return f"malformed reply ({len(self.frame)} bytes: {shown}{more})"


class _ContainedDecodeErrors(FramerBase):
    """Turns a frame that fails to decode into a MalformedReply: pymodbus raises it from its
    receive handler, where nobody can catch it, and the line pays for one unit's bad reply."""

    def handleFrame(
        self, data: bytes, exp_devid: int, exp_tid: int
    ) -> tuple[int, ModbusPDU | None]:
        try:
            return super().handleFrame(data, exp_devid, exp_tid)
        except _DECODE_ERRORS as err:
            # A half-duplex line carries one transaction at a time: what arrives now answers
            # the request on the wire, and the whole buffer is that unit's bad reply.
            dev_id = getattr(err, "dev_id", 0) or exp_devid
            tid = getattr(err, "transaction_id", 0) or exp_tid
            return len(data), MalformedReply(bytes(data), dev_id, tid)


class _SocketFramer(_ContainedDecodeErrors, FramerSocket):
    pass


class _RtuFramer(_ContainedDecodeErrors, FramerRTU):
    pass


def describe(bus: SerialBus | TcpBus) -> str:
    if isinstance(bus, SerialBus):
        return f"serial port {bus.device}"
    return f"Modbus TCP {bus.host}:{bus.port}"


async def open_client(
    bus: SerialBus | TcpBus,
    on_lost: Callable[[], None] = lambda: None,
    *,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
) -> ModbusBaseClient:
    """A connected pymodbus client for ``bus``; raises TransportError saying why not."""

    def trace_connect(up: bool) -> None:
        if not up:
            on_lost()

    if isinstance(bus, SerialBus) and _device_path_missing(bus):
        # An unplugged USB adapter: said here, before pymodbus logs a warning per attempt.
        hint = _OPEN_HINTS[errno.ENOENT]
        raise TransportError(f"{describe(bus)}: cannot open: {bus.device} does not exist{hint}")
    client = _make_client(bus, trace_connect)
    client.set_max_no_responses(_NEVER_DISCONNECT)
    _contain_decode_errors(client, bus)
    try:
        async with asyncio.timeout(connect_timeout_s):
            connected = await client.connect()
    except TimeoutError:
        connected = False
    except (OSError, ValueError, termios.error) as err:
        # pymodbus passes on what pyserial raises for settings the port refuses
        client.close()
        raise TransportError(f"{describe(bus)}: the port refuses its settings: {err}") from None
    if not connected:
        client.close()
        raise TransportError(f"{describe(bus)}: {_why_not_connected(bus, connect_timeout_s)}")
    if isinstance(bus, SerialBus) and bus.rs485_mode:
        try:
            _enable_kernel_rs485(client, bus)
        except TransportError:
            client.close()
            raise
    return client


def _make_client(
    bus: SerialBus | TcpBus, trace_connect: Callable[[bool], None]
) -> ModbusBaseClient:
    # reconnect_delay=0 turns off pymodbus's background reconnect; retries=0 its retries.
    if isinstance(bus, SerialBus):
        return AsyncModbusSerialClient(
            bus.device,
            framer=FramerType.RTU,
            baudrate=bus.baudrate,
            bytesize=bus.bytesize,
            parity=parity_to_open(bus.device, bus.parity),
            stopbits=bus.stopbits,
            handle_local_echo=bus.handle_local_echo,
            name=bus.device,
            reconnect_delay=0,
            timeout=RESPONSE_TIMEOUT_CEILING_S,
            retries=0,
            trace_connect=trace_connect,
        )
    return AsyncModbusTcpClient(
        bus.host,
        port=bus.port,
        framer=FramerType.SOCKET,
        name=f"{bus.host}:{bus.port}",
        reconnect_delay=0,
        timeout=RESPONSE_TIMEOUT_CEILING_S,
        retries=0,
        trace_connect=trace_connect,
    )


def _contain_decode_errors(client: ModbusBaseClient, bus: SerialBus | TcpBus) -> None:
    """Give the client a framer that answers an undecodable frame with a MalformedReply.

    pymodbus takes only a framer's name, so the framer its transaction manager made
    (``client.ctx.framer``, an internal of pymodbus 3.16) is replaced, keeping its decoder;
    checked, so that a pymodbus upgrade that moves it fails at once, not on the first bad frame.
    """
    framer = getattr(client.ctx, "framer", None)
    for pymodbus_framer, contained in ((FramerSocket, _SocketFramer), (FramerRTU, _RtuFramer)):
        if type(framer) is pymodbus_framer:
            client.ctx.framer = contained(framer.decoder)
            return
    client.close()
    raise TransportError(
        f"{describe(bus)}: this pymodbus version's client has no framer to replace ({framer!r})"
    )


def _device_path_missing(bus: SerialBus) -> bool:
    # A stat of a local device node; pyserial URLs (rfc2217://, socket://) are not paths.
    return "://" not in bus.device and not os.path.exists(bus.device)


def _why_not_connected(bus: SerialBus | TcpBus, connect_timeout_s: float) -> str:
    if isinstance(bus, TcpBus):
        return f"cannot connect within {connect_timeout_s:g} s (refused, unreachable or no answer)"
    # pymodbus only logs the reason; opening the port once more with pyserial recovers it.
    try:
        port = serial.serial_for_url(bus.device, do_not_open=True, exclusive=True)
        port.open()
    except (OSError, ValueError, termios.error) as err:  # SerialException is an OSError
        hint = _OPEN_HINTS.get(getattr(err, "errno", None) or 0, "")
        return f"cannot open: {err}{hint}"
    port.close()
    return "cannot open (it opened on a second try: another program may be using it)"


def _enable_kernel_rs485(client: ModbusBaseClient, bus: SerialBus) -> None:
    """Let the kernel drive the transceiver's direction with RTS (UART HATs on /dev/ttyAMA0).

    pymodbus has no option for this, so it is set on the pyserial port that pymodbus opened
    (``client.ctx.transport.sync_serial``, an internal of pymodbus 3.16): checked here, so that
    a pymodbus upgrade that moves it fails at start-up with this message, not silently."""
    port = getattr(getattr(client.ctx, "transport", None), "sync_serial", None)
    if not isinstance(port, serial.SerialBase):
        raise TransportError(
            f"{describe(bus)}: rs485_mode is not supported with this pymodbus version "
            "(its serial transport does not expose the pyserial port)"
        )
    try:
        port.rs485_mode = RS485Settings(rts_level_for_tx=True, rts_level_for_rx=False)
    except (ValueError, OSError, termios.error) as err:
        raise TransportError(
            f"{describe(bus)}: cannot enable the kernel's RS-485 mode ({err}); if the adapter "
            "switches direction by itself (USB adapters, most HATs), set rs485_mode = false"
        ) from None
