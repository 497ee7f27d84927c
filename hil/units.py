"""The reference outdoor unit and indoor heads at register level (DESIGN §5), driven by the plant.

Each unit holds its holding registers as the words last written, computes its input
registers from the plant on every read, and runs the unit's own firmware rules: restart
lockout, frequency ramp and clamping, heartbeat watchdog with autonomous fallback, and the
handheld remote. All times are simulated seconds."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pymodbus.constants import ExcCodes

from drivers.profile import DeviceProfile, RegisterSpec, Table
from drivers.registers import (
    RegisterValueError,
    check_writable,
    decode,
    encode_value,
    enum_value,
    raw_from_value,
    words_from_raw,
)
from hil.plant import (
    REFERENCE_HEAD,
    CompressorDrive,
    HeadDrive,
    HeadMode,
    HeadRatings,
    HeadState,
    OduMode,
    OutdoorState,
    OutdoorUnitRatings,
    Plant,
    capacity_factor,
    fan_power_w,
    indoor_relative_humidity,
    operating_point,
)

FIRMWARE_VERSION = 0x0102  # 1.2
RESTART_LOCKOUT_S = 180.0
RAMP_HZ_PER_S = 1.0
# Autonomous fallback: the head's own thermostat asks 100 % of its capacity at 2 K below
# setpoint (P control, as stock heads do) and nothing below a 5 % request, so the outdoor unit
# can stop rather than run the compressor for a trickle.
FALLBACK_GAIN_PCT_PER_K = 50.0
FALLBACK_MIN_REQUEST_PCT = 5.0
# Fan speed in `auto`: low…high with the head's capacity request; slow in dry mode.
AUTO_FAN_SPEEDS = (2, 4)
DRY_FAN_SPEED = 1

# Holding-register defaults that the profiles do not give (all others default to 0).
ODU_HOLDING_DEFAULTS: Mapping[str, float] = {"demand_limit": 100}
# Which broken sensor reports which fault code.
ODU_SENSOR_FAULTS: Mapping[str, str] = {"outdoor_temperature": "outdoor_sensor"}
HEAD_SENSOR_FAULTS: Mapping[str, str] = {
    "return_air_temperature": "return_air_sensor",
    "coil_temperature": "coil_sensor",
}


class RegisterAccessError(Exception):
    """A request the unit refuses, with the Modbus exception code it answers."""

    def __init__(self, code: ExcCodes, message: str) -> None:
        super().__init__(message)
        self.code = code


InputValues = dict[str, float | None]


class ModbusUnit:
    """A device's register map: stored holding words, computed input registers, the watchdog.

    Subclasses give `input_values()` and react to writes in `_written()`."""

    def __init__(
        self,
        profile: DeviceProfile,
        powered_on_at: float,
        holding_defaults: Mapping[str, float] | None = None,
    ) -> None:
        self.profile = profile
        self.now = powered_on_at
        self._covering: dict[Table, dict[int, RegisterSpec]] = {Table.INPUT: {}, Table.HOLDING: {}}
        for spec in profile.registers.values():
            for address in range(spec.address, spec.last_address + 1):
                self._covering[spec.table][address] = spec
        self._holding: dict[int, int] = {}
        # Decoded copies of the holding registers: the firmware reads them every step.
        self._values: dict[str, float] = {}
        defaults = holding_defaults or {}
        for spec in profile.table(Table.HOLDING):
            value = spec.default if spec.default is not None else defaults.get(spec.name, 0)
            self._store(spec, encode_value(spec, value))
        # The watchdog runs from power-up: with no controller ever talking, the units go
        # autonomous after one timeout.
        self._heartbeat_changed_at = powered_on_at
        # Sensors broken by fault injection: their registers read the invalid sentinel.
        self.broken_sensors: set[str] = set()

    # ---- register image ----

    def span(self, table: Table) -> tuple[int, int] | None:
        """First and last address of a table, or None when the profile has no such table."""
        addresses = self._covering[table]
        return (min(addresses), max(addresses)) if addresses else None

    def writable_at(self, address: int) -> bool:
        spec = self._covering[Table.HOLDING].get(address)
        return spec is not None and spec.writable

    def words(self, table: Table, address: int, count: int) -> list[int]:
        """Words of a read; gaps inside the table read 0, outside it → ILLEGAL_ADDRESS."""
        span = self.span(table)
        if span is None or address < span[0] or address + count - 1 > span[1]:
            raise RegisterAccessError(
                ExcCodes.ILLEGAL_ADDRESS, f"{table} {address}+{count} outside the table"
            )
        if table is Table.HOLDING:
            return [self._holding.get(a, 0) for a in range(address, address + count)]
        image: dict[int, int] = {}
        for name, value in self.input_values().items():
            spec = self.profile[name]
            words = encode_value(spec, value)
            image.update(zip(range(spec.address, spec.last_address + 1), words, strict=True))
        return [image.get(a, 0) for a in range(address, address + count)]

    def write_words(self, address: int, words: Sequence[int]) -> None:
        """A Modbus write (function 06 or 16): all registers are checked before any changes."""
        changes: list[tuple[RegisterSpec, list[int]]] = []
        end = address + len(words)
        a = address
        while a < end:
            spec = self._covering[Table.HOLDING].get(a)
            if spec is None or not spec.writable:
                raise RegisterAccessError(ExcCodes.ILLEGAL_ADDRESS, f"holding {a} is not writable")
            if spec.address != a or spec.last_address >= end:
                raise RegisterAccessError(
                    ExcCodes.ILLEGAL_ADDRESS, f"{spec.name} must be written whole"
                )
            part = [w & 0xFFFF for w in words[a - address : a - address + spec.count]]
            value = decode(spec, part)
            try:
                if value is None:
                    raise RegisterValueError(f"{spec.name}: the invalid sentinel is not a value")
                check_writable(spec, value)
            except RegisterValueError as err:
                raise RegisterAccessError(ExcCodes.ILLEGAL_VALUE, str(err)) from None
            changes.append((spec, part))
            a += spec.count
        for spec, part in changes:
            before = self.holding(spec.name)
            self._store(spec, part)
            self._written(spec.name, before, self.holding(spec.name))

    def write(self, name: str, value: float) -> None:
        """Write an engineering value exactly as a Modbus master would (same checks, same
        exception codes)."""
        spec = self.profile[name]
        try:
            words = words_from_raw(spec, raw_from_value(spec, value))
        except RegisterValueError as err:
            raise RegisterAccessError(ExcCodes.ILLEGAL_VALUE, str(err)) from None
        self.write_words(spec.address, words)

    def holding(self, name: str) -> float:
        """Engineering value of a holding register."""
        return self._values[name]

    def set_holding(self, name: str, value: float) -> None:
        """Change a holding register from the unit itself (e.g. its remote), within its range."""
        spec = self.profile[name]
        check_writable(spec, value)
        before = self.holding(name)
        self._store(spec, encode_value(spec, value))
        self._written(name, before, self.holding(name))

    def value(self, name: str) -> float | int | None:
        """Engineering value of any register, as a Modbus read would decode it."""
        spec = self.profile[name]
        return decode(spec, self.words(spec.table, spec.address, spec.count))

    def _store(self, spec: RegisterSpec, words: Sequence[int]) -> None:
        for offset, word in enumerate(words):
            self._holding[spec.address + offset] = word
        value = decode(spec, words)
        self._values[spec.name] = 0.0 if value is None else value

    # ---- behaviour ----

    def input_values(self) -> InputValues:
        raise NotImplementedError

    def _written(self, name: str, before: float, after: float) -> None:
        # A heartbeat counts only when it changes (DESIGN §5: "changes it at least every
        # timeout/3"); a controller stuck writing one value is as good as dead. A new timeout
        # starts a fresh window, so arming the watchdog does not trip it at once.
        if (name == "heartbeat" and after != before) or name == "heartbeat_timeout":
            self._heartbeat_changed_at = self.now

    @property
    def heartbeat_lost(self) -> bool:
        """Autonomous fallback (status b6): no heartbeat change for heartbeat_timeout s."""
        timeout = self.holding("heartbeat_timeout")
        return timeout > 0 and self.now - self._heartbeat_changed_at >= timeout

    def _sensor(self, name: str, value: float) -> float | None:
        return None if name in self.broken_sensors else value

    def _fault_code(self, faults: Mapping[str, str]) -> int:
        spec = self.profile["fault_code"]
        for sensor, label in faults.items():
            if sensor in self.broken_sensors:
                return enum_value(spec, label)
        return 0


def _status_word(spec: RegisterSpec, flags: Mapping[str, bool]) -> int:
    """A bit-field word from named flags, numbered as the profile lists them."""
    by_name = {name: bit for bit, name in spec.bits.items()}
    return sum(1 << by_name[name] for name, on in flags.items() if on)


@dataclass(frozen=True)
class RemotePress:
    """The handheld remote's last request, as the head reports it in remote_*."""

    power: int
    mode: int
    setpoint: float
    fan: int


class IndoorHead(ModbusUnit):
    """One indoor head (DESIGN §5), in one zone of the plant."""

    def __init__(
        self,
        profile: DeviceProfile,
        zone_id: str,
        unit_id: int,
        plant: Plant,
        ratings: HeadRatings = REFERENCE_HEAD,
    ) -> None:
        super().__init__(profile, plant.time_s)
        self.zone_id = zone_id
        self.unit_id = unit_id
        self.ratings = ratings
        self._plant = plant
        self._modes = {raw: HeadMode(label) for raw, label in profile["mode"].enum.items()}
        self.remote_pending = False
        self.remote: RemotePress | None = None
        self._fallback_request_pct = 0.0

    # ---- what the head does ----

    @property
    def on(self) -> bool:
        return self.holding("power") == 1

    @property
    def mode(self) -> HeadMode:
        return self._modes[int(self.holding("mode"))]

    @property
    def request_pct(self) -> float:
        """The capacity request in effect: the controller's, or the head's own in fallback."""
        if not self.on or self.mode is HeadMode.FAN_ONLY:
            return 0.0
        return (
            self._fallback_request_pct if self.heartbeat_lost else self.holding("capacity_request")
        )

    @property
    def fan_speed(self) -> int:
        if not self.on:
            return 0
        setting = int(self.holding("fan"))
        if setting > 0:
            return setting
        if self.mode is HeadMode.DRY:
            return DRY_FAN_SPEED
        low, high = AUTO_FAN_SPEEDS
        return low + round((high - low) * min(1.0, self.request_pct / 100.0))

    @property
    def sensor_c(self) -> float:
        """What the head's return-air sensor reads (at the ceiling)."""
        return self._plant.rooms[self.zone_id].air_c + self.state.sensor_bias_k

    @property
    def state(self) -> HeadState:
        return self._plant.head_states[self.zone_id]

    def drive(self) -> HeadDrive:
        return HeadDrive(
            on=self.on,
            mode=self.mode,
            fan_speed=self.fan_speed,
            request_w=self.request_pct / 100.0 * self.ratings.rated_w,
            rated_w=self.ratings.rated_w,
        )

    def tick(self) -> None:
        """The head's own thermostat, which only matters while the heartbeat is lost."""
        if not self.heartbeat_lost:
            return
        error = self.holding("display_setpoint") - self.sensor_c
        if self.mode in (HeadMode.COOL, HeadMode.DRY):
            error = -error
        request = min(100.0, max(0.0, FALLBACK_GAIN_PCT_PER_K * error))
        self._fallback_request_pct = request if request >= FALLBACK_MIN_REQUEST_PCT else 0.0

    # ---- handheld remote ----

    def press_remote(
        self,
        *,
        power: bool | None = None,
        mode: str | None = None,
        setpoint: float | None = None,
        fan: str | None = None,
    ) -> None:
        """A change made on the IR remote: applied at once, latched for the controller (b4)."""
        changes: dict[str, float] = {}
        if power is not None:
            changes["power"] = 1 if power else 0
        if mode is not None:
            changes["mode"] = enum_value(self.profile["mode"], mode)
        if fan is not None:
            changes["fan"] = enum_value(self.profile["fan"], fan)
        if setpoint is not None:
            check_writable(self.profile["display_setpoint"], setpoint)
            changes["display_setpoint"] = setpoint
        for name, value in changes.items():
            self.set_holding(name, value)
        # The remote sends its whole state with every press.
        self.remote = RemotePress(
            power=int(self.holding("power")),
            mode=int(self.holding("mode")),
            setpoint=self.holding("display_setpoint"),
            fan=int(self.holding("fan")),
        )
        self.remote_pending = True

    def _written(self, name: str, before: float, after: float) -> None:
        super()._written(name, before, after)
        if name == "remote_ack" and after == 1:
            self.remote_pending = False

    # ---- registers ----

    def input_values(self) -> InputValues:
        state = self.state
        weather = self._plant.outdoor()
        air_c = self._plant.rooms[self.zone_id].air_c
        remote = self.remote
        capabilities = {
            "humidity_sensor": self.ratings.has_humidity_sensor,
            "vertical_vane": self.ratings.has_vertical_vane,
            "horizontal_vane": self.ratings.has_horizontal_vane,
        }
        status = {
            "fan_running": self.fan_speed > 0,
            "fault": bool(self.broken_sensors & HEAD_SENSOR_FAULTS.keys()),
            "remote_change_pending": self.remote_pending,
            "heartbeat_lost": self.heartbeat_lost,
        }
        return {
            "device_kind": self.profile.device_kind,
            "firmware_version": FIRMWARE_VERSION,
            "serial_number": 2_025_000_000 + self.unit_id,
            "rated_capacity": self.ratings.rated_w,
            "capabilities": _status_word(self.profile["capabilities"], capabilities),
            "status": _status_word(self.profile["status"], status),
            "return_air_temperature": self._sensor("return_air_temperature", self.sensor_c),
            "coil_temperature": self._sensor("coil_temperature", state.coil_c),
            "humidity": (
                indoor_relative_humidity(air_c, weather)
                if self.ratings.has_humidity_sensor
                else None
            ),
            "fault_code": self._fault_code(HEAD_SENSOR_FAULTS),
            "fan_speed_actual": self.fan_speed,
            "valve_position": state.valve_pct,
            "remote_power": 0 if remote is None else remote.power,
            "remote_mode": 0 if remote is None else remote.mode,
            "remote_setpoint": None if remote is None else remote.setpoint,
            "remote_fan": 0 if remote is None else remote.fan,
        }


class OutdoorUnit(ModbusUnit):
    """The inverter outdoor unit (DESIGN §5): compressor firmware over the plant."""

    def __init__(
        self,
        profile: DeviceProfile,
        unit_id: int,
        plant: Plant,
    ) -> None:
        super().__init__(profile, plant.time_s, ODU_HOLDING_DEFAULTS)
        self.unit_id = unit_id
        self.ratings = plant.ratings  # one source for the machine the plant simulates
        self._plant = plant
        self._modes = {raw: OduMode(label) for raw, label in profile["mode"].enum.items()}
        self.frequency_hz = 0.0  # actual compressor speed, 0 = stopped
        self.running_mode = OduMode.OFF  # the mode the compressor was started in
        self.valve_heating = False  # four-way valve position
        self.started_at = 0.0
        self.stopped_at = -math.inf  # no lockout at power-up
        self.starts = 0
        self.run_seconds = 0.0
        self.energy_wh = 0.0
        self.allowed_max_hz = plant.ratings.max_hz

    @property
    def running(self) -> bool:
        return self.frequency_hz > 0

    @property
    def lockout(self) -> bool:
        """Restart lockout (status b4): within 180 s of the last stop."""
        return self.now - self.stopped_at < RESTART_LOCKOUT_S

    def effective_mode(self, drives: Mapping[str, HeadDrive]) -> OduMode:
        """The mode in effect: the register, or in fallback the heads' choice when it is off."""
        mode = self._modes[int(self.holding("mode"))]
        if mode is OduMode.OFF and self.heartbeat_lost:
            asked = {
                candidate: sum(
                    d.request_w for d in drives.values() if d.takes_refrigerant(candidate)
                )
                for candidate in (OduMode.HEAT, OduMode.COOL)
            }
            best = max(asked, key=lambda m: asked[m])
            return best if asked[best] > 0 else OduMode.OFF
        return mode

    def compressor(self) -> CompressorDrive:
        return CompressorDrive(
            mode=self.running_mode if self.running else OduMode.OFF,
            frequency_hz=self.frequency_hz,
            seconds_running=self.now - self.started_at if self.running else 0.0,
        )

    def tick(self, dt: float, drives: Mapping[str, HeadDrive]) -> None:
        """The unit's firmware for the next ``dt`` seconds, given what the heads do."""
        mode = self.effective_mode(drives)
        receiving = {z: d for z, d in drives.items() if d.takes_refrigerant(mode)}
        self.allowed_max_hz = self._allowed_max_hz(mode, receiving, drives)
        # Refrigerant needs an open head: with none taking it, the compressor stays off.
        target = min(self._wanted_hz(mode, receiving), self.allowed_max_hz) if receiving else 0.0
        if target < self.ratings.min_hz:
            target = 0.0
        if mode is not OduMode.OFF:
            self.valve_heating = mode is OduMode.HEAT
        if self.running and (target == 0.0 or mode is not self.running_mode):
            self._stop()
        if not self.running and target > 0 and not self.lockout:
            self._start(mode)
        if self.running:
            step = RAMP_HZ_PER_S * dt
            self.frequency_hz += max(-step, min(step, target - self.frequency_hz))

    def record(self, dt: float) -> None:
        """Meter and hour counters after the plant has run for ``dt`` seconds."""
        self.energy_wh += self._plant.outdoor_state.input_power_w * dt / 3600.0
        if self.running:
            self.run_seconds += dt

    def _wanted_hz(self, mode: OduMode, receiving: Mapping[str, HeadDrive]) -> float:
        if mode is OduMode.OFF:
            return 0.0
        if not self.heartbeat_lost:
            return self.holding("frequency_setpoint")
        # Autonomous: the speed that delivers what the heads ask for, via the capacity map;
        # below the minimum speed the unit runs at the minimum and the heads' thermostats
        # cycle it.
        asked_w = sum(d.request_w for d in receiving.values())
        if asked_w <= 0:
            return 0.0
        return max(self.ratings.min_hz, asked_w / self._watts_per_hz(mode))

    def _watts_per_hz(self, mode: OduMode) -> float:
        """Capacity per Hz at today's outdoor temperature: the unit's capacity map."""
        k = capacity_factor(mode, self._plant.outdoor().temperature_c)
        return self.ratings.rated_capacity_w(mode) * k / self.ratings.rated_hz

    def _allowed_max_hz(
        self, mode: OduMode, receiving: Mapping[str, HeadDrive], drives: Mapping[str, HeadDrive]
    ) -> float:
        """The unit's own speed cap now: quiet mode, the heads' coils, the demand limit."""
        cap = self.ratings.max_hz
        if self.holding("quiet_mode") == 1:
            cap = min(cap, self.ratings.quiet_max_hz)
        if mode is OduMode.OFF or not receiving:
            return cap
        coil_w = sum(d.rated_w for d in receiving.values())
        cap = min(cap, self.ratings.head_overload * coil_w / self._watts_per_hz(mode))
        limit_pct = self.holding("demand_limit")
        if limit_pct < 100:
            cap = min(cap, self._demand_cap_hz(mode, receiving, drives, cap, limit_pct))
        # A cap below the minimum speed cannot be run at all.
        return cap if cap >= self.ratings.min_hz else 0.0

    def _demand_cap_hz(
        self,
        mode: OduMode,
        receiving: Mapping[str, HeadDrive],
        drives: Mapping[str, HeadDrive],
        upper_hz: float,
        limit_pct: float,
    ) -> float:
        """Highest speed whose input power stays within demand_limit % of rated input power."""
        fans_w = sum(fan_power_w(d.fan_speed) for d in drives.values() if d.on)
        budget_w = (
            limit_pct / 100.0 * rated_input_power_w(self.ratings) - fans_w - self.ratings.standby_w
        )

        def power(hz: float) -> float:
            return self._plant.operating_point(mode, hz, receiving).compressor_power_w

        low, high = self.ratings.min_hz, upper_hz
        if high < low or power(low) > budget_w:
            return 0.0
        if power(high) <= budget_w:
            return high
        for _ in range(20):  # 70 Hz / 2^20: far below the register's 0.1 Hz
            mid = (low + high) / 2
            low, high = (mid, high) if power(mid) <= budget_w else (low, mid)
        return low

    def _start(self, mode: OduMode) -> None:
        self.running_mode = mode
        self.frequency_hz = self.ratings.min_hz
        self.started_at = self.now
        self.starts += 1

    def _stop(self) -> None:
        self.frequency_hz = 0.0
        self.running_mode = OduMode.OFF
        self.stopped_at = self.now

    def input_values(self) -> InputValues:
        plant: OutdoorState = self._plant.outdoor_state
        outdoor_c = self._plant.outdoor().temperature_c
        status = {
            "compressor_running": self.running,
            "fault": bool(self.broken_sensors & ODU_SENSOR_FAULTS.keys()),
            "restart_lockout": self.lockout,
            "valve_heating": self.valve_heating,
            "heartbeat_lost": self.heartbeat_lost,
            "quiet_active": self.holding("quiet_mode") == 1,
        }
        return {
            "device_kind": self.profile.device_kind,
            "firmware_version": FIRMWARE_VERSION,
            "serial_number": 2_024_000_000 + self.unit_id,
            "rated_heating_capacity": self.ratings.rated_heating_w,
            "rated_cooling_capacity": self.ratings.rated_cooling_w,
            "min_frequency": self.ratings.min_hz,
            "max_frequency": self.ratings.max_hz,
            "max_heads": self.ratings.max_heads,
            "status": _status_word(self.profile["status"], status),
            "compressor_frequency": self.frequency_hz,
            "allowed_max_frequency": self.allowed_max_hz,
            "outdoor_temperature": self._sensor("outdoor_temperature", outdoor_c),
            "outdoor_coil_temperature": self._sensor("outdoor_coil_temperature", plant.coil_c),
            "discharge_temperature": self._sensor("discharge_temperature", plant.discharge_c),
            "input_power": plant.input_power_w,
            "energy": math.floor(self.energy_wh) % 2**32,
            "fault_code": self._fault_code(ODU_SENSOR_FAULTS),
            "compressor_starts": self.starts % 2**16,
            "operating_hours": math.floor(self.run_seconds / 3600.0) % 2**16,
        }


def rated_input_power_w(ratings: OutdoorUnitRatings) -> float:
    """Compressor input at the heating rating point (+7 °C, 60 Hz, 20 °C indoors, matched
    heads): the 100 % of the demand limit."""
    return operating_point(
        ratings, OduMode.HEAT, ratings.rated_hz, 7.0, 20.0, ratings.rated_heating_w
    ).compressor_power_w
