"""A weighted request budget per key over a rolling minute; off by default.

Faces choose the key (account or address) and each request's weight.
"""

from __future__ import annotations

import time
from collections import deque

WINDOW_S = 60.0


class OverBudget(Exception):
    """The key has spent its budget for the current window."""


class RateLimiter:
    def __init__(self, budget_per_minute: int | None = None) -> None:
        self.budget = budget_per_minute
        self._spent: dict[str, deque[tuple[float, int]]] = {}
        self._totals: dict[str, int] = {}

    def configure(self, budget_per_minute: int | None) -> None:
        self.budget = budget_per_minute
        self._spent.clear()
        self._totals.clear()

    def charge(self, key: str, weight: int) -> None:
        """Spend ``weight`` from ``key``'s budget or raise OverBudget."""
        if self.budget is None:
            return
        now = time.monotonic()
        window = self._spent.setdefault(key, deque())
        total = self._totals.get(key, 0)
        while window and window[0][0] <= now - WINDOW_S:
            total -= window.popleft()[1]
        if total + weight > self.budget:
            self._totals[key] = total
            raise OverBudget(key)
        window.append((now, weight))
        self._totals[key] = total + weight
