"""``POST {edge}/auth/api_key/login``: an API key in, the ``gravity`` cookie and account id out.

The SDK reads exactly one ``Set-Cookie`` (with ``Expires``) and ``X-Grvt-Account-Id``; the body
is ignored, so it is GRVT's real one (grvt-api.md §4).
"""

from __future__ import annotations

from aiohttp import web

from perpflow.sim.faces.grvt.errors import err
from perpflow.sim.faces.grvt.state import grvt_of
from perpflow.sim.http import ok


async def login(request: web.Request) -> web.Response:
    grvt = grvt_of(request)
    body = await request.json() if request.can_read_body else {}
    api_key = body.get("api_key") if isinstance(body, dict) else None
    key = grvt.keys.get(str(api_key)) if api_key else None
    if key is None or key.account not in grvt.engine.accounts:
        raise err(1000)
    session = grvt.sessions.login(key)
    response = ok({"location": "", "status": "success"})
    response.headers["Set-Cookie"] = session.set_cookie()
    response.headers["X-Grvt-Account-Id"] = account_id(key.account)
    return response


def account_id(account: int) -> str:
    """The main (funding) account behind a sub-account: opaque to clients, sent back as a header."""
    return f"0x{account:040x}"
