"""Lighter auth tokens for private reads (signatures are not verified: there is no verifier)."""

from __future__ import annotations

import time

from perpflow.sim.engine import Engine
from perpflow.sim.faces.lighter.errors import auth_failed
from perpflow.sim.faces.lighter.keys import ApiKeys

# The venue accepts tokens living at most 8 h (lighter-api.md §2); a minute of clock-skew slack.
MAX_TOKEN_LIFETIME_S = 8 * 3600 + 60


def check_token(engine: Engine, keys: ApiKeys, token: str | None, account_index: int) -> None:
    """Accept ``{expiry}:{account}:{key}:{hex}`` or ``ro:{account}:{single|all}:{expiry}:{hex}``."""
    if not token:
        raise auth_failed("missing auth token")
    parts = token.split(":")
    try:
        if parts[0] == "ro" and len(parts) == 5:
            account, key, expiry = int(parts[1]), None, int(parts[3])
        elif len(parts) == 4:
            expiry, account, key = int(parts[0]), int(parts[1]), int(parts[2])
        else:
            raise ValueError(token)
    except ValueError as exc:
        raise auth_failed("malformed auth token") from exc
    now = time.time()
    if expiry <= now:
        raise auth_failed("auth token expired")
    if expiry > now + MAX_TOKEN_LIFETIME_S:
        raise auth_failed("auth token lives too long")
    if account != account_index:
        raise auth_failed("auth token is for another account")
    engine.account(account)
    if key is not None and key not in keys.of(account):
        raise auth_failed("auth token api key not registered")


def token_account(token: str | None) -> int | None:
    """The account a token names, for endpoints whose account_index is optional."""
    if not token:
        return None
    parts = token.split(":")
    try:
        return int(parts[1])
    except (IndexError, ValueError):
        return None
