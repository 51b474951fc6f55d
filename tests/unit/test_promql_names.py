"""Every PromQL expression of the alert rules and the dashboards names metrics the catalogue
(perpflow/metrics/names.py, with the Temporal SDK's) says a process serves, with their labels, and
label values the code can produce: a renamed metric or state fails here, not as an empty panel or
an alert that can never fire."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from enum import Enum
from functools import cache
from pathlib import Path

import pytest
import yaml

from perpflow.dashboards.promql import known_series, metric_names, problems, recorded_labels, selectors
from perpflow.grid.models import GridState
from perpflow.hedge.models import CycleState
from perpflow.payouts.models import PayoutState
from perpflow.reconcile.models import OrphanKind, RunClose
from perpflow.venues.feed import StreamState

ROOT = Path(__file__).parents[2]
RULES = ROOT / "config" / "prometheus" / "rules"
DASHBOARDS = ROOT / "config" / "grafana" / "dashboards"
_LABEL_VALUES = re.compile(r"label_values\((\w+),\s*(\w+)\)")
_WORDS = re.compile(r"\w+(\|\w+)*")

# Labels whose values come from enums of the code: a matcher must name one of their values. A job's
# row whose run ended without its final state counts under its close status (RunClose).
VALUES: dict[tuple[str, str], tuple[type[Enum], ...]] = {
    ("perpflow_payouts", "state"): (PayoutState,),
    ("perpflow_payouts_oldest_age_seconds", "state"): (PayoutState,),
    ("perpflow_hedge_cycles", "state"): (CycleState, RunClose),
    ("perpflow_grid_sessions", "state"): (GridState, RunClose),
    ("perpflow_md_stream_state", "state"): (StreamState,),
    ("perpflow_reconcile_orphans", "kind"): (OrphanKind,),
}


def _rules() -> Iterator[dict[str, str]]:
    for path in sorted(RULES.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            yield from group["rules"]


@cache
def _known() -> dict[str, frozenset[str]]:
    known = known_series()
    recorded = [(r["record"], r["expr"]) for r in _rules() if "record" in r]
    return known | recorded_labels(recorded, known)


def _dashboard_queries() -> list[tuple[str, str]]:
    out = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text())
        panels = [p for p in board["panels"] if p["type"] != "row"]
        out += [(f"{path.stem}: {p['title']}", t["expr"]) for p in panels for t in p["targets"]]
        out += [(f"{path.stem}: annotation", a["expr"]) for a in board["annotations"]["list"]]
    return out


def _rule_queries() -> list[tuple[str, str]]:
    return [(r.get("alert") or r["record"], r["expr"]) for r in _rules()]


QUERIES = [pytest.param(where, expr, id=where) for where, expr in _rule_queries() + _dashboard_queries()]


def _unknown_values(expr: str) -> list[str]:
    out = []
    for sel in selectors(expr):
        for label, value in sel.matchers:
            kinds = VALUES.get((sel.metric, label))
            if kinds is None or not _WORDS.fullmatch(value):
                continue  # not an enum's label, or a real regex
            unknown = set(value.split("|")) - {str(member.value) for kind in kinds for member in kind}
            out += [f"{sel.metric}{{{label}={v}}}" for v in sorted(unknown)]
    return out


@pytest.mark.parametrize(("where", "expr"), QUERIES)
def test_expression_names_only_catalogue_metrics_and_labels(where: str, expr: str) -> None:
    assert problems(expr, _known()) == [], f"{where}: {expr}"


@pytest.mark.parametrize(("where", "expr"), QUERIES)
def test_expression_matches_label_values_the_code_produces(where: str, expr: str) -> None:
    assert _unknown_values(expr) == [], f"{where}: {expr}"


def test_dashboard_variables_list_labels_of_catalogue_metrics() -> None:
    for path in sorted(DASHBOARDS.glob("*.json")):
        for variable in json.loads(path.read_text())["templating"].get("list", []):
            metric, label = _LABEL_VALUES.fullmatch(variable["query"]).groups()  # type: ignore[union-attr]
            assert label in _known().get(metric, frozenset()), f"{path.stem} ${variable['name']}"


# -- the checker itself ------------------------------------------------------------------------


def test_names_are_told_from_functions_keywords_labels_strings_and_durations() -> None:
    expr = (
        'sum by (venue) (rate(perpflow_orders_placed_total{venue=~"$venue", tif="ioc"}[5m])) '
        "and on (venue) up offset 1h unless histogram_quantile(0.9, x_bucket) > 1e-9"
    )
    assert metric_names(expr) == {"perpflow_orders_placed_total", "up", "x_bucket"}


def test_the_checker_finds_unknown_metrics_labels_and_joins_on_a_missing_label() -> None:
    known = _known()
    assert problems("perpflow_orders_placed", known) == ["unknown metric perpflow_orders_placed"]
    assert problems('perpflow_orders_placed_total{market="ETH"}', known) == [
        "perpflow_orders_placed_total has no label market"
    ]
    assert problems("sum by (market) (perpflow_md_pending_signals)", known) == [
        "no metric of the expression has label market"
    ]
    join = "perpflow_account_position * on (venue, market) group_left () perpflow_account_collateral_usd"
    assert problems(join, known) == ["not every metric of the expression has label market it is matched on"]
    assert (
        problems(
            "histogram_quantile(0.5, sum by (le) (rate(perpflow_hedge_latency_seconds_bucket[1m])))", known
        )
        == []
    )


def test_the_checker_finds_a_state_the_code_never_writes() -> None:
    expr = 'perpflow_payouts{state=~"SENDING|STUCK"} + perpflow_md_stream_state{state!~"conn.*"}'
    assert _unknown_values(expr) == ["perpflow_payouts{state=STUCK}"]
