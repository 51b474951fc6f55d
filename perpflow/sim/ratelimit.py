"""Per-account weighted request budget over a rolling minute (lighter-api.md §13); off by default."""

from __future__ import annotations

import time
from collections import deque

from perpflow.sim import errors

WINDOW_S = 60.0
DEFAULT_WEIGHT = 300
WEIGHTS = {
    "/api/v1/sendTx": 6,
    "/api/v1/sendTxBatch": 6,
    "/api/v1/nextNonce": 6,
    "/api/v1/accountInactiveOrders": 100,
    "/api/v1/apikeys": 150,
    "/api/v1/trades": 600,
    "/api/v1/recentTrades": 600,
}


def weight(path: str) -> int:
    return WEIGHTS.get(path, DEFAULT_WEIGHT)


class RateLimiter:
    def __init__(self, budget_per_minute: int | None = None) -> None:
        self.budget = budget_per_minute
        self._spent: dict[str, deque[tuple[float, int]]] = {}
        self._totals: dict[str, int] = {}

    def configure(self, budget_per_minute: int | None) -> None:
        self.budget = budget_per_minute
        self._spent.clear()
        self._totals.clear()

    def charge(self, key: str, path: str) -> None:
        """Spend ``path``'s weight from ``key``'s budget or raise the 429 SimError."""
        if self.budget is None:
            return
        now = time.monotonic()
        window = self._spent.setdefault(key, deque())
        total = self._totals.get(key, 0)
        while window and window[0][0] <= now - WINDOW_S:
            total -= window.popleft()[1]
        w = weight(path)
        if total + w > self.budget:
            self._totals[key] = total
            raise errors.too_many_requests()
        window.append((now, w))
        self._totals[key] = total + w
