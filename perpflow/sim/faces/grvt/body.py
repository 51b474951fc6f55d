"""Request bodies: every GRVT call is a POST with a JSON object; ``null`` means absent.

History calls page with opaque cursors. GRVT's are unpadded base64 of a small JSON object
(``{"openTime": ...}``, ``{"fundingTime": ...}``). The sim's are made the same way but carry the
whole query, because the SDK's ccxt client sends the cursor alone.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aiohttp import web

from perpflow.sim.faces.grvt.errors import err

DEFAULT_LIMIT = 500
MAX_LIMIT = 1000


async def json_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except ValueError as exc:
        raise err(1003) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise err(1003)
    return data


def limit_of(body: dict[str, Any]) -> int:
    raw = body.get("limit")
    try:
        limit = int(raw) if raw not in (None, "") else DEFAULT_LIMIT
    except (TypeError, ValueError) as exc:
        raise err(1003) from exc
    return max(1, min(limit, MAX_LIMIT))


def page(items: list[Any], body: dict[str, Any]) -> tuple[list[Any], str]:
    """One page of ``items`` and the cursor of the next ("" at the end)."""
    cursor = body.get("cursor") or "0"
    start = int(cursor) if str(cursor).isdigit() else 0
    end = start + limit_of(body)
    return items[start:end], str(end) if end < len(items) else ""


def time_ns(body: dict[str, Any], key: str, default: int) -> int:
    """A unix-ns time field (a decimal string or an int); absent -> ``default``."""
    raw = body.get(key)
    if raw in (None, ""):
        return default
    text = str(raw)
    if not text.isdigit():
        raise err(1003)
    return int(text)


def encode_cursor(fields: dict[str, Any]) -> str:
    raw = json.dumps(fields, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: object) -> dict[str, Any]:
    text = str(cursor)
    try:
        fields = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise err(1003) from exc
    if not isinstance(fields, dict):
        raise err(1003)
    return fields
