"""The embedded stack's demo grid: a neutral ETH grid on its own demo account (the hedge fleet's
accounts are never touched), its state, levels, fills and PnL printed now and then."""

from __future__ import annotations

from perpflow.devstack.demo_status import ledger_accounts, show_until_stopped
from perpflow.devstack.venue import DEMO_GRID_ACCOUNT
from perpflow.grid.client import session_view, start_session
from perpflow.grid.config import GridConfig
from perpflow.hedge.models import LegAccount
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


async def main() -> None:
    settings = load_settings()
    account = next(a for a in await ledger_accounts(settings) if a.name == DEMO_GRID_ACCOUNT)
    leg = LegAccount(account_index=account.account_index, api_key_index=account.api_key_index)
    client = await connect(settings)
    session_id = await start_session(
        client, GridConfig.model_validate({**LADDER, "account": leg}), reuse=True
    )
    await show_until_stopped(lambda: session_view(client, session_id, active_only=True))


if __name__ == "__main__":
    main_entry(main)
