"""The bench's text table (docs/benchmark.md, 'The figures'): per scenario a row per
controller, the split by cause with `--why`, the sums over the scenarios, and the setpoint
units' goals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from minisplit.hil.bench import UNITS
from minisplit.hil.causes import CAUSES

TABLE_COLUMNS = (
    ("energy_kwh", "energy kWh", "{:.1f}"),
    ("peak_power_kw", "peak kW", "{:.2f}"),
    ("mean_cop", "COP", "{:.2f}"),
    ("discomfort_kh_per_zone", "disc K·h/z", "{:.2f}"),
    ("excess_discomfort_kh_per_zone", "excess K·h/z", "{:.2f}"),
    ("compressor_starts", "starts", "{}"),
    ("starts_per_hour", "max st/h", "{}"),
    ("shortest_run_s", "min run s", "{}"),
    ("rms_error_k", "RMS K", "{:.2f}"),
    ("mean_offset_heat_k", "heat off. K", "{:+.2f}"),
    ("mean_offset_cool_k", "cool off. K", "{:+.2f}"),
    ("recoveries_on_time_pct", "on time %", "{:.0f}"),
    ("speed_ratio", "sim s/s", "{:,}"),
)


def format_table(results: Sequence[Mapping[str, Any]]) -> str:
    lines = []
    # The controller column fits the longest row name (`passthrough@external`).
    w = max([10] + [len(name) for r in results for name in r["controllers"]])
    for scenario in results:
        lines.append(
            f"\n{scenario['name']}: {scenario['duration_h']:.0f} h, {len(scenario['zones'])} zones"
        )
        lines.append(f"  {'controller':<{w}}" + "".join(f"{t:>13}" for _, t, _ in TABLE_COLUMNS))
        controllers = scenario["controllers"]
        for name, figures in controllers.items():
            cells = (
                "—" if figures.get(key) is None else fmt.format(figures[key])
                for key, _, fmt in TABLE_COLUMNS
            )
            lines.append(f"  {name:<{w}}" + "".join(f"{c:>13}" for c in cells))
        split = next(
            (
                (key, title)
                for key, title in (
                    ("excess_causes_kh_per_zone", "excess discomfort by cause (over ideal's)"),
                    ("discomfort_causes_kh_per_zone", "discomfort by cause"),
                )
                if all(key in f for f in controllers.values())
            ),
            None,
        )
        if split is not None:
            key, title = split
            lines.append(f"  {title}, K·h per zone:")
            lines.append(f"  {'controller':<{w}}" + "".join(f"{c[:16]:>17}" for c in CAUSES))
            for name, figures in controllers.items():
                by_cause = figures[key]
                lines.append(f"  {name:<{w}}" + "".join(f"{by_cause[c]:>17.2f}" for c in CAUSES))
    if len(results) > 1:
        lines.extend(_summed(results, w))
    lines.extend(_goals(results))
    return "\n".join(lines)


def summed(results: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Per row over the scenarios: energy, excess discomfort (None without `ideal`), compressor
    starts and the hours run (the issue's goals are stated over the shipped scenarios' sum)."""
    totals: dict[str, dict[str, float | None]] = {}
    for scenario in results:
        for name, figures in scenario["controllers"].items():
            row = totals.setdefault(
                name, {"energy_kwh": 0.0, "excess": 0.0, "starts": 0.0, "hours": 0.0}
            )
            row["energy_kwh"] = (row["energy_kwh"] or 0.0) + figures["energy_kwh"]
            row["hours"] = (row["hours"] or 0.0) + scenario["duration_h"]
            excess = figures.get("excess_discomfort_kh_per_zone")
            row["excess"] = (
                None if excess is None or row["excess"] is None else row["excess"] + excess
            )
            starts = figures.get("compressor_starts")
            row["starts"] = (
                None if starts is None or row["starts"] is None else row["starts"] + starts
            )
    return totals


def _summed(results: Sequence[Mapping[str, Any]], w: int) -> list[str]:
    lines = [f"\nsummed over {len(results)} scenarios:"]
    lines.append(f"  {'controller':<{w}}{'energy kWh':>13}{'excess K·h/z':>13}{'starts':>13}")
    for name, row in summed(results).items():
        excess, starts = row["excess"], row["starts"]
        shown = "—" if excess is None else f"{excess:.2f}"
        counted = "—" if starts is None else f"{starts:.0f}"
        lines.append(f"  {name:<{w}}{row['energy_kwh']:>13.1f}{shown:>13}{counted:>13}")
    return lines


def goals(results: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Per setpoint-driven unit with both rows: `minisplit` over `passthrough`, summed over the
    scenarios (issue 13's goals: excess discomfort ≤ 0.5× on a setpoint-only unit, ≤ 0.3× with
    the external temperature, each at ≤ 1.00× the energy and no more starts per hour)."""
    totals = summed(results)
    found = {}
    for unit in UNITS:
        ours, theirs = totals.get(f"minisplit@{unit}"), totals.get(f"passthrough@{unit}")
        if ours is None or theirs is None:
            continue
        ratio: dict[str, float] = {}
        for key, label in (("excess", "excess_ratio"), ("energy_kwh", "energy_ratio")):
            a, b = ours[key], theirs[key]
            if a is not None and b is not None and b != 0:
                ratio[label] = round(a / b, 3)
        for row, label in ((ours, "minisplit"), (theirs, "passthrough")):
            if row["starts"] is not None and row["hours"]:
                ratio[f"{label}_starts_per_hour"] = round(row["starts"] / row["hours"], 3)
        found[unit] = ratio
    return found


def _goals(results: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = []
    for unit, ratio in goals(results).items():
        parts = [f"{key} {value:g}" for key, value in ratio.items()]
        lines.append(f"\n{unit} unit, minisplit vs passthrough: " + ", ".join(parts))
    return lines
