"""Payouts: the ledger's payout states, the pool, the hot wallet's nonce lane and the chain."""

from __future__ import annotations

from perpflow.dashboards.board import Board
from perpflow.dashboards.panels import (
    BAD_ABOVE_ZERO,
    HALF,
    THIRD,
    Q,
    agg,
    choice,
    graph,
    number,
    over,
    percentile,
    quantile,
)
from perpflow.payouts.models import PayoutState

OPEN = "|".join(s.value for s in PayoutState if not s.final)
CHAIN = 'chain_id=~"$chain_id"'
OPEN_PAYOUTS = f'perpflow_payouts{{state=~"{OPEN}"}}'
# The marks of config/prometheus/rules/thresholds.yml, as colours.
POOL_STEPS = ((None, "red"), (0.1, "orange"), (1, "green"))
WALLET_STEPS = ((None, "red"), (0.05, "green"))

NOW = [
    number("Open", Q(f"sum({agg('state', OPEN_PAYOUTS, 'max')})"), width=4),
    number(
        "Awaiting approval",
        Q('max(perpflow_payouts{state="AWAITING_APPROVAL"})'),
        steps=((None, "green"), (1, "orange")),
        width=4,
    ),
    number("Failed (all time)", Q('max(perpflow_payouts{state="FAILED"})'), steps=BAD_ABOVE_ZERO, width=4),
    number("Pool", Q(f"max(perpflow_pool_balance_eth{{{CHAIN}}})"), unit="ETH", steps=POOL_STEPS, width=4),
    number(
        "Hot wallet",
        Q(f"max(perpflow_wallet_balance_eth{{{CHAIN}}})"),
        unit="ETH",
        steps=WALLET_STEPS,
        width=4,
    ),
    number(
        "Chain head age",
        Q(f"min(perpflow_chain_head_age_seconds{{{CHAIN}}})"),
        unit="s",
        steps=((None, "green"), (120, "red")),
        width=4,
    ),
]

PAYOUTS_ROW = [
    graph(
        "Open payouts by state",
        [Q(agg("state", OPEN_PAYOUTS, "max"), "{{state}}")],
        width=THIRD,
        stacked=True,
    ),
    graph(
        "Oldest payout by state",
        [Q(agg("state", "perpflow_payouts_oldest_age_seconds", "max"), "{{state}}")],
        unit="s",
        width=THIRD,
        description="Since the least recently changed payout in the state last changed.",
    ),
    graph(
        "Event to payout latency",
        [
            Q(
                quantile(q, "chain_id", "perpflow_payout_latency_seconds_bucket", CHAIN),
                f"{{{{chain_id}}}} {percentile(q)}",
            )
            for q in (0.5, 0.95)
        ],
        unit="s",
        width=THIRD,
        description="From the liquidation event's detection to the payout confirmed on chain.",
    ),
    graph(
        "Payouts ended per hour by state",
        [Q(agg("state", f'delta(perpflow_payouts{{state!~"{OPEN}"}}[1h])', "max"), "{{state}}")],
        width=HALF,
    ),
    graph(
        "Liquidation events per hour",
        [Q(agg("chain_id", over("increase", "perpflow_payout_events_total", CHAIN, "1h")), "{{chain_id}}")],
        width=HALF,
    ),
]

POOL_AND_WALLET = [
    graph(
        "Pool balance",
        [
            Q(agg("chain_id, contract", f"perpflow_pool_balance_eth{{{CHAIN}}}", "max"), "{{contract}}"),
            Q("perpflow:pool_low_threshold_eth", "low"),
            Q("perpflow:pool_empty_threshold_eth", "nearly empty"),
        ],
        unit="ETH",
        width=HALF,
    ),
    graph(
        "Hot wallet balance",
        [
            Q(agg("chain_id, wallet", f"perpflow_wallet_balance_eth{{{CHAIN}}}", "max"), "{{wallet}}"),
            Q("perpflow:wallet_low_threshold_eth", "low"),
        ],
        unit="ETH",
        width=HALF,
    ),
    graph(
        "Nonce lag",
        [Q(agg("chain_id, wallet", f"perpflow_wallet_nonce_lag{{{CHAIN}}}", "max"), "{{wallet}}")],
        width=THIRD,
        description="Nonces allocated by the wallet lane and not mined yet.",
    ),
    graph(
        "Broadcasts by kind",
        [Q(agg("kind", over("increase", "perpflow_wallet_broadcasts_total", CHAIN)), "{{kind}}")],
        width=THIRD,
        description="first, rebroadcast (the same signed transaction) or fee_bump (same nonce).",
    ),
    graph(
        "Chain head age and watcher lag",
        [
            Q(
                agg("chain_id", f"perpflow_chain_head_age_seconds{{{CHAIN}}}", "min"),
                "{{chain_id}} head age (s)",
            ),
            Q(
                agg("chain_id", f"perpflow_chain_watcher_lag_blocks{{{CHAIN}}}", "max"),
                "{{chain_id}} lag (blocks)",
            ),
        ],
        width=THIRD,
    ),
]

PAYOUTS = Board(
    uid="perpflow-payouts",
    title="Payouts",
    description="Liquidation payouts: the ledger's states, the pool, the hot wallet's lane and the chain.",
    variables=[choice("chain_id", "chain_id", "perpflow_pool_balance_eth")],
    rows=[("Now", NOW), ("Payouts", PAYOUTS_ROW), ("Pool and wallet", POOL_AND_WALLET)],
)
