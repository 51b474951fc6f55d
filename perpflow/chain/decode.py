"""Pure decoding: guard logs into models, revert data into reasons, node texts into send errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.address import to_checksum_address

from perpflow.chain.artifact import (
    PAYOUT_EXECUTED,
    POSITION_LIQUIDATED,
    error_by_selector,
    event_topic,
    load_artifact,
)
from perpflow.chain.errors import (
    AlreadyImported,
    InsufficientFunds,
    NonceTooHigh,
    NonceTooLow,
    ReplacementUnderpriced,
    SendRejected,
)
from perpflow.chain.models import PayoutExecuted, PositionLiquidated, RevertKind, RevertReason

ERROR_STRING_SELECTOR = "0x08c379a0"  # Error(string)
PANIC_SELECTOR = "0x4e487b71"  # Panic(uint256)


def to_hex(value: Any) -> str:
    """HexBytes / bytes / str -> lower-case 0x-hex (hexbytes 2's .hex() drops the 0x)."""
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    text = str(value).lower()
    return text if text.startswith("0x") else "0x" + text


def as_int(value: Any) -> int:
    """A quantity as web3 formats it (int) or as the node sends it (0x-hex)."""
    return int(value, 16) if isinstance(value, str) else int(value)


def abi_value(abi_type: str, value: Any) -> str | int | bool:
    if abi_type == "address":
        return str(to_checksum_address(value))
    if isinstance(value, bytes):
        return to_hex(value)
    if isinstance(value, bool | int | str):
        return value
    return str(value)


def _decode_event_args(entry: Mapping[str, Any], log: Mapping[str, Any]) -> dict[str, Any]:
    topics = [bytes.fromhex(to_hex(t)[2:]) for t in log["topics"]][1:]
    indexed = [i for i in entry["inputs"] if i["indexed"]]
    plain = [i for i in entry["inputs"] if not i["indexed"]]
    if len(topics) != len(indexed):
        raise ValueError(f"{entry['name']} log has {len(topics)} indexed topics, ABI says {len(indexed)}")
    args: dict[str, Any] = {}
    for inp, topic in zip(indexed, topics, strict=True):
        args[inp["name"]] = abi_value(inp["type"], abi_decode([inp["type"]], topic)[0])
    values = abi_decode([i["type"] for i in plain], bytes.fromhex(to_hex(log["data"])[2:]))
    for inp, value in zip(plain, values, strict=True):
        args[inp["name"]] = abi_value(inp["type"], value)
    return args


def _log_ref(log: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "address": to_checksum_address(log["address"]),
        "tx_hash": to_hex(log["transactionHash"]),
        "log_index": as_int(log["logIndex"]),
        "block_number": as_int(log["blockNumber"]),
        "block_hash": to_hex(log["blockHash"]),
    }


def log_topic0(log: Mapping[str, Any]) -> str | None:
    topics = log.get("topics") or []
    return to_hex(topics[0]) if topics else None


def decode_position_liquidated(log: Mapping[str, Any]) -> PositionLiquidated:
    args = _decode_event_args(load_artifact().entry("event", POSITION_LIQUIDATED), log)
    return PositionLiquidated(
        **_log_ref(log),
        user=args["user"],
        leverage_ratio=args["leverageRatio"],
        liquidation_amount_wei=args["liquidationAmount"],
    )


def decode_payout_executed(log: Mapping[str, Any]) -> PayoutExecuted:
    args = _decode_event_args(load_artifact().entry("event", PAYOUT_EXECUTED), log)
    return PayoutExecuted(
        **_log_ref(log), user=args["user"], amount_wei=args["amount"], liquidation_id=args["liquidationId"]
    )


def decode_guard_logs(
    logs: list[Mapping[str, Any]], guard: str | None
) -> tuple[tuple[PositionLiquidated, ...], tuple[PayoutExecuted, ...]]:
    """Split a receipt's logs into the guard's two business events (other logs are ignored)."""
    liq_topic, pay_topic = event_topic(POSITION_LIQUIDATED), event_topic(PAYOUT_EXECUTED)
    mine = [lg for lg in logs if guard is None or str(lg["address"]).lower() == guard.lower()]
    liquidations = tuple(decode_position_liquidated(lg) for lg in mine if log_topic0(lg) == liq_topic)
    payouts = tuple(decode_payout_executed(lg) for lg in mine if log_topic0(lg) == pay_topic)
    return liquidations, payouts


def decode_revert(data: str | bytes | None) -> RevertReason:
    """Revert data (selector + args) -> reason; the guard's custom errors are matched by selector."""
    hexdata = to_hex(data) if data else "0x"
    selector, body = hexdata[:10], bytes.fromhex(hexdata[10:]) if len(hexdata) >= 10 else b""
    try:
        if selector == ERROR_STRING_SELECTOR:
            (text,) = abi_decode(["string"], body)
            return RevertReason(kind=RevertKind.ERROR_STRING, name="Error", args=(text,), data=hexdata)
        if selector == PANIC_SELECTOR:
            (code,) = abi_decode(["uint256"], body)
            return RevertReason(kind=RevertKind.PANIC, name="Panic", args=(code,), data=hexdata)
        entry = error_by_selector().get(selector)
        if entry is not None:
            types = [i["type"] for i in entry["inputs"]]
            values = tuple(abi_value(t, v) for t, v in zip(types, abi_decode(types, body), strict=True))
            return RevertReason(kind=RevertKind.CUSTOM, name=entry["name"], args=values, data=hexdata)
    except Exception:  # malformed args: keep the raw data rather than fail the lookup
        return RevertReason(kind=RevertKind.UNKNOWN, data=hexdata)
    return RevertReason(kind=RevertKind.UNKNOWN, data=hexdata)


# Texts seen from anvil 1.7.1, geth, hardhat, nethermind/erigon/parity; compared lower-case. Order
# matters: hardhat's "known transaction" must not be read as a generic rejection, and
# "replacement ... underpriced" must win over "underpriced".
_SEND_ERROR_TEXTS: tuple[tuple[tuple[str, ...], type[SendRejected]], ...] = (
    (("nonce too low", "nonce is too low", "oldnonce"), NonceTooLow),
    (("already imported", "already known", "known transaction", "alreadyknown"), AlreadyImported),
    (
        ("replacement transaction underpriced", "replacement fee too low", "replacement underpriced"),
        ReplacementUnderpriced,
    ),
    (("nonce too high", "nonce gap"), NonceTooHigh),
    (("insufficient funds",), InsufficientFunds),
)


def classify_send_error(node_message: str, code: int | None = None) -> SendRejected:
    text = node_message.lower()
    for needles, error_type in _SEND_ERROR_TEXTS:
        if any(n in text for n in needles):
            return error_type(node_message, code)
    return SendRejected(node_message, code)
