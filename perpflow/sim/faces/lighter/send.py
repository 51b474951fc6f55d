"""``sendTx`` and ``sendTxBatch``: thin handlers over the tx processor (lighter-api.md §9)."""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from perpflow.sim.faces.lighter import errors
from perpflow.sim.faces.lighter.codes import TxType
from perpflow.sim.faces.lighter.errors import MARGIN_REJECTION, LighterError
from perpflow.sim.faces.lighter.params import form
from perpflow.sim.faces.lighter.ratelimit import charge
from perpflow.sim.faces.lighter.state import lighter_of
from perpflow.sim.faults import FaultKind
from perpflow.sim.http import ok

SEND_PATHS = frozenset({"/api/v1/sendTx", "/api/v1/sendTxBatch"})


def _send_response(tx_hash: str | list[str]) -> dict[str, Any]:
    return {
        "code": 200,
        "message": json.dumps({"ratelimit": "didn't use volume quota"}),
        "tx_hash": tx_hash,
        "predicted_execution_time_ms": time.time_ns() // 1_000_000,
        "volume_quota_remaining": 1000,
    }


def _charge_send(request: web.Request, tx_info: Any) -> None:
    """Sends are charged to the tx's account, which only the body names."""
    if lighter_of(request).venue.limiter.budget is None:
        return  # parsing the tx twice only when rate limiting is on
    try:
        info = tx_info if isinstance(tx_info, dict) else json.loads(tx_info)
        key = f"acct:{info.get('AccountIndex', info.get('FromAccountIndex'))}"
    except (ValueError, AttributeError):
        key = f"ip:{request.remote}"
    charge(request, key)


def _maybe_reject(request: web.Request, tx_types: list[int]) -> None:
    if TxType.CREATE_ORDER not in tx_types:
        return
    fault = lighter_of(request).venue.faults.take(FaultKind.REJECT_ORDERS, request.path, submits=True)
    if fault is not None:
        code, message = MARGIN_REJECTION
        raise LighterError(code if fault.code is None else fault.code, fault.message or message)


async def send_tx(request: web.Request) -> web.Response:
    fields = await form(request)
    try:
        tx_type = int(fields["tx_type"])
        tx_info = fields["tx_info"]
    except (KeyError, ValueError) as exc:
        raise errors.invalid_tx_info() from exc
    _charge_send(request, tx_info)
    _maybe_reject(request, [tx_type])
    return ok(_send_response(lighter_of(request).txs.send(tx_type, tx_info)))


async def send_tx_batch(request: web.Request) -> web.Response:
    fields = await form(request)
    try:
        tx_types = [int(t) for t in json.loads(fields["tx_types"])]
        tx_infos = json.loads(fields["tx_infos"])
    except (KeyError, ValueError, TypeError) as exc:
        raise errors.invalid_tx_info() from exc
    if not isinstance(tx_infos, list):
        raise errors.invalid_tx_info()
    if tx_infos:
        _charge_send(request, tx_infos[0])
    _maybe_reject(request, tx_types)
    return ok(_send_response(lighter_of(request).txs.send_batch(tx_types, tx_infos)))


ROUTES = (
    ("/api/v1/sendTx", send_tx),
    ("/api/v1/sendTxBatch", send_tx_batch),
)
