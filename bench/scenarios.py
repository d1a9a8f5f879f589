"""What a run compares: the servers under test and the operations measured on each."""

from __future__ import annotations

SERVICE, FLOOR, PEER, SERVICE_SMALL = "service", "floor", "peer", "service_small"
# Another checkout of the service (``BENCH_BASELINE``), for an A/B of two commits.
BASELINE = "baseline"
SERVER_LABELS = {
    SERVICE: "service",
    FLOOR: "floor (bare Flask, raw PyMySQL, jsonify)",
    PEER: "FastAPI peer",
    SERVICE_SMALL: "service, small table",
    BASELINE: "baseline checkout",
}
# The operations measured against the floor and the peer, and how the report names them.
COMPARED = {
    "create": "create",
    "list": "list first page (100 rows)",
    "search": "search (10 numbers)",
}
# Operations whose p99 is compared between the large and the small table.
SCALED = ("list", "search")
# What a run writes into its output directory, beside the plots.
RESULTS_FILE = "results.json"
REPORT_FILE = "report.md"
