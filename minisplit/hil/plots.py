"""The bench's plots (`minisplit bench --plots`, docs/benchmark.md 'Plots'): one figure per
scenario that an engineer reads at a glance. From the top: the outdoor temperature; per
controller its rooms' air with each zone's setpoint (dashed) and comfort band (shaded) and the
unit's defrosts marked; every controller's compressor frequency; their power; the KPI table.
The x-axis is the weather year's date and weekday. Needs the optional matplotlib
(``minisplit[plots]``)."""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from minisplit.hil.bench import Trace
from minisplit.hil.scenario import Scenario
from minisplit.hil.tables import TABLE_COLUMNS

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# The weather year begins on a Monday (hil.scenario); so did 2018, whose calendar the axis
# borrows for its dates and weekdays (the weather is a typical year, not 2018's).
YEAR_START = datetime.datetime(2018, 1, 1)
SETPOINT_LABEL = "setpoint (dashed)"
BAND_LABEL = "comfort band (shaded)"
DEFROST_LABEL = "defrost"
# The figures in the KPI table: the bench's table's but the controller's own record.
KPI_COLUMNS = [
    c
    for c in TABLE_COLUMNS
    if c[0]
    not in (
        "rms_error_k",
        "speed_ratio",
        "mean_offset_heat_k",
        "mean_offset_cool_k",
        "recoveries_on_time_pct",
    )
]


def dates(times_s: Sequence[float]) -> list[float]:
    """Seconds of the weather year as matplotlib's dates (days since its epoch)."""
    import matplotlib.dates as mdates

    start = float(mdates.date2num(YEAR_START))  # type: ignore[no-untyped-call]
    return [start + t / 86400.0 for t in times_s]


def hourly_mean(
    times_s: Sequence[float], values: Sequence[float]
) -> tuple[list[float], list[float]]:
    """``values`` averaged over each clock hour: (each hour's start, its mean)."""
    sums: dict[int, list[float]] = {}
    for t, v in zip(times_s, values, strict=True):
        sums.setdefault(int(t // 3600), []).append(v)
    hours = sorted(sums)
    return [h * 3600.0 for h in hours], [sum(sums[h]) / len(sums[h]) for h in hours]


def _spans(
    times_s: Sequence[float], flags: Sequence[bool], step_s: float
) -> list[tuple[float, float]]:
    """The stretches of time where ``flags`` hold: (from, to), each sample covering the
    ``step_s`` before it."""
    spans: list[tuple[float, float]] = []
    for t, flag in zip(times_s, flags, strict=True):
        if not flag:
            continue
        if spans and spans[-1][1] >= t - step_s:
            spans[-1] = (spans[-1][0], t)
        else:
            spans.append((t - step_s, t))
    return spans


def _rooms(ax: Axes, name: str, trace: Trace, zones: Sequence[str]) -> None:
    """One controller's rooms: air, setpoint, band; its unit's defrosts."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    x = dates(trace.times_s)
    for zone in zones:
        (line,) = ax.plot(x, trace.air_c[zone], lw=0.8, label=zone)
        color = line.get_color()
        setpoints = [math.nan if v is None else v for v in trace.setpoint_c[zone]]
        ax.plot(x, setpoints, lw=0.6, ls="--", color=color)
        bands = trace.band_c[zone]
        low = [math.nan if b is None else b[0] for b in bands]
        high = [math.nan if b is None else b[1] for b in bands]
        ax.fill_between(x, low, high, color=color, alpha=0.10, lw=0)
    handles, _ = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], ls="--", lw=0.6, color="0.3", label=SETPOINT_LABEL))
    handles.append(Patch(color="0.3", alpha=0.2, label=BAND_LABEL))
    step_s = trace.times_s[1] - trace.times_s[0] if len(trace.times_s) > 1 else 0.0
    spans = _spans(trace.times_s, trace.defrost, step_s)
    for begin, end in spans:
        left, right = dates((begin, end))
        ax.axvspan(left, right, color="tab:cyan", alpha=0.3, lw=0)
    if spans:
        handles.append(Patch(color="tab:cyan", alpha=0.3, label=DEFROST_LABEL))
    ax.set_ylabel(f"{name}\nroom air °C")
    _legend(ax, handles)


def _legend(ax: Axes, handles: list[Any] | None = None) -> None:
    """The axes' legend to their right, clear of the lines."""
    if handles is None:
        handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=7)


def _style(name: str) -> dict[str, Any]:
    """The shipped controller on top, the others faint behind it: onoff's square wave would
    otherwise hide it."""
    ours = name.split("@")[0].split("[")[0] == "minisplit"
    return {"lw": 0.8 if ours else 0.5, "alpha": 1.0 if ours else 0.6, "zorder": 3 if ours else 2}


def _kpi_table(ax: Axes, figures: Mapping[str, Mapping[str, Any]]) -> None:
    ax.axis("off")
    cells = [
        ["—" if f.get(key) is None else fmt.format(f[key]) for key, _, fmt in KPI_COLUMNS]
        for f in figures.values()
    ]
    table = ax.table(
        cellText=cells,
        rowLabels=list(figures),
        colLabels=[title for _, title, _ in KPI_COLUMNS],
        loc="center",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(8)


def plot_figure(
    scenario: Scenario, traces: Mapping[str, Trace], figures: Mapping[str, Mapping[str, Any]]
) -> Figure:
    """The scenario's figure from each controller's trace and the bench's ``figures`` (per
    row, as in `--json`)."""
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure

    shown = [name for name in traces if name.split("+")[0] != "ideal"]
    heights = [1.2] + [2.4] * len(shown) + [1.6, 1.6, 0.35 * (len(figures) + 2)]
    fig = Figure(figsize=(14, sum(heights) + 0.8))
    axes = fig.subplots(len(heights), 1, height_ratios=heights, squeeze=False)[:, 0]
    outdoor_ax, room_axes = axes[0], axes[1 : 1 + len(shown)]
    freq_ax, power_ax, table_ax = axes[-3], axes[-2], axes[-1]
    for ax in axes[1:-1]:
        ax.sharex(outdoor_ax)
    first = next(iter(traces.values()))
    outdoor_ax.plot(
        dates(first.times_s), first.outdoor_c, color="tab:gray", lw=0.8, label="outdoor"
    )
    outdoor_ax.set_ylabel("outdoor °C")
    _legend(outdoor_ax)
    for ax, name in zip(room_axes, shown, strict=True):
        _rooms(ax, name, traces[name], scenario.zones)
    for name, trace in traces.items():
        if name in shown:
            x, style = dates(trace.times_s), _style(name)
            freq_ax.plot(x, trace.frequency_hz, label=name, **style)
            power_ax.plot(x, trace.power_kw, label=name, **style)
        else:
            # The bound's power spikes where a room needs its heat at once; its hourly mean
            # stays on the scale the real controllers fill.
            hours, means = hourly_mean(trace.times_s, trace.power_kw)
            power_ax.plot(
                dates(hours),
                means,
                label=f"{name} (hourly mean)",
                drawstyle="steps-post",
                color="black",
                lw=1.2,
                zorder=4,
            )
    freq_ax.set_ylabel("compressor Hz")
    power_ax.set_ylabel("power kW")
    for ax in (freq_ax, power_ax):
        _legend(ax)
    locator = mdates.AutoDateLocator(minticks=3, maxticks=10)  # type: ignore[no-untyped-call]
    power_ax.xaxis.set_major_locator(locator)
    formatter = mdates.DateFormatter("%a %d %b\n%H:%M")  # type: ignore[no-untyped-call]
    power_ax.xaxis.set_major_formatter(formatter)
    for ax in axes[:-2]:
        ax.tick_params(labelbottom=False)
    _kpi_table(table_ax, figures)
    fig.suptitle(f"{scenario.name}: {scenario.description.splitlines()[0]}", fontsize=9)
    fig.tight_layout(rect=(0.0, 0.0, 1.0, 0.98))
    return fig


def write_plot(
    directory: Path,
    scenario: Scenario,
    traces: Mapping[str, Trace],
    figures: Mapping[str, Mapping[str, Any]],
) -> Path:
    """The scenario's figure as ``DIR/<scenario>.png``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{scenario.name}.png"
    plot_figure(scenario, traces, figures).savefig(path, dpi=90)
    return path
