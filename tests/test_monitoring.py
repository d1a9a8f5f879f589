"""What operators import: the Grafana dashboard and the Prometheus configuration and alert rules
under ``deploy/``. Every expression reads only metrics and labels the service really exports,
promtool accepts every file, and each alert fires and stays quiet as its tests say."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.promql import Names, names
from tests.servers import REPO_ROOT

DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "messaging.json"
PROMETHEUS = REPO_ROOT / "deploy" / "prometheus"
ALERTS = PROMETHEUS / "alerts.yml"
ALERT_TESTS = PROMETHEUS / "alerts_test.yml"
PROMETHEUS_CONFIG = PROMETHEUS / "prometheus.yml"
SERVICE_JOB = "messaging"
READINESS_JOB = "messaging-ready"
# Prometheus adds these to every series it scrapes.
TARGET_LABELS = {"job", "instance"}
# Series that do not come from /metrics, and the job each must be confined to: ``up`` is written
# by Prometheus for each scrape of the service; ``probe_*`` by the blackbox exporter's probe of
# /health/ready (see prometheus.yml).
EXTERNAL_SERIES = {
    "up": SERVICE_JOB,
    "probe_success": READINESS_JOB,
    "probe_duration_seconds": READINESS_JOB,
}
# Grafana's interval variables, replaced by a duration before promtool parses an expression.
GRAFANA_INTERVALS = re.compile(r"\$__(rate_interval|interval|range)\b")
LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>\w+)\)$")
PROMTOOL_TIMEOUT_SECONDS = 120


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def dashboard_panels() -> list[dict]:
    return [panel for panel in dashboard()["panels"] if panel["type"] != "row"]


def dashboard_expressions() -> list[str]:
    return [target["expr"] for panel in dashboard_panels() for target in panel["targets"]]


def alert_rules() -> list[dict]:
    return [
        rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]
    ]


def alert_expressions() -> list[str]:
    return [rule["expr"] for rule in alert_rules()]


def variable_queries() -> list[tuple[str, str]]:
    """(selector, label) of each ``label_values(selector, label)`` template variable."""
    queries = []
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] != "query":
            continue
        match = LABEL_VALUES.match(variable["query"]["query"])
        assert match, f"variable {variable['name']}: not a label_values() query"
        queries.append((match["selector"], match["label"]))
    return queries


@pytest.fixture(scope="module")
def promtool() -> str:
    """promtool's path; a missing promtool fails the test under CI, where .ci/run installs it."""
    path = shutil.which("promtool")
    if path is None:
        message = "promtool is not installed (Debian package prometheus; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def run_promtool(promtool: str, *arguments: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *map(str, arguments)],
        cwd=PROMETHEUS,
        capture_output=True,
        text=True,
        timeout=PROMTOOL_TIMEOUT_SECONDS,
        check=False,
    )


def exported_labels(exposition: str) -> dict[str, set[str]]:
    """Each sample name in a scrape and the label names its samples carry."""
    labels: dict[str, set[str]] = defaultdict(set)
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            labels[sample.name].update(sample.labels)
    return labels


def unknown_names(expression: Names, exported: dict[str, set[str]]) -> list[str]:
    """What an expression reads that the scrape does not have, one line per problem."""
    problems = []
    known_labels = set(TARGET_LABELS)
    for selector in expression.selectors:
        metric = selector.metric
        if metric in EXTERNAL_SERIES:
            job = EXTERNAL_SERIES[metric]
            if not any(
                name == "job" and value in (job, "$job") for name, _, value in selector.matchers
            ):
                problems.append(f"{metric} without job={job!r}")
            known_labels |= TARGET_LABELS
            continue
        if metric not in exported:
            problems.append(f"metric {metric!r} is not exported")
            continue
        labels = exported[metric] | TARGET_LABELS
        known_labels |= labels
        problems += [
            f"{metric} has no label {label!r}" for label in sorted(selector.label_names - labels)
        ]
    problems += [
        f"no metric here has label {label!r}"
        for label in sorted(expression.grouping_labels - known_labels)
    ]
    return problems


def test_dashboard_and_alerts_read_only_metrics_and_labels_the_service_exports(
    start_server, mariadb_database
):
    server = start_server(DATABASE_URL=mariadb_database, WEB_CONCURRENCY="2")
    account = 4242
    for number in range(3):
        body = {
            "account_id": account,
            "sender_number": f"+1555000{number:04d}",
            "receiver_number": "+15550009999",
            "message_text": "hello",
        }
        assert server.post("/v1/create", body).status == 200
    assert server.post("/v1/create", {"account_id": "x"}).status == 422
    assert server.get(f"/v1/get/messages/{account}").status == 200
    assert server.get("/v1/search?sender_number=%2B15550000001").status == 200
    assert server.get("/v1/messages/00000000-0000-7000-8000-000000000000").status == 404
    assert server.get("/health/ready").status == 200
    scrape = server.get("/metrics")
    assert scrape.status == 200
    exported = exported_labels(scrape.body.decode())
    assert "flask_http_request_duration_seconds_bucket" in exported

    expressions = dashboard_expressions() + alert_expressions()
    problems = {
        expression: unknown_names(names(expression), exported) for expression in expressions
    }
    for selector, label in variable_queries():
        selector_names = names(selector)
        selector_names.grouping_labels.add(label)
        problems[f"label_values({selector}, {label})"] = unknown_names(selector_names, exported)
    assert {expression: found for expression, found in problems.items() if found} == {}


def test_the_check_finds_a_renamed_metric_and_a_missing_label():
    exported = {"flask_http_request_total": {"method", "status"}}
    assert unknown_names(names('rate(flask_http_requests_total{status="500"}[5m])'), exported) == [
        "metric 'flask_http_requests_total' is not exported"
    ]
    assert unknown_names(names("sum by (url_rule) (flask_http_request_total)"), exported) == [
        "no metric here has label 'url_rule'"
    ]
    assert unknown_names(names("probe_success == 0"), exported) == [
        "probe_success without job='messaging-ready'"
    ]


def test_dashboard_expressions_are_valid_promql(promtool, tmp_path):
    # promtool parses PromQL in rule files: each expression becomes a recording rule.
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {
                        "record": f"dashboard:expression_{index}",
                        "expr": GRAFANA_INTERVALS.sub("5m", expression),
                    }
                    for index, expression in enumerate(dashboard_expressions())
                ],
            }
        ]
    }
    rules_file = tmp_path / "dashboard_rules.yml"
    rules_file.write_text(yaml.safe_dump(rules))
    checked = run_promtool(promtool, "check", "rules", rules_file)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_dashboard_shows_what_operators_look_for():
    expressions = "\n".join(dashboard_expressions())
    for quantile in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({quantile}, sum by (url_rule, le)" in expressions
    assert (
        "sum by (url_rule, status) (rate(flask_http_request_duration_seconds_count" in expressions
    )
    for metric in (
        "messaging_messages_created_total",
        "messaging_database_errors_total",
        "probe_success",
        "up{",
    ):
        assert metric in expressions
    panels = dashboard_panels()
    assert len({panel["id"] for panel in panels}) == len(panels)
    assert all(panel["datasource"]["uid"] == "${datasource}" for panel in panels)
    assert all(panel["title"] and panel["description"] for panel in panels)


def test_alert_rules_pass_promtool_check(promtool):
    checked = run_promtool(promtool, "check", "rules", ALERTS)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in checked.stdout


def test_every_alert_has_a_severity_summary_and_runbook():
    for rule in alert_rules():
        assert rule["labels"]["severity"] in {"page", "ticket"}, rule["alert"]
        assert {"summary", "description", "runbook"} <= rule["annotations"].keys(), rule["alert"]


def test_alerts_fire_and_stay_quiet_as_their_input_series_say(promtool):
    tested = run_promtool(promtool, "test", "rules", ALERT_TESTS)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    firing_cases = {
        case["alertname"]
        for test in yaml.safe_load(ALERT_TESTS.read_text())["tests"]
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    assert firing_cases == {rule["alert"] for rule in alert_rules()}


def test_alert_tests_fail_when_a_threshold_changes(promtool, tmp_path):
    # The unit tests bind the thresholds: a rule file that fires later must not pass them.
    shutil.copy(ALERT_TESTS, tmp_path / ALERT_TESTS.name)
    (tmp_path / ALERTS.name).write_text(ALERTS.read_text().replace("> 0.05", "> 0.5"))
    tested = run_promtool(promtool, "test", "rules", tmp_path / ALERT_TESTS.name)
    assert tested.returncode != 0
    assert "MessagingHigh5xxRatio" in tested.stdout + tested.stderr


def test_prometheus_config_is_valid_and_defines_the_jobs_the_rules_read(promtool):
    checked = run_promtool(promtool, "check", "config", PROMETHEUS_CONFIG)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs[SERVICE_JOB]["metrics_path"] == "/metrics"
    assert jobs[READINESS_JOB]["params"]["module"] == ["http_2xx"]
    assert all(
        target.endswith("/health/ready")
        for static in jobs[READINESS_JOB]["static_configs"]
        for target in static["targets"]
    )
    assert config["rule_files"] == [ALERTS.name]
