"""Lighter's part of the admin API: the API keys an account signs its txs with."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from perpflow.sim.faces.lighter.keys import ApiKeys
from perpflow.sim.faces.lighter.state import lighter_of
from perpflow.sim.http import admin_body, ok


def add_credentials(keys: ApiKeys, account: int, body: dict[str, Any]) -> None:
    """``POST /_sim/accounts`` may name keys: ``{"api_keys": {"3": "<public key>"}}``."""
    for index, public_key in (body.get("api_keys") or {}).items():
        keys.register(account, int(index), str(public_key))


async def add_api_key(request: web.Request) -> web.Response:
    body = await admin_body(request)
    lighter = lighter_of(request)
    account = lighter.engine.account(int(request.match_info["account"])).index
    index = int(body["api_key_index"])
    lighter.keys.register(account, index, str(body["public_key"]))
    return ok({"account_index": account, "api_key_index": index})


ROUTES = (("/_sim/accounts/{account}/api_keys", add_api_key),)
