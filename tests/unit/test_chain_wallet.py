"""HotWallet: signs locally, never shows its key."""

from __future__ import annotations

import pytest
from eth_account import Account
from pydantic import SecretStr

from perpflow.chain.errors import ChainConfigError
from perpflow.chain.models import Eip1559Fees, UnsignedTx
from perpflow.chain.wallet import HotWallet


def _tx(nonce: int = 0) -> UnsignedTx:
    fees = Eip1559Fees(max_fee_per_gas=2 * 10**9, max_priority_fee_per_gas=10**9)
    return UnsignedTx(chain_id=31337, nonce=nonce, to="0x" + "42" * 20, data="0x", gas=21000, fees=fees)


def test_sign_returns_raw_tx_and_hash_of_the_signer() -> None:
    key = Account.create().key.to_0x_hex()
    wallet = HotWallet(SecretStr(key))
    signed = wallet.sign(_tx(5))
    assert Account.recover_transaction(signed.raw_tx) == wallet.address == signed.sender
    assert signed.nonce == 5 and signed.tx_hash.startswith("0x") and len(signed.tx_hash) == 66
    assert wallet.sign(_tx(5)) == signed  # deterministic (RFC 6979): re-signing gives the same bytes


def test_key_never_appears_in_repr_or_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    key = Account.create().key.to_0x_hex()
    wallet = HotWallet(SecretStr(key))
    assert key[2:] not in repr(wallet) and key[2:] not in str(wallet)
    bad = key[:-4] + "zzzz"
    with pytest.raises(ChainConfigError) as err:
        HotWallet(SecretStr(bad))
    assert bad[2:] not in str(err.value) and err.value.__cause__ is None and err.value.__context__ is None
    monkeypatch.setenv("PERPFLOW_TEST_KEY", key)
    assert HotWallet.from_env("PERPFLOW_TEST_KEY").address == wallet.address


def test_from_env_without_variable_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PERPFLOW_TEST_KEY", raising=False)
    with pytest.raises(ChainConfigError, match="PERPFLOW_TEST_KEY"):
        HotWallet.from_env("PERPFLOW_TEST_KEY")
