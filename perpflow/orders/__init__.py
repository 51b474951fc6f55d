"""Orders: the activities' payloads, the ledger's order states, and the exactly-once gateway.

Workflows import the payloads from here; this package's top level loads nothing but them.
"""

from perpflow.orders.models import (
    AccountQuery,
    AccountSnapshot,
    AwaitFill,
    BookQuery,
    BookSnapshot,
    CancelAll,
    FillsPage,
    FillsQuery,
    MarketQuery,
    Modify,
    NonceState,
    OpenOrders,
    OrderAck,
    OrderAcks,
    OrderBatch,
    OrderIntent,
    OrderRef,
)

__all__ = [
    "AccountQuery",
    "AccountSnapshot",
    "AwaitFill",
    "BookQuery",
    "BookSnapshot",
    "CancelAll",
    "FillsPage",
    "FillsQuery",
    "MarketQuery",
    "Modify",
    "NonceState",
    "OpenOrders",
    "OrderAck",
    "OrderAcks",
    "OrderBatch",
    "OrderIntent",
    "OrderRef",
]
