"""JSON responses shared by the admin API and the faces: compact, ``application/json``."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

JSON_HEADERS = {"Content-Type": "application/json"}


def ok(body: dict[str, Any]) -> web.Response:
    return web.Response(body=json.dumps(body, separators=(",", ":")).encode(), headers=JSON_HEADERS)


def json_error(status: int, body: dict[str, Any]) -> web.Response:
    return web.Response(status=status, body=json.dumps(body).encode(), headers=JSON_HEADERS)
