"""Pydantic models in and out of the chain layer (all JSON-safe for Temporal payloads).

Amounts are integer wei (exact, no float); hashes are lower-case 0x-hex strings; addresses are
EIP-55 checksummed strings.
"""

from __future__ import annotations

import enum
import re
from decimal import Decimal
from typing import Annotated, Any

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

_HASH_RE = re.compile(r"^0x[0-9a-f]{64}$")
_HEX_RE = re.compile(r"^0x([0-9a-f]{2})*$")

# eth-hash picks its keccak backend on first use, by importing it. Pick it now: the first use can
# otherwise be a workflow payload's address check inside Temporal's sandbox (a replay), which
# refuses that import.
keccak(b"")

# leverageRatio is reported scaled by 100 (see LeverageGuard.liquidate): 1250 means 12.50x.
LEVERAGE_RATIO_SCALE = 100


def _hash32(value: str) -> str:
    value = value.lower()
    if not _HASH_RE.match(value):
        raise ValueError("expected a 0x-prefixed 32-byte hex string")
    return value


def _hexdata(value: str) -> str:
    value = value.lower()
    if not _HEX_RE.match(value):
        raise ValueError("expected 0x-prefixed hex bytes")
    return value


def _address(value: str) -> str:
    return str(to_checksum_address(value))


Hash32 = Annotated[str, AfterValidator(_hash32)]
HexData = Annotated[str, AfterValidator(_hexdata)]
Address = Annotated[str, AfterValidator(_address)]
Wei = Annotated[int, Field(ge=0)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def liquidation_id(tx_hash: str, log_index: int) -> str:
    """keccak256(abi.encodePacked(bytes32 txHash, uint256 logIndex)) of a PositionLiquidated log."""
    if log_index < 0:
        raise ValueError("log_index must be >= 0")
    return "0x" + keccak(bytes.fromhex(_hash32(tx_hash)[2:]) + log_index.to_bytes(32, "big")).hex()


class LogRef(_Frozen):
    """Where a log sits on the chain; (tx_hash, log_index) is its idempotency key."""

    address: Address
    tx_hash: Hash32
    log_index: int = Field(ge=0)
    block_number: int = Field(ge=0)
    block_hash: Hash32

    @property
    def key(self) -> tuple[str, int]:
        return (self.tx_hash, self.log_index)


class PositionLiquidated(LogRef):
    user: Address
    leverage_ratio: int = Field(ge=0, description="leverage x 100 as reported on-chain")
    liquidation_amount_wei: Wei

    @property
    def leverage(self) -> Decimal:
        return Decimal(self.leverage_ratio) / LEVERAGE_RATIO_SCALE

    @property
    def liquidation_id(self) -> str:
        return liquidation_id(self.tx_hash, self.log_index)


class PayoutExecuted(LogRef):
    user: Address
    amount_wei: Wei
    liquidation_id: Hash32


class ChainCursor(_Frozen):
    """Last fully processed block. `block_hash=None` means "not verified" (a fresh start)."""

    block_number: int = Field(ge=-1)
    block_hash: Hash32 | None = None


class Eip1559Fees(_Frozen):
    max_fee_per_gas: Wei
    max_priority_fee_per_gas: Wei

    @model_validator(mode="after")
    def _tip_within_cap(self) -> Eip1559Fees:
        if self.max_priority_fee_per_gas > self.max_fee_per_gas:
            raise ValueError("max_priority_fee_per_gas exceeds max_fee_per_gas")
        return self


class UnsignedTx(_Frozen):
    """A fully specified type-2 transaction: nothing is filled in by the node at send time."""

    chain_id: int = Field(gt=0)
    nonce: int = Field(ge=0)
    to: Address | None  # None: contract creation
    data: HexData = "0x"
    value: Wei = 0
    gas: int = Field(gt=0)
    fees: Eip1559Fees

    def to_web3(self) -> dict[str, Any]:
        tx: dict[str, Any] = {
            "type": 2,
            "chainId": self.chain_id,
            "nonce": self.nonce,
            "data": self.data,
            "value": self.value,
            "gas": self.gas,
            "maxFeePerGas": self.fees.max_fee_per_gas,
            "maxPriorityFeePerGas": self.fees.max_priority_fee_per_gas,
        }
        if self.to is not None:
            tx["to"] = self.to
        return tx


class SignedTx(_Frozen):
    """Store this (raw bytes and hash) before broadcasting; rebroadcast the same raw bytes on doubt."""

    tx_hash: Hash32
    raw_tx: HexData
    sender: Address
    nonce: int = Field(ge=0)
    fees: Eip1559Fees


class TxState(enum.StrEnum):
    MINED = "mined"
    PENDING = "pending"
    UNKNOWN = "unknown"  # dropped, reorged out, or never reached this node


class TxReceipt(_Frozen):
    tx_hash: Hash32
    succeeded: bool
    block_number: int = Field(ge=0)
    block_hash: Hash32
    sender: Address
    to: Address | None
    contract_address: Address | None
    gas_used: int = Field(ge=0)
    effective_gas_price: Wei
    liquidations: tuple[PositionLiquidated, ...] = ()
    payouts: tuple[PayoutExecuted, ...] = ()


class RevertKind(enum.StrEnum):
    CUSTOM = "custom"  # a custom error of the guard's ABI, e.g. AlreadyPaid(bytes32)
    ERROR_STRING = "error_string"  # require(..., "text") / revert("text")
    PANIC = "panic"  # Panic(uint256): assert, overflow, ...
    UNKNOWN = "unknown"  # empty data or a selector we do not know


class RevertReason(_Frozen):
    kind: RevertKind
    name: str | None = None
    args: tuple[str | int | bool, ...] = ()
    data: HexData = "0x"

    def describe(self) -> str:
        if self.name is None:
            return f"unknown revert data {self.data[:10] or '0x'}"
        return f"{self.name}({', '.join(str(a) for a in self.args)})"
