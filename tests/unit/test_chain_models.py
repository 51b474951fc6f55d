"""Pure chain models: liquidation id derivation, validation, tx dict shape."""

from __future__ import annotations

from decimal import Decimal

import pytest
from eth_abi.packed import encode_packed
from eth_utils.crypto import keccak
from pydantic import ValidationError

from perpflow.chain.models import (
    ChainCursor,
    Eip1559Fees,
    PositionLiquidated,
    RevertKind,
    RevertReason,
    UnsignedTx,
    liquidation_id,
)

TX = "0x" + "ab" * 32
ADDR = "0x" + "11" * 20


def test_liquidation_id_is_keccak_of_packed_tx_hash_and_log_index() -> None:
    expected = "0x" + keccak(encode_packed(["bytes32", "uint256"], [bytes.fromhex("ab" * 32), 7])).hex()
    assert liquidation_id(TX, 7) == expected
    assert liquidation_id(TX.upper().replace("0X", "0x"), 7) == expected  # case-insensitive input
    assert liquidation_id(TX, 7) != liquidation_id(TX, 8)


def test_liquidation_id_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        liquidation_id("0x1234", 0)
    with pytest.raises(ValueError):
        liquidation_id(TX, -1)


def test_position_liquidated_key_leverage_and_id() -> None:
    event = PositionLiquidated(
        address=ADDR,
        tx_hash=TX.upper().replace("0X", "0x"),
        log_index=2,
        block_number=10,
        block_hash="0x" + "cd" * 32,
        user=ADDR,
        leverage_ratio=1250,
        liquidation_amount_wei=5,
    )
    assert event.key == (TX, 2)  # normalised to lower case
    assert event.leverage == Decimal("12.5")
    assert event.liquidation_id == liquidation_id(TX, 2)
    assert event.user == ADDR  # all digits: checksum form is the same string
    assert PositionLiquidated.model_validate_json(event.model_dump_json()) == event


def test_addresses_are_checksummed_and_validated() -> None:
    with pytest.raises(ValidationError):
        ChainCursor(block_number=1, block_hash="0xnothex")
    cursor = ChainCursor(block_number=-1)
    assert cursor.block_hash is None


def test_fees_reject_tip_above_cap() -> None:
    with pytest.raises(ValidationError):
        Eip1559Fees(max_fee_per_gas=1, max_priority_fee_per_gas=2)


def test_unsigned_tx_to_web3_omits_to_for_contract_creation() -> None:
    fees = Eip1559Fees(max_fee_per_gas=3, max_priority_fee_per_gas=1)
    create = UnsignedTx(chain_id=1, nonce=0, to=None, data="0x60", gas=100, fees=fees)
    assert "to" not in create.to_web3()
    call = UnsignedTx(chain_id=1, nonce=4, to=ADDR.lower(), gas=21000, fees=fees).to_web3()
    assert call["type"] == 2 and call["nonce"] == 4 and call["maxFeePerGas"] == 3
    assert call["to"] == "0x1111111111111111111111111111111111111111"


def test_revert_reason_describe() -> None:
    assert (
        RevertReason(kind=RevertKind.CUSTOM, name="AlreadyPaid", args=("0x01",)).describe()
        == "AlreadyPaid(0x01)"
    )
    assert "unknown" in RevertReason(kind=RevertKind.UNKNOWN, data="0xdeadbeef").describe()
