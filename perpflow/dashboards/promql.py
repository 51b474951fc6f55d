"""Which metrics and labels a PromQL expression names, checked against the metrics catalogue.

Not a PromQL parser: strings, label matchers, ranges and grouping clauses are cut out, and what
remains that looks like an identifier not followed by ``(`` (a function or an aggregation) and
not a keyword is a metric name. Enough for the expressions of perpflow's rules and dashboards,
where a renamed metric must fail a test rather than leave a panel empty or an alert silent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from perpflow.metrics.names import CATALOGUE, SDK_METRICS, Kind, Metric

# Series Prometheus makes itself: the scrape's health and the alerts' state.
PROMETHEUS_SERIES: Mapping[str, frozenset[str]] = {
    "up": frozenset(),
    "ALERTS": frozenset({"alertname", "alertstate", "severity", "area"}),
}
# Labels Prometheus adds to every scraped series.
TARGET_LABELS = frozenset({"job", "instance"})
KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left"}
    | {"group_right", "inf", "nan", "Inf", "NaN", "atan2"}
)

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_IDENT = re.compile(r"(?<![\w.:$])[A-Za-z_:][\w:]*(?![\w:])(?!\s*\()")
_SELECTOR = re.compile(r"([A-Za-z_:][\w:]*)?\s*\{([^}]*)\}")
_MATCHER = re.compile(r"(\w+)\s*(?:=~|!~|!=|=)\s*(\"(?:[^\"\\]|\\.)*\")")


@dataclass(frozen=True)
class Selector:
    metric: str  # "" for a selector of labels only
    matchers: tuple[tuple[str, str], ...]  # (label, value as written, unquoted)


def _strip(expr: str) -> str:
    return _RANGE.sub(" ", _MATCHERS.sub(" ", _STRING.sub('""', expr)))


def metric_names(expr: str) -> set[str]:
    """The metric names ``expr`` selects."""
    text = _GROUPING.sub(" ", _strip(expr))
    return {name for name in _IDENT.findall(text) if name not in KEYWORDS}


def grouping_labels(expr: str, clauses: frozenset[str] | None = None) -> set[str]:
    """The labels of ``expr``'s by / without / on / ignoring / group_left / group_right clauses
    (only of the ``clauses`` named, when given)."""
    found = _GROUPING.findall(_STRING.sub('""', expr))
    return {
        label.strip()
        for clause, labels in found
        if clauses is None or clause in clauses
        for label in labels.split(",")
        if label.strip()
    }


def selectors(expr: str) -> list[Selector]:
    """Every ``metric{label="value", ...}`` of ``expr`` (values with Grafana's variables as written)."""
    out = []
    for metric, body in _SELECTOR.findall(expr):
        pairs = tuple((label, value[1:-1]) for label, value in _MATCHER.findall(body))
        out.append(Selector(metric, pairs))
    return out


def series_of(metric: Metric) -> dict[str, frozenset[str]]:
    """The sample names ``metric`` is exposed as (prometheus-client's suffixes), with their labels."""
    labels = frozenset(metric.labels)
    if metric.kind is Kind.COUNTER:
        return {f"{metric.name}_total": labels, f"{metric.name}_created": labels}
    if metric.kind is Kind.HISTOGRAM:
        return {
            f"{metric.name}_bucket": labels | {"le"},
            f"{metric.name}_sum": labels,
            f"{metric.name}_count": labels,
            f"{metric.name}_created": labels,
        }
    return {metric.name: labels}


def known_series(recorded: Mapping[str, frozenset[str]] | None = None) -> dict[str, frozenset[str]]:
    """Every series a query may name, with its labels: the catalogue's, the Temporal SDK's,
    Prometheus's own, and ``recorded`` (the recording rules' names)."""
    known: dict[str, frozenset[str]] = dict(PROMETHEUS_SERIES)
    for metric in (*CATALOGUE, *SDK_METRICS):
        known |= series_of(metric)
    return known | dict(recorded or {})


def problems(expr: str, known: Mapping[str, frozenset[str]]) -> list[str]:
    """What in ``expr`` is not in ``known``: metric names, matcher labels, grouping labels."""
    names = metric_names(expr)
    out = [f"unknown metric {name}" for name in sorted(names - set(known))]
    for sel in selectors(expr):
        allowed = known.get(sel.metric)
        if not sel.metric or allowed is None or sel.metric == "ALERTS":
            continue
        out += [
            f"{sel.metric} has no label {label}"
            for label, _ in sel.matchers
            if label not in allowed | TARGET_LABELS | {"__name__"}
        ]
    labels_of = [known[name] | TARGET_LABELS for name in names if name in known and name != "ALERTS"]
    in_scope = TARGET_LABELS.union(*labels_of)
    out += [
        f"no metric of the expression has label {label}" for label in sorted(grouping_labels(expr) - in_scope)
    ]
    # Vectors matched on a label both carry it: a join on a label one side lacks matches nothing.
    everywhere = in_scope.intersection(*labels_of)
    out += [
        f"not every metric of the expression has label {label} it is matched on"
        for label in sorted(grouping_labels(expr, frozenset({"on"})) - everywhere)
    ]
    return out


def recorded_labels(
    rules: Iterable[tuple[str, str]], known: Mapping[str, frozenset[str]]
) -> dict[str, frozenset[str]]:
    """Labels of recorded series (``(record, expr)`` in evaluation order): every label of the
    series their expression names (a superset of what the aggregation keeps)."""
    out: dict[str, frozenset[str]] = {}
    for record, expr in rules:
        scope = {**known, **out}
        out[record] = frozenset().union(*(scope.get(name, frozenset()) for name in metric_names(expr)))
    return out
