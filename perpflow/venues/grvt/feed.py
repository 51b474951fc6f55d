"""GRVT's market data as a ``VenueFeed``: ``v1.book.d`` on the market-data socket, ``v1.fill`` per
account on the trade socket (cookie auth, through the account's proxy).

A book's subscription starts with the full book and the consumer re-snapshots over REST on any
gap in its sequence numbers. A gap in an account's fill numbers drops the connection: the
reconnect's backfill (``recent_fills``, from the fill history) brings back what was skipped, and
fill ids make the replay harmless. Private streams need the account's API key (``add_login``); the
market-data worker holds View keys only, never a signing key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping

import aiohttp
from pydantic import SecretStr
from pysdk import grvt_raw_types as t

from perpflow.chain.backoff import Backoff
from perpflow.venues.feed import BookStream, FeedStream, OnBook, OnFills, StreamHooks
from perpflow.venues.grvt import parse, wire
from perpflow.venues.grvt.auth import Session
from perpflow.venues.grvt.endpoints import endpoints
from perpflow.venues.grvt.reads import GrvtReads
from perpflow.venues.grvt.rest import GrvtRest, new_http
from perpflow.venues.grvt.stream import GrvtSocket, Msg
from perpflow.venues.types import Book, Proxy, VenueFill

log = logging.getLogger(__name__)

# Enough levels for every price a band or a hedge looks at; the snapshot is only a re-sync.
SNAPSHOT_DEPTH = 50


class GrvtBooks(GrvtSocket):
    def __init__(self, name: str, feed: GrvtFeed, on_update: OnBook, hooks: StreamHooks) -> None:
        super().__init__(name, feed.endpoints.market_data_ws, feed.session, self._on_message, hooks)
        self._feed, self._on_update = feed, on_update

    def _on_message(self, msg: Msg, first: bool, last: int | None) -> bool:
        if msg.get("stream") == wire.BOOK_STREAM:
            self._on_update(wire.book_update(msg, first))
        return True

    async def watch(self, markets: set[str]) -> None:
        selectors = {wire.book_selector(m) for m in markets if self._feed.has_market(m)}
        await self.set_selectors(wire.BOOK_STREAM, selectors)


class GrvtAccount(GrvtSocket):
    def __init__(
        self,
        name: str,
        feed: GrvtFeed,
        account_index: int,
        on_fills: OnFills,
        hooks: StreamHooks,
        *,
        proxy: Proxy | None,
        auth: Session | None,
    ) -> None:
        url = feed.endpoints.trades_ws
        super().__init__(name, url, feed.session, self._on_message, hooks, proxy=proxy, auth=auth)
        self.account_index, self._on_fills = account_index, on_fills
        self.subscriptions = {wire.FILL_STREAM: {str(account_index)}}

    def _on_message(self, msg: Msg, first: bool, last: int | None) -> bool:
        if msg.get("stream") != wire.FILL_STREAM:
            return True
        self._on_fills([wire.fill(msg)])
        if wire.in_sequence(msg, first, last):
            return True
        log.warning("stream %s fill gap after %s (got prev %s); reconnecting", self.name, last,
                    msg.get("prev_sequence_number"))  # fmt: skip
        self.planned_disconnect()
        return False


class GrvtFeed:
    def __init__(self, url: str, logins: Mapping[int, SecretStr] | None = None) -> None:
        self.url, self.endpoints = url, endpoints(url)
        self._logins = dict(logins or {})
        self._http: aiohttp.ClientSession | None = None
        self._public: GrvtReads | None = None
        self._private: dict[int, GrvtReads] = {}
        self._sessions: dict[int, Session] = {}

    def add_login(self, account_index: int, api_key: SecretStr) -> None:
        """The API key (View is enough) whose session opens the account's private streams."""
        self._logins[account_index] = api_key

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._http is not None, "start() the feed first"
        return self._http

    async def start(self, stop: asyncio.Event) -> None:
        """Load the instrument list, retrying with back-off until the venue answers (or ``stop``)."""
        self._http = new_http()
        self._public = GrvtReads(GrvtRest(self.endpoints, self._http))
        backoff = Backoff(1.0, 30.0)
        while not stop.is_set():
            try:
                markets = await self._public.markets()
                log.info("venue %s markets=%s", self.url, ",".join(sorted(m.symbol for m in markets)))
                return
            except Exception as exc:
                delay = backoff.next_delay()
                log.warning("venue %s markets unavailable (%s); retry in %.1f s", self.url, exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)

    async def close(self) -> None:
        for reads in [self._public, *self._private.values()]:
            if reads is not None:
                await reads.rest.close()
        if self._http is not None:
            await self._http.close()

    def has_market(self, market: str) -> bool:
        return self._public is not None and market in self._public._markets

    def _auth(self, account_index: int, proxy: Proxy | None) -> Session | None:
        key = self._logins.get(account_index)
        if key is None:
            log.error("grvt account %d has no API key for its private streams", account_index)
            return None
        if account_index not in self._sessions:
            self._sessions[account_index] = Session(self.session, self.endpoints.edge, key, proxy=proxy)
        return self._sessions[account_index]

    def books(self, name: str, on_update: OnBook, hooks: StreamHooks) -> BookStream:
        return GrvtBooks(name, self, on_update, hooks)

    def account(
        self, name: str, account_index: int, proxy: Proxy | None, on_fills: OnFills, hooks: StreamHooks
    ) -> FeedStream:
        auth = self._auth(account_index, proxy)
        return GrvtAccount(name, self, account_index, on_fills, hooks, proxy=proxy, auth=auth)

    async def book(self, market: str) -> Book:
        assert self._public is not None, "start() the feed first"
        return await self._public.book(market, SNAPSHOT_DEPTH)

    async def recent_fills(
        self, account_index: int, market: str, proxy: Proxy | None, limit: int
    ) -> list[VenueFill]:
        """The account's latest fills in the market, oldest first (its fill history, by cookie)."""
        reads = self._private.get(account_index)
        if reads is None:
            rest = GrvtRest(self.endpoints, self.session, self._auth(account_index, proxy), proxy=proxy)
            reads = self._private[account_index] = GrvtReads(rest)
        req = t.ApiFillHistoryRequest(sub_account_id=str(account_index), limit=limit)
        resp = await reads.rest.call(reads.rest.fill_history_v1(req))
        return [parse.fill(f) for f in reversed(resp.result) if f.instrument == market]
