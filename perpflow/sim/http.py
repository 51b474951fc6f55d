"""JSON in and out, shared by the admin API and the faces: compact, ``application/json``."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from perpflow.sim.errors import AdminError

JSON_HEADERS = {"Content-Type": "application/json"}


def ok(body: dict[str, Any]) -> web.Response:
    return web.Response(body=json.dumps(body, separators=(",", ":")).encode(), headers=JSON_HEADERS)


async def admin_body(request: web.Request) -> dict[str, Any]:
    """An admin request's JSON object body (empty when there is none)."""
    if not request.can_read_body:
        return {}
    data = await request.json()
    if not isinstance(data, dict):
        raise AdminError("admin body must be a JSON object")
    return data


def json_error(status: int, body: dict[str, Any]) -> web.Response:
    return web.Response(status=status, body=json.dumps(body).encode(), headers=JSON_HEADERS)
