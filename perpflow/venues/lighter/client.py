"""The Lighter venue on lighter-sdk: SDK API classes for HTTP, SignerClient for signing.

We send through our own ``ApiClient`` (not SignerClient's) so that each account's traffic can
go through its proxy, and we pass nonces explicitly: the SDK's nonce manager uses blocking
HTTP and does not roll back after 429s or timeouts, which is how bots end up with nonce storms.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any

import lighter
from pydantic import SecretStr

from perpflow.venues import scaling
from perpflow.venues.base import Proxy, SignedTx
from perpflow.venues.errors import AuthError, InvalidOrder, VenueError
from perpflow.venues.lighter import constants as c
from perpflow.venues.lighter import parse
from perpflow.venues.lighter.auth import LighterSigner
from perpflow.venues.lighter.errors import call, from_result
from perpflow.venues.lighter.sdk import api_client
from perpflow.venues.lighter.view import AccountView, LiveAccount
from perpflow.venues.ratelimit import RateBudget
from perpflow.venues.types import AccountState, Book, MarketInfo, OrderSpec, VenueFill, VenueOrder


class LighterVenue:
    name = c.VENUE
    indexing_grace_s = c.INDEXING_GRACE_SECONDS
    max_batch = c.MAX_BATCH

    def __init__(
        self,
        url: str,
        account_index: int,
        *,
        api_key_index: int | None = None,
        private_key: SecretStr | None = None,
        proxy: Proxy | None = None,
        budget: RateBudget | None = None,
        weighted: bool = True,
    ) -> None:
        """Build inside a running event loop (the SDK's clients need one)."""
        self.url = url.rstrip("/")
        self.account_index = account_index
        self.api_key_index = api_key_index
        self._api = api_client(self.url, proxy)
        self._orders = lighter.OrderApi(self._api)
        self._txs = lighter.TransactionApi(self._api)
        self._accounts = lighter.AccountApi(self._api)
        self._budget = budget
        self._weighted = weighted
        self._signer: LighterSigner | None = None
        if private_key is not None and api_key_index is not None:
            self._signer = LighterSigner(self.url, account_index, api_key_index, private_key)
        self._nonce: int | None = None
        self._markets: dict[str, MarketInfo] = {}
        self._live: LiveAccount | None = None
        if self._signer is not None:
            self._live = LiveAccount(self.url, account_index, self._signer.token, self._symbol, proxy=proxy)

    async def close(self) -> None:
        await self._api.close()
        if self._signer is not None:
            await self._signer.close()

    async def _request(self, endpoint: str, op: Any) -> Any:
        if self._budget is not None:
            await self._budget.acquire(c.WEIGHTS.get(endpoint, c.DEFAULT_WEIGHT) if self._weighted else 1)
        return await call(op)

    # -- the account's live view ---------------------------------------------------------------

    async def follow(self, stop: asyncio.Event) -> None:
        """Keep the account's live view (one websocket, through its proxy) until ``stop`` is set.
        Positions and the fate of orders just sent are read from it while it is live."""
        await self._require_live().follow(stop)

    @property
    def account_view(self) -> LiveAccount | None:
        """The account's live view (None without an API key): whether it is ready, and waits."""
        return self._live

    def _ready_view(self) -> AccountView | None:  # None: read by REST
        return self._live.view() if self._live is not None else None

    def _require_live(self) -> LiveAccount:
        if self._live is None:
            raise AuthError("this lighter venue has no API key: its account view cannot subscribe")
        return self._live

    # -- markets and books -----------------------------------------------------------------------

    async def markets(self) -> list[MarketInfo]:
        if not self._markets:
            resp = await self._request("orderBookDetails", self._orders.order_book_details)
            for detail in resp.order_book_details or []:
                info = parse.market(detail)
                self._markets[info.symbol] = info
        return list(self._markets.values())

    async def market(self, symbol: str) -> MarketInfo:
        await self.markets()
        try:
            return self._markets[symbol]
        except KeyError:
            raise InvalidOrder(f"lighter has no market {symbol!r}") from None

    async def book(self, symbol: str, depth: int = 20) -> Book:
        m = await self.market(symbol)
        resp = await self._request(
            "orderBookOrders",
            lambda: self._orders.order_book_orders(market_id=m.market_id, limit=min(depth * 4, 250)),
        )
        return Book(market=symbol, bids=parse.levels(resp.bids)[:depth], asks=parse.levels(resp.asks)[:depth])

    # -- signing and sending -------------------------------------------------------------------

    def _require_signer(self) -> LighterSigner:
        if self._signer is None:
            raise AuthError("this lighter venue has no API key: it cannot sign")
        return self._signer

    async def next_nonce(self) -> int:
        """The venue's next expected nonce for our key (no local state changes)."""
        key = self.api_key_index
        if key is None:
            raise AuthError("no API key configured")
        resp = await self._request(
            "nextNonce", lambda: self._txs.next_nonce(account_index=self.account_index, api_key_index=key)
        )
        return int(resp.nonce)

    async def refresh_nonce(self) -> int:
        self._nonce = await self.next_nonce()
        return self._nonce

    async def _nonce_for_signing(self) -> int:
        if self._nonce is None:
            await self.refresh_nonce()
        assert self._nonce is not None
        return self._nonce

    async def sign_order(self, spec: OrderSpec) -> SignedTx:
        (signed,) = await self.sign_batch([spec])
        return signed

    async def sign_batch(self, specs: Sequence[OrderSpec]) -> list[SignedTx]:
        """Orders for one ``submit_batch``, signed on consecutive nonces from the next one."""
        if len(specs) > self.max_batch:
            raise InvalidOrder(
                f"lighter takes at most {self.max_batch} orders in one batch, not {len(specs)}"
            )
        markets = [await self.market(spec.market) for spec in specs]
        ticks = [
            scaling.order_ticks(m, spec.size, spec.price) for m, spec in zip(markets, specs, strict=True)
        ]
        signer, nonce = self._require_signer(), await self._nonce_for_signing()
        orders = enumerate(zip(markets, specs, ticks, strict=True))
        return signer.create_orders([(m.market_id, s, t, nonce + i) for i, (m, s, t) in orders])

    async def submit(self, tx: SignedTx) -> None:
        await self._send(
            "sendTx", lambda: self._txs.send_tx(tx_type=tx.tx_type, tx_info=tx.tx_info), tx.nonce
        )

    async def submit_batch(self, txs: Sequence[SignedTx]) -> None:
        """Send signed txs in one request; the venue applies them in order."""
        if not 0 < len(txs) <= self.max_batch:
            raise InvalidOrder(f"a lighter batch carries 1 to {self.max_batch} transactions, not {len(txs)}")
        types, infos = json.dumps([tx.tx_type for tx in txs]), json.dumps([tx.tx_info for tx in txs])
        await self._send(
            "sendTxBatch", lambda: self._txs.send_tx_batch(tx_types=types, tx_infos=infos), txs[-1].nonce
        )

    async def _send(self, endpoint: str, op: Callable[[], Awaitable[Any]], last_nonce: int) -> None:
        """Any failure leaves our nonce unknown, so it is re-read next time."""
        try:
            resp = await self._request(endpoint, op)
        except VenueError:
            self._nonce = None
            raise
        if resp.code is not None and int(resp.code) != 200:
            self._nonce = None
            raise from_result(int(resp.code), str(resp.message))
        self._nonce = last_nonce + 1

    async def cancel(self, symbol: str, order_index: int) -> None:
        """Cancel by the venue's order index or our client order index."""
        m, signer = await self.market(symbol), self._require_signer()
        await self.submit(signer.cancel(m.market_id, order_index, await self._nonce_for_signing()))

    async def cancel_all(self, symbol: str | None = None) -> None:
        market_id = (await self.market(symbol)).market_id if symbol else c.NIL_MARKET
        signer = self._require_signer()
        await self.submit(signer.cancel_all(market_id, await self._nonce_for_signing()))

    async def modify(self, symbol: str, order_index: int, size: Decimal, price: Decimal) -> None:
        m, signer = await self.market(symbol), self._require_signer()
        await self.submit(signer.modify(m, order_index, size, price, await self._nonce_for_signing()))

    def refused_for_margin(self, order: VenueOrder) -> bool:
        return order.reason in c.MARGIN_STATUSES

    # -- private reads -------------------------------------------------------------------------

    def _token(self) -> str:
        if self._signer is None:
            raise AuthError("this lighter venue has no API key: it cannot read private data")
        return self._signer.token()

    def _symbol(self, market_id: int) -> str:
        return next((m.symbol for m in self._markets.values() if m.market_id == market_id), str(market_id))

    async def orders_by_client_index(self, client_order_index: int) -> list[VenueOrder]:
        """Every order of ours carrying this client index, open or closed, any market."""
        await self.markets()
        resp = await self._request(
            "accountOrders",
            lambda: self._orders.account_orders(
                self._token(), str(client_order_index), account_index=self.account_index
            ),
        )
        return [
            parse.order(o, self._symbol(int(o.market_index)))
            for o in resp.orders or []
            if int(o.client_order_index) == client_order_index
        ]

    async def order_by_client_index(self, symbol: str, client_order_index: int) -> VenueOrder | None:
        for order in await self.orders_by_client_index(client_order_index):
            if order.market == symbol:
                return order
        return None

    async def order_just_sent(self, symbol: str, client_order_index: int) -> VenueOrder | None:
        """From the live view once it shows the order (no request); when the view is not live, or
        lags (not within ``VIEW_ORDER_WAIT_S``: it resyncs), by the one-request look-up."""
        view = self._ready_view()
        if view is not None:
            found = await view.order(client_order_index, c.VIEW_ORDER_WAIT_S)
            if found is not None and found.market == symbol:
                return found
        return await self.order_by_client_index(symbol, client_order_index)

    async def open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        market_id = (await self.market(symbol)).market_id if symbol else None
        await self.markets()
        resp = await self._request(
            "accountActiveOrders",
            lambda: self._orders.account_active_orders(
                self._token(), self.account_index, market_id=market_id
            ),
        )
        return [parse.order(o, self._symbol(int(o.market_index))) for o in resp.orders or []]

    async def account(self) -> AccountState:
        await self.markets()
        resp = await self._request(
            "account", lambda: self._accounts.account(by="index", value=str(self.account_index))
        )
        if not resp.accounts:
            raise VenueError(f"lighter account {self.account_index} not found")
        symbols = {m.market_id: m.symbol for m in self._markets.values()}
        return parse.account(resp.accounts[0], symbols)

    async def position(self, symbol: str) -> Decimal:
        """From the live view while it is live (no request), else by the ``account`` read."""
        view = self._ready_view()
        if view is not None:
            return view.position((await self.market(symbol)).market_id)
        return (await self.account()).position(symbol).size

    async def fills(
        self, symbol: str | None = None, cursor: str | None = None, limit: int = 100
    ) -> tuple[list[VenueFill], str | None]:
        """Our fills oldest first from ``cursor``; returns the cursor for the next page."""
        market_id = (await self.market(symbol)).market_id if symbol else None
        resp = await self._request(
            "trades",
            lambda: self._orders.trades(
                "timestamp",
                limit,
                authorization=self._token(),
                account_index=self.account_index,
                market_id=market_id,
                sort_dir="asc",
                cursor=cursor,
            ),
        )
        fills = [parse.fill(t, self.account_index, self._symbol(int(t.market_id))) for t in resp.trades or []]
        return fills, resp.next_cursor
