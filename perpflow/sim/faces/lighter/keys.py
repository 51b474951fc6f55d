"""Lighter API keys of each account: public key, next nonce, skip-nonces used (lighter-api.md §2, §4)."""

from __future__ import annotations

from perpflow.sim.errors import AdminError

PUBLIC_KEY_HEX = 80


class ApiKeys:
    def __init__(self) -> None:
        self._public: dict[int, dict[int, str]] = {}
        self._next: dict[tuple[int, int], int] = {}
        self._skipped: set[tuple[int, int, int]] = set()

    def register(self, account: int, key: int, public_key: str) -> None:
        # /apikeys must serve the key without 0x, or check_client reports a mismatch (§2).
        clean = public_key.removeprefix("0x")
        if len(clean) != PUBLIC_KEY_HEX:
            raise AdminError("invalid PublicKey, update the sdk to the latest version")
        self._public.setdefault(account, {})[key] = clean

    def of(self, account: int) -> dict[int, str]:
        """Public keys by key index."""
        return self._public.get(account, {})

    def next_nonce(self, account: int, key: int) -> int:
        return self._next.get((account, key), 0)

    def skip_used(self, account: int, key: int, nonce: int) -> bool:
        return (account, key, nonce) in self._skipped

    def consume(self, account: int, key: int, nonce: int, *, skip: bool) -> None:
        if skip:
            self._skipped.add((account, key, nonce))
        else:
            self._next[(account, key)] = nonce + 1

    def reset(self) -> None:
        self._public.clear()
        self._next.clear()
        self._skipped.clear()
