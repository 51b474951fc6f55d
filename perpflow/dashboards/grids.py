"""Grids: sessions by state, their profit and position (ledger) beside the venue's accounts."""

from __future__ import annotations

from perpflow.dashboards.board import Board
from perpflow.dashboards.panels import BAD_ABOVE_ZERO, FULL, HALF, Q, agg, choice, graph, number, over
from perpflow.grid.models import GridState

LIVE_GRIDS = "|".join(s.value for s in GridState if not s.final)
LIVE_SESSIONS = f'perpflow_grid_sessions{{state=~"{LIVE_GRIDS}"}}'
ACCOUNT = 'venue=~"$venue", account=~"$account"'
MARKETS = "venue, account, market"
# Keeps the series of accounts that have grid sessions (``and on`` this).
GRID_ACCOUNTS = (
    f"and on (venue, account) {agg('venue, account', f'perpflow_grid_position{{{ACCOUNT}}}', 'max')}"
)


def of_grid_accounts(expr: str) -> str:
    return f"{expr} {GRID_ACCOUNTS}"


SESSIONS = [
    number("Live sessions", Q(f"sum({agg('state', LIVE_SESSIONS, 'max')})"), width=4),
    number(
        "Failed sessions", Q('max(perpflow_grid_sessions{state="FAILED"})'), steps=BAD_ABOVE_ZERO, width=4
    ),
    graph(
        "Grid sessions by state",
        [Q(agg("state", LIVE_SESSIONS, "max"), "{{state}}")],
        width=16,
        stacked=True,
    ),
]

PROFIT = [
    graph(
        "Realised grid profit (net of fees and funding)",
        [Q(agg(MARKETS, f"perpflow_grid_realised_pnl_usd{{{ACCOUNT}}}", "max"), "{{account}} {{market}}")],
        unit="currencyUSD",
        width=HALF,
    ),
    graph(
        "Unrealised PnL of grid accounts (venue)",
        [
            Q(
                of_grid_accounts(agg(MARKETS, f"perpflow_account_unrealised_pnl_usd{{{ACCOUNT}}}", "max")),
                "{{account}} {{market}}",
            )
        ],
        unit="currencyUSD",
        width=HALF,
    ),
    graph(
        "Position: grid sessions (ledger) and account (venue)",
        [
            Q(agg(MARKETS, f"perpflow_grid_position{{{ACCOUNT}}}", "max"), "{{account}} {{market}} grid"),
            Q(
                of_grid_accounts(agg(MARKETS, f"perpflow_account_position{{{ACCOUNT}}}", "max")),
                "{{account}} {{market}} venue",
            ),
        ],
        width=FULL,
        description="They differ by what else the account holds: a position kept at a stop, another job.",
    ),
]

ORDERS = [
    graph(
        "Orders placed by time in force",
        [
            Q(
                of_grid_accounts(
                    agg("venue, account, tif", over("rate", "perpflow_orders_placed_total", ACCOUNT))
                ),
                "{{account}} {{tif}}",
            )
        ],
        unit="ops",
        width=HALF,
    ),
    graph(
        "Orders rejected by reason",
        [
            Q(
                of_grid_accounts(
                    agg("venue, account, reason", over("increase", "perpflow_orders_rejected_total", ACCOUNT))
                ),
                "{{account}} {{reason}}",
            )
        ],
        width=HALF,
    ),
]

GRIDS = Board(
    uid="perpflow-grids",
    title="Grids",
    description="Grid sessions: their states, profit and positions (ledger) beside the venue's accounts.",
    variables=[
        choice("venue", "venue", "perpflow_grid_position"),
        choice("account", "account", "perpflow_grid_position"),
    ],
    rows=[("Sessions", SESSIONS), ("Profit and position", PROFIT), ("Orders of grid accounts", ORDERS)],
)
