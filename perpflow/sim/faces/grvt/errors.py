"""GRVT's refusals: HTTP status and exactly ``{"code", "message", "status"}`` (grvt-api.md §6, §7).

The raw SDK builds ``GrvtError(**body)``, so an error body with any other key breaks it.
"""

from __future__ import annotations

from perpflow.sim.errors import Rejected, RejectReason


class GrvtError(Exception):
    def __init__(self, code: int, message: str, status: int = 400) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message
        self.status = status

    def body(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message, "status": self.status}


def err(code: int) -> GrvtError:
    message, status = MESSAGES[code]
    return GrvtError(code, message, status)


# The spec's codes the face answers; the wording follows the spec's error table.
MESSAGES: dict[int, tuple[str, int]] = {
    1000: ("You need to authenticate prior to using this functionality", 401),
    1001: ("You are not authorized to access this functionality", 403),
    1002: ("Internal Server Error", 500),
    1003: ("Request could not be processed due to malformed syntax", 400),
    1004: ("Data Not Found", 404),
    1006: ("You have surpassed the allocated rate limit for your tier", 429),
    1400: ("Signer does not have trade permission", 403),
    2000: ("Order signature is from an unauthorized signer", 403),
    2001: ("Order signature has expired", 400),
    2002: ("Signature does not match payload", 400),
    2003: ("Order sub account does not match logged in user", 403),
    2005: ("Signature V must be 27/28", 400),
    2006: ("Signature R/S must have exactly 64 characters long without 0x prefix", 400),
    2007: ("Signature S must be in the lower half of the curve", 400),
    2008: ("Order signature expiration must be within 30 days", 400),
    2010: ("Order ID should be empty when creating an order", 400),
    2011: ("Client Order ID should be supplied when creating an order", 400),
    2012: ("Client Order ID overlaps with existing active order", 400),
    2020: ("Market Order must not have a limit price", 400),
    2021: ("Limit Order must have a limit price", 400),
    2030: ("Orderbook Orders must have a TimeInForce of GTT/IOC/FOK", 400),
    2032: ("Post Only can only be set with GTT/AON", 400),
    2042: ("Order must have exactly one leg", 400),
    2050: ("Order state must be empty upon creation", 400),
    2061: ("Unsupported Instrument Requested", 400),
    2062: ("Order size smaller than min size", 400),
    2064: ("Order price is not a multiple of the tick size", 400),
    2065: ("Order size is too granular", 400),
    2066: ("Order notional is below the minimum notional", 400),
    2080: ("Insufficient margin to create order", 400),
    2090: ("Max open orders exceeded", 429),
    2300: ("Order cancel time-to-live settings currently disabled", 400),
    2301: ("Order cancel time-to-live exceeds maximum allowed value", 400),
    2400: ("Reduce only order with no position", 400),
    2401: ("Reduce only order must reduce the position size", 400),
    6000: ("Cancel on disconnect countdown exceeds 300 seconds", 400),
    3000: ("Instrument is invalid", 400),
    3020: ("Sub account ID must be an uint64 integer", 400),
    3021: ("Either order ID or client order ID must be supplied", 400),
    3030: ("Feed rate is invalid", 400),
    3031: ("Depth is invalid", 400),
    1101: ("Feed Format must be in the format of <primary>@<secondary>", 400),
}

_REJECTIONS = {
    RejectReason.ACCOUNT_NOT_FOUND: 2003,
    RejectReason.INVALID_MARKET: 2061,
    RejectReason.INVALID_AMOUNT: 2066,
    RejectReason.DUPLICATE_CLIENT_ORDER: 2012,
    RejectReason.INVALID_EXPIRY: 2001,
    RejectReason.ORDER_NOT_ACTIVE: 1004,
    RejectReason.NOT_OWNER: 1004,
}


def grvt_error(exc: GrvtError | Rejected) -> GrvtError:
    """The engine's refusal in GRVT's words; GRVT's own refusals pass through."""
    if isinstance(exc, GrvtError):
        return exc
    return err(_REJECTIONS[exc.reason])
