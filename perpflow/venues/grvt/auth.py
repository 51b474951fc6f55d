"""The API-key session: ``POST {edge}/auth/api_key/login`` -> the ``gravity`` cookie (with its
expiry) and the ``X-Grvt-Account-Id`` header, sent on every private request and websocket upgrade.

We log in ourselves rather than through the SDK: its login opens a session of its own (no proxy),
parses the expiry as local time, and renews only 5 s before it, which a slow request overruns.
Ours goes through the account's proxy and renews a tenth of the lifetime early.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from http.cookies import CookieError, SimpleCookie

import aiohttp
from pydantic import SecretStr

from perpflow.venues.errors import AuthError, VenueError
from perpflow.venues.grvt import constants as c
from perpflow.venues.grvt import errors
from perpflow.venues.types import Proxy
from perpflow.venues.websocket import proxy_args

log = logging.getLogger(__name__)


def renew_margin(lifetime_s: float) -> float:
    """How long before expiry to renew: a tenth of the lifetime, at least a minute, at most half."""
    return min(max(lifetime_s * c.SESSION_RENEW_FRACTION, c.SESSION_RENEW_MIN_SECONDS), lifetime_s / 2)


def parse_cookie(header: str | None, now: float) -> tuple[str, float]:
    """The gravity cookie's value and its expiry (unix seconds) from a Set-Cookie header."""
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header or "")
    except CookieError as exc:
        raise AuthError(f"grvt login: unreadable Set-Cookie ({exc})") from None
    morsel = jar.get(c.COOKIE)
    if morsel is None or not morsel.value:
        raise AuthError("grvt login: no gravity cookie in the answer")
    if morsel["max-age"]:
        return morsel.value, now + float(morsel["max-age"])
    if not morsel["expires"]:
        raise AuthError("grvt login: the gravity cookie has no expiry")
    return morsel.value, parsedate_to_datetime(morsel["expires"]).timestamp()


class Session:
    def __init__(
        self,
        http: aiohttp.ClientSession,
        edge_url: str,
        api_key: SecretStr,
        *,
        proxy: Proxy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._http, self._url, self._key = http, edge_url.rstrip("/") + c.LOGIN_PATH, api_key
        self._proxy, self._clock = proxy, clock
        self._cookie: str | None = None
        self.account_id: str | None = None
        self.issued_at = 0.0
        self.expires_at = 0.0
        self.logins = 0
        self._lock = asyncio.Lock()

    def due(self) -> bool:
        """Whether the session needs renewing now."""
        if self._cookie is None:
            return True
        margin = renew_margin(self.expires_at - self.issued_at)
        return self._clock() >= self.expires_at - margin

    async def headers(self) -> dict[str, str]:
        """The auth headers of a private request, the session renewed first if due."""
        if self.due():
            async with self._lock:
                if self.due():
                    await self.login()
        assert self._cookie is not None
        out = {"Cookie": f"{c.COOKIE}={self._cookie}"}
        if self.account_id:
            out[c.ACCOUNT_HEADER] = self.account_id
        return out

    def expire(self) -> None:
        """The venue refused the cookie: the next request logs in again."""
        self._cookie = None

    async def login(self) -> None:
        proxy, auth = proxy_args(self._proxy)
        now = self._clock()
        try:
            async with self._http.post(
                self._url,
                json={"api_key": self._key.get_secret_value()},
                # Remember-me, as GRVT's docs send it: the cookie lives its full 24 h.
                headers={"Cookie": "rm=true;"},
                proxy=proxy,
                proxy_auth=auth,
                timeout=aiohttp.ClientTimeout(total=c.REQUEST_TIMEOUT_S),
            ) as resp:
                body = errors.parse(await resp.text())
                if resp.status >= 300:
                    raise errors.from_http(resp.status, body, resp.headers) or AuthError(
                        f"grvt login HTTP {resp.status}"
                    )
                cookie, expires = parse_cookie(resp.headers.get("Set-Cookie"), now)
                account = resp.headers.get(c.ACCOUNT_HEADER)
        except VenueError:
            raise
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise errors.from_exception(exc) or AuthError(f"grvt login: {exc}") from exc
        self._cookie, self.account_id, self.issued_at, self.expires_at = cookie, account, now, expires
        self.logins += 1
        log.info("grvt session renewed account=%s expires_in=%.0fs", account, expires - now)
