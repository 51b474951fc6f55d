"""The hot wallet: a private key in a SecretStr, unwrapped only to derive the address and to sign."""

from __future__ import annotations

import os

from eth_account import Account
from pydantic import SecretStr

from perpflow.chain.decode import to_hex
from perpflow.chain.errors import ChainConfigError
from perpflow.chain.models import SignedTx, UnsignedTx


def _address_of(private_key: SecretStr) -> str | None:
    try:
        return str(Account.from_key(private_key.get_secret_value()).address)
    except Exception:
        return None


class HotWallet:
    """Signs transactions locally. repr/str show the address only; errors never include the key."""

    __slots__ = ("_address", "_key")

    def __init__(self, private_key: SecretStr) -> None:
        address = _address_of(private_key)
        if address is None:
            # Raised outside the `except`: no __context__ that could quote the key material.
            raise ChainConfigError("invalid hot-wallet private key")
        self._address: str = address
        self._key = private_key

    @classmethod
    def from_env(cls, var: str = "PERPFLOW_WALLET_KEY") -> HotWallet:
        value = os.environ.get(var)
        if not value:
            raise ChainConfigError(f"environment variable {var} is not set")
        return cls(SecretStr(value))

    @property
    def address(self) -> str:
        return self._address

    def sign(self, tx: UnsignedTx) -> SignedTx:
        signed, failure = None, ""
        try:
            signed = Account.sign_transaction(tx.to_web3(), self._key.get_secret_value())
        except Exception as exc:
            failure = type(exc).__name__
        if signed is None:
            raise ChainConfigError(f"could not sign tx nonce {tx.nonce}: {failure}")
        return SignedTx(
            tx_hash=to_hex(signed.hash),
            raw_tx=to_hex(signed.raw_transaction),
            sender=self._address,
            nonce=tx.nonce,
            fees=tx.fees,
        )

    def __repr__(self) -> str:
        return f"HotWallet({self._address})"

    __str__ = __repr__
