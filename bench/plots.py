"""PNG plots of a run, drawn from its results next to them (matplotlib, the ``dev`` extra).

- ``throughput.png``: requests/s and p99 per operation for the service, its floor and the
  FastAPI peer;
- ``scale.png``: p99 of lists and searches at the small and the large table;
- ``memory.png``: the workers' RSS over the memory run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from bench.scenarios import COMPARED, FLOOR, PEER, SCALED, SERVER_LABELS, SERVICE, SERVICE_SMALL

THROUGHPUT, SCALE, MEMORY = "throughput.png", "scale.png", "memory.png"
DPI = 100
# Small enough to commit: 8 x 4.5 inches at 100 dpi.
FIGURE_SIZE = (8.0, 4.5)
COLOURS = {SERVICE: "#1f77b4", FLOOR: "#7f7f7f", PEER: "#ff7f0e", SERVICE_SMALL: "#aec7e8"}
BAR_GROUP_WIDTH = 0.8


def _grouped_bars(axes: Any, groups: list[str], series: dict[str, list[float]], fmt: str) -> None:
    width = BAR_GROUP_WIDTH / len(series)
    for index, (name, values) in enumerate(series.items()):
        positions = [
            group + (index - (len(series) - 1) / 2) * width for group in range(len(groups))
        ]
        bars = axes.bar(
            positions, values, width, label=SERVER_LABELS.get(name, name), color=COLOURS[name]
        )
        axes.bar_label(bars, labels=[format(value, fmt) for value in values], fontsize=7)
    axes.set_xticks(range(len(groups)), groups)
    axes.margins(y=0.15)


def _series(
    scenarios: dict[str, Any], operations: Sequence[str], servers: Sequence[str], measure: str
) -> dict[str, list[float]]:
    """``measure`` of each operation, one list per server: the bars of ``_grouped_bars``."""
    return {server: [scenarios[op][server][measure] for op in operations] for server in servers}


def throughput(results: dict[str, Any], path: Path) -> Path:
    scenarios = results["scenarios"]
    operations = list(COMPARED)
    figure = Figure(figsize=FIGURE_SIZE, dpi=DPI)
    rates, p99s = figure.subplots(1, 2)
    servers = (SERVICE, FLOOR, PEER)
    for axes, measure, fmt, title in (
        (rates, "rate", ",.0f", "requests/s (higher is better)"),
        (p99s, "p99_ms", ".0f", "p99 ms (lower is better)"),
    ):
        _grouped_bars(axes, operations, _series(scenarios, operations, servers, measure), fmt)
        axes.set_title(title, fontsize=10)
    rates.legend(fontsize=7, loc="upper right")
    figure.suptitle(_title(results, f"{results['settings']['rows']:,} rows"), fontsize=10)
    return _save(figure, path)


def scale(results: dict[str, Any], path: Path) -> Path:
    settings, scenarios = results["settings"], results["scenarios"]
    small, large = f"{settings['small_rows']:,} rows", f"{settings['rows']:,} rows"
    figure = Figure(figsize=FIGURE_SIZE, dpi=DPI)
    axes = figure.subplots()
    series = _series(scenarios, SCALED, (SERVICE_SMALL, SERVICE), "p99_ms")
    _grouped_bars(axes, list(SCALED), series, ".0f")
    handles, _ = axes.get_legend_handles_labels()
    axes.legend(handles, [f"service, {small}", f"service, {large}"], fontsize=8)
    axes.set_ylabel("p99 ms")
    axes.set_title(_title(results, f"p99 at {small} and at {large}"), fontsize=10)
    return _save(figure, path)


def memory(results: dict[str, Any], path: Path) -> Path:
    samples = results["memory"].get("rss_samples") or []
    figure = Figure(figsize=FIGURE_SIZE, dpi=DPI)
    axes = figure.subplots()
    axes.plot(
        [seconds for seconds, _ in samples],
        [kib / 1024 for _, kib in samples],
        color=COLOURS[SERVICE],
        label="all workers",
    )
    axes.set_xlabel("seconds into the memory run")
    axes.set_ylabel("RSS of all workers, MiB")
    axes.set_ylim(bottom=0)
    memory_run = results["memory"]
    axes.set_title(
        _title(
            results,
            f"RSS over {memory_run['requests']:,} mixed requests,"
            f" growth {memory_run['growth_percent']:.1f} %",
        ),
        fontsize=10,
    )
    return _save(figure, path)


def _title(results: dict[str, Any], what: str) -> str:
    commit = results["machine"].get("commit", "")
    return f"messaging bench, {what}" + (f" ({commit})" if commit else "")


def _save(figure: Figure, path: Path) -> Path:
    # A Figure made without pyplot draws straight to the file: no display, no global state.
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    return path


def draw(results: dict[str, Any], directory: Path) -> list[Path]:
    """Every plot of the run, written into ``directory``."""
    return [
        throughput(results, directory / THROUGHPUT),
        scale(results, directory / SCALE),
        memory(results, directory / MEMORY),
    ]
