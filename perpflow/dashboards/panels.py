"""Panel shapes the perpflow dashboards are made of, over grafana-foundation-sdk's builders.

Every query goes to the provisioned Prometheus datasource (uid ``prometheus``, written by
config/grafana/provisioning/datasources). tests/unit/test_dashboards.py checks every query of the
generated JSON against the metrics catalogue (``perpflow.dashboards.promql``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from grafana_foundation_sdk.builders import heatmap, stat, table, timeseries
from grafana_foundation_sdk.builders.common import (
    ReduceDataOptions,
    StackingConfig,
    VizLegendOptions,
    VizTooltipOptions,
)
from grafana_foundation_sdk.builders.dashboard import QueryVariable, ThresholdsConfig
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    DataTransformerConfig,
    Threshold,
    ThresholdsMode,
    VariableOption,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

DATASOURCE = DataSourceRef(type_val="prometheus", uid="prometheus")
_REF_IDS = "ABCDEFGHIJ"
# A dashboard row is 24 units wide.
FULL, HALF, THIRD, QUARTER = 24, 12, 8, 6


@dataclass(frozen=True)
class Q:
    """One query of a panel: PromQL and its legend (``{{label}}`` as Grafana writes it)."""

    expr: str
    legend: str = ""


def _target(query: Q, ref_id: str, *, instant: bool = False, fmt: PromQueryFormat | None = None) -> Dataquery:
    target = Dataquery().expr(query.expr).ref_id(ref_id).datasource(DATASOURCE)
    if query.legend:
        target = target.legend_format(query.legend)
    if instant:
        target = target.instant()
    return target.format(fmt) if fmt is not None else target


def _thresholds(steps: Sequence[tuple[float | None, str]]) -> ThresholdsConfig:
    return (
        ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=value, color=color) for value, color in steps])
    )


# Green below the first bound, then each colour from its bound up.
OK = ((None, "green"),)
BAD_ABOVE_ZERO = ((None, "green"), (1, "red"))


def graph(
    title: str,
    queries: Sequence[Q],
    *,
    unit: str = "short",
    width: int = HALF,
    description: str = "",
    stacked: bool = False,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(width)
        .height(8)
        .legend(VizLegendOptions().show_legend(True).display_mode(common.LegendDisplayMode.LIST))
        .tooltip(VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI))
        .fill_opacity(10)
        .targets([_target(q, _REF_IDS[i]) for i, q in enumerate(queries)])
    )
    if stacked:
        panel = panel.stacking(StackingConfig().mode(common.StackingMode.NORMAL))
    return panel.description(description) if description else panel


def number(
    title: str,
    query: Q,
    *,
    unit: str = "short",
    steps: Sequence[tuple[float | None, str]] = OK,
    width: int = 3,
    description: str = "",
) -> stat.Panel:
    """The current value of one query (one big number per series)."""
    panel = (
        stat.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(width)
        .height(4)
        .thresholds(_thresholds(steps))
        .graph_mode(common.BigValueGraphMode.NONE)
        .color_mode(common.BigValueColorMode.VALUE)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .with_target(_target(query, "A", instant=True))
    )
    return panel.description(description) if description else panel


# Columns of an instant query's table that say nothing (the labels are the content).
_NOISE = {"Time": True, "Value": True, "__name__": True, "job": True}


def listing(title: str, query: Q, *, width: int = FULL, description: str = "") -> table.Panel:
    """The series of an instant query as table rows, one column per label."""
    panel = (
        table.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .span(width)
        .height(8)
        .show_header(True)
        .with_target(_target(query, "A", instant=True, fmt=PromQueryFormat.TABLE))
        .with_transformation(DataTransformerConfig(id_val="organize", options={"excludeByName": _NOISE}))
    )
    return panel.description(description) if description else panel


def distribution(title: str, query: Q, *, unit: str = "s", width: int = HALF) -> heatmap.Panel:
    """A Prometheus histogram's buckets over time (query: increase of ``_bucket`` summed by le)."""
    return (
        heatmap.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .span(width)
        .height(8)
        .calculate(False)
        .y_axis(heatmap.YAxisConfig().unit(unit))
        .cell_values(heatmap.CellValues().unit("short"))
        .show_legend()
        .show_tooltip()
        .with_target(_target(query, "A", fmt=PromQueryFormat.HEATMAP))
    )


def choice(name: str, label: str, metric: str) -> QueryVariable:
    """A dashboard variable over the values of ``label`` in ``metric``, "All" by default."""
    return (
        QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(f"label_values({metric}, {label})")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(VariableOption(selected=True, text="All", value="$__all"))
    )


# -- PromQL pieces ------------------------------------------------------------------------------


def over(fn: str, series: str, where: str = "", window: str = "$__rate_interval") -> str:
    """``fn(series{where}[window])``: rate, increase, delta... over Grafana's rate interval."""
    return f"{fn}({series}{{{where}}}[{window}])" if where else f"{fn}({series}[{window}])"


def agg(by: str, inner: str, op: str = "sum") -> str:
    """``op by (by) (inner)``."""
    return f"{op} by ({by}) ({inner})"


def quantile(q: float, by: str, bucket: str, where: str = "") -> str:
    """The ``q`` quantile of a histogram's ``_bucket`` series per ``by``."""
    return f"histogram_quantile({q}, {agg(f'{by}, le', over('rate', bucket, where))})"


def percentile(q: float) -> str:
    return f"p{round(q * 100)}"
