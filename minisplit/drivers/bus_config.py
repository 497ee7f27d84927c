"""What a `[buses.<name>]` table of the config says about one line: an RS-485 port (Modbus RTU)
or a Modbus TCP endpoint. The drivers open and time the line from it; the controller's config
holds one per bus name."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from minisplit.drivers.strict_model import StrictModel


def _not_a_boolean(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("Input should be a number, not true or false")
    return value


# TOML's true is Python's True, which equals 1: a Literal of numbers would take it even in
# strict mode.
NotBoolean = BeforeValidator(_not_a_boolean)
# Polls of a unit that may fail in a row before the controller takes it for unavailable (its
# last status stands meanwhile): a noisy line must not flap a zone, nor stop the compressor, for
# one lost frame. Home Assistant's modbus calls this `lazy_error_count`.
FailedPollsTolerated = Annotated[int, Field(ge=0, le=10)]


class SerialBus(StrictModel):
    """An RS-485 line on a local serial port (Modbus RTU)."""

    type: Literal["rtu"]
    device: str
    baudrate: Annotated[
        Literal[1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200], NotBoolean
    ] = 19200
    parity: Literal["N", "E", "O"] = "E"
    bytesize: Annotated[Literal[7, 8], NotBoolean] = 8
    stopbits: Annotated[Literal[1, 2], NotBoolean] = 1
    timeout_s: Annotated[float, Field(gt=0, le=10)] = 0.3
    retries: Annotated[int, Field(ge=0, le=10)] = 2
    inter_frame_delay_s: Annotated[float, Field(ge=0, le=1)] = 0.005
    rs485_mode: bool = False
    handle_local_echo: bool = False
    failed_polls_tolerated: FailedPollsTolerated = 1


class TcpBus(StrictModel):
    """A Modbus TCP endpoint: an RS-485 gateway, or the simulator."""

    type: Literal["tcp"]
    host: str
    port: Annotated[int, Field(ge=1, le=65535)] = 502
    timeout_s: Annotated[float, Field(gt=0, le=10)] = 1.0
    retries: Annotated[int, Field(ge=0, le=10)] = 2
    inter_frame_delay_s: Annotated[float, Field(ge=0, le=1)] = 0.0
    failed_polls_tolerated: FailedPollsTolerated = 1


Bus = Annotated[SerialBus | TcpBus, Field(discriminator="type")]

#: The values of Bus's `type` key, which pydantic puts into error locations; they are not keys.
BUS_TYPES = frozenset({"rtu", "tcp"})
