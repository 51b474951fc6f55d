"""GRVT API keys: each names an engine account (its sub-account), the address that signs its
orders, and its permissions (grvt-api.md §4: trade, transfer, view)."""

from __future__ import annotations

from dataclasses import dataclass

from perpflow.sim.errors import AdminError

PERMISSIONS = frozenset({"trade", "transfer", "view"})
DEFAULT_PERMISSIONS = ("trade", "view")
UINT64 = 1 << 64


@dataclass(frozen=True, slots=True)
class ApiKey:
    api_key: str
    account: int
    signer: str  # lower-case 0x address
    permissions: frozenset[str]


class GrvtKeys:
    """API keys, and the sub-account id each engine account goes by (its index unless set)."""

    def __init__(self) -> None:
        self._keys: dict[str, ApiKey] = {}
        self._sub_of: dict[int, str] = {}
        self._account_of: dict[str, int] = {}

    def register(self, account: int, api_key: str, signer: str, permissions: list[str] | None) -> ApiKey:
        perms = frozenset(permissions or DEFAULT_PERMISSIONS)
        if not api_key or perms - PERMISSIONS:
            raise AdminError(f"a GRVT key needs an api_key and permissions among {sorted(PERMISSIONS)}")
        if not (signer.startswith("0x") and len(signer) == 42):
            raise AdminError("a GRVT key's signer must be a 0x address")
        key = ApiKey(api_key, account, signer.lower(), perms)
        self._keys[api_key] = key
        self.sub_account_id(account)
        return key

    def name_sub_account(self, account: int, sub_account_id: str) -> None:
        if not sub_account_id.isdigit() or int(sub_account_id) >= UINT64:
            raise AdminError("a sub_account_id is a uint64 in decimal")
        if self._account_of.get(sub_account_id, account) != account:
            raise AdminError(f"sub_account_id {sub_account_id} names another account")
        self._account_of.pop(self._sub_of.get(account, ""), None)
        self._sub_of[account] = sub_account_id
        self._account_of[sub_account_id] = account

    def sub_account_id(self, account: int) -> str:
        if account not in self._sub_of:
            self.name_sub_account(account, str(account))
        return self._sub_of[account]

    def account_of(self, sub_account_id: object) -> int | None:
        return self._account_of.get(str(sub_account_id))

    def get(self, api_key: str) -> ApiKey | None:
        return self._keys.get(api_key)

    def signer_key(self, account: int, signer: str) -> ApiKey | None:
        """The key of ``account`` tagged to ``signer`` (trade permission preferred)."""
        found = [k for k in self._keys.values() if k.account == account and k.signer == signer.lower()]
        found.sort(key=lambda k: "trade" not in k.permissions)
        return found[0] if found else None

    def of(self, account: int) -> list[ApiKey]:
        return [k for k in self._keys.values() if k.account == account]

    def reset(self) -> None:
        self._keys.clear()
        self._sub_of.clear()
        self._account_of.clear()
