"""Query-string and form helpers shared by the HTTP handlers."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.web_request import FileField

from perpflow.sim.errors import SimError

JSON_HEADERS = {"Content-Type": "application/json"}


def bad_param(name: str) -> SimError:
    return SimError(21501, f"invalid param: {name}")


def int_param(request: web.Request, name: str, default: int | None = None) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        if default is None:
            raise bad_param(name)
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise bad_param(name) from exc


def opt_int(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    return int_param(request, name)


def ok(body: dict[str, Any]) -> web.Response:
    return web.Response(body=json.dumps(body, separators=(",", ":")).encode(), headers=JSON_HEADERS)


def error(exc: SimError) -> web.Response:
    return web.Response(status=exc.status, body=json.dumps(exc.body()).encode(), headers=JSON_HEADERS)


async def form(request: web.Request) -> dict[str, str]:
    """Form fields of a urlencoded (fast path) or multipart body; JSON bodies are accepted too."""
    ctype = request.content_type
    if ctype == "application/x-www-form-urlencoded":
        return dict(parse_qsl((await request.read()).decode(), keep_blank_values=True))
    if ctype == "application/json":
        data = await request.json()
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}
    fields = await request.post()
    return {k: _field_text(v) for k, v in fields.items()}


def _field_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode()
    if isinstance(value, FileField):
        return bytes(value.file.read()).decode()
    return str(value)
