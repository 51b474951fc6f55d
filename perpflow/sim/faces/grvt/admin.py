"""GRVT's part of the admin API: keys, sub-account ids, sessions and its own faults.

``POST /_sim/accounts`` may carry ``grvt_sub_account_id`` and ``grvt_api_keys`` (a list of
``{api_key, signer, permissions}``), so one engine account answers to both faces' credentials.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from perpflow.sim.errors import AdminError
from perpflow.sim.faces.grvt.keys import GrvtKeys
from perpflow.sim.faces.grvt.state import grvt_of
from perpflow.sim.faces.grvt.ws import Hub
from perpflow.sim.http import admin_body, ok

HUB_KEY = web.AppKey("grvt_hub", Hub)
# A shorter funding interval would list thousands of funding times a minute.
MIN_FUNDING_INTERVAL_S = 0.1


def add_credentials(keys: GrvtKeys, account: int, body: dict[str, Any]) -> None:
    if body.get("grvt_sub_account_id") is not None:
        keys.name_sub_account(account, str(body["grvt_sub_account_id"]))
    for item in body.get("grvt_api_keys") or []:
        _register(keys, account, item)


def _register(keys: GrvtKeys, account: int, item: Any) -> None:
    if not isinstance(item, dict):
        raise AdminError("a GRVT key is an object {api_key, signer, permissions}")
    keys.register(
        account, str(item.get("api_key") or ""), str(item.get("signer") or ""), item.get("permissions")
    )


async def add_api_key(request: web.Request) -> web.Response:
    body = await admin_body(request)
    grvt = grvt_of(request)
    account = grvt.engine.account(int(request.match_info["account"])).index
    add_credentials(grvt.keys, account, {"grvt_api_keys": [body], **_sub(body)})
    return ok({"account_index": account, "sub_account_id": grvt.keys.sub_account_id(account)})


def _sub(body: dict[str, Any]) -> dict[str, Any]:
    sub = body.get("sub_account_id")
    return {} if sub is None else {"grvt_sub_account_id": sub}


async def expire_sessions(request: web.Request) -> web.Response:
    """Every GRVT session ends now; trade sockets on them get 1000 and close."""
    expired = grvt_of(request).sessions.expire_all()
    closed = await request.app[HUB_KEY].end_expired()
    return ok({"expired": expired, "sockets_closed": closed})


async def configure(request: web.Request) -> web.Response:
    """``cookie_ttl_s`` (sessions from now on), ``funding_interval_s`` (the funding schedule that
    ``funding`` and the ticker show, from the last reset on); answers the settings in force."""
    body = await admin_body(request)
    grvt = grvt_of(request)
    if "cookie_ttl_s" in body:
        grvt.sessions.ttl_s = float(body["cookie_ttl_s"])
    if "funding_interval_s" in body:
        interval = float(body["funding_interval_s"])
        if not interval >= MIN_FUNDING_INTERVAL_S:
            raise AdminError(f"funding_interval_s must be at least {MIN_FUNDING_INTERVAL_S}")
        grvt.funding_interval_s = interval
    return ok(
        {
            "cookie_ttl_s": grvt.sessions.ttl_s,
            "funding_interval_s": grvt.funding_interval_s,
            "chain_id": grvt.chain_id,
        }
    )


async def inject_fault(request: web.Request) -> web.Response:
    """``{"kind": "seq_gap", "count": n, "stream": "v1.book.d"}``: the next ``n`` feed messages
    (of that stream, or any) skip a sequence number. ``{"kind": "subscribe_hold", "hold": true}``:
    subscribes from now on wait, not live and unanswered, until ``"hold": false`` lets them go
    (without ``hold`` it only reports); answers how many wait."""
    body = await admin_body(request)
    hub = request.app[HUB_KEY]
    if body.get("kind") == "subscribe_hold":
        if "hold" in body:
            hub.hold_subscribes(bool(body["hold"]))
        return ok({"kind": "subscribe_hold", "holding": hub.hold is not None, "held": hub.held})
    if body.get("kind") != "seq_gap":
        raise AdminError("GRVT faults: seq_gap, subscribe_hold (the shared ones are under /_sim/faults)")
    stream = body.get("stream")
    hub.gaps[None if stream is None else str(stream)] += int(body.get("count", 1))
    return ok({"kind": "seq_gap", "pending": {str(k): v for k, v in hub.gaps.items() if v}})


ROUTES = (
    ("/_sim/accounts/{account}/grvt_api_keys", add_api_key),
    ("/_sim/grvt/sessions/expire", expire_sessions),
    ("/_sim/grvt/config", configure),
    ("/_sim/grvt/faults", inject_fault),
)
