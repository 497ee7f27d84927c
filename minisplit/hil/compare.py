"""The bench on an engineer's tuning (`minisplit bench --config`, docs/benchmark.md 'Your
tuning'): the `[control]` tables of one or two config files, and the A/B table of two: per
scenario the differences B − A and their spread over the weeks the scenario was shifted by
(`--shift-weeks`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from minisplit.controller.config import (
    ControlConfig,
    LoadedConfig,
    SensorCheckConfig,
    Strategy,
    ZoneConfig,
    load_config,
)

# The figures the A/B table compares: (key, heading, format of a difference).
AB_FIGURES = (
    ("energy_kwh", "energy kWh", "{:+.2f}"),
    ("discomfort_kh_per_zone", "excess K·h/zone", "{:+.3f}"),
    ("starts_per_h", "starts/h", "{:+.2f}"),
)
# What a zone of the config may set that the bench does not model (its zones are the
# scenario's, each with a zone's defaults: `hil.controllers.BENCH_ZONE_SETUP`).
_ZONE_KEYS_NOT_MODELLED = ("min_temperature", "max_temperature", "sensor_offset_k")


@dataclass(frozen=True)
class BenchConfig:
    """A config's `[control]` table as the bench runs it: ``label`` names its rows
    (``minisplit[label]``); ``notes`` say what else in the config the bench does not model."""

    label: str
    path: Path
    control: ControlConfig
    notes: tuple[str, ...]


def bench_configs(paths: Sequence[Path]) -> list[BenchConfig]:
    """Each config file's `[control]` table, labelled by its file's stem (made unique);
    ConfigError (`load_config`) for a file that is no valid config, ValueError for more than
    two."""
    if len(paths) > 2:
        raise ValueError(f"--config: at most two configs (A and B), not {len(paths)}")
    found: list[BenchConfig] = []
    for i, path in enumerate(paths):
        loaded = load_config(path)
        label = path.stem
        if any(c.label == label for c in found):
            label = f"{label}#{i + 1}"
        found.append(BenchConfig(label, path, loaded.config.control, tuple(_notes(loaded))))
    return found


def _notes(loaded: LoadedConfig) -> list[str]:
    """What the config sets that the bench leaves aside: only `[control]` tunes its runs."""
    config = loaded.config
    where = loaded.path
    notes = []
    systems = loaded.systems
    if len(systems) > 1:
        notes.append(
            f"{where}: its {len(systems)} systems are not modelled: the bench's house has one"
            " unit, the scenario's, which the [control] table tunes"
        )
    setpoint = [name for name, system in systems.items() if system.strategy is not Strategy.DIRECT]
    if setpoint:
        whose = (
            "its heads are" if len(systems) == 1 else f"system {', '.join(setpoint)}'s heads are"
        )
        notes.append(
            f"{where}: {whose} setpoint-driven (strategy setpoint): the bench"
            " applies its [control] table to the direct unit's minisplit rows only"
        )
    if config.sensor_check != SensorCheckConfig():
        notes.append(f"{where}: [sensor_check] is not modelled: the bench's sensors never fail")
    defaults = ZoneConfig.model_fields
    changed = sorted(
        {
            key
            for zone in config.zones
            for key in _ZONE_KEYS_NOT_MODELLED
            if getattr(zone, key) != defaults[key].default
        }
    )
    if changed:
        notes.append(
            f"{where}: the zones' {', '.join(changed)} are not modelled: the bench's zones are"
            " the scenario's, with a zone's defaults"
        )
    return notes


def _flat(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value.value if isinstance(value, Enum) else value
    return flat


def control_differences(a: ControlConfig, b: ControlConfig) -> dict[str, tuple[Any, Any]]:
    """The `[control]` keys (``presets.eco.heat`` for nested ones) whose values differ: A's
    and B's."""
    flat_a, flat_b = _flat(a.model_dump()), _flat(b.model_dump())
    return {key: (flat_a[key], flat_b[key]) for key in flat_a if flat_a[key] != flat_b[key]}


def ab_figures(
    results: Sequence[Mapping[str, Any]], scenarios: Sequence[str], row_a: str, row_b: str
) -> dict[str, dict[str, Any]]:
    """Per scenario (``scenarios[i]`` names the unshifted scenario of ``results[i]``), each
    figure's difference B − A per week run: their mean, least and greatest. The difference in
    excess discomfort is the difference in discomfort (both are over the same `ideal`)."""
    deltas: dict[str, dict[str, list[float]]] = {}
    for name, result in zip(scenarios, results, strict=True):
        a, b = result["controllers"][row_a], result["controllers"][row_b]
        hours = result["duration_h"]
        per = deltas.setdefault(name, {key: [] for key, _, _ in AB_FIGURES})
        for key, _, _ in AB_FIGURES:
            if key == "starts_per_h":
                per[key].append((b["compressor_starts"] - a["compressor_starts"]) / hours)
            else:
                per[key].append(b[key] - a[key])
    return {
        name: {
            "weeks": len(per["energy_kwh"]),
            **{
                key: {
                    "mean": round(sum(values) / len(values), 3),
                    "min": round(min(values), 3),
                    "max": round(max(values), 3),
                }
                for key, values in per.items()
            },
        }
        for name, per in deltas.items()
    }


def format_ab(
    a: BenchConfig, b: BenchConfig, row_a: str, row_b: str, figures: Mapping[str, Any]
) -> str:
    """The A/B table: the `[control]` keys that differ, then per scenario B − A (the mean over
    the weeks run, with the least and greatest in brackets when there were several)."""
    lines = [f"\nA/B: B − A, A = {row_a} ({a.path}), B = {row_b} ({b.path})"]
    differences = control_differences(a.control, b.control)
    if differences:
        lines.append("  [control] keys that differ (A → B):")
        lines += [f"    {key}: {va!r} → {vb!r}" for key, (va, vb) in differences.items()]
    else:
        lines.append("  [control]: the same in both")
    w = max([8] + [len(name) for name in figures])
    lines.append(f"  {'scenario':<{w}}{'weeks':>6}" + "".join(f"{t:>26}" for _, t, _ in AB_FIGURES))
    for name, per in figures.items():
        cells = []
        for key, _, fmt in AB_FIGURES:
            spread = per[key]
            cell = fmt.format(spread["mean"])
            if per["weeks"] > 1:
                cell += f" [{fmt.format(spread['min'])}, {fmt.format(spread['max'])}]"
            cells.append(cell)
        lines.append(f"  {name:<{w}}{per['weeks']:>6}" + "".join(f"{c:>26}" for c in cells))
    return "\n".join(lines)
