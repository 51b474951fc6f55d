"""Venues & streams: the market-data worker's streams and signals, the signers' account reads."""

from __future__ import annotations

from perpflow.dashboards.board import Board
from perpflow.dashboards.panels import (
    BAD_ABOVE_ZERO,
    HALF,
    QUARTER,
    THIRD,
    Q,
    agg,
    choice,
    graph,
    number,
    over,
    quantile,
)

STREAM = 'stream=~"$stream"'
NOT_CONNECTED = agg("stream, state", 'perpflow_md_stream_state{state!="connected"}', "max")

STREAMS = [
    number(
        "Streams not connected",
        Q(f"count({NOT_CONNECTED} == 1) or vector(0)"),
        steps=BAD_ABOVE_ZERO,
        width=QUARTER,
    ),
    number(
        "Pending signals",
        Q("max(perpflow_md_pending_signals)"),
        steps=((None, "green"), (10, "orange")),
        width=QUARTER,
    ),
    graph(
        "Streams by state",
        [Q(agg("state", agg("stream, state", "perpflow_md_stream_state", "max")), "{{state}}")],
        width=HALF,
        stacked=True,
    ),
    graph(
        "Silence by stream",
        [Q(agg("stream", f"perpflow_md_stream_staleness_seconds{{{STREAM}}}", "min"), "{{stream}}")],
        unit="s",
        width=THIRD,
        description="Seconds since the stream's last message (PerpflowStreamStale above 60).",
    ),
    graph(
        "Messages by stream",
        [Q(agg("stream", over("rate", "perpflow_md_messages_total", STREAM)), "{{stream}}")],
        unit="ops",
        width=THIRD,
    ),
    graph(
        "Reconnects by stream",
        [Q(agg("stream", over("increase", "perpflow_md_reconnects_total", STREAM)), "{{stream}}")],
        width=THIRD,
    ),
]

SIGNALS = [
    graph(
        "Book updates by market",
        [Q(agg("market", over("rate", "perpflow_md_book_updates_total")), "{{market}}")],
        unit="ops",
        width=QUARTER,
    ),
    graph(
        "Book gaps (re-snapshots)",
        [Q(agg("market", over("increase", "perpflow_md_book_gaps_total")), "{{market}}")],
        width=QUARTER,
    ),
    graph(
        "Signals by kind",
        [
            Q(agg("kind", over("rate", "perpflow_md_signals_total")), "{{kind}}"),
            Q(agg("kind", over("rate", "perpflow_md_signal_retries_total")), "{{kind}} retried"),
        ],
        unit="ops",
        width=QUARTER,
    ),
    graph(
        "Signal latency p95",
        [Q(quantile(0.95, "kind", "perpflow_md_signal_latency_seconds_bucket"), "{{kind}}")],
        unit="s",
        width=QUARTER,
        description="From the message that carried the fact to Temporal accepting the signal.",
    ),
]

ACCOUNTS = [
    graph(
        "Account read age",
        [
            Q(
                f"time() - {agg('venue, account', 'perpflow_account_read_timestamp_seconds', 'max')}",
                "{{venue}} {{account}}",
            )
        ],
        unit="s",
        width=THIRD,
        description="Since the signer last read the account from its venue (an alert above 120 s).",
    ),
    graph(
        "Account read failures",
        [
            Q(
                agg("venue, account", over("increase", "perpflow_account_read_failures_total")),
                "{{venue}} {{account}}",
            )
        ],
        width=THIRD,
    ),
    graph(
        "Read failures at scrape time; Temporal request failures",
        [
            Q(
                agg("job, source", over("increase", "perpflow_metrics_read_failures_total")),
                "{{job}} {{source}}",
            ),
            Q(agg("operation", over("increase", "temporal_request_failure_total")), "Temporal {{operation}}"),
        ],
        width=THIRD,
        description="Ledger, venue and chain reads made while Prometheus scrapes; requests to Temporal.",
    ),
]

VENUES = Board(
    uid="perpflow-venues",
    title="Venues & streams",
    description="The market-data worker's streams and signals, and the signers' reads of the venue accounts.",
    variables=[choice("stream", "stream", "perpflow_md_stream_staleness_seconds")],
    rows=[("Streams", STREAMS), ("Books and signals", SIGNALS), ("Venue accounts", ACCOUNTS)],
)
