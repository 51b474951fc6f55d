"""Typed venue errors carrying Lighter's result codes (lighter-api.md §8)."""

from __future__ import annotations


class SimError(Exception):
    """A request the venue refuses synchronously: HTTP ``status`` with ``{"code", "message"}``."""

    def __init__(self, code: int, message: str, status: int = 400) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message
        self.status = status

    def body(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message}


def account_not_found() -> SimError:
    return SimError(21100, "account not found")


def invalid_nonce() -> SimError:
    return SimError(21104, "invalid nonce")


def batch_nonce_not_increasing() -> SimError:
    return SimError(21105, "batch transaction nonce is not increasing")


def api_key_not_found() -> SimError:
    return SimError(21109, "api key not found")


def batch_mixed_keys() -> SimError:
    return SimError(21121, "all transactions in the batch must have use same account and apikey")


def invalid_tx_info() -> SimError:
    return SimError(21501, "invalid tx info")


def unsupported_tx_type() -> SimError:
    return SimError(21505, "unsupported tx type")


def batch_length_mismatch() -> SimError:
    return SimError(21513, "TxInfos and TxTypes should have the same length")


def batch_too_large() -> SimError:
    return SimError(21514, "maximum 50 transactions allowed per batch")


def order_not_active() -> SimError:
    return SimError(21600, "given order is not an active limit order")


def invalid_market() -> SimError:
    return SimError(21602, "invalid market index")


def invalid_amount() -> SimError:
    return SimError(21706, "invalid order base or quote amount")


def not_owner() -> SimError:
    return SimError(21707, "account is not owner of the order")


def invalid_expiry() -> SimError:
    return SimError(21711, "invalid expiry")


def duplicate_client_order_index() -> SimError:
    return SimError(21728, "client order index already exists")


def too_many_requests() -> SimError:
    return SimError(23000, "Too Many Requests!", status=429)


def internal_error(status: int = 500) -> SimError:
    return SimError(29500, "internal server error", status=status)


def auth_failed(why: str) -> SimError:
    # The real code is undocumented (lighter-api.md §15); 20001 keeps it out of the tx-error range.
    return SimError(20001, f"invalid auth: {why}")
