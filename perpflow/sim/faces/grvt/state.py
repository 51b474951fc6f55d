"""What the GRVT face keeps beside the shared venue, reachable from its request handlers."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from perpflow.sim.engine import Engine
from perpflow.sim.faces.grvt.desk import OrderDesk
from perpflow.sim.faces.grvt.instruments import Instruments
from perpflow.sim.faces.grvt.keys import GrvtKeys
from perpflow.sim.faces.grvt.sessions import Sessions
from perpflow.sim.venue import Venue


@dataclass
class GrvtState:
    venue: Venue
    keys: GrvtKeys = field(default_factory=GrvtKeys)
    sessions: Sessions = field(init=False)
    desk: OrderDesk = field(init=False)
    instruments: Instruments = field(init=False)

    def __post_init__(self) -> None:
        self.sessions = Sessions(self.venue.config.grvt_cookie_ttl_s)
        self.desk = OrderDesk(self.venue)
        self.instruments = Instruments(self.venue.config.markets)

    @property
    def engine(self) -> Engine:
        return self.venue.engine

    @property
    def chain_id(self) -> int:
        return self.venue.config.grvt_chain_id

    def reset(self) -> None:
        self.keys.reset()
        self.sessions.reset()
        self.desk.reset()


STATE_KEY = web.AppKey("grvt", GrvtState)


def grvt_of(request: web.Request) -> GrvtState:
    return request.app[STATE_KEY]
