"""Requests the engine refuses synchronously, by reason; each face maps reasons to its own codes."""

from __future__ import annotations

from enum import StrEnum


class RejectReason(StrEnum):
    ACCOUNT_NOT_FOUND = "account not found"
    INVALID_MARKET = "invalid market"
    INVALID_AMOUNT = "invalid order base or quote amount"
    DUPLICATE_CLIENT_ORDER = "client order index already exists"
    INVALID_EXPIRY = "invalid expiry"
    ORDER_NOT_ACTIVE = "order is not active"
    NOT_OWNER = "account is not owner of the order"


class Rejected(Exception):
    def __init__(self, reason: RejectReason) -> None:
        super().__init__(reason.value)
        self.reason = reason


class AdminError(Exception):
    """A malformed request to the admin API (``/_sim``), answered with 400."""
