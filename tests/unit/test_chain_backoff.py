"""Reconnect back-off: growth, cap, jitter bounds, reset."""

from __future__ import annotations

import random

import pytest

from perpflow.chain.backoff import Backoff


def test_delays_grow_exponentially_with_half_jitter_and_cap() -> None:
    backoff = Backoff(initial=0.5, maximum=4.0, multiplier=2.0, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(8)]
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert backoff.attempt == 8


def test_jitter_spreads_delays() -> None:
    backoff = Backoff(initial=1.0, maximum=1.0, rng=random.Random(7))
    assert len({round(backoff.next_delay(), 6) for _ in range(20)}) > 10


def test_reset_starts_over() -> None:
    backoff = Backoff(initial=0.1, maximum=10.0, rng=random.Random(0))
    for _ in range(5):
        backoff.next_delay()
    backoff.reset()
    assert backoff.attempt == 0 and backoff.next_delay() <= 0.1


def test_invalid_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        Backoff(initial=0)
    with pytest.raises(ValueError):
        Backoff(initial=2, maximum=1)
