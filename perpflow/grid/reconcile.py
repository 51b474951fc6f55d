"""A session against the venue's truth (at start, after a feed reconnect, periodically).

Orders are told apart by what the session issued: a client order index it was acknowledged, or
a key under its own prefix. Those a level still owns are adopted; the session's other orders are
its orphans, to cancel; every other order (another session's, a manual one) is left alone. The
position is audited against the sum of the level holds, and reported, never forced.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from perpflow.grid.levels import LevelState
from perpflow.grid.models import Cancel, PositionAudit, ReconcileReport
from perpflow.grid.orders import GridOrders
from perpflow.orders import OrderAck


def reconcile(
    book: GridOrders, open_orders: list[OrderAck], position: Decimal, at: datetime
) -> ReconcileReport:
    """``open_orders``: the account's open orders in the session's market (keys where known);
    ``position``: the account's position there."""
    report = ReconcileReport(audit=PositionAudit(expected=Decimal(0), actual=position, drift=Decimal(0)))
    seen = set()
    for ack in open_orders:
        if ack.market != book.config.market:
            continue
        coi = ack.client_order_index
        seen.add(coi)
        level = book.level_of(coi)
        placing = book.placing(ack.key) if ack.key else None
        if level is not None and level.state.live:
            book.apply(ack, at)
        elif placing is not None:
            book.placed(ack.key, ack, at)
            report.adopted.append(coi)
        elif coi in book.tally.orders or (ack.key and book.owns(ack.key)):
            book.apply(ack, at)
            report.cancel.append(Cancel(client_order_index=coi, level=None))
        else:
            report.foreign += 1
    report.look_up = [
        lv.client_order_index
        for lv in book.levels
        if lv.client_order_index is not None
        and lv.state in (LevelState.OPEN, LevelState.PARTIALLY_FILLED, LevelState.CANCELLING)
        and lv.client_order_index not in seen
    ]
    expected = book.position
    report.audit = PositionAudit(expected=expected, actual=position, drift=position - expected)
    return report
