"""Typed errors of the chain layer.

Activities map these to Temporal retry decisions by type name: `ChainTransportError` (and its
subclasses) is retryable; the send outcomes (`NonceTooLow`, `AlreadyImported`,
`ReplacementUnderpriced`) are not failures but signals to look the stored hash up; `ContractRevert`
and `InsufficientFunds` are business failures. No error carries a key, a raw transaction or a
signature: messages hold node texts, hashes and addresses only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from perpflow.chain.models import RevertReason


class ChainError(Exception):
    """Base of every error raised by perpflow.chain."""


class ChainTransportError(ChainError):
    """The node could not be reached or answered garbage; the request may or may not have landed."""


class ReceiptTimeout(ChainError):
    """No receipt within the deadline: the tx may still be pending, dropped or underpriced."""


class ChainConfigError(ChainError):
    """Misconfiguration (no guard address, bad artifact, wrong chain id)."""


class SendRejected(ChainError):
    """The node answered `eth_sendRawTransaction` with a JSON-RPC error.

    The base class covers texts that no subclass matches; `code`/`node_message` keep the original.
    """

    def __init__(self, node_message: str, code: int | None = None) -> None:
        super().__init__(f"node rejected transaction: {node_message} (code {code})")
        self.node_message = node_message
        self.code = code


class NonceTooLow(SendRejected):
    """The nonce is used: the same tx was mined already, or another tx took the nonce."""


class AlreadyImported(SendRejected):
    """The node already holds this exact tx in its pool (anvil `already imported`, geth `already known`)."""


class ReplacementUnderpriced(SendRejected):
    """A different tx with this nonce is pending and the new fees are not high enough to replace it."""


class NonceTooHigh(SendRejected):
    """The nonce leaves a gap (hardhat rejects it while automining; anvil queues it silently)."""


class InsufficientFunds(SendRejected):
    """The sender cannot pay gas x max fee + value."""


class ContractRevert(ChainError):
    """A call, an estimate or a mined transaction reverted; `reason` is the decoded revert."""

    def __init__(self, reason: RevertReason, tx_hash: str | None = None) -> None:
        where = f" (tx {tx_hash})" if tx_hash else ""
        super().__init__(f"reverted: {reason.describe()}{where}")
        self.reason = reason
        self.tx_hash = tx_hash
