"""The PromQL reader the deploy/ tests rely on: metric names apart from functions, keywords
and label values; label names from selectors and grouping clauses."""

from __future__ import annotations

import pytest

from tests.promql import PromQLSyntaxError, Selector, names


def test_metric_names_are_told_apart_from_functions_aggregations_and_keywords():
    found = names(
        "histogram_quantile(0.99, sum by (url_rule, le) (rate(requests_bucket[5m])))"
        " > on (job) group_left (version) build_info offset 1h30m"
        " and bool sum without (instance) (up)"
    )
    assert found.metrics == {"requests_bucket", "build_info", "up"}
    assert found.grouping_labels == {"url_rule", "le", "job", "version", "instance"}


def test_label_names_come_from_matchers_and_values_are_not_names():
    found = names(
        'sum(rate(x_total{job=~"$job", status=~"5..", note="sum(y) by (z)"}[$__rate_interval]))'
    )
    assert found.selectors == [
        Selector(
            "x_total",
            (("job", "=~", "$job"), ("status", "=~", "5.."), ("note", "=", "sum(y) by (z)")),
        )
    ]
    assert found.metrics == {"x_total"}
    assert found.grouping_labels == set()


def test_a_selector_by_name_matcher_reads_its_metric_from_the_matcher():
    found = names('{__name__="up", job="a"} == 0')
    assert found.selectors[0].metric == "up"
    assert found.selectors[0].label_names == {"job"}


def test_aggregation_clause_after_the_arguments_is_read_too():
    found = names("sum(rate(a_total[5m])) by (route) / ignoring (status) b")
    assert found.metrics == {"a_total", "b"}
    assert found.grouping_labels == {"route", "status"}


@pytest.mark.parametrize("expression", ["x{job=}", "x{job=~5}", "x # comment", 'x{job="a"'])
def test_malformed_expressions_are_reported(expression):
    with pytest.raises(PromQLSyntaxError):
        names(expression)
