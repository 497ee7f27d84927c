"""From the validated config to the control core's parameters: the tuning (`[control]`), the room
sensors' check (`[sensor_check]`) and what the observation step knows of each zone. One place,
so that the supervisor and the benchmark run the controller with the same parameters.

Not part of the pure core: it reads the service's config schema (whose defaults are the core's,
controller.config)."""

from __future__ import annotations

from dataclasses import replace

from minisplit.controller.config import (
    ControlConfig,
    HeatPumpSystem,
    LoadedConfig,
    PresetConfig,
    SensorCheckConfig,
    ZoneConfig,
)
from minisplit.controller.core.arbitration import ModePolicy
from minisplit.controller.core.compressor import CoordinatorTuning
from minisplit.controller.core.control import ControlTuning
from minisplit.controller.core.forecast import ForecastTuning
from minisplit.controller.core.frost import FrostTuning
from minisplit.controller.core.head_setpoint import SetpointTuning
from minisplit.controller.core.interlocks import InterlockLimits
from minisplit.controller.core.observation import ZoneSetup
from minisplit.controller.core.optimal_start import StartTuning
from minisplit.controller.core.presets import PresetRule, PresetTable
from minisplit.controller.core.room_sensor import HeadSensorBias
from minisplit.controller.core.sensor_health import SensorCheck
from minisplit.controller.core.zone import PiTuning

# The reference unit's frequency setpoint range (docs/reference-unit.md), when no profile says
# otherwise: the core's default limits.
REFERENCE_FREQUENCY_RANGE_HZ = (
    InterlockLimits().min_frequency_hz,
    InterlockLimits().max_frequency_hz,
)


def control_tuning_from(
    control: ControlConfig,
    frequency_range_hz: tuple[float, float] = REFERENCE_FREQUENCY_RANGE_HZ,
) -> ControlTuning:
    """The core's tuning for the config's `[control]` table; ``frequency_range_hz`` is the
    writable range of the unit's frequency setpoint (its [min, max], from the profile)."""
    c = control
    limits = InterlockLimits(
        min_off_s=c.min_off_s,
        min_on_s=c.min_on_s,
        mode_change_wait_s=c.mode_change_wait_s,
        min_frequency_hz=frequency_range_hz[0],
        max_frequency_hz=frequency_range_hz[1],
    )
    return ControlTuning(
        pi=PiTuning(
            kp=c.kp,
            ti_s=c.ti_s,
            band_offset_k=c.band_offset_k,
            low_load_band_offset_k=c.low_load_band_offset_k,
            outdoor_feed_forward_per_k=c.outdoor_feed_forward_per_k,
        ),
        coordinator=CoordinatorTuning(
            limits=limits,
            ramp_hz_per_s=c.ramp_hz_per_s,
            mode_policy=c.mode_policy,
            priority_zone=c.priority_zone,
            mode_hold_s=c.mode_hold_s,
            max_starts_per_hour=c.max_starts_per_hour,
            quiet_max_frequency_hz=c.quiet_max_frequency_hz,
        ),
        presets=preset_table(c),
        head_sensor_bias=HeadSensorBias(
            heating_k=c.head_sensor_heating_bias_k,
            cooling_k=c.head_sensor_cooling_bias_k,
            tau_s=c.head_sensor_bias_tau_s,
        ),
        frost=FrostTuning(lift_k=c.defrost_lift_k, lead_s=c.defrost_lead_s),
        start=StartTuning(enabled=c.optimal_start, max_lead_s=c.optimal_start_max_lead_s),
        forecast=ForecastTuning(enabled=c.forecast),
        idle_cooling_off=c.idle_cooling_head == "off",
    )


def preset_table(control: ControlConfig) -> PresetTable:
    """The built-in presets with what `[control.presets]` changes."""
    defaults = PresetTable()
    p = control.presets
    return PresetTable(
        comfort=_rule(defaults.comfort, p.comfort),
        eco=_rule(defaults.eco, p.eco),
        away=_rule(defaults.away, p.away),
        sleep=_rule(defaults.sleep, p.sleep),
        boost_duration_s=p.boost.duration_s,
    )


def _rule(default: PresetRule, config: PresetConfig) -> PresetRule:
    return default.overridden(
        config.heat_temperature, config.cool_temperature, config.heat_offset_k, config.cool_offset_k
    )


def sensor_check(config: SensorCheckConfig) -> SensorCheck:
    return SensorCheck(
        min_c=config.min_temperature,
        max_c=config.max_temperature,
        settle_s=config.settle_s,
        stuck_switches=config.stuck_switches,
        stuck_full_demand_s=config.stuck_full_demand_s,
    )


def control_tuning(loaded: LoadedConfig, system: HeatPumpSystem | None = None) -> ControlTuning:
    """The core's tuning for ``system`` (the config's one system if not given): the writable
    range of its outdoor unit's frequency setpoint is the unit's [min, max]
    (docs/reference-unit.md); `[control] priority_zone` applies in the system that holds the
    zone, each other system arbitrates as with `mode_policy = "first"` (what `priority` does
    while the priority zone does not call)."""
    system = loaded.only_system if system is None else system
    odu = system.odu_profile
    setpoint = None if odu is None else odu.registers.get("frequency_setpoint")
    frequency_range = setpoint.range if setpoint is not None else None
    tuning = control_tuning_from(
        loaded.config.control, frequency_range or REFERENCE_FREQUENCY_RANGE_HZ
    )
    coordinator = tuning.coordinator
    if coordinator.priority_zone is None or any(
        zone.id == coordinator.priority_zone for zone in system.zones
    ):
        return tuning
    elsewhere = replace(coordinator, priority_zone=None, mode_policy=ModePolicy.FIRST)
    return replace(tuning, coordinator=elsewhere)


def zone_setup(zone: ZoneConfig) -> ZoneSetup:
    return ZoneSetup(
        (zone.min_temperature, zone.max_temperature),
        zone.sensor_offset_k,
        zone.remote_sensor_topic is not None,
        zone.remote_sensor_timeout_s,
    )


def setpoint_tuning(loaded: LoadedConfig, system: HeatPumpSystem | None = None) -> SetpointTuning:
    """The setpoint strategy's tuning of ``system`` (the config's one system if not given): the
    heads' levers from their profiles, and what `[control]` says of the mode arbitration and
    the head sensor's bias."""
    system = loaded.only_system if system is None else system
    tuning = control_tuning(loaded, system)
    return SetpointTuning(
        levers=system.head_levers,
        bias=tuning.head_sensor_bias,
        mode_policy=tuning.coordinator.mode_policy,
        mode_hold_s=tuning.coordinator.mode_hold_s,
    )
