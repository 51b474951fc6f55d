"""GRVT's error bodies ``{code, message, status}`` and HTTP failures as typed perpflow venue errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import aiohttp
from pysdk.grvt_raw_base import GrvtError as GrvtErrorBody

from perpflow.venues.errors import (
    AuthError,
    InsufficientMargin,
    InvalidOrder,
    RateLimited,
    TransportError,
    VenueError,
    VenueUnavailable,
)
from perpflow.venues.grvt import constants as c


class SessionRefused(AuthError):
    """1000 (or a bare 401): the venue no longer knows our session cookie. The request was not
    processed, so it may go again on a fresh login."""


class SignatureRejected(AuthError):
    """The venue refused the order's signature (wrong signer, expired, malformed): the same bytes
    would be refused again. Not retryable."""


class DuplicateOrder(VenueError):
    """The client_order_id belongs to an active order (2012): ours is already on the venue."""


class OrderNotFound(VenueError):
    """1004: no such order (not active, or never placed)."""


def from_body(body: Mapping[str, Any], retry_after: float | None = None) -> VenueError:
    """An error body (any HTTP status) as a typed error."""
    code, message = int(body.get("code") or 0), str(body.get("message", ""))
    text = f"grvt {code}: {message}"
    if code in c.RATE_LIMIT_CODES:
        return RateLimited(text, retry_after=retry_after or c.DEFAULT_RETRY_AFTER_SECONDS)
    kinds: tuple[tuple[frozenset[int], type[VenueError]], ...] = (
        (frozenset({c.SESSION_CODE}), SessionRefused),
        (c.SIGNATURE_CODES, SignatureRejected),
        (c.AUTH_CODES, AuthError),
        (c.MARGIN_CODES, InsufficientMargin),
        (c.DUPLICATE_CODES, DuplicateOrder),
        (c.NOT_FOUND_CODES, OrderNotFound),
        (c.UNAVAILABLE_CODES, VenueUnavailable),
        (c.ORDER_CODES, InvalidOrder),
    )
    for codes, kind in kinds:
        if code in codes:
            return kind(text)
    return VenueError(text)


def sdk_error(result: Any) -> VenueError | None:
    """An SDK method's ``GrvtError`` answer as a typed error (None for any other answer)."""
    return from_body(vars(result)) if isinstance(result, GrvtErrorBody) else None


def retry_after(headers: Mapping[str, str]) -> float:
    try:
        return max(0.1, float(headers.get("Retry-After", c.DEFAULT_RETRY_AFTER_SECONDS)))
    except (TypeError, ValueError):
        return c.DEFAULT_RETRY_AFTER_SECONDS


def from_http(status: int, body: Any, headers: Mapping[str, str]) -> VenueError | None:
    """The typed failure of one response, or None when it succeeded."""
    if isinstance(body, dict) and body.get("code"):
        return from_body(body, retry_after(headers) if status == 429 else None)
    if status < 300 and isinstance(body, dict):
        return None
    if status == 429:
        return RateLimited("grvt: too many requests", retry_after=retry_after(headers))
    if status == 401:
        return SessionRefused(f"grvt HTTP {status}")
    if status == 403:
        return AuthError(f"grvt HTTP {status}")
    if status >= 500:
        return VenueUnavailable(f"grvt HTTP {status}")
    return TransportError(f"grvt HTTP {status}: unusable answer {str(body)[:200]}")


def parse(text: str) -> Any:
    """A response body: its JSON, or the text itself when it is none."""
    try:
        return json.loads(text) if text.strip() else {}
    except ValueError:
        return text


def from_exception(exc: BaseException) -> VenueError | None:
    if isinstance(exc, aiohttp.ClientError | asyncio.TimeoutError | ConnectionError):
        return TransportError(f"grvt transport: {type(exc).__name__}: {exc}")
    return None
