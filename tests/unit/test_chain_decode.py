"""Pure decoding: node error texts, revert data, guard logs."""

from __future__ import annotations

import pytest
from eth_abi.abi import encode
from hexbytes import HexBytes

from perpflow.chain.artifact import PAYOUT_EXECUTED, POSITION_LIQUIDATED, event_topic
from perpflow.chain.decode import (
    classify_send_error,
    decode_guard_logs,
    decode_payout_executed,
    decode_position_liquidated,
    decode_revert,
)
from perpflow.chain.errors import (
    AlreadyImported,
    InsufficientFunds,
    NonceTooHigh,
    NonceTooLow,
    ReplacementUnderpriced,
    SendRejected,
)
from perpflow.chain.models import RevertKind

GUARD = "0x" + "42" * 20
USER = "0x00000000000000000000000000000000000000aa"
LID = "0x" + "99" * 32


@pytest.mark.parametrize(
    "text,expected",
    [
        ("nonce too low", NonceTooLow),  # anvil, geth
        (
            "Nonce too low. Expected nonce to be 6 but got 5. Note that transactions can't be queued",
            NonceTooLow,
        ),
        ("OldNonce, Current nonce: 5, nonce of rejected tx: 4", NonceTooLow),  # nethermind
        ("transaction already imported", AlreadyImported),  # anvil
        ("already known", AlreadyImported),  # geth
        ("Known transaction: 0x1234", AlreadyImported),  # hardhat
        ("replacement transaction underpriced", ReplacementUnderpriced),  # anvil, geth
        (
            "Replacement transaction underpriced. A gasPrice/maxFeePerGas of at least 2 is necessary",
            ReplacementUnderpriced,
        ),
        ("Nonce too high. Expected nonce to be 1 but got 3", NonceTooHigh),
        ("insufficient funds for gas * price + value", InsufficientFunds),
        ("something else entirely", SendRejected),
    ],
)
def test_send_error_texts_of_several_nodes_map_to_types(text: str, expected: type[SendRejected]) -> None:
    error = classify_send_error(text, -32003)
    assert type(error) is expected
    assert error.node_message == text and error.code == -32003


def test_decode_custom_errors_by_selector() -> None:
    data = "0xf4b76a0e" + "99" * 32
    reason = decode_revert(data)
    assert (reason.kind, reason.name, reason.args) == (RevertKind.CUSTOM, "AlreadyPaid", (LID,))
    data = "0xcf479181" + encode(["uint256", "uint256"], [5, 9]).hex()
    assert decode_revert(data).describe() == "InsufficientBalance(5, 9)"
    assert decode_revert("0x30cd7471").name == "NotOwner"
    data = "0xdf17e316" + encode(["address"], [USER]).hex()
    assert decode_revert(data).args == ("0x00000000000000000000000000000000000000AA",)


def test_decode_error_string_panic_and_unknown() -> None:
    data = "0x08c379a0" + encode(["string"], ["nope"]).hex()
    assert (decode_revert(data).kind, decode_revert(data).args) == (RevertKind.ERROR_STRING, ("nope",))
    data = "0x4e487b71" + encode(["uint256"], [0x11]).hex()
    assert (decode_revert(data).kind, decode_revert(data).args) == (RevertKind.PANIC, (0x11,))
    assert decode_revert(None).kind is RevertKind.UNKNOWN
    assert decode_revert("0xdeadbeef").kind is RevertKind.UNKNOWN
    assert decode_revert("0xf4b76a0e12").kind is RevertKind.UNKNOWN  # truncated args: no crash
    assert decode_revert(HexBytes("0x30cd7471")).name == "NotOwner"


def _log(topics: list[str], data: bytes, index: int = 0) -> dict[str, object]:
    return {
        "address": GUARD,
        "topics": [HexBytes(t) for t in topics],
        "data": HexBytes(data),
        "blockNumber": 12,
        "blockHash": HexBytes("0x" + "bb" * 32),
        "transactionHash": HexBytes("0x" + "cc" * 32),
        "logIndex": index,
    }


def _user_topic() -> str:
    return "0x" + encode(["address"], [USER]).hex()


def test_decode_position_liquidated_log() -> None:
    log = _log(
        [event_topic(POSITION_LIQUIDATED), _user_topic()], encode(["uint256", "uint256"], [1250, 10**18]), 3
    )
    event = decode_position_liquidated(log)
    assert (event.user.lower(), event.leverage_ratio, event.liquidation_amount_wei) == (USER, 1250, 10**18)
    assert event.key == ("0x" + "cc" * 32, 3) and event.block_hash == "0x" + "bb" * 32


def test_decode_payout_executed_and_receipt_split() -> None:
    pay = _log([event_topic(PAYOUT_EXECUTED), _user_topic(), LID], encode(["uint256"], [7]), 1)
    liq = _log([event_topic(POSITION_LIQUIDATED), _user_topic()], encode(["uint256", "uint256"], [1, 2]), 0)
    foreign = {**pay, "address": "0x" + "43" * 20}
    event = decode_payout_executed(pay)
    assert (event.amount_wei, event.liquidation_id) == (7, LID)
    liquidations, payouts = decode_guard_logs([liq, pay, foreign], GUARD)
    assert len(liquidations) == 1 and payouts == (event,)


def test_log_with_wrong_topic_count_is_refused() -> None:
    with pytest.raises(ValueError):
        decode_position_liquidated(
            _log([event_topic(POSITION_LIQUIDATED)], encode(["uint256", "uint256"], [1, 2]))
        )
