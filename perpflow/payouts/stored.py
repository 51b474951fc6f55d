"""The signed transaction a payout row stores, read back by the wallet lane and the tracker.

Both rebroadcast these exact bytes (a retry, a lost tx) and never sign anew for that.
"""

from __future__ import annotations

from eth_account.typed_transactions.typed_transaction import TypedTransaction
from hexbytes import HexBytes

from perpflow.chain.models import Eip1559Fees, SignedTx
from perpflow.payouts.errors import PayoutStateError
from perpflow.payouts.models import PayoutRecord


def stored_signed(rec: PayoutRecord) -> SignedTx:
    """The stored raw tx as a SignedTx (fees decoded from the bytes: nothing else to trust)."""
    if rec.raw_tx is None or rec.nonce is None or rec.wallet is None or not rec.tx_hashes:
        raise PayoutStateError(f"payout {rec.workflow_id} has no stored transaction")
    fields = TypedTransaction.from_bytes(HexBytes(rec.raw_tx)).as_dict()
    fees = Eip1559Fees(
        max_fee_per_gas=int(fields["maxFeePerGas"]),
        max_priority_fee_per_gas=int(fields["maxPriorityFeePerGas"]),
    )
    return SignedTx(
        tx_hash=rec.tx_hashes[-1], raw_tx=rec.raw_tx, sender=rec.wallet, nonce=rec.nonce, fees=fees
    )
