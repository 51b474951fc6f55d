"""What every venue adapter offers, in venue-neutral types.

Activities, workers and market data depend on these protocols only; a venue's own constants,
auth, client, parsing, errors and streams live in its folder (``perpflow/venues/lighter/``) and
are chosen by name through ``perpflow.venues.registry``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

from pydantic import SecretStr

from perpflow.venues.feed import VenueFeed
from perpflow.venues.types import AccountState, Book, MarketInfo, OrderSpec, Proxy, VenueFill, VenueOrder

__all__ = [
    "AccountFollower", "Proxy", "RequestLimits", "SignedTx", "Venue", "VenueAccess", "VenueAdapter",
    "VenueFeed", "VenueName",
]  # fmt: skip


class VenueName(StrEnum):
    """The venues perpflow ships, as configs, inputs, queues and the ledger spell them."""

    LIGHTER = "lighter"
    GRVT = "grvt"


@dataclass(frozen=True)
class RequestLimits:
    """An account's request allowance: its tier at the venue, or an explicit rate."""

    tier: str | None = None  # None: the venue's entry tier
    per_minute: float | None = None  # overrides the tier's budget


@dataclass(frozen=True)
class VenueAccess:
    """Where and as whom to reach a venue. Without a key it serves public reads only; without
    limits its requests go unthrottled."""

    url: str
    account_index: int = 0
    api_key_index: int | None = None
    private_key: SecretStr | None = None
    proxy: Proxy | None = None
    limits: RequestLimits | None = None
    session_key: SecretStr | None = None  # GRVT: the API key that logs in (the cookie session)


@dataclass(frozen=True)
class SignedTx:
    """A signed order not yet sent: the exact bytes a resend repeats. Never carries the key.

    ``tx_type`` is the venue's transaction kind, ``tx_info`` the signed body as sent, ``tx_hash``
    the venue's identity of those bytes. ``resend_until`` is how long the venue takes these same
    bytes again (GRVT: until shortly before the signature expires), so a send in doubt repeats
    them; None where a resend must be signed afresh (Lighter: its nonces move on)."""

    tx_type: int
    tx_info: str
    tx_hash: str
    nonce: int
    api_key_index: int
    resend_until: datetime | None = None


@runtime_checkable
class Venue(Protocol):
    """One account on one venue, with its signing key when it trades."""

    url: str
    account_index: int
    api_key_index: int | None
    # How long a sent order may stay invisible to look-ups before "not found" means "not placed".
    indexing_grace_s: float
    # Orders one batch transaction may carry (1: the venue has no batch placement).
    max_batch: int

    @property
    def name(self) -> VenueName: ...

    async def close(self) -> None: ...

    async def markets(self) -> list[MarketInfo]: ...

    async def market(self, symbol: str) -> MarketInfo: ...

    async def book(self, symbol: str, depth: int = 20) -> Book: ...

    async def sign_order(self, spec: OrderSpec) -> SignedTx: ...

    async def sign_batch(self, specs: Sequence[OrderSpec]) -> list[SignedTx]:
        """Orders for one ``submit_batch`` (at most ``max_batch``), on consecutive nonces."""
        ...

    async def submit(self, tx: SignedTx) -> None: ...

    async def submit_batch(self, txs: Sequence[SignedTx]) -> None: ...

    async def refresh_nonce(self) -> int: ...

    async def cancel(self, symbol: str, order_index: int) -> None: ...

    async def cancel_all(self, symbol: str | None = None) -> None: ...

    async def modify(self, symbol: str, order_index: int, size: Decimal, price: Decimal) -> None: ...

    async def order_by_client_index(self, symbol: str, client_order_index: int) -> VenueOrder | None: ...

    async def order_just_sent(self, symbol: str, client_order_index: int) -> VenueOrder | None:
        """The cheap look-up right after a send (one request where the venue allows): None means
        only "not visible yet", never "not placed"; ``order_by_client_index`` decides a resend."""
        ...

    async def orders_by_client_index(self, client_order_index: int) -> list[VenueOrder]: ...

    async def open_orders(self, symbol: str | None = None) -> list[VenueOrder]: ...

    async def account(self) -> AccountState: ...

    async def position(self, symbol: str) -> Decimal:
        """The account's signed position in one market: the risk check's read (one request)."""
        ...

    async def fills(
        self, symbol: str | None = None, cursor: str | None = None, limit: int = 100
    ) -> tuple[list[VenueFill], str | None]: ...

    def refused_for_margin(self, order: VenueOrder) -> bool:
        """Whether the venue cancelled this order for want of margin."""
        ...


@runtime_checkable
class AccountFollower(Protocol):
    """A venue that keeps a live view of its account while ``follow`` runs (Lighter: the account's
    websocket). Its ``position`` and ``order_just_sent`` read that view while it is live, without
    a request, and fall back to their REST reads otherwise: a venue without a view, or whose view
    is down, answers as it always did. The signer runs ``follow`` for each account it serves."""

    async def follow(self, stop: asyncio.Event) -> None:
        """Keep the view until ``stop`` is set (reconnecting as needed)."""
        ...


@dataclass(frozen=True)
class VenueAdapter:
    """A venue folder's one entry in ``perpflow.venues.registry``."""

    build: Callable[[VenueAccess], Venue]
    feed: Callable[[str], VenueFeed]  # the venue's market data, from its base URL
    tiers: Collection[str]  # the account tiers the venue sells, each with its request budget
