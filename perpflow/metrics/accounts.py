"""The signer's gauges: each account it holds, as its venue reports it, read at scrape time.

The venue is the truth of positions and PnL (the ledger records orders and jobs, not the venue's
marks), so these come from one account read per account and scrape (cached by ``ScrapeTime``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from prometheus_client.metrics_core import Metric as Family

from perpflow.metrics import names
from perpflow.metrics.instruments import ACCOUNT_READ_FAILURES
from perpflow.metrics.scrape import gauge
from perpflow.venues.base import Venue
from perpflow.venues.types import AccountState


class AccountGauges:
    def __init__(self, venues: Sequence[Venue]) -> None:
        self.venues = venues
        self._read_at: dict[tuple[str, str], float] = {}
        for venue in venues:
            ACCOUNT_READ_FAILURES.labels(*_key(venue))

    async def read(self) -> list[Family]:
        states = await asyncio.gather(*(v.account() for v in self.venues), return_exceptions=True)
        position, exposure, unrealised, realised, collateral = (
            gauge(names.ACCOUNT_POSITION),
            gauge(names.ACCOUNT_EXPOSURE),
            gauge(names.ACCOUNT_UNREALISED_PNL),
            gauge(names.ACCOUNT_REALISED_PNL),
            gauge(names.ACCOUNT_COLLATERAL),
        )
        for venue, state in zip(self.venues, states, strict=True):
            key = _key(venue)
            if not isinstance(state, AccountState):
                ACCOUNT_READ_FAILURES.labels(*key).inc()
                continue
            self._read_at[key] = time.time()
            collateral.add_metric(list(key), float(state.collateral))
            for p in state.positions:
                labels = [*key, p.market]
                position.add_metric(labels, float(p.size))
                # size x mark = size x entry + unrealised, long or short
                exposure.add_metric(labels, abs(float(p.size * p.avg_entry_price + p.unrealized_pnl)))
                unrealised.add_metric(labels, float(p.unrealized_pnl))
                realised.add_metric(labels, float(p.realized_pnl))
        read_at = gauge(names.ACCOUNT_READ_AT)
        for key, at in self._read_at.items():
            read_at.add_metric(list(key), at)
        return [position, exposure, unrealised, realised, collateral, read_at]


def _key(venue: Venue) -> tuple[str, str]:
    return venue.name.value, str(venue.account_index)
