"""Demo liquidator for ``perpflow dev``: reports a few liquidations over time, then prints the
payout status table now and then (the same rows as ``perpflow payouts list``).

Plays the position system: it holds the *reporter* key (never the hot wallet's).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from perpflow.chain.wallet import HotWallet
from perpflow.db.ledger import Ledger
from perpflow.db.payouts import PayoutRepository
from perpflow.devstack import chain_admin
from perpflow.devstack.chain import DEMO_FILE, REPORTER_SECRET
from perpflow.payouts.config import load_payouts_config
from perpflow.payouts.models import WEI_PER_ETH
from perpflow.payouts.runtime import chain_client
from perpflow.process import main_entry, stop_event
from perpflow.secrets import resolve
from perpflow.settings import load_settings

log = logging.getLogger("perpflow.demo")

# Leverage x100: 12.5x pays 0.02 ETH and waits for approval (threshold 0.015), the rest pay alone.
DEMO_LEVERAGES = (700, 320, 1250, 860, 450, 610)
EVERY_S = 4.0
STATUS_EVERY_S = 10.0


async def main() -> None:
    settings = load_settings()
    cfg = load_payouts_config(settings)
    stop = stop_event()
    reporter = HotWallet(resolve(f"secrets:{REPORTER_SECRET}", settings.state_dir))
    users = json.loads((settings.state_dir / DEMO_FILE).read_text())["users"]
    ledger = Ledger(settings.ledger_url)
    chain = chain_client(cfg)
    try:
        for i, ratio in enumerate(DEMO_LEVERAGES):
            if await _sleep(stop, EVERY_S):
                return
            ev = await chain_admin.liquidate(chain, reporter, users[i % len(users)], ratio, WEI_PER_ETH)
            log.info("liquidated user=%s leverage=%.2fx tx=%s", ev.user, ratio / 100, ev.tx_hash)
        while not await _sleep(stop, STATUS_EVERY_S):
            await _print_status(PayoutRepository(ledger))
    finally:
        await chain.close()
        await ledger.close()


async def _print_status(repo: PayoutRepository) -> None:
    rows = await repo.recent(20)
    print(f"payouts ({len(rows)}): state / user / ETH / nonce / final tx / by", flush=True)
    for r in rows:
        eth = f"{(r.amount_wei or 0) / WEI_PER_ETH:g}"
        print(
            f"  {r.state:<17} {r.user_address[:10]} {eth:>6} {r.nonce!s:>4} {r.final_tx_hash or '-'}"
            f" {r.approved_by or ''} {r.reason or ''}",
            flush=True,
        )


async def _sleep(stop: asyncio.Event, seconds: float) -> bool:
    """True when stopped."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


if __name__ == "__main__":
    main_entry(main)
