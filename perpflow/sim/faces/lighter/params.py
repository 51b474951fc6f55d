"""Query-string and form helpers for the Lighter handlers, and its error response."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.web_request import FileField

from perpflow.sim.faces.lighter.errors import LighterError, bad_param
from perpflow.sim.http import json_error


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


def error(exc: LighterError) -> web.Response:
    return json_error(exc.status, exc.body())


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
