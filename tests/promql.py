"""Which metric names and label names a PromQL expression reads.

Enough of PromQL's grammar to tell a metric name from a function, an aggregation or a keyword,
and a label name in a selector or a ``by``/``without``/``on``/``ignoring``/``group_left``/
``group_right`` list from a label value: the tests of ``deploy/`` check these names against what
``/metrics`` really exports. Whether an expression is valid PromQL is promtool's to say.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

TOKEN = re.compile(
    r"""
      (?P<space>\s+)
    | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
    | (?P<range>\[[^\]]*\])
    | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)
    | (?P<punct>=~|!~|!=|==|<=|>=|[{}(),=<>+\-*/%^@])
    """,
    re.VERBOSE,
)
# Followed by a parenthesised list of label names.
LABEL_LIST_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
# Words that are never a metric name where they stand alone.
WORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan", "start", "end"})
# May take their grouping clause before the parenthesis: ``sum by (job) (x)``.
AGGREGATIONS = frozenset(
    {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values"}
    | {"bottomk", "topk", "quantile", "limitk", "limit_ratio"}
)
MATCH_OPERATORS = frozenset({"=", "!=", "=~", "!~"})


class PromQLSyntaxError(ValueError):
    """The expression has a character or a structure this reader does not know."""


@dataclass(frozen=True)
class Selector:
    """One vector selector: its metric name (None for ``{__name__=~"..."}``) and matchers."""

    metric: str | None
    matchers: tuple[tuple[str, str, str], ...] = ()

    @property
    def label_names(self) -> set[str]:
        return {name for name, _, _ in self.matchers if name != "__name__"}


@dataclass
class Names:
    """What one expression reads: its selectors and the labels it groups or matches on."""

    selectors: list[Selector] = field(default_factory=list)
    grouping_labels: set[str] = field(default_factory=set)

    @property
    def metrics(self) -> set[str]:
        return {selector.metric for selector in self.selectors if selector.metric}


def tokens(expression: str) -> list[tuple[str, str]]:
    """(kind, text) pairs, spaces dropped; ``PromQLSyntaxError`` on anything unknown."""
    found = []
    position = 0
    while position < len(expression):
        match = TOKEN.match(expression, position)
        if match is None:
            raise PromQLSyntaxError(f"unexpected {expression[position:]!r} in {expression!r}")
        if match.lastgroup != "space":
            found.append((match.lastgroup, match.group()))
        position = match.end()
    return found


def unquote(text: str) -> str:
    return text[1:-1]


def names(expression: str) -> Names:
    """The metric names and label names ``expression`` uses."""
    parts = tokens(expression)
    result = Names()
    index = 0

    def peek(offset: int = 0) -> tuple[str, str]:
        position = index + offset
        return parts[position] if position < len(parts) else ("end", "")

    def expect(text: str) -> None:
        nonlocal index
        if peek()[1] != text:
            raise PromQLSyntaxError(f"expected {text!r}, found {peek()[1]!r} in {expression!r}")
        index += 1

    def read_matchers() -> tuple[tuple[str, str, str], ...]:
        nonlocal index
        expect("{")
        matchers = []
        while peek()[1] != "}":
            kind, label = peek()
            operator, value = peek(1), peek(2)
            if kind != "name" or operator[1] not in MATCH_OPERATORS or value[0] != "string":
                raise PromQLSyntaxError(f"bad label matcher at {label!r} in {expression!r}")
            matchers.append((label, operator[1], unquote(value[1])))
            index += 3
            if peek()[1] == ",":
                index += 1
        expect("}")
        return tuple(matchers)

    def read_label_list() -> None:
        nonlocal index
        expect("(")
        while peek()[1] != ")":
            kind, label = peek()
            if kind != "name":
                raise PromQLSyntaxError(f"bad label name {label!r} in {expression!r}")
            result.grouping_labels.add(label)
            index += 1
            if peek()[1] == ",":
                index += 1
        expect(")")

    while index < len(parts):
        kind, text = peek()
        if kind == "name" and text in LABEL_LIST_KEYWORDS:
            index += 1
            if peek()[1] == "(":
                read_label_list()
        elif kind == "name" and (
            peek(1)[1] == "(" or (text in AGGREGATIONS and peek(1)[1] in ("by", "without"))
        ):
            index += 1  # a function or an aggregation: its arguments are read on
        elif kind == "name" and text.lower() in WORDS:
            index += 1
            if text.lower() == "offset":
                # A duration such as 1h30m reads as numbers and unit names: not metrics.
                while peek()[0] == "number" and peek(1)[0] == "name":
                    index += 2
        elif kind == "name":
            index += 1
            matchers = read_matchers() if peek()[1] == "{" else ()
            result.selectors.append(Selector(text, matchers))
        elif text == "{":
            matchers = read_matchers()
            metric = next((v for n, op, v in matchers if n == "__name__" and op == "="), None)
            result.selectors.append(Selector(metric, matchers))
        else:
            index += 1
    return result
