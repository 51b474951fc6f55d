"""Every task queue, workflow id and search attribute name is built here and nowhere else.

Ids are business keys: starting the same business object twice maps to the same workflow id,
which is what lets Temporal's id-conflict policy make a duplicate start a no-op.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum

from temporalio.common import SearchAttributeKey

from perpflow.venues.base import VenueName

ORCHESTRATOR_QUEUE = "perpflow-orchestrator"

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _part(value: object) -> str:
    """One id segment: lower-case, no separators that would make two ids collide."""
    text = _SAFE.sub("_", str(value).strip()).lower()
    if not text:
        raise ValueError(f"empty id segment from {value!r}")
    return text


class Kind(StrEnum):
    """Value of the ``PerpflowKind`` search attribute."""

    HEALTH = "health"
    HEDGE_CYCLE = "hedge-cycle"
    HEDGE_FLEET = "hedge-fleet"
    GRID_SESSION = "grid-session"
    PAYOUT = "payout"
    RECONCILE = "reconcile"


# Custom search attributes (DESIGN §8); the dev server registers exactly these.
KIND = SearchAttributeKey.for_keyword("PerpflowKind")
VENUE = SearchAttributeKey.for_keyword("Venue")
ACCOUNT = SearchAttributeKey.for_keyword("Account")
MARKET = SearchAttributeKey.for_keyword("Market")
CYCLE_STATE = SearchAttributeKey.for_keyword("CycleState")
GRID_STATE = SearchAttributeKey.for_keyword("GridState")
SEARCH_ATTRIBUTES: tuple[SearchAttributeKey[str], ...] = (
    KIND,
    VENUE,
    ACCOUNT,
    MARKET,
    CYCLE_STATE,
    GRID_STATE,
)


def signer_queue(venue: str, account: int | str, key_index: int | str) -> str:
    """One queue per venue API key, served by the one process that holds that key."""
    return f"perpflow-signer-{_part(venue)}-{_part(account)}-{_part(key_index)}"


def signer_read_queue(venue: str, account: int | str, key_index: int | str) -> str:
    """Private reads of the same key (orders, fills, positions): many slots, no nonces spent."""
    return signer_queue(venue, account, key_index) + "-read"


def market_queue(venue: str) -> str:
    """Public market reads (markets, books) of a venue other than Lighter, whose reads the
    orchestrator serves on its own queue: no key, so any orchestrator can serve them."""
    return f"perpflow-market-{_part(venue)}"


def market_reads_queue(venue: str) -> str | None:
    """Where a job's public market reads of `venue` run: Lighter's on the workflow's own
    (orchestrator) queue (None), as they always have; another venue's on its market queue, since
    the orchestrator's Lighter venue knows no other venue's markets. Only the queue differs, not
    the commands, so older histories replay."""
    return None if venue == VenueName.LIGHTER else market_queue(venue)


def wallet_queue(chain_id: int, address: str) -> str:
    """One queue per hot wallet: a single slot there is the wallet's nonce lane."""
    return f"perpflow-wallet-{chain_id}-{_part(address)}"


def health_check_id(at: datetime) -> str:
    return f"health-{at.strftime('%Y%m%dT%H%M%S%fZ')}"


def hedge_cycle_id(fleet: str, epoch: str, pair: str, seq: int) -> str:
    """A fleet run's epoch (when it first started) keeps a restarted fleet's cycle ids, order
    keys and ledger rows apart from every earlier run's."""
    return f"hedge-{_part(fleet)}-{_part(epoch)}-{_part(pair)}-{seq}"


def fleet_epoch(started: datetime) -> str:
    """To the millisecond: a fleet stopped and started again within one second still gets new ids."""
    return started.strftime("%Y%m%dt%H%M%S%f")[:-3]


def hedge_fleet_id(name: str) -> str:
    return f"fleet-{_part(name)}"


def grid_session_id(name: str) -> str:
    return f"grid-{_part(name)}"


def grid_session_key(name: str, started: datetime) -> str:
    """The prefix of a grid session's order keys: the workflow id is the same each time a name is
    started again, so the start time (to the millisecond) keeps every session's keys its own."""
    return f"{grid_session_id(name)}-{fleet_epoch(started)}"


def payout_id(chain_id: int, tx_hash: str, log_index: int, reincluded_in: str | None = None) -> str:
    """An event's payout; a reorg that re-included the event in another block adds that block's
    hash (12 hex digits), so the new inclusion is its own workflow."""
    base = f"payout-{chain_id}-{tx_hash.lower()}-{log_index}"
    return base if reincluded_in is None else f"{base}-{reincluded_in.lower().removeprefix('0x')[:12]}"


def order_key(workflow_id: str, step: str) -> str:
    """Idempotency key of one order intent: the same step of the same workflow is one order."""
    return f"{workflow_id}/{step}"


def reconcile_schedule_id(venue: str) -> str:
    """The exposure reconciler's Schedule of one venue; its runs' ids are this plus the time
    Temporal appends to each scheduled start."""
    return f"reconcile-{_part(venue)}"


def reconcile_dry_run_id(venue: str, at: datetime) -> str:
    """A look-only run (``perpflow accounts``) beside the scheduled ones."""
    return f"reconcile-{_part(venue)}-look-{at.strftime('%Y%m%dT%H%M%S%fZ')}"
