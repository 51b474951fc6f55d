"""Public market reads; no key needed, so they run on the orchestrator queue."""

from __future__ import annotations

from temporalio import activity

from perpflow.orders import BookQuery, BookSnapshot, MarketQuery
from perpflow.venues.base import Venue
from perpflow.venues.types import MarketInfo


class MarketActivities:
    def __init__(self, venue: Venue) -> None:
        self.venue = venue

    @activity.defn(name="get_book_top")
    async def get_book_top(self, query: BookQuery) -> BookSnapshot:
        return BookSnapshot(book=await self.venue.book(query.market, query.depth))

    @activity.defn(name="get_market")
    async def get_market(self, query: MarketQuery) -> MarketInfo:
        return await self.venue.market(query.market)
