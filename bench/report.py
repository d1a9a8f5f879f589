"""What a benchmark run measured, summed over its rounds, and the tables it prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import mean

from bench.load import Result

CREATE_FLOOR_RATIO_TARGET = 0.70
SCALE_P99_RATIO_TARGET = 1.5
RSS_GROWTH_TARGET_PERCENT = 10.0


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

    def as_dict(self) -> dict[str, float]:
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


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("inf")


def table(rows: list[tuple[str, Runs | None, str]]) -> str:
    """A Markdown table: one row per scenario; a row without runs shows its note instead."""
    lines = [
        "| scenario | req/s | p50 ms | p99 ms | errors | worker CPU ms/req |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, runs, note in rows:
        if runs is None or not runs.results:
            lines.append(f"| {name} | {note} | | | | |")
            continue
        lines.append(
            f"| {name} | {runs.rate:,.0f} | {runs.p50_ms:.2f} | {runs.p99_ms:.2f}"
            f" | {runs.errors} | {runs.cpu_ms_per_request:.2f} |"
        )
    return "\n".join(lines)


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"
