"""Where the face serves GRVT's three hosts on the sim's one port (grvt-api.md §2, §3).

The SDK concatenates its base URLs with paths, so ``http://host:port/grvt/edge`` etc. stand
in for ``edge.grvt.io``, ``trades.grvt.io`` and ``market-data.grvt.io``.
"""

from __future__ import annotations

PREFIX = "/grvt"
EDGE = f"{PREFIX}/edge"
TRADES = f"{PREFIX}/td"
MARKET_DATA = f"{PREFIX}/md"
LOGIN = f"{EDGE}/auth/api_key/login"
CREATE_ORDER = f"{TRADES}/full/v1/create_order"
# Requests that change orders: the targets of order-submission faults (drop_response, rejections).
SUBMIT_PATHS = frozenset(
    {CREATE_ORDER, f"{TRADES}/full/v1/cancel_order", f"{TRADES}/full/v1/cancel_all_orders"}
)


def td(name: str) -> str:
    return f"{TRADES}/full/v1/{name}"


def md(name: str) -> str:
    return f"{MARKET_DATA}/full/v1/{name}"
