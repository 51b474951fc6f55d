"""Auth tokens for Lighter's private reads, created by the signer and renewed before expiry."""

from __future__ import annotations

import time
from typing import Any

from perpflow.venues.errors import AuthError
from perpflow.venues.lighter import constants as c


class AuthTokens:
    def __init__(self, signer: Any, api_key_index: int) -> None:
        self._signer = signer
        self._key = api_key_index
        self._token: str | None = None
        self._expires_at = 0.0

    def token(self) -> str:
        now = time.time()
        if self._token is None or now > self._expires_at - c.AUTH_RENEW_MARGIN_SECONDS:
            token, err = self._signer.create_auth_token_with_expiry(
                c.AUTH_TOKEN_LIFETIME_SECONDS, timestamp=int(now), api_key_index=self._key
            )
            if err is not None or not token:
                raise AuthError(f"lighter: cannot create an auth token ({err})")
            self._token, self._expires_at = str(token), now + c.AUTH_TOKEN_LIFETIME_SECONDS
        return self._token
