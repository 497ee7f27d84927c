"""The simulator's Modbus face: one pymodbus SimDevice per unit id (a gateway's units share
one: hil.gateway), served over TCP or RTU.

Register-exact to docs/reference-unit.md. pymodbus checks addresses against the SimData tables (a
gap inside a table is a read-only register that reads 0; past a table's end → 0x02; a write to a
read-only register → 0x02); the `action` hook then hands every access to the unit model, which
computes input registers and validates and applies writes. Rules that come before the datastore:
requests for unit ids nobody answers to get no reply, as on an RS-485 line; the line faults
(minisplit/hil/faults.py) act once per request; reads longer than the unit's limit (of
registers, or of bits) → 0x03, as Modbus orders the quantity check first. Coils and discrete
inputs do not go through the datastore (pymodbus packs them 16 to a register): the unit model
answers them itself, with the same checks (an address outside the profile's points or a
reserved one → 0x02, a refused coil write → 0x02/0x03). On an RTU line the reply frames pass
the fault injector on their way out (bad CRC, noise bursts)."""

from __future__ import annotations

import os
import termios
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol, TypedDict

from pymodbus.constants import ExcCodes
from pymodbus.pdu import ExceptionResponse, ModbusPDU
from pymodbus.pdu.bit_message import (
    ReadCoilsRequest,
    ReadCoilsResponse,
    ReadDiscreteInputsRequest,
    ReadDiscreteInputsResponse,
    WriteMultipleCoilsRequest,
    WriteMultipleCoilsResponse,
    WriteSingleCoilRequest,
    WriteSingleCoilResponse,
)
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersRequest,
    ReadInputRegistersRequest,
    WriteMultipleRegistersRequest,
    WriteSingleRegisterRequest,
)
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimAction, SimData, SimDevice

from minisplit.drivers.profile import DeviceProfile, Table
from minisplit.drivers.serial_port import is_pseudo_terminal, parity_to_open
from minisplit.hil.register_map import RegisterAccessError

if TYPE_CHECKING:
    from pymodbus.datastore import ModbusServerContext

# Function codes of the coil and discrete-input tables, which the unit models answer themselves.
BIT_FUNCTION_CODES = frozenset({1, 2, 5, 15})
_COIL_FUNCTION_CODES = frozenset({1, 5, 15})
INPUT_FUNCTION_CODE = 4
READ_FUNCTION_CODES = frozenset({3, INPUT_FUNCTION_CODE})
# The attribute of a response that names the request it answers (see _ServedRequest).
_ANSWERS = "minisplit_answers"


class ServedUnit(Protocol):
    """What the server needs from a unit model."""

    profile: DeviceProfile

    def span(self, table: Table) -> tuple[int, int] | None: ...

    def writable_at(self, address: int) -> bool: ...

    def words(self, table: Table, address: int, count: int) -> list[int]: ...

    def image(self, table: Table, address: int, count: int) -> list[int]: ...

    def write_words(self, address: int, words: Sequence[int]) -> None: ...

    def write_coils(self, address: int, bits: Sequence[int]) -> None: ...


class LineFaults(Protocol):
    """What the server asks the fault injector (minisplit/hil/faults.py) about each request."""

    def silent(self, unit_id: int) -> bool:
        """True: the request gets no reply at all (the master times out)."""
        ...

    async def before_reply(self, unit_id: int) -> ExcCodes | None:
        """Delay the reply (slow unit), or answer with an exception code instead."""
        ...

    def on_the_wire(self, unit_id: int, frame: bytes) -> bytes:
        """The bytes an RTU line carries for this reply frame (corrupted, or after noise)."""
        ...


def sim_device(unit_id: int, unit: ServedUnit, before_access: Callable[[], None]) -> SimDevice:
    """The SimDevice of one unit, with separate input and holding tables (and empty bit tables:
    `_BitPoints` serves those).

    ``before_access`` runs before every request is served (the simulator brings its physics
    up to the present there)."""
    no_bits = [SimData(address=0, values=[False] * 16, datatype=DataType.BITS)]
    return SimDevice(
        id=unit_id,
        simdata=(
            no_bits,
            list(no_bits),
            _table(unit, Table.HOLDING),
            _table(unit, Table.INPUT),
        ),
        action=_action(unit, before_access),
    )


def _table(unit: ServedUnit, table: Table) -> list[SimData]:
    """One SimData per address from the table's first to last register, gaps included.

    A gap is a read-only register (reads 0, refuses writes with 0x02); input registers are
    read-only anyway, holding registers writable where the profile says so."""
    span = unit.span(table)
    if span is None:
        return [SimData(address=0, datatype=DataType.INVALID)]
    first, last = span
    words = unit.image(table, first, last - first + 1)  # reserved addresses too: reads check
    return [
        SimData(
            address=address,
            values=word,
            datatype=DataType.REGISTERS,
            readonly=table is Table.INPUT or not unit.writable_at(address),
        )
        for address, word in zip(range(first, last + 1), words, strict=True)
    ]


def _action(unit: ServedUnit, before_access: Callable[[], None]) -> SimAction:
    async def action(
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if function_code in BIT_FUNCTION_CODES:  # _BitPoints answers them before the datastore
            return ExcCodes.ILLEGAL_ADDRESS
        before_access()
        table = Table.INPUT if function_code == INPUT_FUNCTION_CODE else Table.HOLDING
        offset = address - start_address
        try:
            if set_values is None:
                registers[offset : offset + count] = unit.words(table, address, count)
            else:
                unit.write_words(address, [int(v) for v in set_values])
        except RegisterAccessError as err:
            return err.code
        return None

    return action


class _BitPoints:
    """Serves coil and discrete-input requests from the unit models (one point per address, as
    the profile numbers them), bringing the physics up to the present first."""

    def __init__(self, units: Mapping[int, ServedUnit], before_access: Callable[[], None]) -> None:
        self.units = dict(units)
        self.before_access = before_access

    def answer(self, request: ModbusPDU, device_id: int) -> ModbusPDU:
        fc = request.function_code
        dev_id, transaction_id = request.dev_id, request.transaction_id
        unit = self.units.get(device_id)
        if unit is None:
            return ExceptionResponse(fc, ExcCodes.ILLEGAL_ADDRESS)
        table = Table.COIL if fc in _COIL_FUNCTION_CODES else Table.DISCRETE_INPUT
        self.before_access()
        try:
            if fc in (1, 2):
                if not 1 <= request.count <= unit.profile.max_read_bits:
                    return ExceptionResponse(fc, ExcCodes.ILLEGAL_VALUE)
                bits = [bool(v) for v in unit.words(table, request.address, request.count)]
                reply = ReadCoilsResponse if fc == 1 else ReadDiscreteInputsResponse
                return reply(bits=bits, dev_id=dev_id, transaction_id=transaction_id)
            values = [int(bit) for bit in request.bits[: request.count if fc == 15 else 1]]
            unit.write_coils(request.address, values)
        except RegisterAccessError as err:
            return ExceptionResponse(fc, err.code)
        if fc == 5:
            return WriteSingleCoilResponse(
                address=request.address,
                bits=request.bits[:1],
                dev_id=dev_id,
                transaction_id=transaction_id,
            )
        return WriteMultipleCoilsResponse(
            address=request.address, count=len(values), dev_id=dev_id, transaction_id=transaction_id
        )


class _ServedRequest(ModbusPDU):
    """Mixin for the register and bit requests: the line faults act here, once per request
    (pymodbus calls the datastore action once per access, and a write is two), then the read
    limit: more registers than the addressed unit answers → 0x03; bit requests go to
    `_BitPoints`."""

    max_read: Mapping[int, int] = {}
    faults: LineFaults | None = None
    bit_points: _BitPoints | None = None

    async def datastore_update(self, context: ModbusServerContext, device_id: int) -> ModbusPDU:
        answers = (device_id, self.transaction_id)
        code = None if self.faults is None else await self.faults.before_reply(device_id)
        if code is not None:
            response: ModbusPDU = ExceptionResponse(self.function_code, code)
        elif self.function_code in BIT_FUNCTION_CODES and self.bit_points is not None:
            response = self.bit_points.answer(self, device_id)
        elif self.function_code in READ_FUNCTION_CODES and self.count > self.max_read.get(
            device_id, self.count
        ):
            response = ExceptionResponse(self.function_code, ExcCodes.ILLEGAL_VALUE)
        else:
            response = await super().datastore_update(context, device_id)
        # pymodbus stamps a reply with the ids of the latest request on the connection, which
        # for a late reply is the master's next one; a real unit's late reply names its own.
        setattr(response, _ANSWERS, answers)
        return response


def _served_requests(
    max_read: Mapping[int, int], faults: LineFaults | None, bit_points: _BitPoints
) -> list[type[ModbusPDU]]:
    """The register and bit requests of this server, with the line faults, the per-unit read
    limit and the bit tables (pymodbus `custom_pdu`)."""
    return [
        type(
            f"Served{base.__name__}",
            (_ServedRequest, base),
            {"max_read": dict(max_read), "faults": faults, "bit_points": bit_points},
        )
        for base in (
            ReadHoldingRegistersRequest,
            ReadInputRegistersRequest,
            WriteSingleRegisterRequest,
            WriteMultipleRegistersRequest,
            ReadCoilsRequest,
            ReadDiscreteInputsRequest,
            WriteSingleCoilRequest,
            WriteMultipleCoilsRequest,
        )
    ]


def _known_units_only(
    unit_ids: frozenset[int], faults: LineFaults | None
) -> Callable[[bool, ModbusPDU], ModbusPDU]:
    """A pymodbus PDU trace hook that drops requests for absent (or silenced) unit ids, and
    sends each reply with the ids of the request it answers (see _ServedRequest).

    pymodbus would answer them from its catch-all device (and fail); on a real line an absent
    unit is silent, and a driver must see exactly that: a timeout."""

    def trace(sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if sending:
            pdu.dev_id, pdu.transaction_id = getattr(
                pdu, _ANSWERS, (pdu.dev_id, pdu.transaction_id)
            )
            return pdu
        if pdu.dev_id not in unit_ids or (faults is not None and faults.silent(pdu.dev_id)):
            return None  # type: ignore[return-value]  # pymodbus skips a request traced to None
        return pdu

    return trace


def _rtu_frame_faults(faults: LineFaults) -> Callable[[bool, bytes], bytes]:
    """A pymodbus packet trace hook that hands each outgoing RTU frame to the fault injector.

    pymodbus sends whatever this returns, CRC included: the one place where the bytes of a
    reply can still be altered."""

    def trace(sending: bool, packet: bytes) -> bytes:
        if not sending or not packet:
            return packet
        return faults.on_the_wire(packet[0], packet)  # an RTU frame opens with the unit id

    return trace


class _ServerOptions(TypedDict):
    """What the TCP and the RTU server are given alike."""

    context: list[SimDevice]
    custom_pdu: list[type[ModbusPDU]]
    trace_pdu: Callable[[bool, ModbusPDU], ModbusPDU]


def _server_options(
    units: Mapping[int, ServedUnit],
    before_access: Callable[[], None],
    faults: LineFaults | None,
) -> _ServerOptions:
    return {
        "context": [sim_device(uid, unit, before_access) for uid, unit in sorted(units.items())],
        "custom_pdu": _served_requests(
            {uid: u.profile.max_read_registers for uid, u in units.items()},
            faults,
            _BitPoints(units, before_access),
        ),
        "trace_pdu": _known_units_only(frozenset(units), faults),
    }


async def start_tcp_server(
    units: Mapping[int, ServedUnit],
    host: str,
    port: int,
    before_access: Callable[[], None],
    faults: LineFaults | None = None,
) -> ModbusTcpServer:
    """Listen on ``host:port`` (port 0 picks a free one; see `tcp_address`)."""
    options = _server_options(units, before_access, faults)
    server = ModbusTcpServer(address=(host, port), **options)
    await _listen(server, f"Modbus TCP on {host}:{port}")
    return server


def tcp_address(server: ModbusTcpServer) -> tuple[str, int]:
    """The address a TCP server actually listens on."""
    # pymodbus types `transport` as a connection's; a listening server holds an asyncio.Server.
    sockname = server.transport.sockets[0].getsockname()  # type: ignore[attr-defined]
    return sockname[0], sockname[1]


def serial_line(port: str, baudrate: int, parity: str, stopbits: int, bytesize: int = 8) -> str:
    """A served serial line, for logs and errors: the port and its framing."""
    framing = f"{baudrate} {bytesize}{parity}{stopbits}"
    if is_pseudo_terminal(port):
        return f"{port} (a pty: bytes without line framing, so {framing} is not applied)"
    return f"{port} {framing}"


def _device_missing(port: str) -> bool:
    # A local device node; pyserial URLs (rfc2217://, socket://) are not paths.
    return "://" not in port and not os.path.exists(port)


async def start_serial_server(
    units: Mapping[int, ServedUnit],
    port: str,
    before_access: Callable[[], None],
    *,
    baudrate: int = 19200,
    parity: str = "E",
    stopbits: int = 1,
    bytesize: int = 8,
    faults: LineFaults | None = None,
) -> ModbusSerialServer:
    """Serve every unit on one RTU line (by default 19200 8E1, the reference units' line:
    docs/reference-unit.md).

    A real serial port gets exactly this framing, or an OSError saying it refuses it; a pty
    (see `drivers.serial_port.is_pseudo_terminal`) is opened without parity, which it has no
    means to carry."""
    if _device_missing(port):  # pymodbus would log why, and raise without the reason
        raise OSError(f"cannot serve Modbus RTU on {port}: no such device")
    server = ModbusSerialServer(
        port=port,
        baudrate=baudrate,
        parity=parity_to_open(port, parity),
        stopbits=stopbits,
        bytesize=bytesize,
        trace_packet=None if faults is None else _rtu_frame_faults(faults),
        **_server_options(units, before_access, faults),
    )
    await _listen(
        server, f"Modbus RTU on {serial_line(port, baudrate, parity, stopbits, bytesize)}"
    )
    return server


async def _listen(server: ModbusTcpServer | ModbusSerialServer, what: str) -> None:
    try:
        await server.serve_forever(background=True)
    except RuntimeError:
        # pymodbus has logged the OS error; say what we were trying to do.
        raise OSError(f"cannot serve {what}") from None
    except termios.error as err:  # pyserial: the port refuses a setting
        raise OSError(f"cannot serve {what}: the port refuses it ({err.args[-1]})") from None
