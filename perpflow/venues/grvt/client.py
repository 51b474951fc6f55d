"""The GRVT venue on grvt-pysdk: the SDK's raw client for REST, its EIP-712 types for signing.

Exactly-once with the order gateway: the gateway claims the intent (its client order index fixed
once, so our client_order_id is too), signs here, stores the signed bytes in the ledger, and sends
them. A resend on doubt repeats the stored bytes (``SignedTx.resend_until``), which GRVT drops as
a duplicate; signing is reproducible besides (``signing``). Right after a send the gateway's check
is one request (``order_just_sent``); before any resend it looks the order up here through the
order and fill histories as well.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from decimal import Decimal

from pydantic import SecretStr
from pysdk import grvt_raw_types as t

from perpflow.venues.base import Proxy, SignedTx
from perpflow.venues.errors import AuthError, InvalidOrder
from perpflow.venues.grvt import constants as c
from perpflow.venues.grvt import lookup, parse
from perpflow.venues.grvt.auth import Session
from perpflow.venues.grvt.endpoints import endpoints
from perpflow.venues.grvt.errors import DuplicateOrder
from perpflow.venues.grvt.reads import GrvtReads
from perpflow.venues.grvt.rest import GrvtRest, new_http
from perpflow.venues.grvt.signing import GrvtSigner, client_order_id
from perpflow.venues.ratelimit import RateBudget
from perpflow.venues.types import OrderSpec, VenueOrder

log = logging.getLogger(__name__)

# A cancel by client_order_id that arrives before its order waits this long for it (at most 5 s).
CANCEL_TTL_MS = "5000"


class GrvtVenue(GrvtReads):
    name = c.VENUE
    indexing_grace_s = c.INDEXING_GRACE_SECONDS
    max_batch = 1  # 0.2.1 has no batch placement (full/v2/bulk_orders is unused)

    def __init__(
        self,
        url: str,
        account_index: int,
        *,
        api_key_index: int | None = None,
        private_key: SecretStr | None = None,
        session_key: SecretStr | None = None,
        proxy: Proxy | None = None,
        budget: RateBudget | None = None,
    ) -> None:
        """Build inside a running event loop (aiohttp sessions need one). Nothing connects yet."""
        self.url, self.account_index, self.api_key_index = url, account_index, api_key_index
        self.endpoints = endpoints(url)
        self._http = new_http()
        self.session = (
            None
            if session_key is None
            else Session(self._http, self.endpoints.edge, session_key, proxy=proxy)
        )
        super().__init__(GrvtRest(self.endpoints, self._http, self.session, proxy=proxy, budget=budget))
        self._signer: GrvtSigner | None = None
        if private_key is not None:
            key_index = api_key_index if api_key_index is not None else 0
            self._signer = GrvtSigner(private_key, self.endpoints.chain_id, account_index, key_index)

    async def close(self) -> None:
        await self.rest.close()
        await self._http.close()

    # -- signing and sending -------------------------------------------------------------------

    async def sign_order(self, spec: OrderSpec) -> SignedTx:
        """The gateway signs an order once and stores the bytes; a re-sign on the same UTC day would
        reproduce them, on another day it would not (a new expiration)."""
        if self._signer is None or self.session is None:
            raise AuthError("this grvt venue has no signing key and API key: it cannot trade")
        instrument = await self.instrument(spec.market)
        return self._signer.create_order(spec, instrument, time.time_ns())

    async def sign_batch(self, specs: Sequence[OrderSpec]) -> list[SignedTx]:
        if len(specs) > self.max_batch:
            raise InvalidOrder(f"grvt places one order per request, not {len(specs)}")
        return [await self.sign_order(spec) for spec in specs]

    async def submit(self, tx: SignedTx) -> None:
        """Send the signed bytes as they are. 2012 (client_order_id of an active order) means an
        earlier send of these bytes arrived: the look-up after the send finds it."""
        try:
            await self.rest.post_text(True, self.endpoints.trades + "/full/v1/create_order", tx.tx_info)
        except DuplicateOrder as exc:
            log.info("grvt order nonce=%d already active: %s", tx.nonce, exc)

    async def submit_batch(self, txs: Sequence[SignedTx]) -> None:
        if len(txs) != 1:
            raise InvalidOrder(f"grvt places one order per request, not {len(txs)}")
        await self.submit(txs[0])

    async def refresh_nonce(self) -> int:
        """GRVT has no account nonce to follow: each order's nonce is its own (``signing``)."""
        return 0

    async def cancel(self, symbol: str, order_index: int) -> None:
        """By the venue's order (its index from ``parse.order_index``) or our client order index;
        a cancel by client order id also catches an order whose create is still in flight."""
        req = t.ApiCancelOrderRequest(sub_account_id=str(self.account_index))
        if order_index >= parse.ORDER_INDEX_FLAG:
            req.order_id = await self._order_id(symbol, order_index)
        else:
            req.client_order_id, req.time_to_live_ms = str(client_order_id(order_index)), CANCEL_TTL_MS
        await self.rest.call(self.rest.cancel_order_v1(req))

    async def _order_id(self, symbol: str, order_index: int) -> str:
        if order_index not in self._order_ids:
            await self.open_orders(symbol)
        try:
            return self._order_ids[order_index]
        except KeyError:
            raise InvalidOrder(f"grvt has no open order {order_index} on {symbol}") from None

    async def cancel_all(self, symbol: str | None = None) -> None:
        req = t.ApiCancelAllOrdersRequest(sub_account_id=str(self.account_index))
        if symbol is not None:
            inst = await self.instrument(symbol)
            req.kind, req.base, req.quote = [inst.kind], [inst.base], [inst.quote]
        await self.rest.call(self.rest.cancel_all_orders_v1(req))

    async def modify(self, symbol: str, order_index: int, size: Decimal, price: Decimal) -> None:
        raise InvalidOrder("grvt-pysdk 0.2.1 cannot amend an order: cancel it and place another")

    def refused_for_margin(self, order: VenueOrder) -> bool:
        return order.reason in c.MARGIN_REASONS

    # -- look-ups --------------------------------------------------------------------------------

    async def orders_by_client_index(self, client_order_index: int) -> list[VenueOrder]:
        await self.markets()
        found = await lookup.by_client_index(self.rest, str(self.account_index), client_order_index)
        return [found] if found is not None else []

    async def order_by_client_index(self, symbol: str, client_order_index: int) -> VenueOrder | None:
        for order in await self.orders_by_client_index(client_order_index):
            if order.market == symbol:
                return order
        return None

    async def order_just_sent(self, symbol: str, client_order_index: int) -> VenueOrder | None:
        """One request (``full/v1/order``): an order sent moments ago is active or not visible yet.
        One that already ended may be missed here: the pending ack is read again later in full."""
        await self.markets()
        coid = client_order_id(client_order_index)
        found = await lookup.active(self.rest, str(self.account_index), coid)
        return found if found is not None and found.market == symbol else None
