"""Hedge latency: from a maker fill to the venue accepting its hedge, and what it waits on."""

from __future__ import annotations

from perpflow.dashboards.board import Board
from perpflow.dashboards.panels import (
    HALF,
    THIRD,
    Q,
    agg,
    choice,
    distribution,
    graph,
    over,
    percentile,
    quantile,
)

ACCOUNT = 'venue=~"$venue", account=~"$account"'
SIGNER_QUEUES = 'task_queue=~"perpflow-signer-.+"'
LATENCY = "perpflow_hedge_latency_seconds"

HEDGES = [
    graph(
        "Hedge latency quantiles",
        [
            Q(quantile(q, "venue", f"{LATENCY}_bucket", ACCOUNT), f"{{{{venue}}}} {percentile(q)}")
            for q in (0.5, 0.95, 0.99)
        ],
        unit="s",
        width=THIRD,
        description="Maker fill (venue time) to the venue accepting the hedge order.",
    ),
    distribution(
        "Hedge latency distribution",
        Q(agg("le", over("increase", f"{LATENCY}_bucket", ACCOUNT))),
        width=THIRD,
    ),
    graph(
        "Hedges per second by account",
        [Q(agg("venue, account", over("rate", f"{LATENCY}_count", ACCOUNT)), "{{venue}} {{account}}")],
        unit="ops",
        width=THIRD,
    ),
]

ORDERS = [
    graph(
        "Orders placed by time in force",
        [
            Q(
                agg("venue, account, tif", over("rate", "perpflow_orders_placed_total", ACCOUNT)),
                "{{venue}} {{account}} {{tif}}",
            )
        ],
        unit="ops",
        width=THIRD,
    ),
    graph(
        "Orders rejected by reason",
        [Q(agg("reason", over("increase", "perpflow_orders_rejected_total", ACCOUNT)), "{{reason}}")],
        width=THIRD,
        description="Refused for good (not retried): risk denial, margin, invalid order, auth.",
    ),
    graph(
        "Order attempts retried by reason",
        [Q(agg("reason", over("increase", "perpflow_orders_retried_total", ACCOUNT)), "{{reason}}")],
        width=THIRD,
        description="Invalid nonce, rate limit, transport, pending: Temporal retries them.",
    ),
]

QUEUES = [
    graph(
        "Activity schedule-to-start p95",
        [
            Q(
                quantile(
                    0.95,
                    "task_queue",
                    "temporal_activity_schedule_to_start_latency_seconds_bucket",
                    SIGNER_QUEUES,
                ),
                "{{task_queue}}",
            )
        ],
        unit="s",
        width=THIRD,
        description="How long orders wait for their signer: each key's queue has one slot.",
    ),
    graph(
        "Activity execution p95",
        [
            Q(
                quantile(
                    0.95, "activity_type", "temporal_activity_execution_latency_seconds_bucket", SIGNER_QUEUES
                ),
                "{{activity_type}}",
            )
        ],
        unit="s",
        width=THIRD,
    ),
    graph(
        "Pollers by signer queue",
        [
            Q(
                agg(
                    "task_queue",
                    f'temporal_num_pollers{{{SIGNER_QUEUES}, poller_type="activity_task"}}',
                    "max",
                ),
                "{{task_queue}}",
            )
        ],
        width=THIRD,
    ),
    graph(
        "Activity failures by type",
        [
            Q(
                agg("activity_type", over("rate", "temporal_activity_execution_failed_total", SIGNER_QUEUES)),
                "{{activity_type}}",
            )
        ],
        unit="ops",
        width=HALF,
    ),
    graph(
        "Free activity slots by signer queue",
        [
            Q(
                agg("task_queue", f"temporal_worker_task_slots_available{{{SIGNER_QUEUES}}}", "max"),
                "{{task_queue}}",
            )
        ],
        width=HALF,
    ),
]

HEDGE = Board(
    uid="perpflow-hedge",
    title="Hedge latency",
    description="From a maker fill to the venue accepting its hedge; the orders and signer queues behind it.",
    variables=[
        choice("venue", "venue", f"{LATENCY}_bucket"),
        choice("account", "account", f"{LATENCY}_bucket"),
    ],
    rows=[("Hedges", HEDGES), ("Orders", ORDERS), ("Signer queues", QUEUES)],
)
