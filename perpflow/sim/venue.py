"""The simulated venue behind every face: engine, market maker, price path, faults, rate limit.

While paused, faces accept requests and defer their effect; resume applies them in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from perpflow.sim.engine import Engine
from perpflow.sim.faults import Faults
from perpflow.sim.marketmaker import LadderConfig, MarketMaker
from perpflow.sim.markets import DEFAULT_MARKETS, MarketSpec
from perpflow.sim.pricepath import CsvReplay, ManualPath, PricePath, RandomWalk
from perpflow.sim.ratelimit import RateLimiter

log = logging.getLogger(__name__)

EXPIRY_SWEEP_S = 0.5


@dataclass(slots=True)
class SimConfig:
    host: str = "127.0.0.1"
    port: int = 8787
    seed: int = 1
    markets: tuple[MarketSpec, ...] = DEFAULT_MARKETS
    price_path: str = "random"  # "random" | "manual" | path to a CSV of (timestamp, price)
    volatility: float = 0.0005  # stdev of log returns per sqrt(second)
    tick_interval_s: float = 1.0
    book_interval_ms: int = 50  # websocket delta batching (Lighter batches every 50 ms)
    ping_interval_s: float = 60.0
    rate_limit_per_minute: int | None = None
    grvt_cookie_ttl_s: float = 24 * 3600.0  # GRVT's session lifetime; seconds in expiry tests
    grvt_chain_id: int = 326  # the EIP-712 chain GRVT orders are signed for (326 = testnet)
    ladder: LadderConfig = field(default_factory=LadderConfig)


def make_path(config: SimConfig) -> PricePath:
    if config.price_path == "manual":
        return ManualPath()
    if config.price_path == "random":
        return RandomWalk(config.seed, config.volatility)
    return CsvReplay(Path(config.price_path))


class Venue:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.faults = Faults()
        self.limiter = RateLimiter(config.rate_limit_per_minute)
        self.volatility = config.volatility
        self._build()

    def _build(self) -> None:
        self.paused = False
        self._deferred: list[Callable[[], None]] = []
        self.engine = Engine(self.config.markets)
        self.mm = MarketMaker(self.engine, self.config.ladder)
        self.path = make_path(self.config)
        self.prices = {m.market_id: m.start_price for m in self.config.markets}
        self.mm.requote_all()

    def reset(self) -> None:
        """Forget every account, order, trade and deferred request; prices go back to the start."""
        self.faults.clear()
        self.limiter.configure(self.limiter.budget)
        self._build()

    def pause(self) -> None:
        self.paused = True

    def defer(self, action: Callable[[], None]) -> None:
        """Run ``action`` when matching resumes (faces call it only while paused)."""
        self._deferred.append(action)

    def resume(self) -> None:
        self.paused = False
        deferred, self._deferred = self._deferred, []
        for action in deferred:
            action()
        self.mm.requote_all()

    def set_price(self, market_id: int, price: Decimal) -> None:
        spec = self.engine.markets[market_id]
        self.prices[market_id] = price
        self.engine.set_mark(market_id, spec.to_ticks(price))
        if not self.paused:
            self.mm.requote(market_id)

    def set_volatility(self, volatility: float) -> None:
        self.volatility = volatility
        if isinstance(self.path, RandomWalk):
            self.path.volatility = volatility

    def tick(self, dt: float) -> None:
        for market_id, current in list(self.prices.items()):
            nxt = self.path.step(market_id, current, dt)
            if nxt is not None and nxt > 0:
                self.set_price(market_id, nxt)

    async def run_price_path(self) -> None:
        if isinstance(self.path, ManualPath):
            return
        dt = self.config.tick_interval_s
        while True:
            await asyncio.sleep(dt)
            self.tick(dt)

    async def run_expiry(self) -> None:
        while True:
            await asyncio.sleep(EXPIRY_SWEEP_S)
            self.engine.expire()
