"""The wallet's and the chain watcher's gauges, read at scrape time from the node and the ledger."""

from __future__ import annotations

import asyncio
import time

from prometheus_client.metrics_core import Metric as Family
from sqlalchemy import column, select, table
from sqlalchemy.ext.asyncio import AsyncEngine

from perpflow.chain.client import ChainClient
from perpflow.metrics import names
from perpflow.metrics.scrape import filled

WEI_PER_ETH = 10**18

_nonces = table("wallet_nonces", column("chain_id"), column("address"), column("next_nonce"))
_cursors = table("chain_cursors", column("name"), column("block_number"))


class WalletGauges:
    """The hot wallet's balance, the payout pool's, and the nonces allocated but not mined."""

    def __init__(self, chain: ChainClient, engine: AsyncEngine, chain_id: int, wallet: str) -> None:
        self.chain, self.engine, self.chain_id, self.wallet = chain, engine, chain_id, wallet

    async def read(self) -> list[Family]:
        balance, pool, mined, allocated = await asyncio.gather(
            self.chain.balance(self.wallet),
            self.chain.pool_balance(),
            self.chain.latest_nonce(self.wallet),
            self._next_nonce(),
        )
        key = (str(self.chain_id), self.wallet)
        return [
            filled(names.WALLET_BALANCE, [(key, balance / WEI_PER_ETH)]),
            filled(names.POOL_BALANCE, [((key[0], self.chain.guard_address), pool / WEI_PER_ETH)]),
            filled(names.NONCE_LAG, [(key, max((allocated or mined) - mined, 0))]),
        ]

    async def _next_nonce(self) -> int | None:
        n = _nonces.c
        query = select(n.next_nonce).where(n.chain_id == self.chain_id, n.address == self.wallet)
        async with self.engine.connect() as conn:
            return (await conn.execute(query)).scalar_one_or_none()


class ChainGauges:
    """How old the node's head is, and how far the watcher's cursor trails it."""

    def __init__(self, chain: ChainClient, engine: AsyncEngine, chain_id: int, cursor_name: str) -> None:
        self.chain, self.engine, self.chain_id, self.cursor_name = chain, engine, chain_id, cursor_name

    async def read(self) -> list[Family]:
        head, cursor = await asyncio.gather(self.chain.w3.eth.get_block("latest"), self._cursor())
        number, at = int(head["number"]), int(head["timestamp"])
        key = (str(self.chain_id),)
        lag = [] if cursor is None else [(key, max(number - cursor, 0))]  # none before its first batch
        return [
            filled(names.CHAIN_HEAD, [(key, number)]),
            filled(names.CHAIN_HEAD_AGE, [(key, max(time.time() - at, 0.0))]),
            filled(names.CHAIN_WATCHER_LAG, lag),
        ]

    async def _cursor(self) -> int | None:
        c = _cursors.c
        async with self.engine.connect() as conn:
            return (
                await conn.execute(select(c.block_number).where(c.name == self.cursor_name))
            ).scalar_one_or_none()
