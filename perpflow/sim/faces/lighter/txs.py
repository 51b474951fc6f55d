"""sendTx / sendTxBatch processing: parse tx_info, check key and nonce, apply to the engine.

Synchronous checks (format, account, key, nonce, expiry, order-not-found, duplicate client
index, sizes) raise SimError and do **not** consume the nonce, matching the SDK, which rolls its
optimistic nonce back on any 400. Business outcomes (post-only cross, margin, reduce-only) are
order statuses. While matching is paused, accepted txs are queued and applied on resume.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from perpflow.sim import errors
from perpflow.sim.account import Account
from perpflow.sim.engine import Engine, NewOrder
from perpflow.sim.enums import CancelAllMode, OrderType, TimeInForce, TxType
from perpflow.sim.errors import SimError

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
    account: Account
    key: int
    nonce: int
    skip_nonce: bool
    tx_hash: str


def tx_hash(raw: str) -> str:
    return hashlib.blake2b(raw.encode(), digest_size=40).hexdigest()


class TxProcessor:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.paused = False
        self._queue: list[Tx] = []
        self.failed: list[tuple[str, SimError]] = []

    def parse(self, tx_type: int, raw: str | dict[str, Any]) -> Tx:
        info, text = (raw, json.dumps(raw)) if isinstance(raw, dict) else (_loads(raw), raw)
        try:
            account_index = int(info["AccountIndex"] if "AccountIndex" in info else info["FromAccountIndex"])
            key = int(info["ApiKeyIndex"])
            nonce = int(info["Nonce"])
        except (KeyError, TypeError, ValueError) as exc:
            raise errors.invalid_tx_info() from exc
        acct = self.engine.account(account_index)
        if key not in acct.api_keys:
            raise errors.api_key_not_found()
        if tx_type not in SUPPORTED:
            raise errors.unsupported_tx_type()
        if int(info.get("ExpiredAt", 0)) <= self.engine.clock():
            raise errors.invalid_expiry()
        attrs = info.get("L2TxAttributes") or {}
        skip = int(attrs.get(SKIP_NONCE_ATTR, 0)) == 1
        return Tx(tx_type, info, acct, key, nonce, skip, tx_hash(text))

    def send(self, tx_type: int, raw: str | dict[str, Any]) -> str:
        tx = self.parse(tx_type, raw)
        self._check_nonce(tx, tx.account.nonces.get(tx.key, 0))
        if self.paused:
            self._queue.append(tx)
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
            if self.paused:
                self._queue.append(tx)
            else:
                # Inside a batch a failing tx is recorded and skipped; its nonce is still used.
                self._apply_logged(tx)
            self._consume_nonce(tx)
        return [tx.tx_hash for tx in txs]

    def _check_batch(self, txs: list[Tx]) -> None:
        first = txs[0]
        if any(t.account is not first.account or t.key != first.key for t in txs):
            raise errors.batch_mixed_keys()
        expected = first.account.nonces.get(first.key, 0)
        for tx in txs:
            if not tx.skip_nonce and tx is not first and tx.nonce != expected:
                raise errors.batch_nonce_not_increasing()
            self._check_nonce(tx, expected)
            if not tx.skip_nonce:
                expected += 1

    def _check_nonce(self, tx: Tx, expected: int) -> None:
        if tx.skip_nonce:
            if (tx.key, tx.nonce) in tx.account.used_skip_nonces:
                raise errors.invalid_nonce()
        elif tx.nonce != expected:
            raise errors.invalid_nonce()

    @staticmethod
    def _consume_nonce(tx: Tx) -> None:
        if tx.skip_nonce:
            tx.account.used_skip_nonces.add((tx.key, tx.nonce))
        else:
            tx.account.nonces[tx.key] = tx.nonce + 1

    def resume(self) -> None:
        self.paused = False
        queued, self._queue = self._queue, []
        for tx in queued:
            self._apply_logged(tx)

    def _apply_logged(self, tx: Tx) -> None:
        try:
            self.apply(tx)
        except SimError as exc:
            log.info("tx %s of account %d failed: %s", tx.tx_hash[:16], tx.account.index, exc)
            self.failed.append((tx.tx_hash, exc))

    def apply(self, tx: Tx) -> None:
        info, engine, acct = tx.info, self.engine, tx.account.index
        try:
            if tx.tx_type == TxType.CREATE_ORDER:
                engine.submit(acct, _new_order(info), tx.tx_hash)
            elif tx.tx_type == TxType.CANCEL_ORDER:
                engine.cancel(acct, int(info["MarketIndex"]), int(info["Index"]))
            elif tx.tx_type == TxType.CANCEL_ALL:
                self._cancel_all(tx)
            elif tx.tx_type == TxType.MODIFY_ORDER:
                self._modify(tx)
            elif tx.tx_type == TxType.UPDATE_LEVERAGE:
                market = int(info["MarketIndex"])
                if market not in engine.markets:
                    raise errors.invalid_market()
                tx.account.position(market).imf = int(info["InitialMarginFraction"])
        except (KeyError, TypeError, ValueError) as exc:
            raise errors.invalid_tx_info() from exc

    def _cancel_all(self, tx: Tx) -> None:
        mode = CancelAllMode(int(tx.info.get("TimeInForce", 0)))
        if mode is CancelAllMode.SCHEDULED:
            tx.account.cancel_all_time_ms = int(tx.info["Time"])
        elif mode is CancelAllMode.ABORT:
            tx.account.cancel_all_time_ms = 0
        else:
            attrs = tx.info.get("L2TxAttributes") or {}
            market = int(attrs.get(CANCEL_ALL_MARKET_ATTR, NIL_MARKET))
            self.engine.cancel_all(tx.account.index, None if market == NIL_MARKET else market)

    def _modify(self, tx: Tx) -> None:
        info = tx.info
        market, index = int(info["MarketIndex"]), int(info["Index"])
        version = int((info.get("L2TxAttributes") or {}).get(ORDER_VERSION_ATTR, 0))
        if version and self.engine.find_open(tx.account.index, market, index).version != version:
            raise errors.order_not_active()
        self.engine.modify(
            tx.account.index,
            market,
            index,
            base=int(info["BaseAmount"]),
            price=int(info["Price"]),
            trigger=int(info["TriggerPrice"]),
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
    return NewOrder(
        market_id=int(info["MarketIndex"]),
        client_order_index=int(info["ClientOrderIndex"]),
        base_amount=int(info["BaseAmount"]),
        price=int(info["Price"]),
        is_ask=bool(info["IsAsk"]),
        type=OrderType(int(info["Type"])),
        tif=TimeInForce(int(info["TimeInForce"])),
        reduce_only=bool(info.get("ReduceOnly", 0)),
        trigger_price=int(info.get("TriggerPrice", 0)),
        expiry_ms=int(info.get("OrderExpiry", 0)),
        nonce=int(info["Nonce"]),
    )
