"""API-key login sessions: the ``gravity`` cookie, its expiry, and where a request carries it.

The SDK parses ``Expires`` to whole seconds and re-logs in when 5 s or less remain; the sim
checks the exact expiry it set. A cookie comes in the ``Cookie`` header or, as browser
clients send it on websockets, in the query string (``?Cookie=gravity%3D...``; grvt-api.md §4).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from email.utils import formatdate
from http.cookies import CookieError, SimpleCookie

from aiohttp import web

from perpflow.sim.faces.grvt.errors import err
from perpflow.sim.faces.grvt.keys import ApiKey

DEFAULT_TTL_S = 24 * 3600.0  # GRVT's sessions last 24 h


@dataclass(slots=True)
class Session:
    token: str
    key: ApiKey
    expires_at: float  # wall clock, seconds

    @property
    def account(self) -> int:
        return self.key.account

    def set_cookie(self) -> str:
        expires = formatdate(self.expires_at, usegmt=True)
        return f"gravity={self.token}; Path=/; Expires={expires}; HttpOnly"


class Sessions:
    def __init__(self, ttl_s: float = DEFAULT_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._live: dict[str, Session] = {}

    def login(self, key: ApiKey) -> Session:
        self._prune()
        session = Session(secrets.token_urlsafe(24), key, time.time() + self.ttl_s)
        self._live[session.token] = session
        return session

    def get(self, token: str | None) -> Session | None:
        session = self._live.get(token or "")
        if session is None or session.expires_at <= time.time():
            return None
        return session

    def require(self, request: web.Request) -> Session:
        """The request's live session, or GRVT's 1000."""
        session = self.get(cookie_of(request))
        if session is None:
            raise err(1000)
        return session

    def expire_all(self) -> int:
        """End every session now (an operator's fault); returns how many were live."""
        now = time.time()
        live = [s for s in self._live.values() if s.expires_at > now]
        for session in live:
            session.expires_at = now
        return len(live)

    def _prune(self) -> None:
        now = time.time()
        for token in [t for t, s in self._live.items() if s.expires_at <= now]:
            del self._live[token]

    def reset(self) -> None:
        self._live.clear()


def cookie_of(request: web.Request) -> str | None:
    token = request.cookies.get("gravity")
    if token:
        return token
    raw = request.query.get("Cookie") or request.query.get("cookie")
    if not raw:
        return None
    try:
        jar = SimpleCookie(raw)
    except CookieError:
        return None
    morsel = jar.get("gravity")
    return morsel.value if morsel is not None else None
