"""A client-side request budget per account, weighted like the venue counts it.

Staying under the venue's limit is cheaper than hitting 429s: a 429 during a send costs a nonce.
"""

from __future__ import annotations

import asyncio
import time


class RateBudget:
    """Rolling budget of ``per_minute`` weight units, refilled continuously."""

    def __init__(self, per_minute: float) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.capacity = float(per_minute)
        self._tokens = float(per_minute)
        self._rate = per_minute / 60.0
        self._last = time.monotonic()
        self._lock = asyncio.Lock()
        self.requests = 0  # admitted so far: what a client spent of the venue's rate limit

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self._rate)
        self._last = now

    def delay_for(self, weight: float) -> float:
        """Seconds until ``weight`` units are available (0 if now)."""
        self._refill()
        missing = min(weight, self.capacity) - self._tokens
        return max(0.0, missing / self._rate)

    async def acquire(self, weight: float) -> None:
        async with self._lock:
            # Sleeping is the point here: tokens come back with time, not with an event.
            while (delay := self.delay_for(weight)) > 0:  # noqa: ASYNC110
                await asyncio.sleep(delay)
            self._tokens -= min(weight, self.capacity)
            self.requests += 1
