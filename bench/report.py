"""What a benchmark run measured, summed over its rounds, and the report made from it.

A run's results are one JSON-ready dict (``results.json``); ``render`` turns that dict into
the Markdown report ``make bench`` prints. ``python -m bench.report DIRECTORY`` makes the
report and the plots of a saved run again, without measuring it again.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean
from typing import Any

from bench import cpu_profile, plots
from bench.load import Result
from bench.scenarios import (
    BASELINE,
    COMPARED,
    FLOOR,
    PEER,
    REPORT_FILE,
    RESULTS_FILE,
    SCALED,
    SERVER_LABELS,
    SERVICE,
    SERVICE_SMALL,
)

# Targets on this machine, each a ratio within one run (issue 14).
FLOOR_RATIO_TARGET = 0.70
PEER_RATIO_TARGET = 1.5
SCALE_P99_RATIO_TARGET = 1.5
RSS_GROWTH_TARGET_PERCENT = 10.0
# Against a baseline checkout (BENCH_BASELINE): each operation within 5 % of it, or better.
BASELINE_RATIO_TARGET = 0.95

Summary = dict[str, Any]


@dataclass
class Runs:
    """The rounds of one scenario on one server, and the workers' CPU time they took."""

    results: list[Result] = field(default_factory=list)
    cpu_seconds: float = 0.0

    def add(self, result: Result, cpu_seconds: float) -> None:
        self.results.append(result)
        self.cpu_seconds += cpu_seconds

    @property
    def requests(self) -> int:
        return sum(result.requests for result in self.results)

    @property
    def rate(self) -> float:
        return mean(result.rate for result in self.results)

    @property
    def p50_ms(self) -> float:
        return mean(result.p50_ms for result in self.results)

    @property
    def p99_ms(self) -> float:
        return mean(result.p99_ms for result in self.results)

    @property
    def errors(self) -> int:
        return sum(result.errors for result in self.results)

    @property
    def cpu_ms_per_request(self) -> float:
        return 1000 * self.cpu_seconds / self.requests if self.requests else 0.0

    def as_dict(self) -> Summary:
        return {
            "requests": self.requests,
            "rate": round(self.rate, 1),
            "p50_ms": round(self.p50_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
            "errors": self.errors,
            "worker_cpu_ms_per_request": round(self.cpu_ms_per_request, 3),
            "rounds": [
                {"rate": round(r.rate, 1), "p50_ms": r.p50_ms, "p99_ms": r.p99_ms}
                for r in self.results
            ],
        }


@dataclass(frozen=True)
class Check:
    """One target: what was measured against it, and whether it was met."""

    text: str
    met: bool


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("inf")


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A Markdown table: the first column names the row, the others (numbers) align right."""
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def table(rows: list[tuple[str, Summary | None, str]]) -> str:
    """A Markdown table: one row per scenario; a row without a summary shows its note instead."""
    return markdown_table(
        ("scenario", "req/s", "p50 ms", "p99 ms", "errors", "worker CPU ms/req"),
        (
            [
                name,
                f"{summary['rate']:,.0f}",
                f"{summary['p50_ms']:.2f}",
                f"{summary['p99_ms']:.2f}",
                str(summary["errors"]),
                f"{summary['worker_cpu_ms_per_request']:.2f}",
            ]
            if summary
            else [name, note]
            for name, summary, note in rows
        ),
    )


def comparison_table(scenarios: dict[str, dict[str, Summary]]) -> str:
    """Requests/s of the service, its floor and the FastAPI peer, and the two ratios."""
    rows = []
    for operation, label in COMPARED.items():
        servers = scenarios[operation]
        service, floor, peer = (servers[name]["rate"] for name in (SERVICE, FLOOR, PEER))
        rates = [f"{rate:,.0f}" for rate in (service, floor, peer)]
        rows.append([label, *rates, *(f"{ratio(service, other):.2f}" for other in (floor, peer))])
    header = ("operation", "service req/s", "floor req/s", "FastAPI peer req/s")
    return markdown_table((*header, "service / floor", "service / peer"), rows)


def ratios(results: dict[str, Any]) -> dict[str, float]:
    """Every ratio a target is set on, by name."""
    scenarios = results["scenarios"]
    found = {}
    for operation in COMPARED:
        servers = scenarios[operation]
        for server in (FLOOR, PEER):
            found[f"{operation}/{server}"] = ratio(
                servers[SERVICE]["rate"], servers[server]["rate"]
            )
    found.update(baseline_ratios(results.get("baseline") or {}))
    for operation in SCALED:
        servers = scenarios[operation]
        found[f"{operation} p99 large/small"] = ratio(
            servers[SERVICE]["p99_ms"], servers[SERVICE_SMALL]["p99_ms"]
        )
    return {name: round(value, 3) for name, value in found.items()}


def baseline_ratios(compared: dict[str, dict[str, Summary]]) -> dict[str, float]:
    """Each compared operation's throughput, service over baseline checkout, by ratio name."""
    return {
        f"{operation}/{BASELINE}": ratio(sides[SERVICE]["rate"], sides[BASELINE]["rate"])
        for operation, sides in compared.items()
    }


def throughput_checks(
    found: dict[str, float], server: str, target: float, operations: Iterable[str] = COMPARED
) -> list[Check]:
    """Per compared operation: the service's throughput over ``server``'s, at least ``target``."""
    listed = []
    for operation in operations:
        value = found[f"{operation}/{server}"]
        listed.append(
            Check(
                f"{operation} throughput service/{server} = {value:.3f} (target >= {target})",
                value >= target,
            )
        )
    return listed


def checks(results: dict[str, Any]) -> list[Check]:
    """Each target of issue 14 and whether this run met it."""
    settings, memory = results["settings"], results["memory"]
    found = ratios(results)
    listed = [
        *throughput_checks(found, FLOOR, FLOOR_RATIO_TARGET),
        *throughput_checks(found, PEER, PEER_RATIO_TARGET),
    ]
    if has_baseline(results):
        listed += throughput_checks(found, BASELINE, BASELINE_RATIO_TARGET)
    for operation in SCALED:
        value = found[f"{operation} p99 large/small"]
        listed.append(
            Check(
                f"{operation} p99 {settings['rows']:,}/{settings['small_rows']:,} rows"
                f" = {value:.2f} (target <= {SCALE_P99_RATIO_TARGET})",
                value <= SCALE_P99_RATIO_TARGET,
            )
        )
    listed.append(
        Check(
            f"worker RSS growth over {memory['requests']:,} requests ="
            f" {memory['growth_percent']:.1f} % (target < {RSS_GROWTH_TARGET_PERCENT:g} %)",
            memory["growth_percent"] < RSS_GROWTH_TARGET_PERCENT,
        )
    )
    listed.append(
        Check(f"errors in all runs = {results['errors']} (target 0)", results["errors"] == 0)
    )
    return listed


def has_baseline(results: dict[str, Any]) -> bool:
    return bool(results.get("baseline"))


def baseline_table(compared: dict[str, dict[str, Summary]]) -> str:
    """Requests/s and worker CPU per request of the service and the baseline checkout, for
    each operation compared."""
    rows = []
    for operation in compared:
        label = COMPARED[operation]
        sides = (compared[operation][SERVICE], compared[operation][BASELINE])
        rates = [f"{side['rate']:,.0f}" for side in sides]
        cpu = [f"{side['worker_cpu_ms_per_request']:.2f}" for side in sides]
        overall = f"{ratio(sides[0]['rate'], sides[1]['rate']):.3f}"
        rows.append([label, *rates, overall, round_ratio_range(*sides), *cpu])
    header = ("operation", "service req/s", "baseline req/s", "service / baseline")
    return markdown_table(
        (*header, "round by round", "service CPU ms/req", "baseline CPU ms/req"), rows
    )


def round_ratio_range(service: Summary, baseline: Summary) -> str:
    """The lowest and highest service/baseline ratio of the rounds run back to back: how far
    one round's noise moves the ratio."""
    found = [
        ratio(ours["rate"], theirs["rate"])
        for ours, theirs in zip(service["rounds"], baseline["rounds"], strict=False)
    ]
    return f"{min(found):.2f}–{max(found):.2f}" if found else "-"


def render(results: dict[str, Any]) -> str:
    """The Markdown report of a run: machine, tables, memory, targets, profiles."""
    settings, scenarios, memory = results["settings"], results["scenarios"], results["memory"]
    rows, small_rows = f"{settings['rows']:,}", f"{settings['small_rows']:,}"
    get = scenarios["get"]
    out = [f"## messaging benchmark, {settings['connections']} connections, wrk", ""]
    out += [f"- {name}: {value}" for name, value in results["machine"].items()]
    out += ["", f"Service, floor and FastAPI peer ({rows} rows; rounds alternate):", ""]
    out += [comparison_table(scenarios), ""]
    if has_baseline(results):
        out += [
            f"Service and the baseline checkout ({results['machine']['baseline']}),"
            " alone in their rounds:",
            "",
        ]
        out += [baseline_table(results["baseline"]), ""]
    main_rows: list[tuple[str, Summary | None, str]] = []
    for operation, label in COMPARED.items():
        for server in (SERVICE, FLOOR, PEER):
            main_rows.append(
                (f"{label}, {SERVER_LABELS[server]}", scenarios[operation][server], "")
            )
    main_rows.append(
        ("list one account, deep page via cursor, service", scenarios["deep"][SERVICE], "")
    )
    main_rows.append(("get by id, service", get.get(SERVICE), get.get("note", "")))
    out += [table(main_rows), ""]
    out += [f"Scale check (p99 at {rows} rows / p99 at {small_rows} rows):", ""]
    scale_rows = []
    for operation in SCALED:
        label = COMPARED[operation]
        scale_rows += [
            (f"{label}, {small_rows} rows", scenarios[operation][SERVICE_SMALL], ""),
            (f"{label}, {rows} rows", scenarios[operation][SERVICE], ""),
        ]
    out += [table(scale_rows), ""]
    before = sum(memory["rss_before_kib"].values()) / 1024
    after = sum(memory["rss_after_kib"].values()) / 1024
    replaced = memory["workers_replaced"]
    out += [
        f"Memory: worker RSS {before:.1f} MiB before, {after:.1f} MiB after"
        f" {memory['requests']:,} mixed requests ({memory['seconds']} s),"
        f" growth {memory['growth_percent']:.1f} %"
        + (f"; workers replaced during the run: {replaced}" if replaced else ""),
        "",
    ]
    out += [f"- {verdict(check.met)}: {check.text}" for check in checks(results)]
    profiles = results.get("profiles") or {}
    if profiles:
        out += ["", "Worker CPU ms per request by layer (py-spy, one run each):", ""]
        out.append(
            cpu_profile.table(
                {name: (Counter(counts), cpu) for name, (counts, cpu) in profiles.items()}
            )
        )
    return "\n".join(out) + "\n"


def write(results: dict[str, Any], directory: Path) -> str:
    """Write results, report and plots of a run into ``directory``; returns the report."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / RESULTS_FILE).write_text(json.dumps(results, indent=2) + "\n")
    rendered = render(results)
    (directory / REPORT_FILE).write_text(rendered)
    plots.draw(results, directory)
    return rendered


def main(arguments: list[str]) -> int:
    """``python -m bench.report DIRECTORY``: the report and plots of a saved run, made again
    from its ``results.json`` (after a change to the report or the plots)."""
    if len(arguments) != 1:
        print("usage: python -m bench.report DIRECTORY_WITH_RESULTS_JSON", file=sys.stderr)
        return 2
    directory = Path(arguments[0])
    print(write(json.loads((directory / RESULTS_FILE).read_text()), directory), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
