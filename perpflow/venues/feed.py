"""What every venue's market-data side offers: supervised streams of venue-neutral events.

A venue feed turns its websockets into book updates (snapshots and deltas with sequence
numbers) and account fills, reports each connection's state, and answers the REST questions
a consumer needs to heal a gap (a book snapshot) or catch up after a reconnect (recent fills).
Reconnects, back-off and staleness are the feed's job; keeping books consistent is the
consumer's (``perpflow.marketdata``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple, Protocol, runtime_checkable

from pydantic import AwareDatetime, SecretStr

from perpflow.models import Model
from perpflow.venues.types import Book, Proxy, VenueFill

Level = tuple[Decimal, Decimal]  # (price, absolute size at that price; 0 removes the level)


class BookUpdate(NamedTuple):
    """One book message. A snapshot replaces the book; a delta sets the sizes of the levels it
    names. ``prev_seq`` is the ``seq`` of the update a delta follows: any other value is a gap.

    Plain tuples of Decimals: books arrive thousands of times a second."""

    market: str
    snapshot: bool
    seq: int
    prev_seq: int
    bids: list[Level]
    asks: list[Level]


class StreamState(StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    STALE = "stale"  # no message within the staleness window: being torn down
    BACKING_OFF = "backing_off"
    FAILED = "failed"  # many failures in a row: alerting, still retrying
    STOPPED = "stopped"

    @property
    def healthy(self) -> bool:
        return self is StreamState.CONNECTED


class StreamStatus(Model):
    name: str
    state: StreamState
    since: AwareDatetime
    last_message_age_s: float | None = None
    reconnects: int = 0
    failures_in_row: int = 0
    error: str = ""


@dataclass(frozen=True)
class StreamOptions:
    connect_timeout_s: float = 10.0
    # Venues close sockets that stay silent (Lighter: after 2 min); a quiet book sends nothing,
    # so the feed pings itself and counts the answer as traffic.
    ping_interval_s: float = 10.0
    stale_after_s: float = 30.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    # A connection that stayed up this long was healthy: the next failure starts at 1 s again.
    stable_after_s: float = 60.0
    # This many failed attempts in a row is an outage worth an alert (we keep retrying).
    alert_after_failures: int = 5


OnBook = Callable[[BookUpdate], None]
OnFills = Callable[[list[VenueFill]], None]  # oldest first
OnConnected = Callable[[], Awaitable[None]]  # after every (re)subscribe


class FeedStream(Protocol):
    """One supervised connection: it reconnects with back-off until ``run``'s ``stop`` is set."""

    name: str
    state: StreamState
    messages: int
    reconnects: int
    last_message: float  # time.monotonic() of the last frame, 0 before the first

    def status(self) -> StreamStatus: ...

    async def run(self, stop: asyncio.Event) -> None: ...

    async def close(self) -> None:
        """Drop the connection: ``run`` reconnects, or returns if ``stop`` is set."""
        ...


class BookStream(FeedStream, Protocol):
    async def watch(self, markets: set[str]) -> None:
        """Stream these markets' books from now on (each starts with a snapshot)."""
        ...


@dataclass(frozen=True)
class StreamHooks:
    """What a stream tells its consumer besides its events."""

    on_connected: OnConnected | None = None
    on_state: Callable[[FeedStream], None] | None = None
    options: StreamOptions = StreamOptions()


class VenueFeed(Protocol):
    async def start(self, stop: asyncio.Event) -> None:
        """Learn the venue's markets, retrying with back-off until it answers or ``stop`` is set."""
        ...

    async def close(self) -> None: ...

    def has_market(self, market: str) -> bool: ...

    def books(self, name: str, on_update: OnBook, hooks: StreamHooks) -> BookStream: ...

    def account(
        self, name: str, account_index: int, proxy: Proxy | None, on_fills: OnFills, hooks: StreamHooks
    ) -> FeedStream:
        """The account's fills as they happen. A fill may come more than once (after a reconnect,
        say): ``fill_id`` tells them apart."""
        ...

    async def book(self, market: str) -> Book:
        """A REST snapshot, to heal a sequence gap."""
        ...

    async def recent_fills(
        self, account_index: int, market: str, proxy: Proxy | None, limit: int
    ) -> list[VenueFill]:
        """The account's part of the market's latest trades (raises ``VenueError``)."""
        ...


@runtime_checkable
class LoginFeed(VenueFeed, Protocol):
    """A feed whose account streams log in (GRVT's cookie session). Lighter's are public."""

    def add_login(self, account_index: int, api_key: SecretStr) -> None:
        """The account's API key for its private streams (View permission is enough)."""
        ...
