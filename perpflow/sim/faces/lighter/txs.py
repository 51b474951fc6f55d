"""sendTx / sendTxBatch processing: parse tx_info, check key and nonce, apply to the engine.

Synchronous checks (format, account, key, nonce, expiry, order-not-found, duplicate client
index, sizes) raise and do **not** consume the nonce, matching the SDK, which rolls its
optimistic nonce back on any 400. Business outcomes (post-only cross, margin, reduce-only) are
order statuses. While the venue is paused, accepted txs are deferred and applied on resume.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from functools import partial
from typing import Any

from perpflow.sim.engine import Engine
from perpflow.sim.enums import Side
from perpflow.sim.errors import Rejected, RejectReason
from perpflow.sim.faces.lighter import errors
from perpflow.sim.faces.lighter.codes import ORDER_KINDS, TIMES_IN_FORCE, CancelAllMode, TxType
from perpflow.sim.faces.lighter.errors import LighterError
from perpflow.sim.faces.lighter.keys import ApiKeys
from perpflow.sim.order import ORDER_INDEX_BASE, NewOrder, Order
from perpflow.sim.venue import Venue

log = logging.getLogger(__name__)

MAX_BATCH = 50
NIL_MARKET = 255
SKIP_NONCE_ATTR = "4"
CANCEL_ALL_MARKET_ATTR = "5"
ORDER_VERSION_ATTR = "8"
SUPPORTED = frozenset(int(t) for t in TxType)


@dataclass(slots=True)
class Tx:
    tx_type: int
    info: dict[str, Any]
    account: int
    key: int
    nonce: int
    skip_nonce: bool
    tx_hash: str


def tx_hash(raw: str) -> str:
    return hashlib.blake2b(raw.encode(), digest_size=40).hexdigest()


class TxProcessor:
    def __init__(self, venue: Venue, keys: ApiKeys) -> None:
        self.venue = venue
        self.keys = keys

    @property
    def engine(self) -> Engine:
        return self.venue.engine

    def parse(self, tx_type: int, raw: str | dict[str, Any]) -> Tx:
        info, text = (raw, json.dumps(raw)) if isinstance(raw, dict) else (_loads(raw), raw)
        try:
            account_index = int(info["AccountIndex"] if "AccountIndex" in info else info["FromAccountIndex"])
            key = int(info["ApiKeyIndex"])
            nonce = int(info["Nonce"])
        except (KeyError, TypeError, ValueError) as exc:
            raise errors.invalid_tx_info() from exc
        if key not in self.keys.of(self.engine.account(account_index).index):
            raise errors.api_key_not_found()
        if tx_type not in SUPPORTED:
            raise errors.unsupported_tx_type()
        if int(info.get("ExpiredAt", 0)) <= self.engine.clock():
            raise errors.rejection(RejectReason.INVALID_EXPIRY)
        attrs = info.get("L2TxAttributes") or {}
        skip = int(attrs.get(SKIP_NONCE_ATTR, 0)) == 1
        return Tx(tx_type, info, account_index, key, nonce, skip, tx_hash(text))

    def send(self, tx_type: int, raw: str | dict[str, Any]) -> str:
        tx = self.parse(tx_type, raw)
        self._check_nonce(tx, self.keys.next_nonce(tx.account, tx.key))
        if self.venue.paused:
            self.venue.defer(partial(self._apply_logged, tx))
        else:
            self.apply(tx)
        self._consume_nonce(tx)
        return tx.tx_hash

    def send_batch(self, tx_types: list[int], raws: list[str | dict[str, Any]]) -> list[str]:
        if len(tx_types) != len(raws):
            raise errors.batch_length_mismatch()
        if len(raws) > MAX_BATCH:
            raise errors.batch_too_large()
        if not raws:
            raise errors.invalid_tx_info()
        txs = [self.parse(int(t), r) for t, r in zip(tx_types, raws, strict=True)]
        self._check_batch(txs)
        for tx in txs:
            # Inside a batch a failing tx is logged and skipped; its nonce is still used.
            if self.venue.paused:
                self.venue.defer(partial(self._apply_logged, tx))
            else:
                self._apply_logged(tx)
            self._consume_nonce(tx)
        return [tx.tx_hash for tx in txs]

    def _check_batch(self, txs: list[Tx]) -> None:
        first = txs[0]
        if any(t.account != first.account or t.key != first.key for t in txs):
            raise errors.batch_mixed_keys()
        expected = self.keys.next_nonce(first.account, first.key)
        for tx in txs:
            if not tx.skip_nonce and tx is not first and tx.nonce != expected:
                raise errors.batch_nonce_not_increasing()
            self._check_nonce(tx, expected)
            if not tx.skip_nonce:
                expected += 1

    def _check_nonce(self, tx: Tx, expected: int) -> None:
        if tx.skip_nonce:
            if self.keys.skip_used(tx.account, tx.key, tx.nonce):
                raise errors.invalid_nonce()
        elif tx.nonce != expected:
            raise errors.invalid_nonce()

    def _consume_nonce(self, tx: Tx) -> None:
        self.keys.consume(tx.account, tx.key, tx.nonce, skip=tx.skip_nonce)

    def _apply_logged(self, tx: Tx) -> None:
        try:
            self.apply(tx)
        except (LighterError, Rejected) as exc:
            log.info("tx %s of account %d failed: %s", tx.tx_hash[:16], tx.account, errors.lighter_error(exc))

    def apply(self, tx: Tx) -> None:
        info, engine = tx.info, self.engine
        try:
            if tx.tx_type == TxType.CREATE_ORDER:
                engine.submit(tx.account, _new_order(info), tx.tx_hash)
            elif tx.tx_type == TxType.CANCEL_ORDER:
                engine.cancel(self._open_order(tx))
            elif tx.tx_type == TxType.CANCEL_ALL:
                self._cancel_all(tx)
            elif tx.tx_type == TxType.MODIFY_ORDER:
                self._modify(tx)
            elif tx.tx_type == TxType.UPDATE_LEVERAGE:
                market = engine.market(int(info["MarketIndex"])).market_id
                engine.accounts[tx.account].position(market).imf = int(info["InitialMarginFraction"])
        except (KeyError, TypeError, ValueError) as exc:
            raise errors.invalid_tx_info() from exc

    def _open_order(self, tx: Tx) -> Order:
        """Cancel and modify name an order by its index (>= 2**48) or by its client index."""
        market, index = int(tx.info["MarketIndex"]), int(tx.info["Index"])
        if index >= ORDER_INDEX_BASE:
            return self.engine.open_order(tx.account, market, order_index=index)
        return self.engine.open_order(tx.account, market, client_order_index=index)

    def _cancel_all(self, tx: Tx) -> None:
        mode = CancelAllMode(int(tx.info.get("TimeInForce", 0)))
        acct = self.engine.accounts[tx.account]
        if mode is CancelAllMode.SCHEDULED:
            acct.cancel_all_at_ms = int(tx.info["Time"])
        elif mode is CancelAllMode.ABORT:
            acct.cancel_all_at_ms = 0
        else:
            attrs = tx.info.get("L2TxAttributes") or {}
            market = int(attrs.get(CANCEL_ALL_MARKET_ATTR, NIL_MARKET))
            self.engine.cancel_all(tx.account, None if market == NIL_MARKET else market)

    def _modify(self, tx: Tx) -> None:
        info = tx.info
        order = self._open_order(tx)
        version = int((info.get("L2TxAttributes") or {}).get(ORDER_VERSION_ATTR, 0))
        if version and order.version != version:
            raise errors.rejection(RejectReason.ORDER_NOT_ACTIVE)
        self.engine.modify(
            order, base=int(info["BaseAmount"]), price=int(info["Price"]), trigger=int(info["TriggerPrice"])
        )


def _loads(raw: str) -> dict[str, Any]:
    try:
        info = json.loads(raw)
    except ValueError as exc:
        raise errors.invalid_tx_info() from exc
    if not isinstance(info, dict):
        raise errors.invalid_tx_info()
    return info


def _new_order(info: dict[str, Any]) -> NewOrder:
    client_order_index = int(info["ClientOrderIndex"])
    if not 0 <= client_order_index < ORDER_INDEX_BASE:
        raise errors.invalid_tx_info()
    return NewOrder(
        market_id=int(info["MarketIndex"]),
        client_order_index=client_order_index,
        base_amount=int(info["BaseAmount"]),
        price=int(info["Price"]),
        side=Side.SELL if info["IsAsk"] else Side.BUY,
        kind=ORDER_KINDS[int(info["Type"])],
        tif=TIMES_IN_FORCE[int(info["TimeInForce"])],
        reduce_only=bool(info.get("ReduceOnly", 0)),
        trigger_price=int(info.get("TriggerPrice", 0)),
        expiry_ms=int(info.get("OrderExpiry", 0)),
        nonce=int(info["Nonce"]),
    )
