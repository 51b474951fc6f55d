"""Ingest: book updates/s through parse -> local book -> band evaluation, on one core.

Baseline: ``json.loads`` of the same frames (the least any consumer must do). The frames are
Lighter ``update/order_book`` deltas shaped like the sim's: a maker ladder re-quoting around a
random walk, a few changed levels per frame. 20 bands watch the market.
  BENCH_MD_UPDATES (default 50000)
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from decimal import Decimal

from perpflow.marketdata.bands import MarketBands
from perpflow.marketdata.book import LocalBook
from perpflow.marketdata.feed import BookFeed
from perpflow.marketdata.models import Watch, WatchKind, WatchSpec
from perpflow.signals import Direction
from perpflow.venues.feed import BookUpdate
from perpflow.venues.lighter import wire
from perpflow.venues.types import Book

UPDATES = int(os.environ.get("BENCH_MD_UPDATES", "50000"))
TARGET = 20_000
LEVELS = 10


def ladder(ref: int) -> tuple[dict[int, int], dict[int, int]]:
    bids = {ref - 30 - 60 * i: 1_000_000 + 7 * i for i in range(LEVELS)}
    asks = {ref + 30 + 60 * i: 1_000_000 + 5 * i for i in range(LEVELS)}
    return bids, asks


def frames(n: int) -> list[str]:
    """Deltas between consecutive ladders (prices in cents, sizes in 1e-4)."""
    rng = random.Random(1)
    ref, out = 300_000, []
    bids, asks = ladder(ref)
    for nonce in range(1, n + 1):
        ref += rng.choice((-60, -30, 0, 30, 60))
        nb, na = ladder(ref)
        delta = {}
        for name, old, new in (("bids", bids, nb), ("asks", asks, na)):
            changed = {p: new.get(p, 0) for p in old.keys() | new.keys() if old.get(p) != new.get(p)}
            delta[name] = [
                {"price": f"{p / 100:.2f}", "size": f"{s / 10_000:.4f}"} for p, s in changed.items()
            ]
        bids, asks = nb, na
        book = {"code": 0, **delta, "offset": nonce, "nonce": nonce, "begin_nonce": nonce - 1}
        msg = {"channel": "order_book:0", "offset": nonce, "order_book": book, "type": "update/order_book"}
        out.append(json.dumps(msg, separators=(",", ":")))
    return out


def bands() -> MarketBands:
    mb = MarketBands()
    watches = [
        Watch(
            id=i,
            spec=WatchSpec(
                workflow_id=f"wf-{i}",
                name="band",
                kind=WatchKind.BAND,
                market="ETH",
                level=Decimal(2900 + 10 * i),
                direction=Direction.UP if i % 2 else Direction.DOWN,
                hysteresis=Decimal(1),
            ),
        )
        for i in range(20)
    ]
    mb.sync(watches)
    return mb


def eth(_: int) -> str:
    return "ETH"


async def never(_: str) -> Book:
    raise RuntimeError("no gaps expected")


def run_pipeline(raw: list[str]) -> tuple[float, int]:
    mb, crossings = bands(), 0

    def evaluate(book: LocalBook) -> None:
        nonlocal crossings
        crossings += len(mb.evaluate(book.mid))

    feed = BookFeed(LocalBook("ETH"), never, on_update=evaluate)
    bids, asks = ladder(300_000)
    feed.apply(
        BookUpdate(
            "ETH",
            True,
            0,
            0,
            [(Decimal(p) / 100, Decimal(s) / 10_000) for p, s in bids.items()],
            [(Decimal(p) / 100, Decimal(s) / 10_000) for p, s in asks.items()],
        )
    )
    started = time.perf_counter()
    for text in raw:
        feed.apply(wire.book_update(json.loads(text), eth))
    elapsed = time.perf_counter() - started
    assert feed.gaps == 0 and feed.updates == len(raw) + 1
    return elapsed, crossings


def run_baseline(raw: list[str]) -> float:
    started = time.perf_counter()
    for text in raw:
        json.loads(text)
    return time.perf_counter() - started


async def main() -> None:
    raw = frames(UPDATES)
    levels = sum(
        len(json.loads(f)["order_book"]["bids"]) + len(json.loads(f)["order_book"]["asks"])
        for f in raw[:1000]
    )
    best_pipe, best_base, crossings = float("inf"), float("inf"), 0
    for _ in range(3):  # best of three: the machine is shared
        elapsed, crossings = run_pipeline(raw)
        best_pipe = min(best_pipe, elapsed)
        best_base = min(best_base, run_baseline(raw))
    pipe_rate, base_rate = UPDATES / best_pipe, UPDATES / best_base
    print(f"frames={UPDATES} levels/frame={levels / 1000:.1f} bands=20 crossings={crossings}")
    print(f"baseline json.loads                {base_rate:>12,.0f} updates/s")
    print(
        f"parse -> book -> bands             {pipe_rate:>12,.0f} updates/s  "
        f"({pipe_rate / base_rate:.2f}x baseline)"
    )
    print(f"target >= {TARGET:,} updates/s: {'met' if pipe_rate >= TARGET else 'NOT met'}")


if __name__ == "__main__":
    asyncio.run(main())
