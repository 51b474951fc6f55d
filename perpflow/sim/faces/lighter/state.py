"""What the Lighter face keeps beside the shared venue, reachable from its request handlers."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from perpflow.sim.engine import Engine
from perpflow.sim.faces.lighter.keys import ApiKeys
from perpflow.sim.faces.lighter.txs import TxProcessor
from perpflow.sim.venue import Venue


@dataclass
class LighterState:
    venue: Venue
    keys: ApiKeys = field(default_factory=ApiKeys)
    txs: TxProcessor = field(init=False)

    def __post_init__(self) -> None:
        self.txs = TxProcessor(self.venue, self.keys)

    @property
    def engine(self) -> Engine:
        return self.venue.engine


STATE_KEY = web.AppKey("lighter", LighterState)


def lighter_of(request: web.Request) -> LighterState:
    return request.app[STATE_KEY]
