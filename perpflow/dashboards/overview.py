"""Fleet overview: alerts, naked pairs, exposure, PnL, jobs and processes at a glance.

Gauges that more than one replica may serve (the ledger's, read by every orchestrator; an account
held by two signers) are deduplicated with ``max by`` before they are summed.
"""

from __future__ import annotations

from perpflow.dashboards.board import Board
from perpflow.dashboards.panels import BAD_ABOVE_ZERO, HALF, THIRD, Q, agg, graph, listing, number
from perpflow.hedge.models import CycleState
from perpflow.payouts.models import PayoutState
from perpflow.reconcile.models import RunClose

LIVE_CYCLES = "|".join(s.value for s in CycleState if not s.final)
# A cycle ends in a final state of its own, or, when its run ended without writing one (terminated,
# timed out), in the close status the reconciler gives its row (FAILED is both).
ENDED_CYCLES = "|".join(
    dict.fromkeys([*(s.value for s in CycleState if s.final), *(s.value for s in RunClose)])
)
OPEN_PAYOUTS = "|".join(s.value for s in PayoutState if not s.final)
USD = "currencyUSD"


def per_account(metric: str) -> str:
    """``metric`` per venue account (its markets summed), one value per account however many serve it."""
    return agg("venue, account", agg("venue, account, market", metric, "max"))


def total(metric: str, by: str) -> str:
    return f"sum({agg(by, metric, 'max')})"


NOW = [
    number(
        "Firing alerts",
        Q('count(ALERTS{alertstate="firing", alertname=~"Perpflow.*"}) or vector(0)'),
        steps=BAD_ABOVE_ZERO,
    ),
    number("Targets down", Q("count(up == 0) or vector(0)"), steps=BAD_ABOVE_ZERO),
    number(
        "Naked pairs",
        Q("count(abs(fleet_pair_market:perpflow_naked_position:sum) > 1e-9) or vector(0)"),
        steps=BAD_ABOVE_ZERO,
        description="Pairs with a live hedge cycle whose maker and taker positions do not net out.",
    ),
    number(
        "Orphans",
        Q(f"{total('perpflow_reconcile_orphans', 'venue, account, kind')} or vector(0)"),
        steps=BAD_ABOVE_ZERO,
    ),
    number("Open exposure", Q(total("perpflow_account_exposure_usd", "venue, account, market")), unit=USD),
    number(
        "Unrealised PnL", Q(total("perpflow_account_unrealised_pnl_usd", "venue, account, market")), unit=USD
    ),
    number(
        "Realised today",
        Q(total("perpflow_fleet_realised_pnl_today_usd", "fleet")),
        unit=USD,
        description="Hedge cycles ended since 00:00 UTC, net of fees.",
    ),
    number("Payouts open", Q(total(f'perpflow_payouts{{state=~"{OPEN_PAYOUTS}"}}', "state"))),
]

FLEETS = [
    graph(
        "Realised PnL today by fleet",
        [
            Q(agg("fleet", "perpflow_fleet_realised_pnl_today_usd", "max"), "{{fleet}}"),
            Q(f"-{agg('fleet', 'perpflow_fleet_daily_loss_limit_usd', 'max')}", "{{fleet}} loss limit"),
        ],
        unit=USD,
        width=THIRD,
    ),
    graph(
        "Live hedge cycles by state",
        [
            Q(
                agg("state", agg("fleet, state", f'perpflow_hedge_cycles{{state=~"{LIVE_CYCLES}"}}', "max")),
                "{{state}}",
            )
        ],
        width=THIRD,
        stacked=True,
    ),
    graph(
        "Hedge cycles ended per hour by state",
        [
            Q(
                agg(
                    "state",
                    agg(
                        "fleet, state", f'delta(perpflow_hedge_cycles{{state=~"{ENDED_CYCLES}"}}[1h])', "max"
                    ),
                ),
                "{{state}}",
            )
        ],
        width=THIRD,
    ),
]

ACCOUNTS = [
    graph(
        "Naked position by pair",
        [Q("fleet_pair_market:perpflow_naked_position:sum", "{{fleet}} {{pair}} {{market}}")],
        width=THIRD,
        description="Maker plus taker position of each pair with a live cycle (0 when hedged).",
    ),
    graph(
        "Open exposure by account",
        [Q(per_account("perpflow_account_exposure_usd"), "{{venue}} {{account}}")],
        unit=USD,
        width=THIRD,
        stacked=True,
    ),
    graph(
        "Unrealised PnL by account",
        [Q(per_account("perpflow_account_unrealised_pnl_usd"), "{{venue}} {{account}}")],
        unit=USD,
        width=THIRD,
    ),
    graph(
        "Realised PnL by fleet",
        [Q(agg("fleet", "perpflow_fleet_realised_pnl_usd", "max"), "{{fleet}}")],
        unit=USD,
        width=HALF,
    ),
    graph(
        "Collateral by account",
        [Q(agg("venue, account", "perpflow_account_collateral_usd", "max"), "{{venue}} {{account}}")],
        unit=USD,
        width=HALF,
    ),
]

OVERVIEW = Board(
    uid="perpflow-overview",
    title="Fleet overview",
    description="What perpflow holds and whether it is healthy: alerts, exposure, PnL, jobs, processes.",
    rows=[
        ("Now", NOW),
        (
            "Alerts",
            [
                listing(
                    "Firing and pending alerts",
                    Q('ALERTS{alertname=~"Perpflow.*"}'),
                    description="The rules of config/prometheus/rules (docs/alerting-rules.md).",
                )
            ],
        ),
        ("Fleets", FLEETS),
        ("Accounts", ACCOUNTS),
        (
            "Processes",
            [
                graph("Scrape targets up", [Q("up", "{{job}} {{instance}}")], width=HALF),
                listing("Versions", Q("perpflow_build_info"), width=HALF),
            ],
        ),
    ],
)
