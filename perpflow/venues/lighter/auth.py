"""The account's API key: it signs transactions and the auth tokens of private reads.

The key stays inside lighter-sdk's SignerClient; what leaves is a signature, never the key.

Every call into the SDK's signer library (Go, through ctypes) is made on one thread of our own.
Entering Go from the process's main thread costs about 0.8 ms per call on this host, and a
signature is five such calls (the signing and four frees of its strings): about 4 ms of CPU per
order, most of a signer's time under load. From a thread of our own a call costs microseconds and
a signature about 0.3 ms. One thread also keeps the library's calls one at a time; a batch's
orders are signed there in one turn.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import lighter
from pydantic import SecretStr

from perpflow.venues import scaling
from perpflow.venues.base import SignedTx
from perpflow.venues.errors import AuthError, InvalidOrder
from perpflow.venues.lighter import constants as c
from perpflow.venues.types import MarketInfo, OrderKind, OrderSpec, Side, TimeInForce

T = TypeVar("T")
# An order to sign: market id, its spec, its size and price in the market's integers, its nonce.
Unsigned = tuple[int, OrderSpec, tuple[int, int], int]
_SIGNING = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lighter-signing")


def _on_signing_thread(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``call`` made on the signing thread; the caller waits for it (a fraction of a millisecond)."""
    return _SIGNING.submit(call, *args, **kwargs).result()


class LighterSigner:
    def __init__(self, url: str, account_index: int, api_key_index: int, private_key: SecretStr) -> None:
        self.api_key_index = api_key_index
        self._client: Any = lighter.SignerClient(
            url=url,
            account_index=account_index,
            api_private_keys={api_key_index: private_key.get_secret_value()},
        )
        self._token: str | None = None
        self._expires_at = 0.0

    async def close(self) -> None:
        await self._client.close()

    def token(self) -> str:
        """An auth token for private reads, created anew a minute before the last one expires."""
        now = time.time()
        if self._token is None or now > self._expires_at - c.AUTH_RENEW_MARGIN_SECONDS:
            token, err = _on_signing_thread(
                self._client.create_auth_token_with_expiry,
                c.AUTH_TOKEN_LIFETIME_SECONDS,
                timestamp=int(now),
                api_key_index=self.api_key_index,
            )
            if err is not None or not token:
                raise AuthError(f"lighter: cannot create an auth token ({err})")
            self._token, self._expires_at = str(token), now + c.AUTH_TOKEN_LIFETIME_SECONDS
        return self._token

    def create_orders(self, orders: Sequence[Unsigned]) -> list[SignedTx]:
        """Each order signed, all in one turn of the signing thread. The caller waits (a fraction
        of a millisecond an order) rather than awaits: an await would add a turn of the event
        loop, which under load serves every other account's work first."""
        return _on_signing_thread(lambda: [self._create_order(*o) for o in orders])

    def _create_order(self, market_id: int, spec: OrderSpec, ticks: tuple[int, int], nonce: int) -> SignedTx:
        """On the signing thread."""
        base, price = ticks
        immediate = spec.kind is OrderKind.MARKET or spec.tif is TimeInForce.IOC
        return self._signed(
            self._client.sign_create_order(
                market_id,
                spec.client_order_index,
                base,
                price,
                int(spec.side is Side.SELL),
                c.ORDER_TYPE[spec.kind],
                c.TIME_IN_FORCE[TimeInForce.IOC if spec.kind is OrderKind.MARKET else spec.tif],
                spec.reduce_only,
                0,
                c.IOC_EXPIRY if immediate else _expiry_ms(spec.expiry),
                nonce=nonce,
                api_key_index=self.api_key_index,
            ),
            nonce,
        )

    def cancel(self, market_id: int, order_index: int, nonce: int) -> SignedTx:
        result = _on_signing_thread(
            self._client.sign_cancel_order,
            market_id,
            order_index,
            nonce=nonce,
            api_key_index=self.api_key_index,
        )
        return self._signed(result, nonce)

    def cancel_all(self, market_id: int, nonce: int) -> SignedTx:
        result = _on_signing_thread(
            self._client.sign_cancel_all_orders,
            c.CANCEL_ALL_IMMEDIATE,
            0,
            market_id,
            nonce=nonce,
            api_key_index=self.api_key_index,
        )
        return self._signed(result, nonce)

    def modify(
        self, market: MarketInfo, order_index: int, size: Decimal, price: Decimal, nonce: int
    ) -> SignedTx:
        result = _on_signing_thread(
            self._client.sign_modify_order,
            market.market_id,
            order_index,
            scaling.base_amount(market, size),
            scaling.price_ticks(market, price),
            0,
            nonce=nonce,
            api_key_index=self.api_key_index,
        )
        return self._signed(result, nonce)

    def _signed(self, result: tuple[Any, Any, Any, Any], nonce: int) -> SignedTx:
        tx_type, tx_info, tx_hash, err = result
        if err is not None:
            raise InvalidOrder(f"lighter signer refused the transaction: {err}")
        return SignedTx(int(tx_type), str(tx_info), str(tx_hash), nonce, self.api_key_index)


def _expiry_ms(expiry: datetime | None) -> int:
    return c.DEFAULT_28_DAY_EXPIRY if expiry is None else int(expiry.timestamp() * 1000)
