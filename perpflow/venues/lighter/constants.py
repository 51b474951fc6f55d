"""Lighter protocol constants (lighter-sdk 1.1.8; shared/reference/lighter-api.md)."""

from __future__ import annotations

from perpflow.venues.base import VenueName
from perpflow.venues.types import OrderKind, TimeInForce

VENUE = VenueName.LIGHTER

TX_CREATE_ORDER = 14
TX_CANCEL_ORDER = 15
TX_CANCEL_ALL = 16
TX_MODIFY_ORDER = 17

ORDER_TYPE = {OrderKind.LIMIT: 0, OrderKind.MARKET: 1}
TIME_IN_FORCE = {TimeInForce.IOC: 0, TimeInForce.GTT: 1, TimeInForce.POST_ONLY: 2}
DEFAULT_28_DAY_EXPIRY = -1
IOC_EXPIRY = 0
CANCEL_ALL_IMMEDIATE = 0
NIL_MARKET = 255

# Request weights per rolling minute (premium accounts); standard accounts count requests.
WEIGHTS = {"sendTx": 6, "sendTxBatch": 6, "nextNonce": 6, "trades": 600, "accountInactiveOrders": 100}
DEFAULT_WEIGHT = 300
TIER_BUDGET_PER_MINUTE = {"standard": 60, "premium": 24_000, "plus": 120_000, "builder": 240_000}
STANDARD_TIER = "standard"

# sendTxBatch refuses more than this many transactions (code 21514).
MAX_BATCH = 50

# Lighter indexes orders asynchronously: a lookup that misses within this long after the
# submit means "not visible yet", not "never arrived".
INDEXING_GRACE_SECONDS = 10.0

# How long the fate of an order just sent may take to show on the account's live view before the
# REST look-up decides: Lighter applies a maker order after its 200 ms speed bump (taker 300 ms)
# and pushes account updates as it applies them. A longer wait only delays an ack.
VIEW_ORDER_WAIT_S = 2.0

# Our auth tokens live 1 h (the SDK's default is 10 min, the venue allows up to 8 h); renew a minute early.
AUTH_TOKEN_LIFETIME_SECONDS = 3600
AUTH_RENEW_MARGIN_SECONDS = 60

# When a 429 carries no Retry-After, wait this long before the next attempt.
DEFAULT_RETRY_AFTER_SECONDS = 2.0

# Result codes (HTTP 400 bodies).
INVALID_NONCE = 21104
MARGIN_CODES = frozenset({21507, 21508, 21739})
AUTH_CODES = frozenset({21100, 21109, 21120, 21136})
ORDER_CODES = frozenset(
    {21600, 21602, 21701, 21702, 21706, 21707, 21711, 21715, 21717, 21718, 21728, 21732, 21733, 21734}
)

# Order status words that mean the venue refused the order for lack of margin.
MARGIN_STATUSES = frozenset({"canceled-margin-not-allowed", "canceled-invalid-balance"})
OPEN_STATUSES = frozenset({"open", "in-progress", "pending"})
