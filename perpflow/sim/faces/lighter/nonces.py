"""Lighter's per-API-key transaction nonces, and the skip-nonces already used (lighter-api.md §4)."""

from __future__ import annotations


class Nonces:
    def __init__(self) -> None:
        self._next: dict[tuple[int, int], int] = {}
        self._skipped: set[tuple[int, int, int]] = set()

    def next(self, account: int, key: int) -> int:
        return self._next.get((account, key), 0)

    def skip_used(self, account: int, key: int, nonce: int) -> bool:
        return (account, key, nonce) in self._skipped

    def consume(self, account: int, key: int, nonce: int, *, skip: bool) -> None:
        if skip:
            self._skipped.add((account, key, nonce))
        else:
            self._next[(account, key)] = nonce + 1

    def reset(self) -> None:
        self._next.clear()
        self._skipped.clear()
