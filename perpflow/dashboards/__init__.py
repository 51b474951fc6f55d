"""Grafana dashboards as code: built with grafana-foundation-sdk, written as JSON for provisioning.

``python -m perpflow.dashboards`` writes config/grafana/dashboards/<uid>.json (Grafana's dashboard
provider, config/grafana/provisioning/dashboards, loads that folder); ``--check`` exits non-zero
when the committed files differ from what the code builds. Edit the code, never the JSON.
"""

from __future__ import annotations

from perpflow.dashboards.board import Board
from perpflow.dashboards.grids import GRIDS
from perpflow.dashboards.hedge import HEDGE
from perpflow.dashboards.overview import OVERVIEW
from perpflow.dashboards.payouts import PAYOUTS
from perpflow.dashboards.venues import VENUES

BOARDS: tuple[Board, ...] = (OVERVIEW, HEDGE, GRIDS, PAYOUTS, VENUES)

__all__ = ["BOARDS", "Board"]
