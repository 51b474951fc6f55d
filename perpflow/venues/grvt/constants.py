"""GRVT protocol constants (grvt-pysdk 0.2.1; shared/reference/grvt-api.md)."""

from __future__ import annotations

from datetime import timedelta

from pysdk.grvt_raw_types import TimeInForce as SdkTif

from perpflow.venues.base import VenueName
from perpflow.venues.types import OrderKind, TimeInForce

VENUE = VenueName.GRVT

# SignedTx.tx_type of a create_order body (GRVT has one signed transaction kind we send).
TX_CREATE_ORDER = 1

# client_order_id: the UI draws from [0, 2^63); clients are asked to use [2^63, 2^64). Ours is
# 2^63 + the ledger's client order index: deterministic from the business key, and reversible,
# so a fill's client_order_id routes back to its intent.
CLIENT_ID_BASE = 2**63

# GRVT's prices are signed as integers of 9 decimals whatever the market's tick.
PRICE_DECIMALS_SIGNED = 9

# Signatures may run at most 30 days ahead (2008). Ours end 28 days after the start of the UTC
# day they were signed in: a re-sign on the same day repeats the same bytes (nonce and expiration
# are both derived, the ECDSA signature is deterministic), so a resend is a duplicate at GRVT.
EXPIRY_DAYS = 28
DAY_NS = 86_400 * 10**9
# The gateway stores the signed bytes and repeats them on doubt. It stops a day before their
# signature expires: a resend refused for expiry (2001) would end the order for good, and a resent
# resting order should still rest a while.
RESEND_MARGIN = timedelta(days=1)

# A taker order is subject to a 25 ms speed bump and creation is asynchronous (PENDING, 0x00):
# a look-up that misses within this long of the submit means "not visible yet".
INDEXING_GRACE_SECONDS = 10.0

# Sessions last 24 h; the SDK renews 5 s before expiry, which a slow request can overrun. We renew
# when a tenth of the lifetime (at least a minute) is left, and before every websocket connect.
SESSION_RENEW_FRACTION = 0.1
SESSION_RENEW_MIN_SECONDS = 60.0
LOGIN_PATH = "/auth/api_key/login"
COOKIE = "gravity"
ACCOUNT_HEADER = "X-Grvt-Account-Id"

REQUEST_TIMEOUT_S = 10.0
# When a 429 carries no Retry-After, wait this long before the next attempt.
DEFAULT_RETRY_AFTER_SECONDS = 1.0

TIME_IN_FORCE = {
    TimeInForce.GTT: SdkTif.GOOD_TILL_TIME,
    TimeInForce.POST_ONLY: SdkTif.GOOD_TILL_TIME,  # GTT + post_only (2032: post-only needs GTT)
    TimeInForce.IOC: SdkTif.IMMEDIATE_OR_CANCEL,
}
MARKET_TIF = SdkTif.IMMEDIATE_OR_CANCEL  # a market order never rests (hummingbot does the same)
ORDER_KINDS = frozenset(OrderKind)

# Request budgets per minute. GRVT publishes no numbers; ccxt's costs imply about 100 units/s
# with an order at 5 units (grvt-api.md §10).
TIER_BUDGET_PER_MINUTE = {"standard": 6_000}
STANDARD_TIER = "standard"
WEIGHTS = {
    "create_order": 5, "cancel_order": 5, "cancel_all_orders": 50, "order": 20, "open_orders": 20,
    "order_history": 20, "fill_history": 20, "positions": 20, "account_summary": 40, "login": 100,
    "instruments": 4, "book": 12,
}  # fmt: skip
DEFAULT_WEIGHT = 20

# Error codes (body {code, message, status}; grvt-api.md §4, §5, §7). 2090 (max open orders, HTTP
# 429) is no rate limit: waiting does not close orders, so it refuses the order like a bad one.
SESSION_CODE = 1000  # not authenticated: the cookie is missing, expired or ended by the venue
AUTH_CODES = frozenset({1000, 1001, 1008, 1400, 2000, 2003})
SIGNATURE_CODES = frozenset({2001, 2002, 2005, 2006, 2007, 2008, 1012})
RATE_LIMIT_CODES = frozenset({1006})
MARGIN_CODES = frozenset({2080})
DUPLICATE_CODES = frozenset({2012})
NOT_FOUND_CODES = frozenset({1004})
UNAVAILABLE_CODES = frozenset({1002, 1005, 1009})
ORDER_CODES = frozenset(
    {1003, 2010, 2011, 2020, 2021, 2030, 2032, 2042, 2050, 2060, 2061, 2062, 2064, 2065, 2066, 2081,
     2090, 2400, 2401, 7201, 7304, 2300, 2301, 3021}
)  # fmt: skip

# Reject reasons that mean the venue refused the order for want of margin.
MARGIN_REASONS = frozenset({"BELOW_MARGIN"})
# create_order answers this placeholder until the engine assigns the real id.
PLACEHOLDER_IDS = frozenset({"", "0x00", "0x0", "0"})
