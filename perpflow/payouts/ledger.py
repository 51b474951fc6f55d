"""What the payout services keep in the ledger, as they see it (no database here).

``perpflow.db.payouts.PayoutRepository`` is the one implementation. Of its writers of a row's
state (``record_detected`` / ``claim_inclusion``, ``move``, ``allocate_and_store``) the one caller
is ``PayoutBook``, so the payout's state has one writer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from perpflow.chain.models import ChainCursor, PositionLiquidated, SignedTx
from perpflow.payouts.models import NewPayout, PayoutMove, PayoutRecord

# Signs the payout's tx with the nonce the lane hands it (inside the nonce's transaction).
Sign = Callable[[int], SignedTx]


@dataclass
class Exposure:
    """Committed wei today (this user's, everyone's) and signed-but-unconfirmed wei (the wallet's)."""

    user_today: int = 0
    all_today: int = 0
    in_flight: int = 0


class PayoutLedger(Protocol):
    async def claim_inclusion(self, chain_id: int, event: PositionLiquidated, at: datetime) -> str: ...

    async def record_detected(self, new: NewPayout) -> PayoutRecord: ...

    async def get(self, workflow_id: str) -> PayoutRecord: ...

    async def move(self, workflow_id: str, move: PayoutMove) -> None: ...

    async def exposure(self, user: str, since: datetime, wallet: str, exclude: str) -> Exposure: ...

    async def allocate_and_store(
        self, workflow_id: str, chain_id: int, wallet: str, chain_pending: int | None, sign: Sign
    ) -> SignedTx: ...

    async def store_replacement(self, workflow_id: str, signed: SignedTx) -> None: ...

    async def advance_next_nonce(self, chain_id: int, wallet: str, at_least: int) -> None: ...

    async def stored_from_nonce(self, chain_id: int, wallet: str, nonce: int) -> list[PayoutRecord]: ...

    async def load_cursor(self, name: str) -> ChainCursor | None: ...

    async def save_cursor(self, name: str, chain_id: int, cursor: ChainCursor) -> None: ...

    async def audit(self, actor: str, action: str, target: str, detail: dict[str, object]) -> None: ...
