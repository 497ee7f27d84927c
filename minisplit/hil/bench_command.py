"""The `minisplit bench` command (docs/benchmark.md): its options checked, the scenarios run
(`hil.bench`), the table or JSON printed, the A/B table of two configs (`hil.compare`), the
plots (`hil.plots`) and the HTML report (`hil.report`) written."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from minisplit.hil.bench import (
    ALL_CONTROLLERS,
    CONTROL_PERIOD_S,
    UNIT_CONTROLLERS,
    CommandRefused,
    bench_entries,
    bench_scenario,
    bench_unit,
)
from minisplit.hil.compare import BenchConfig, ab_figures, control_differences, format_ab
from minisplit.hil.controllers import ControllerFactory, ControllerSpecError, built, load_factory
from minisplit.hil.plots import write_plot
from minisplit.hil.report import write_report
from minisplit.hil.scenario import (
    Scenario,
    ScenarioError,
    build_house,
    load_scenario,
    shipped_scenarios,
)
from minisplit.hil.tables import format_table, goals


class BenchOptionError(ValueError):
    """Options that cannot run together (exit code 2)."""


def _controllers(
    controllers: Sequence[str] | None, units: Sequence[str], configs: Sequence[BenchConfig]
) -> tuple[list[str], list[str]]:
    """(built-in names, ``module:attr`` specs). Without names: every built-in that runs on
    ``units``, or `minisplit` alone for an A/B of two configs."""
    names = [c for c in controllers or () if ":" not in c]
    specs = [c for c in controllers or () if ":" in c]
    if not names:
        if len(configs) == 2 and controllers is None:
            names = ["minisplit"]
        else:
            names = [
                c
                for c in ALL_CONTROLLERS
                if c == "ideal" or any(c in UNIT_CONTROLLERS.get(u, ()) for u in units)
            ]
    if configs and ("minisplit" not in names or "direct" not in units):
        raise BenchOptionError(
            "--config tunes minisplit on the direct unit: it needs both among the runs"
            " (--controller minisplit, --unit direct)"
        )
    if specs and "direct" not in units:
        raise BenchOptionError(f"{specs[0]} runs on the direct unit only (--unit direct)")
    return names, specs


def _custom(
    specs: Sequence[str], taken: Sequence[str], scenario: Scenario
) -> dict[str, ControllerFactory]:
    """Each ``module:attr``'s factory under its row name (the attribute's, or the whole spec
    where that is taken), each checked to build a controller for ``scenario``."""
    custom: dict[str, ControllerFactory] = {}
    for spec in specs:
        try:
            factory = load_factory(spec)
            built(factory, bench_unit(build_house(scenario), scenario.zones, CONTROL_PERIOD_S))
        except ControllerSpecError as err:
            raise ControllerSpecError(f"{spec}: {err}") from None
        row = spec.rpartition(":")[2]
        custom[spec if row in taken or row in custom else row] = factory
    return custom


def _scenarios(
    paths: Sequence[Path], shift_weeks: Sequence[int]
) -> tuple[list[Scenario], list[str]]:
    """Each scenario shifted by each of ``shift_weeks``, and its unshifted name."""
    scenarios, bases = [], []
    for path in paths or shipped_scenarios():
        for shift in shift_weeks:
            scenario = load_scenario(path, shift)
            suffix = f"{shift:+d}w" if shift else ""
            scenarios.append(scenario)
            bases.append(scenario.name.removesuffix(suffix))
    return scenarios, bases


def run_bench(
    scenario_paths: Sequence[Path],
    *,
    controllers: Sequence[str] | None = None,
    as_json: bool = False,
    plots: Path | None = None,
    report: Path | None = None,
    ideal_insets_k: Sequence[float] = (),
    why: bool = False,
    shift_weeks: Sequence[int] = (0,),
    units: Sequence[str] = ("direct",),
    configs: Sequence[BenchConfig] = (),
    forecasts: Sequence[str] = (),
) -> int:
    """The `minisplit bench` command; returns the exit code. An ``ideal_insets_k`` row needs
    `ideal` among the ``controllers``: its excess is measured against it. Each controller runs
    on each of ``units`` it can run on (`bench_rows`); by default every controller that runs on
    one of them. ``controllers`` may name ``module:attr`` controllers of the direct unit
    (`hil.controllers`): alone, beside the default built-ins. ``configs`` (one or two) tune
    `minisplit` on the direct unit, one row each; two add the A/B table. Each of
    ``forecasts`` (a kind of `hil.forecasts`) adds a row of `minisplit` given that forecast."""
    try:
        names, specs = _controllers(controllers, units, configs)
        bench_entries(names, units)  # refuses unknown names and units early
        if ideal_insets_k and "ideal" not in names:
            raise BenchOptionError(
                "--ideal-inset needs the ideal controller (its excess is against it)"
            )
    except ValueError as err:
        print(f"minisplit bench: {err}", file=sys.stderr)
        return 2
    if (plots or report) is not None and importlib.util.find_spec("matplotlib") is None:
        print(
            f"{'--plots' if plots else '--report'} needs matplotlib, an optional extra:"
            " pip install 'minisplit[plots]'",
            file=sys.stderr,
        )
        return 2
    try:
        scenarios, bases = _scenarios(scenario_paths, shift_weeks)
    except ScenarioError as err:
        print(f"{err.source}: scenario has {len(err.problems)} error(s):", file=sys.stderr)
        for problem in err.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    try:
        custom = _custom(specs, [*names, *ALL_CONTROLLERS], scenarios[0])
    except ControllerSpecError as err:
        print(f"minisplit bench: --controller {err}", file=sys.stderr)
        return 2
    for config in configs:
        for note in config.notes:
            print(f"note: {note}", file=sys.stderr)
    controls = [(c.label, c.control) for c in configs]
    entries = bench_entries(names, units, ideal_insets_k, controls, custom, forecasts)
    total = len(scenarios) * len(entries)
    done = 0

    def progress(what: str) -> None:
        nonlocal done
        done += 1
        print(f"\r[{done}/{total}] {what:<60}", end="", file=sys.stderr, flush=True)

    # The report's PNGs sit beside its page, whatever --plots says.
    figure_dirs = list(dict.fromkeys(d for d in (plots, report) if d is not None))
    results = []
    pictures = []
    try:
        for scenario in scenarios:
            result, traces = bench_scenario(
                scenario,
                names,
                traces=bool(figure_dirs),
                progress=progress,
                ideal_insets_k=ideal_insets_k,
                why=why,
                units=units,
                controls=controls,
                custom=custom,
                forecasts=forecasts,
            )
            results.append(result)
            for directory in figure_dirs:
                path = write_plot(directory, scenario, traces, result["controllers"])
                if directory == report:
                    pictures.append(path)
    except CommandRefused as err:
        print(f"\nminisplit bench: {err}", file=sys.stderr)
        return 1
    print("\r" + " " * 70 + "\r", end="", file=sys.stderr, flush=True)
    ab = _ab(results, bases, configs) if len(configs) == 2 else None
    text = format_table(results) + ("" if ab is None else "\n" + ab[1])
    if as_json:
        document: dict[str, object] = {"scenarios": results}
        if found := goals(results):
            document["goals"] = found
        if ab is not None:
            document["ab"] = ab[0]
        print(json.dumps(document, indent=1))
    else:
        print(text)
    if report is not None:
        write_report(report, text, pictures)
    return 0


def _ab(
    results: Sequence[Mapping[str, Any]], bases: Sequence[str], configs: Sequence[BenchConfig]
) -> tuple[dict[str, Any], str]:
    """The A/B comparison of the two configs' rows: for `--json`, and as a table."""
    a, b = configs
    row_a, row_b = f"minisplit[{a.label}]", f"minisplit[{b.label}]"
    figures = ab_figures(results, bases, row_a, row_b)
    document = {
        "a": row_a,
        "b": row_b,
        "control_differences": {
            key: list(pair) for key, pair in control_differences(a.control, b.control).items()
        },
        "scenarios": figures,
    }
    return document, format_ab(a, b, row_a, row_b, figures)
