"""Exponential back-off with full jitter for reconnect loops (pure; the caller sleeps)."""

from __future__ import annotations

import random


class Backoff:
    """Delay n is uniform in [d/2, d] with d = min(maximum, initial x multiplier^n).

    Half-jitter rather than full jitter: reconnects stay spread out across processes but never
    collapse to ~0, which would hammer a node that is restarting.
    """

    def __init__(
        self,
        initial: float = 0.5,
        maximum: float = 30.0,
        multiplier: float = 2.0,
        rng: random.Random | None = None,
    ) -> None:
        if initial <= 0 or maximum < initial or multiplier < 1:
            raise ValueError("need 0 < initial <= maximum and multiplier >= 1")
        self._initial, self._maximum, self._multiplier = initial, maximum, multiplier
        self._rng = rng or random.Random()
        self._attempt = 0

    @property
    def attempt(self) -> int:
        return self._attempt

    def next_delay(self) -> float:
        ceiling = min(self._maximum, self._initial * self._multiplier**self._attempt)
        self._attempt += 1
        return self._rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self._attempt = 0
