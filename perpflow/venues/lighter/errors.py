"""Map lighter-sdk's exceptions and error strings to typed perpflow venue errors."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp
from lighter import exceptions as sdk

from perpflow.venues.errors import (
    AuthError,
    InsufficientMargin,
    InvalidNonce,
    InvalidOrder,
    RateLimited,
    TransportError,
    VenueError,
    VenueUnavailable,
)
from perpflow.venues.lighter import constants as c

T = TypeVar("T")

_CODE = re.compile(r"code[=\"':\s]+(\d+)")


def error_code(body: str) -> int | None:
    try:
        code = json.loads(body).get("code")
        return int(code) if code is not None else None
    except (ValueError, AttributeError, TypeError):
        match = _CODE.search(body)
        return int(match.group(1)) if match else None


def from_result(code: int | None, message: str) -> VenueError:
    """A venue error body (HTTP 400 or a 200 with code != 200) as a typed error."""
    text = f"lighter {code}: {message}"
    if code == c.INVALID_NONCE or "invalid nonce" in message:
        return InvalidNonce(text)
    if code in c.MARGIN_CODES:
        return InsufficientMargin(text)
    if code in c.AUTH_CODES:
        return AuthError(text)
    if code in c.ORDER_CODES:
        return InvalidOrder(text)
    return VenueError(text)


def _retry_after(exc: sdk.ApiException) -> float:
    headers = exc.headers or {}
    try:
        return max(0.1, float(headers.get("Retry-After", c.DEFAULT_RETRY_AFTER_SECONDS)))
    except (TypeError, ValueError):
        return c.DEFAULT_RETRY_AFTER_SECONDS


def translate(exc: BaseException) -> VenueError | None:
    if isinstance(exc, sdk.BadRequestException):
        body = str(exc.body or "")
        return from_result(error_code(body), _message(body))
    if isinstance(exc, sdk.ServiceException):
        return VenueUnavailable(f"lighter HTTP {exc.status}")
    if isinstance(exc, sdk.ApiException):
        if exc.status == 429:
            return RateLimited("lighter: too many requests", retry_after=_retry_after(exc))
        if exc.status in (401, 403):
            return AuthError(f"lighter HTTP {exc.status}")
        return TransportError(f"lighter HTTP {exc.status}: {exc.reason}")
    if isinstance(exc, aiohttp.ClientError | asyncio.TimeoutError | ConnectionError):
        return TransportError(f"lighter transport: {type(exc).__name__}: {exc}")
    return None


def _message(body: str) -> str:
    try:
        return str(json.loads(body).get("message", body))
    except (ValueError, AttributeError):
        return body


async def call(op: Callable[[], Awaitable[T]]) -> T:
    """Run an SDK call, re-raising its failures as typed venue errors."""
    try:
        return await op()
    except VenueError:
        raise
    except Exception as exc:
        typed = translate(exc)
        if typed is None:
            raise
        raise typed from None
