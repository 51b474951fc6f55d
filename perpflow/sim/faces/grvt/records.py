"""What the face keeps of each order it accepted: the signed JSON the engine does not know.

GRVT echoes an order with its legs, signature and metadata, so the face keeps the request
beside the engine's order. Orders the face ends itself (a fill-or-kill that cannot fill, a
create deferred while the venue is paused) have no engine order yet or ever.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from perpflow.sim.faces.grvt.instruments import Instrument
from perpflow.sim.order import Order

# Ids of orders that never reach the engine sit far above the engine's (which start at 2**48).
FACE_ONLY_BASE = 1 << 120


@dataclass(slots=True)
class OrderRecord:
    order_index: int  # 0 while a deferred create waits for the venue to resume
    account: int
    sub_account_id: str
    client_order_id: int
    instrument: Instrument
    tif: str  # GRVT's name: GOOD_TILL_TIME, IMMEDIATE_OR_CANCEL, FILL_OR_KILL
    is_market: bool
    request: dict[str, Any]  # the order JSON as received
    create_time_ns: int
    engine: Order | None = None
    outcome: tuple[str, str] | None = None  # (status, reason) decided by the face, not the engine
    update_time_ns: int = 0

    @property
    def signer(self) -> str:
        sig = self.request.get("signature") or {}
        return str(sig.get("signer") or "")

    @property
    def order_id(self) -> str:
        return order_id(self.order_index)


def order_id(order_index: int) -> str:
    """GRVT's 128-bit order id; "0x00" until the venue has assigned one."""
    return f"0x{order_index:032x}" if order_index else "0x00"


def parse_order_id(value: object) -> int | None:
    try:
        index = int(str(value), 16)
    except ValueError:
        return None
    return index or None
