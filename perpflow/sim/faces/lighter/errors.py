"""Lighter's refusals: HTTP status and ``{"code", "message"}`` with its result codes (lighter-api.md §8)."""

from __future__ import annotations

from perpflow.sim.errors import Rejected, RejectReason


class LighterError(Exception):
    """A request Lighter refuses synchronously: HTTP ``status`` with ``{"code", "message"}``."""

    def __init__(self, code: int, message: str, status: int = 400) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message
        self.status = status

    def body(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message}


_REJECTIONS = {
    RejectReason.ACCOUNT_NOT_FOUND: (21100, "account not found"),
    RejectReason.ORDER_NOT_ACTIVE: (21600, "given order is not an active limit order"),
    RejectReason.INVALID_MARKET: (21602, "invalid market index"),
    RejectReason.INVALID_AMOUNT: (21706, "invalid order base or quote amount"),
    RejectReason.NOT_OWNER: (21707, "account is not owner of the order"),
    RejectReason.INVALID_EXPIRY: (21711, "invalid expiry"),
    RejectReason.DUPLICATE_CLIENT_ORDER: (21728, "client order index already exists"),
}
# What a ``reject_orders`` fault answers unless it names its own code and message.
MARGIN_REJECTION = (21739, "not enough margin to create the order")


def lighter_error(exc: LighterError | Rejected) -> LighterError:
    """The engine's refusal in Lighter's words; Lighter's own refusals pass through."""
    if isinstance(exc, LighterError):
        return exc
    return LighterError(*_REJECTIONS[exc.reason])


def rejection(reason: RejectReason) -> LighterError:
    return LighterError(*_REJECTIONS[reason])


def invalid_nonce() -> LighterError:
    return LighterError(21104, "invalid nonce")


def batch_nonce_not_increasing() -> LighterError:
    return LighterError(21105, "batch transaction nonce is not increasing")


def api_key_not_found() -> LighterError:
    return LighterError(21109, "api key not found")


def batch_mixed_keys() -> LighterError:
    return LighterError(21121, "all transactions in the batch must have use same account and apikey")


def invalid_tx_info() -> LighterError:
    return LighterError(21501, "invalid tx info")


def bad_param(name: str) -> LighterError:
    return LighterError(21501, f"invalid param: {name}")


def unsupported_tx_type() -> LighterError:
    return LighterError(21505, "unsupported tx type")


def batch_length_mismatch() -> LighterError:
    return LighterError(21513, "TxInfos and TxTypes should have the same length")


def batch_too_large() -> LighterError:
    return LighterError(21514, "maximum 50 transactions allowed per batch")


def too_many_requests() -> LighterError:
    return LighterError(23000, "Too Many Requests!", status=429)


def internal_error(status: int = 500) -> LighterError:
    return LighterError(29500, "internal server error", status=status)


def auth_failed(why: str) -> LighterError:
    # The real code is undocumented (lighter-api.md §15); 20001 keeps it out of the tx-error range.
    return LighterError(20001, f"invalid auth: {why}")
