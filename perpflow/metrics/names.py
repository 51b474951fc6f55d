"""The catalogue: every metric a perpflow process exposes, with its type, labels and help.

Alert rules, dashboards and the integration test are written against this module, so a metric is
renamed here or nowhere. Counters are exposed with ``_total`` appended (prometheus-client's
convention), histograms as ``_bucket`` / ``_sum`` / ``_count``: ``Metric.series`` names the sample
to query. Money is in USD (the venue's quote currency), chain amounts in the native token (ETH),
times in seconds. The ``account`` label is the venue's account index, as the ledger stores it.

The Temporal SDK's own metrics (``temporal_*``) are forwarded as the SDK names them, with durations
in seconds (``_seconds``) and counters ending in ``_total``: ``SDK_METRICS`` lists the ones the
alerts and dashboards use; every other SDK metric is exposed too.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


class Process(StrEnum):
    """Where a metric is served: the compose service (and dev stack process) of that name."""

    ORCHESTRATOR = "orchestrator"
    SIGNER = "signer"
    WALLET = "wallet"
    MARKET_DATA = "market-data"
    CHAIN_WATCHER = "chain-watcher"
    EVERY = "every"


@dataclass(frozen=True)
class Metric:
    name: str
    kind: Kind
    labels: tuple[str, ...]
    help: str
    process: Process

    @property
    def series(self) -> str:
        """The sample name to query: ``_total`` for counters, ``_count`` for histograms."""
        return {Kind.COUNTER: f"{self.name}_total", Kind.HISTOGRAM: f"{self.name}_count"}.get(
            self.kind, self.name
        )


def _m(name: str, kind: Kind, labels: tuple[str, ...], help: str, process: Process) -> Metric:
    return Metric(name, kind, labels, help, process)


C, G, H = Kind.COUNTER, Kind.GAUGE, Kind.HISTOGRAM
P = Process

# -- every process --------------------------------------------------------------------------------
BUILD_INFO = _m(
    "perpflow_build_info",
    G,
    ("process", "version"),
    "Always 1: this process and its perpflow version",
    P.EVERY,
)

REFRESH_FAILURES = _m(
    "perpflow_metrics_read_failures",
    C,
    ("source",),
    "Scrape-time reads (ledger, venue accounts, chain) that failed or timed out; the last values stay",
    P.EVERY,
)

# -- orchestrator: the ledger, read at scrape time (cached a few seconds) ---------------------------
HEDGE_CYCLES = _m(
    "perpflow_hedge_cycles", G, ("fleet", "state"), "Hedge cycles in the ledger by state", P.ORCHESTRATOR
)
HEDGE_PAIR_ACCOUNT = _m(
    "perpflow_hedge_pair_account",
    G,
    ("fleet", "pair", "venue", "account", "market", "role"),
    "1 for each account (role maker or taker) of a pair with an unfinished cycle in that market: "
    "joined with perpflow_account_position it gives the pair's naked exposure (docs/metrics.md)",
    P.ORCHESTRATOR,
)
GRID_SESSIONS = _m(
    "perpflow_grid_sessions", G, ("state",), "Grid sessions in the ledger by state", P.ORCHESTRATOR
)
PAYOUTS = _m("perpflow_payouts", G, ("state",), "Payouts in the ledger by state", P.ORCHESTRATOR)
PAYOUT_OLDEST_AGE = _m(
    "perpflow_payouts_oldest_age_seconds",
    G,
    ("state",),
    "Seconds since the least recently changed payout in this unfinished state last changed",
    P.ORCHESTRATOR,
)
FLEET_REALISED_PNL = _m(
    "perpflow_fleet_realised_pnl_usd",
    G,
    ("fleet",),
    "Realised PnL of the fleet's hedge cycles, net of fees (ledger)",
    P.ORCHESTRATOR,
)
FLEET_REALISED_PNL_TODAY = _m(
    "perpflow_fleet_realised_pnl_today_usd",
    G,
    ("fleet",),
    "Realised PnL of the fleet's hedge cycles ended since 00:00 UTC, net of fees (ledger)",
    P.ORCHESTRATOR,
)
# Set by the fleet workflow through workflow.metric_meter() (replay-safe), so it carries the SDK's
# namespace, task_queue and workflow_type labels too; absent for a fleet without a limit.
FLEET_DAILY_LOSS_LIMIT = _m(
    "perpflow_fleet_daily_loss_limit_usd",
    G,
    ("fleet",),
    "The fleet's daily loss limit (its input), set at each cycle result while it runs",
    P.ORCHESTRATOR,
)
GRID_REALISED_PNL = _m(
    "perpflow_grid_realised_pnl_usd",
    G,
    ("venue", "account", "market"),
    "Realised grid profit net of fees and funding, over the account's grid sessions (ledger)",
    P.ORCHESTRATOR,
)
GRID_POSITION = _m(
    "perpflow_grid_position",
    G,
    ("venue", "account", "market"),
    "Signed position the account's unfinished grid sessions hold (ledger)",
    P.ORCHESTRATOR,
)
RECONCILE_ORPHANS = _m(
    "perpflow_reconcile_orphans",
    G,
    ("venue", "account", "kind"),
    "Open orphans (orders or positions no live workflow owns) the reconciler has confirmed",
    P.ORCHESTRATOR,
)
PAYOUT_LATENCY = _m(
    "perpflow_payout_latency_seconds",
    H,
    ("chain_id",),
    "From the liquidation event's detection (its payout row) to the payout confirmed on chain",
    P.ORCHESTRATOR,
)

# -- signer: the order gateway, and each account as its venue reports it -------------------------
ORDERS_PLACED = _m(
    "perpflow_orders_placed",
    C,
    ("venue", "account", "tif"),
    "Orders this signer sent and the venue took (counted by the attempt that sent them)",
    P.SIGNER,
)
ORDERS_REJECTED = _m(
    "perpflow_orders_rejected",
    C,
    ("venue", "account", "reason"),
    "Orders refused for good (not retried): risk denial, margin, invalid order, auth, key reuse",
    P.SIGNER,
)
ORDERS_RETRIED = _m(
    "perpflow_orders_retried",
    C,
    ("venue", "account", "reason"),
    "Order attempts that failed in a way Temporal retries: invalid nonce, rate limit, transport, pending",
    P.SIGNER,
)
HEDGE_LATENCY = _m(
    "perpflow_hedge_latency_seconds",
    H,
    ("venue", "account"),
    "From the maker fill (venue time) to the venue accepting the hedge order",
    P.SIGNER,
)
ACCOUNT_POSITION = _m(
    "perpflow_account_position",
    G,
    ("venue", "account", "market"),
    "Signed position size on the venue (+ long, - short)",
    P.SIGNER,
)
ACCOUNT_EXPOSURE = _m(
    "perpflow_account_exposure_usd",
    G,
    ("venue", "account", "market"),
    "Open exposure: absolute position size times the mark price",
    P.SIGNER,
)
ACCOUNT_UNREALISED_PNL = _m(
    "perpflow_account_unrealised_pnl_usd",
    G,
    ("venue", "account", "market"),
    "Unrealised PnL of the open position, as the venue reports it",
    P.SIGNER,
)
ACCOUNT_REALISED_PNL = _m(
    "perpflow_account_realised_pnl_usd",
    G,
    ("venue", "account", "market"),
    "Realised PnL of the market on the account, as the venue reports it",
    P.SIGNER,
)
ACCOUNT_COLLATERAL = _m(
    "perpflow_account_collateral_usd",
    G,
    ("venue", "account"),
    "Collateral on the venue account",
    P.SIGNER,
)
ACCOUNT_READ_AT = _m(
    "perpflow_account_read_timestamp_seconds",
    G,
    ("venue", "account"),
    "Unix time of the last successful read of the account from the venue",
    P.SIGNER,
)
ACCOUNT_READ_FAILURES = _m(
    "perpflow_account_read_failures",
    C,
    ("venue", "account"),
    "Account reads from the venue that failed",
    P.SIGNER,
)

# -- wallet: the hot wallet's nonce lane ------------------------------------------------------------
WALLET_BALANCE = _m(
    "perpflow_wallet_balance_eth",
    G,
    ("chain_id", "wallet"),
    "The hot wallet's balance (native token)",
    P.WALLET,
)
POOL_BALANCE = _m(
    "perpflow_pool_balance_eth",
    G,
    ("chain_id", "contract"),
    "The payout pool: the LeverageGuard contract's balance (native token)",
    P.WALLET,
)
NONCE_LAG = _m(
    "perpflow_wallet_nonce_lag",
    G,
    ("chain_id", "wallet"),
    "Nonces the lane allocated that are not mined yet (ledger's next nonce minus the chain's)",
    P.WALLET,
)
WALLET_BROADCASTS = _m(
    "perpflow_wallet_broadcasts",
    C,
    ("chain_id", "wallet", "kind"),
    "Payout transactions broadcast: kind=first, rebroadcast (same signed tx) or fee_bump",
    P.WALLET,
)

# -- chain watcher ---------------------------------------------------------------------------------
CHAIN_HEAD_AGE = _m(
    "perpflow_chain_head_age_seconds",
    G,
    ("chain_id",),
    "Seconds since the timestamp of the node's head block",
    P.CHAIN_WATCHER,
)
CHAIN_HEAD = _m(
    "perpflow_chain_head_block", G, ("chain_id",), "The node's head block number", P.CHAIN_WATCHER
)
CHAIN_WATCHER_LAG = _m(
    "perpflow_chain_watcher_lag_blocks",
    G,
    ("chain_id",),
    "Blocks between the node's head and the watcher's cursor",
    P.CHAIN_WATCHER,
)
PAYOUT_EVENTS = _m(
    "perpflow_payout_events",
    C,
    ("chain_id",),
    "Liquidation events for which a payout workflow was started",
    P.CHAIN_WATCHER,
)

# -- market data (perpflow/marketdata/metrics.py) ---------------------------------------------------
MD_MESSAGES = _m("perpflow_md_messages", C, ("stream",), "Websocket messages received", P.MARKET_DATA)
MD_RECONNECTS = _m("perpflow_md_reconnects", C, ("stream",), "Stream reconnect attempts", P.MARKET_DATA)
MD_STREAM_STATE = _m(
    "perpflow_md_stream_state", G, ("stream", "state"), "1 for the stream's current state", P.MARKET_DATA
)
MD_STALENESS = _m(
    "perpflow_md_stream_staleness_seconds",
    G,
    ("stream",),
    "Seconds since the stream's last message",
    P.MARKET_DATA,
)
MD_BOOK_UPDATES = _m("perpflow_md_book_updates", C, ("market",), "Book messages applied", P.MARKET_DATA)
MD_BOOK_GAPS = _m("perpflow_md_book_gaps", C, ("market",), "Sequence gaps (REST resnapshots)", P.MARKET_DATA)
MD_SIGNALS = _m("perpflow_md_signals", C, ("kind",), "Signals accepted by Temporal", P.MARKET_DATA)
MD_SIGNAL_RETRIES = _m(
    "perpflow_md_signal_retries", C, ("kind",), "Signal attempts that failed", P.MARKET_DATA
)
MD_SIGNAL_LATENCY = _m(
    "perpflow_md_signal_latency_seconds",
    H,
    ("kind",),
    "From the message that carried the fact to Temporal accepting the signal",
    P.MARKET_DATA,
)
MD_PENDING_SIGNALS = _m("perpflow_md_pending_signals", G, (), "Signals not yet accepted", P.MARKET_DATA)

CATALOGUE: tuple[Metric, ...] = tuple(v for v in list(globals().values()) if isinstance(v, Metric))

# -- the Temporal SDK's metrics -----------------------------------------------------------------------
# Every process with a Temporal client reports the request ones; a process's workers add the
# task ones for their queues (workflow tasks: the orchestrator only). Failure counters appear at the
# first failure. Histograms in seconds (``_seconds_bucket`` etc.), counters ``_total``.
SDK_METRICS: tuple[Metric, ...] = (
    _m("temporal_workflow_task_schedule_to_start_latency_seconds", H, ("namespace", "task_queue"),
       "Workflow task schedule-to-start latency", P.ORCHESTRATOR),
    _m("temporal_workflow_task_execution_latency_seconds", H, ("namespace", "task_queue", "workflow_type"),
       "Workflow task execution latency", P.ORCHESTRATOR),
    _m("temporal_workflow_endtoend_latency_seconds", H, ("namespace", "task_queue", "workflow_type"),
       "Workflow run time, start to close", P.ORCHESTRATOR),
    _m("temporal_activity_schedule_to_start_latency_seconds", H, ("namespace", "task_queue"),
       "Activity schedule-to-start latency (a queue without enough pollers shows here first)", P.EVERY),
    _m("temporal_activity_execution_latency_seconds", H,
       ("namespace", "task_queue", "activity_type", "workflow_type"), "Activity execution latency", P.EVERY),
    _m("temporal_activity_execution_failed", C, ("namespace", "task_queue", "activity_type", "workflow_type"),
       "Activity executions that failed (each attempt)", P.EVERY),
    _m("temporal_num_pollers", G, ("namespace", "task_queue", "poller_type"),
       "Pollers this process has on each task queue", P.EVERY),
    _m("temporal_worker_task_slots_available", G, ("namespace", "task_queue", "worker_type"),
       "Free task slots of this process's workers", P.EVERY),
    _m("temporal_request", C, ("namespace", "operation"), "Requests to the Temporal server", P.EVERY),
    _m("temporal_request_failure", C, ("namespace", "operation"),
       "Failed requests to the Temporal server", P.EVERY),
)  # fmt: skip

BY_NAME: dict[str, Metric] = {m.name: m for m in (*CATALOGUE, *SDK_METRICS)}
