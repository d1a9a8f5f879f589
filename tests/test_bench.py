"""The benchmark harness's own logic (bench/): seeded ids, request files, profile layers,
rounds, ratios and targets, the report and its plots, and the floor's queries.

``make bench`` itself needs MariaDB, wrk and minutes; these check the parts that decide
what it measures and reports, without timing anything.
"""

from __future__ import annotations

import json
import random
import re
import threading
import uuid
from typing import Any
from urllib.parse import quote

import pytest

from bench import (
    ab,
    cpu_profile,
    dataset,
    floor,
    galera,
    in_process,
    instructions,
    plots,
    report,
    servers,
    workload,
)
from bench.load import Result
from bench.report import Runs, table
from bench.run import Settings, round_order
from bench.scenarios import REPORT_FILE, RESULTS_FILE
from messaging import create_app
from messaging.extensions import db
from messaging.models import Message
from tests.conftest import reset_schema

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_seeded_message_ids_are_time_ordered_uuid7():
    ids = [dataset.message_id(1_767_225_600_000 + n, n) for n in range(0, 5000, 7)]
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_seeded_rows_spread_over_the_fixed_accounts_and_senders():
    rows = list(dataset.seed_rows(0, 2000, random.Random(1)))
    accounts = {int(row.split(",")[1]) for row in rows}
    assert accounts == set(dataset.account_ids())
    senders = {row.split(",")[2].strip("'") for row in rows}
    assert senders == {dataset.sender_number(index) for index in range(dataset.SENDERS)}


def test_mixed_requests_take_every_kind_in_turn():
    lines = workload.mixed_lines(["a1", "a2"], [], ["b1"], count=5)
    assert lines == ["a1", "b1", "a2", "b1", "a1"]


def test_search_requests_ask_for_ten_distinct_senders():
    targets = dataset.Targets(
        accounts=dataset.account_ids(),
        deep_cursors={},
        senders=[dataset.sender_number(index) for index in range(dataset.SENDERS)],
        message_ids=[],
    )
    for line in workload.search_lines(targets, count=50):
        method, path = line.split(" ")
        numbers = path.split("sender_number=")[1].split(",")
        assert method == "GET"
        assert len(set(numbers)) == dataset.SEARCH_SENDERS
        assert all(number.startswith("%2B1555") for number in numbers)


def test_profile_charges_library_frames_to_the_layer_that_called_them():
    raw = "\n".join(
        [
            "run (gunicorn/arbiter.py:1);handle_request (gunicorn/workers/sync.py:2);"
            "dispatch (flask/app.py:3);execute (sqlalchemy/engine/base.py:4);"
            "sub (re/__init__.py:5) 30",
            "run (gunicorn/arbiter.py:1);handle_request (gunicorn/workers/sync.py:2);"
            "emit (messaging/logs.py:6);format (logging/__init__.py:7) 10",
            "run (gunicorn/arbiter.py:1);accept (gunicorn/workers/sync.py:7) 500",
        ]
    )
    counts = cpu_profile.layers(raw)
    assert counts == {
        "SQLAlchemy (session, pool, pre-ping, execution)": 30,
        "logging": 10,
    }


def test_report_table_averages_rounds_and_sums_errors():
    runs = Runs()
    runs.add(Result(requests=1000, seconds=1.0, p50_ms=2.0, p99_ms=10.0, errors=0), 0.5)
    runs.add(Result(requests=3000, seconds=1.0, p50_ms=4.0, p99_ms=20.0, errors=2), 1.5)
    assert runs.rate == 2000
    assert runs.p99_ms == 15.0
    assert runs.errors == 2
    assert runs.cpu_ms_per_request == 0.5
    rendered = table([("create", runs.as_dict(), ""), ("get by id", None, "skipped: no route")])
    assert "| create | 2,000 | 3.00 | 15.00 | 2 | 0.50 |" in rendered
    assert "| get by id | skipped: no route |" in rendered


def summary(rate: float, p99_ms: float = 10.0) -> dict[str, Any]:
    return {
        "requests": int(rate * 10),
        "rate": rate,
        "p50_ms": p99_ms / 2,
        "p99_ms": p99_ms,
        "errors": 0,
        "worker_cpu_ms_per_request": 1.0,
        "rounds": [],
    }


def run_results(errors: int = 0) -> dict[str, Any]:
    """A run's results as ``bench.run`` writes them: list beats both targets, search misses
    the floor's, create misses the peer's."""
    return {
        "settings": {"rows": 1_000_000, "small_rows": 10_000, "connections": 16},
        "machine": {"cpu": "test", "commit": "abc1234"},
        "scenarios": {
            "create": {"service": summary(900), "floor": summary(1000), "peer": summary(700)},
            "list": {
                "service": summary(800, p99_ms=30),
                "floor": summary(1000),
                "peer": summary(400),
                "service_small": summary(820, p99_ms=25),
            },
            "search": {
                "service": summary(500, p99_ms=80),
                "floor": summary(1000),
                "peer": summary(200),
                "service_small": summary(520, p99_ms=40),
            },
            "deep": {"service": summary(700)},
            "get": {"note": "skipped: no route"},
        },
        "memory": {
            "requests": 100_000,
            "seconds": 60.0,
            "errors": 0,
            "rss_before_kib": {"1": 1000, "2": 1000},
            "rss_after_kib": {"1": 1050, "2": 1010},
            "workers_replaced": [],
            "growth_percent": 3.0,
            "rss_samples": [[0.0, 2000], [1.0, 2040], [2.0, 2060]],
        },
        "errors": errors,
        "profiles": {},
    }


def test_rounds_alternate_forward_and_backward():
    assert [round_order(3, index) for index in range(4)] == [
        [0, 1, 2],
        [2, 1, 0],
        [0, 1, 2],
        [2, 1, 0],
    ]
    assert round_order(2, 1) == [1, 0]


def test_ratios_are_service_over_floor_and_peer_and_large_over_small_p99():
    ratios = report.ratios(run_results())
    assert ratios["create/floor"] == 0.9
    assert ratios["create/peer"] == pytest.approx(1.286, abs=0.001)
    assert ratios["list/floor"] == 0.8
    assert ratios["list/peer"] == 2.0
    assert ratios["search/floor"] == 0.5
    assert ratios["search/peer"] == 2.5
    assert ratios["list p99 large/small"] == 1.2
    assert ratios["search p99 large/small"] == 2.0


def test_checks_name_every_target_and_say_which_were_missed():
    checks = {check.text.split(" = ")[0]: check.met for check in report.checks(run_results(2))}
    assert checks == {
        "create throughput service/floor": True,
        "list throughput service/floor": True,
        "search throughput service/floor": False,
        "create throughput service/peer": False,
        "list throughput service/peer": True,
        "search throughput service/peer": True,
        "list p99 1,000,000/10,000 rows": True,
        "search p99 1,000,000/10,000 rows": False,
        "worker RSS growth over 100,000 requests": True,
        "errors in all runs": False,
    }


def test_report_shows_the_comparison_scale_memory_and_verdicts():
    rendered = report.render(run_results())
    assert "| create | 900 | 1,000 | 700 | 0.90 | 1.29 |" in rendered
    assert "| list first page (100 rows) | 800 | 1,000 | 400 | 0.80 | 2.00 |" in rendered
    assert "| search (10 numbers) | 500 | 1,000 | 200 | 0.50 | 2.50 |" in rendered
    assert "| get by id, service | skipped: no route |" in rendered
    assert "| search (10 numbers), 10,000 rows | 520 |" in rendered
    assert "Memory: worker RSS 2.0 MiB before, 2.0 MiB after 100,000 mixed requests" in rendered
    assert "- MISSED: search throughput service/floor = 0.500 (target >= 0.7)" in rendered
    assert "- met: list throughput service/peer = 2.000 (target >= 1.5)" in rendered


def with_baseline(results: dict[str, Any]) -> dict[str, Any]:
    """``results`` of a run with ``BENCH_BASELINE``: create 4 % below the baseline, list 10 %
    below, search 25 % above."""
    results["machine"]["baseline"] = "570a694 (/work/old)"
    results["baseline"] = {
        operation: {"service": summary(service), "baseline": summary(baseline)}
        for operation, service, baseline in (
            ("create", 900, 937.5),
            ("list", 800, 888.9),
            ("search", 500, 400),
        )
    }
    return results


def test_a_baseline_checkout_is_compared_within_five_percent():
    results = with_baseline(run_results())
    ratios = report.ratios(results)
    assert ratios["create/baseline"] == 0.96
    assert ratios["list/baseline"] == 0.9
    assert ratios["search/baseline"] == 1.25
    checks = {check.text.split(" = ")[0]: check.met for check in report.checks(results)}
    assert checks["create throughput service/baseline"] is True
    assert checks["list throughput service/baseline"] is False
    assert checks["search throughput service/baseline"] is True
    rendered = report.render(results)
    assert "Service and the baseline checkout (570a694 (/work/old)), alone in" in rendered
    assert "| create | 900 | 938 | 0.960 | - | 1.00 | 1.00 |" in rendered
    assert "- MISSED: list throughput service/baseline = 0.900 (target >= 0.95)" in rendered


def test_without_a_baseline_nothing_is_said_of_one():
    results = run_results()
    assert not any("baseline" in name for name in report.ratios(results))
    assert "baseline" not in report.render(results)


def test_baseline_checkout_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("BENCH_BASELINE", str(tmp_path))
    settings = Settings.from_environment()
    assert settings.baseline == tmp_path.resolve()
    assert settings.baseline_database == "messaging_bench_baseline"
    assert settings.ab_database == "messaging_bench_ab"
    assert settings.baseline_sql == ""
    monkeypatch.setenv("BENCH_BASELINE_SQL", "ALTER TABLE messages ADD FULLTEXT (message_text)")
    assert Settings.from_environment().baseline_sql.startswith("ALTER TABLE")
    monkeypatch.delenv("BENCH_BASELINE")
    assert Settings.from_environment().baseline is None


def test_a_ratio_just_under_the_target_is_not_rounded_onto_it():
    results = with_baseline(run_results())
    results["baseline"]["create"]["service"] = summary(947)
    results["baseline"]["create"]["baseline"] = summary(1000)
    rendered = report.render(results)
    assert "| create | 947 | 1,000 | 0.947 |" in rendered
    assert "- MISSED: create throughput service/baseline = 0.947 (target >= 0.95)" in rendered


def test_ab_table_gives_the_spread_of_the_round_by_round_ratios():
    service, baseline = summary(925), summary(975)
    service["rounds"] = [{"rate": 900}, {"rate": 950}, {"rate": 925}]
    baseline["rounds"] = [{"rate": 1000}, {"rate": 950}, {"rate": 975}]
    table = report.baseline_table({"search": {"service": service, "baseline": baseline}})
    assert "| search (10 numbers) | 925 | 975 | 0.949 | 0.90–1.00 | 1.00 | 1.00 |" in table


def test_ab_operations_default_to_every_compared_one_in_run_order(monkeypatch):
    monkeypatch.delenv("BENCH_AB_OPERATIONS", raising=False)
    assert ab.operations_from_environment() == ("create", "list", "search")
    monkeypatch.setenv("BENCH_AB_OPERATIONS", " search, create ,")
    assert ab.operations_from_environment() == ("create", "search")
    monkeypatch.setenv("BENCH_AB_OPERATIONS", "create,deep,get")
    with pytest.raises(ValueError, match="unknown deep, get; choose from create, list, search"):
        ab.operations_from_environment()


def test_ab_reports_only_the_operations_it_ran(tmp_path):
    compared = {"create": with_baseline(run_results())["baseline"]["create"]}
    settings = Settings(rows=200_000, rounds=3, seconds=10, baseline=tmp_path)
    rendered = ab.render(compared, settings)
    assert "200,000 rows, 6 rounds of 10 s each, alone in their rounds:" in rendered
    assert f"{tmp_path})" in rendered
    assert "| create | 900 | 938 | 0.960 | - | 1.00 | 1.00 |" in rendered
    assert "- met: create throughput service/baseline = 0.960 (target >= 0.95)" in rendered
    assert "list" not in rendered and "search" not in rendered


def test_ab_without_a_baseline_says_so_and_makes_nothing(monkeypatch, capsys):
    monkeypatch.delenv("BENCH_BASELINE", raising=False)
    monkeypatch.setattr(ab, "run", lambda *_: pytest.fail("the A/B ran without a baseline"))
    assert ab.main() == 2
    assert "BENCH_BASELINE must name a checkout" in capsys.readouterr().err


def test_a_saved_run_gets_its_report_and_plots_again(tmp_path, capsys):
    (tmp_path / RESULTS_FILE).write_text(json.dumps(run_results()))
    assert report.main([str(tmp_path)]) == 0
    assert capsys.readouterr().out == (tmp_path / REPORT_FILE).read_text()
    for name in (plots.THROUGHPUT, plots.SCALE, plots.MEMORY):
        assert (tmp_path / name).read_bytes().startswith(PNG_SIGNATURE), name


def test_plots_are_small_pngs(tmp_path):
    paths = plots.draw(run_results(), tmp_path)
    assert [path.name for path in paths] == [plots.THROUGHPUT, plots.SCALE, plots.MEMORY]
    for path in paths:
        content = path.read_bytes()
        assert content.startswith(PNG_SIGNATURE)
        assert 5_000 < len(content) < 200_000, (path.name, len(content))


def test_output_directory_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("BENCH_OUTPUT", str(tmp_path / "plots"))
    monkeypatch.setenv("BENCH_SMOKE", "1")
    settings = Settings.from_environment()
    assert settings.output == tmp_path / "plots"
    assert settings.rows == 50_000
    monkeypatch.delenv("BENCH_OUTPUT")
    assert Settings.from_environment().output is None


def test_peer_is_described_by_its_pinned_stack():
    described = servers.peer_description()
    pins = servers.PEER_REQUIREMENTS.read_text()
    for name in ("fastapi", "uvicorn", "pydantic", "sqlalchemy", "pymysql"):
        version = re.search(rf"^{name}(\[\w+\])?==(\S+)$", pins, re.MULTILINE)[2]
        assert f"{name} {version}" in described
    assert described.endswith(f"uvicorn --workers {servers.PEER_WORKERS}")


def test_peer_requirements_pin_every_package():
    lines = [
        line
        for line in servers.PEER_REQUIREMENTS.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert any(line.startswith("fastapi[standard]==") for line in lines)
    assert all("==" in line for line in lines), lines


def test_floor_search_has_one_branch_per_number():
    sql = floor.search_sql(3)
    assert sql.count("UNION ALL") == 2
    assert sql.count("%s") == 2 * 3 + 1
    assert sql.startswith("SELECT id, message_id, account_id,")


@pytest.fixture
def floor_on(mariadb_app, monkeypatch) -> Any:
    """The floor app on the service's MariaDB test database, with a connection of its own."""
    monkeypatch.setenv("DATABASE_URL", mariadb_app.config["SQLALCHEMY_DATABASE_URI"])
    monkeypatch.setattr(floor, "_local", threading.local())
    yield floor.app.test_client()
    if getattr(floor._local, "connection", None) is not None:
        floor._local.connection.close()


def test_floor_lists_and_searches_the_rows_the_service_does(mariadb_app, floor_on):
    service = mariadb_app.test_client()
    senders = [f"+1555000{index:04d}" for index in range(3)]
    for index in range(floor.PAGE_SIZE + 5):
        body = {
            "account_id": 7 if index % 2 else 8,
            "sender_number": senders[index % 3],
            "receiver_number": "+15559990000",
            "message_text": None if index % 4 else f"text {index} 👍",
        }
        assert service.post("/v1/create", json=body).status_code == 200
    for path in (
        "/v1/get/messages/7",
        "/v1/get/messages/8",
        f"/v1/search?sender_number={quote(senders[0])},{quote(senders[2])}",
        "/v1/search?sender_number=" + ",".join(map(quote, senders)),
    ):
        expected, found = service.get(path), floor_on.get(path)
        assert found.status_code == 200
        assert found.get_json() == expected.get_json(), path
        assert ("Link" in found.headers) == ("Link" in expected.headers), path


def test_galera_requests_alternate_keyless_creates_and_20_row_first_pages():
    lines = galera.request_lines()
    creates, pages = lines[0::2], lines[1::2]
    bodies = [json.loads(line.removeprefix("POST /v1/create ")) for line in creates]
    assert all(line.startswith("POST /v1/create {") for line in creates)
    assert {body["account_id"] for body in bodies} == set(galera.ACCOUNTS)
    assert set(pages) == {
        f"GET /v1/get/messages/{account}?limit={galera.PAGE_LIMIT}" for account in galera.ACCOUNTS
    }


def test_galera_ratio_compares_mean_requests_per_second_over_all_instances():
    def result(requests: int) -> Result:
        return Result(requests=requests, seconds=10.0, p50_ms=1.0, p99_ms=2.0, errors=0)

    load_average = (1.0, 1.0, 1.0)
    measured = [
        galera.Measured("a", "(a)", [result(1000)], load_average),
        galera.Measured("b", "(b)", [result(300), result(300), result(300)], load_average),
        galera.Measured("b", "(b)", [result(200), result(200), result(300)], load_average),
        galera.Measured("a", "(a)", [result(1000)], load_average),
    ]
    rendered = galera.render(measured, galera.Settings())
    assert "mean requests/s: a 100, b 80" in rendered
    assert "ratio b/a: 0.80" in rendered


def test_counting_run_makes_exactly_the_requests_asked_and_writes_the_log_file(
    monkeypatch, tmp_path
):
    url = f"sqlite:///{tmp_path / 'count.sqlite3'}"
    reset_schema(url)
    log_file = tmp_path / "app.log"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("LOG_FILE", str(log_file))

    assert in_process.main(["--count", "7", "create"]) == 0
    assert in_process.main(["--count", "3", "list"]) == 0

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "LOG_FILE": ""})
    with app.app_context():
        stored = db.session.query(Message).count()
        db.engine.dispose()
    assert stored == 2 * in_process.WARMUP_REQUESTS + 7
    lines = log_file.read_text().splitlines()
    assert sum(" POST /v1/create 200 " in line for line in lines) == stored
    list_warm_ups = 2 * in_process.LIST_WARMUP_REQUESTS
    assert sum(" GET /v1/get/messages/1 200 " in line for line in lines) == list_warm_ups + 3


def test_instructions_per_request_are_the_extra_requests_share():
    stderr = "==4711== Events    : Ir\n==4711== Collected : 2001234567\n==4711==\n"
    assert instructions.collected_instructions(stderr) == 2_001_234_567
    with pytest.raises(RuntimeError, match="no instruction count"):
        instructions.collected_instructions("==4711== Events    : Ir\n")
    assert instructions.per_request(3_000_000_000, 3_920_000_400, 400) == 2_300_001
    with pytest.raises(ValueError):
        instructions.per_request(1, 2, 0)


def test_instructions_table_gives_the_ratio_to_the_baseline():
    measured = {
        "service": {"create": 2_300_000, "list": 9_000_000},
        "baseline": {"create": 2_000_000, "list": 18_000_000},
    }
    lines = instructions.table(measured).splitlines()
    assert lines[2] == "| create | 2,300,000 | 2,000,000 | 1.150 |"
    assert lines[3] == "| list | 9,000,000 | 18,000,000 | 0.500 |"
    alone = instructions.table({"service": measured["service"]})
    assert "baseline" not in alone
    assert alone.splitlines()[2] == "| create | 2,300,000 |"


def test_instructions_say_valgrind_is_missing_before_making_a_database(monkeypatch):
    monkeypatch.setenv("PATH", "")
    # A server that cannot be reached: making a database would fail with another error.
    monkeypatch.setenv("BENCH_DATABASE_SERVER", "mysql+pymysql://nobody@127.0.0.1:1")
    with pytest.raises(instructions.ValgrindMissingError, match="apt-get install -y valgrind"):
        instructions.main()
