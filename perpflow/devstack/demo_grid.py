"""The embedded stack's demo grids, each on a demo account of its own (the hedge fleet's accounts
are never touched): a neutral ETH grid on Lighter and a neutral BTC grid on the sim's GRVT face,
their state, levels, fills and PnL printed now and then."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.client import Client

from perpflow.devstack.demo_status import ledger_accounts, show_until_stopped
from perpflow.devstack.grvt import DEMO_GRVT_ACCOUNT
from perpflow.devstack.venue import DEMO_GRID_ACCOUNT
from perpflow.grid.client import session_view, start_session
from perpflow.grid.config import GridConfig
from perpflow.hedge.models import LegAccount
from perpflow.models import AccountRef
from perpflow.process import main_entry
from perpflow.settings import load_settings
from perpflow.temporal_client import connect

# Around the sim's ETH start price (3000), 5 USD apart; out of range it rebuilds around the price.
LADDER = {
    "name": "demo", "market": "ETH", "lower": "2950", "upper": "3050", "levels": 21,
    "size": "0.02", "mode": "neutral", "max_open_orders_per_side": 4,
    "stop": {"outside_range_pct": "3", "action": "flatten"},
    "rebuild": "recenter", "rebuild_trigger_pct": "0.5", "reconcile_every_s": 30,
}  # fmt: skip
# The same shape on GRVT, on BTC (the sim's 100000 start price, 150 USD apart): its own book, not
# the Lighter grid's. GRVT's names and sizes: a multiple of BTC_USDT_Perp's 0.0002 min size.
GRVT_LADDER = {
    **LADDER, "name": "demo-grvt", "venue": "grvt", "market": "BTC_USDT_Perp", "lower": "98500",
    "upper": "101500", "size": "0.001",
}  # fmt: skip
SESSIONS = ((DEMO_GRID_ACCOUNT, LADDER), (DEMO_GRVT_ACCOUNT, GRVT_LADDER))


async def run_session(
    client: Client,
    accounts: list[AccountRef],
    name: str,
    ladder: dict[str, Any],
) -> None:
    account = next(a for a in accounts if a.name == name)
    leg = LegAccount(account_index=account.account_index, api_key_index=account.api_key_index or 0)
    config = GridConfig.model_validate({**ladder, "account": leg})
    session_id = await start_session(client, config, reuse=True)
    await show_until_stopped(lambda: session_view(client, session_id, active_only=True))


async def main() -> None:
    settings = load_settings()
    accounts = await ledger_accounts(settings)
    client = await connect(settings)
    await asyncio.gather(*(run_session(client, accounts, name, ladder) for name, ladder in SESSIONS))


if __name__ == "__main__":
    main_entry(main)
