"""Request bodies: every GRVT call is a POST with a JSON object; ``null`` means absent."""

from __future__ import annotations

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
