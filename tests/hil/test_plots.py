"""The bench's plots, read through matplotlib's objects rather than pixels, and the HTML
report."""

from __future__ import annotations

import pytest

from minisplit.controller.cli import main
from minisplit.hil.plots import (
    BAND_LABEL,
    DEFROST_LABEL,
    SETPOINT_LABEL,
    hourly_mean,
    plot_figure,
    write_plot,
)
from minisplit.hil.scenario import parse_scenario


def test_a_plot_shows_weather_band_defrosts_dates_and_the_figures(results, january_day, tmp_path):
    """Read through matplotlib's objects, not pixels: what an engineer looks for is there."""
    import numpy as np
    from matplotlib.dates import DateFormatter, num2date

    figures, traces = results
    rows = figures["controllers"]
    scenario = parse_scenario(january_day.read_text(), str(january_day))
    fig = plot_figure(scenario, traces, rows)
    outdoor, *rooms, freq, power, table = fig.axes

    def legend(ax):
        return [text.get_text() for text in ax.get_legend().get_texts()]

    assert legend(outdoor) == ["outdoor"]
    assert np.asarray(outdoor.lines[0].get_ydata()).tolist() == traces["minisplit"].outdoor_c
    assert [ax.get_ylabel().split("\n")[0] for ax in rooms] == ["minisplit", "onoff", "stock"]
    for ax, name in zip(rooms, ["minisplit", "onoff", "stock"], strict=True):
        marks = [DEFROST_LABEL] if any(traces[name].defrost) else []
        assert legend(ax) == [*scenario.zones, SETPOINT_LABEL, BAND_LABEL, *marks]
        # A shaded band per zone, and a span per stretch of defrosting.
        assert len(ax.collections) == len(scenario.zones)
        assert len(ax.patches) == sum(
            1 for i, d in enumerate(traces[name].defrost) if d and not traces[name].defrost[i - 1]
        )
    assert any(traces["minisplit"].defrost)  # −9…−1 °C: the unit defrosts within 12 hours
    assert legend(freq) == ["minisplit", "onoff", "stock"]
    assert legend(power) == ["minisplit", "onoff", "stock", "ideal (hourly mean)"]
    # The bound's power as its hourly mean: 12 hours, each the mean of its 12 samples.
    ideal = np.asarray(power.lines[-1].get_ydata()).tolist()
    samples = traces["ideal"].power_kw
    assert ideal == pytest.approx([sum(samples[h * 12 : h * 12 + 12]) / 12 for h in range(12)])
    assert max(ideal) < max(samples)
    # Dates and weekdays: the scenario starts on Monday 8 January of the weather year.
    start = num2date(np.asarray(outdoor.lines[0].get_xdata())[0])
    assert (start.strftime("%a %d %b %H:%M")) == "Mon 08 Jan 00:00"
    formatter = power.xaxis.get_major_formatter()
    assert isinstance(formatter, DateFormatter)
    assert formatter.fmt.startswith("%a %d %b")
    # The KPI table: a row per controller with its energy.
    cells = {cell.get_text().get_text() for cell in table.tables[0].get_celld().values()}
    assert set(rows) <= cells
    assert {f"{f['energy_kwh']:.1f}" for f in rows.values()} <= cells
    path = write_plot(tmp_path / "plots", scenario, traces, rows)
    assert path == tmp_path / "plots" / f"{scenario.name}.png"
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    # The traces are thinned to one point per 5 minutes of the 12 hours.
    assert all(len(trace.times_s) == 12 * 12 for trace in traces.values())


def test_the_hourly_mean_is_per_clock_hour():
    times = [3000.0, 3300.0, 3600.0, 3900.0, 7500.0]
    assert hourly_mean(times, [1.0, 3.0, 4.0, 6.0, 7.0]) == ([0.0, 3600.0, 7200.0], [2.0, 5.0, 7.0])


def test_the_report_is_one_page_with_the_table_and_the_plots(january_day, tmp_path, capsys):
    report, plots = tmp_path / "report", tmp_path / "plots"
    args = ["bench", "--scenario", str(january_day), "--controller", "minisplit"]
    assert (
        main([*args, "--controller", "ideal", "--report", str(report), "--plots", str(plots)]) == 0
    )
    table = capsys.readouterr().out
    name = parse_scenario(january_day.read_text(), str(january_day)).name
    assert sorted(p.name for p in report.iterdir()) == ["index.html", f"{name}.png"]
    assert [p.name for p in plots.iterdir()] == [f"{name}.png"]
    page = (report / "index.html").read_text()
    assert f'<img src="{name}.png"' in page
    # The table as printed, HTML-escaped, and nothing fetched from elsewhere.
    first_row = next(line for line in table.splitlines() if line.startswith("  minisplit"))
    assert first_row in page
    assert "http" not in page and "<script" not in page
