"""A perpflow dashboard: rows of panels, the shared look, links to the others, stable JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from grafana_foundation_sdk.builders.dashboard import (
    AnnotationQuery,
    Dashboard,
    DashboardLink,
    QueryVariable,
    Row,
)
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard
from grafana_foundation_sdk.models.dashboard import DashboardCursorSync, DashboardLinkType

from perpflow.dashboards.panels import DATASOURCE

TAG = "perpflow"
# The fleet's daily loss limit counts from 00:00 UTC, so the dashboards show UTC too.
TIMEZONE = "utc"
# Marks on every time series where one of perpflow's alert rules was firing.
ALERTS = 'ALERTS{alertstate="firing", alertname=~"Perpflow.*"}'


@dataclass(frozen=True)
class Board:
    uid: str
    title: str
    description: str
    rows: Sequence[tuple[str, Sequence[Builder[dashboard.Panel]]]]
    variables: Sequence[QueryVariable] = field(default_factory=tuple)

    def build(self) -> dashboard.Dashboard:
        builder = (
            Dashboard(f"perpflow / {self.title}")
            .uid(self.uid)
            .description(self.description)
            .tags([TAG])
            .timezone(TIMEZONE)
            .time("now-6h", "now")
            .refresh("30s")
            .tooltip(DashboardCursorSync.CROSSHAIR)
            .readonly()
            .annotation(
                AnnotationQuery()
                .name("perpflow alerts")
                .datasource(DATASOURCE)
                .enable(True)
                .icon_color("red")
                .expr(ALERTS)
            )
            .link(
                DashboardLink("perpflow")
                .type(DashboardLinkType.DASHBOARDS)
                .tags([TAG])
                .as_dropdown(True)
                .include_vars(False)
                .keep_time(True)
            )
        )
        for variable in self.variables:
            builder = builder.with_variable(variable)
        for title, panels in self.rows:
            builder = builder.with_row(Row(title))
            for panel in panels:
                builder = builder.with_panel(panel)
        model = builder.build()
        for number, built in enumerate(model.panels or [], 1):
            built.id_val = number
        return model

    def to_json(self) -> str:
        """The dashboard as Grafana's provisioning reads it: sorted keys, one trailing newline."""
        return JSONEncoder(sort_keys=True, indent=2).encode(self.build()) + "\n"

    def as_dict(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.to_json())
        return loaded
