"""Several unit models behind one Modbus unit id, as a CoolMasterNet- or DIII-net-style gateway
serves them: each at its own addresses (its profile moved to its `unit_index`), one register
image for the server (docs/profiles.md, 'Several units behind one address')."""

from __future__ import annotations

from collections.abc import Sequence

from pymodbus.constants import ExcCodes

from minisplit.drivers.profile import DeviceProfile, Table
from minisplit.hil.register_map import ModbusUnit, RegisterAccessError, refuse_reserved


class Gateway:
    """The units of one gateway, served on its unit id: a read may cover several units (the
    addresses between them read 0, like a gap inside a table); a write goes to one unit."""

    def __init__(self, units: Sequence[ModbusUnit]) -> None:
        if not units:
            raise ValueError("a gateway serves at least one unit")
        self.units = list(units)
        # The gateway's limits are its units' profile's (one profile: controller.config).
        self.profile: DeviceProfile = units[0].profile

    def span(self, table: Table) -> tuple[int, int] | None:
        spans = [s for unit in self.units if (s := unit.span(table)) is not None]
        if not spans:
            return None
        return min(low for low, _ in spans), max(high for _, high in spans)

    def writable_at(self, address: int) -> bool:
        return any(unit.writable_at(address) for unit in self.units)

    def words(self, table: Table, address: int, count: int) -> list[int]:
        span = self.span(table)
        if span is None or address < span[0] or address + count - 1 > span[1]:
            raise RegisterAccessError(
                ExcCodes.ILLEGAL_ADDRESS, f"{table} {address}+{count} outside the table"
            )
        for unit in self.units:
            refuse_reserved(unit.profile, table, address, count)
        return self.image(table, address, count)

    def image(self, table: Table, address: int, count: int) -> list[int]:
        image = [0] * count
        last = address + count - 1
        for unit in self.units:
            span = unit.span(table)
            if span is None:
                continue
            low, high = max(address, span[0]), min(last, span[1])
            if low <= high:
                image[low - address : high - address + 1] = unit.image(table, low, high - low + 1)
        return image

    def write_words(self, address: int, words: Sequence[int]) -> None:
        self._unit_at(Table.HOLDING, address, len(words)).write_words(address, words)

    def write_coils(self, address: int, bits: Sequence[int]) -> None:
        self._unit_at(Table.COIL, address, len(bits)).write_coils(address, bits)

    def _unit_at(self, table: Table, address: int, count: int) -> ModbusUnit:
        """The one unit a write falls on: a write across two units is refused, as a write to
        an address no unit has."""
        for unit in self.units:
            span = unit.span(table)
            if span is not None and span[0] <= address and address + count - 1 <= span[1]:
                return unit
        raise RegisterAccessError(
            ExcCodes.ILLEGAL_ADDRESS, f"{table} {address}+{count} is not one unit's"
        )
