"""What the GRVT face keeps beside the shared venue, reachable from its request handlers."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from aiohttp import web

from perpflow.sim.engine import Engine
from perpflow.sim.faces.grvt.desk import OrderDesk
from perpflow.sim.faces.grvt.history import NS_PER_S, PriceTape
from perpflow.sim.faces.grvt.instruments import Instruments
from perpflow.sim.faces.grvt.keys import GrvtKeys
from perpflow.sim.faces.grvt.sessions import Sessions
from perpflow.sim.venue import Venue

# GRVT's funding interval (instruments say 8 h); the admin API shortens it for tests.
FUNDING_INTERVAL_S = 8 * 3600.0


@dataclass
class GrvtState:
    venue: Venue
    keys: GrvtKeys = field(default_factory=GrvtKeys)
    sessions: Sessions = field(init=False)
    desk: OrderDesk = field(init=False)
    instruments: Instruments = field(init=False)
    tape: PriceTape = field(default_factory=PriceTape)
    funding_interval_s: float = FUNDING_INTERVAL_S

    def __post_init__(self) -> None:
        self.sessions = Sessions(self.venue.config.grvt_cookie_ttl_s)
        self.desk = OrderDesk(self.venue)
        self.instruments = Instruments(self.venue.config.markets)
        self.tape.reset(self.engine, time.time_ns())

    @property
    def engine(self) -> Engine:
        return self.venue.engine

    @property
    def chain_id(self) -> int:
        return self.venue.config.grvt_chain_id

    @property
    def funding_interval_ns(self) -> int:
        return int(self.funding_interval_s * NS_PER_S)

    def sample_prices(self) -> int:
        """Record the marks and mids as they are now; returns now in ns."""
        now = time.time_ns()
        self.tape.record(self.engine, now)
        return now

    def reset(self) -> None:
        """After the venue's reset. Its engine is new, so prices are remembered from now; settings
        (cookie TTL, funding interval) stay as configured."""
        self.keys.reset()
        self.sessions.reset()
        self.desk.reset()
        self.tape.reset(self.engine, time.time_ns())


STATE_KEY = web.AppKey("grvt", GrvtState)


def grvt_of(request: web.Request) -> GrvtState:
    return request.app[STATE_KEY]
