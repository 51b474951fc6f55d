"""grvt-pysdk's raw async client with its requests sent our way.

The SDK's typed request and response dataclasses and its endpoint methods are used as they are;
only its ``_post`` is replaced (in a subclass, the installed files untouched) so that a request
goes through the account's proxy and rate budget, carries our session's cookie, and fails as a
typed venue error with its HTTP status and Retry-After rather than as a logged ``{}``. Hosts are
set on the instance after construction, as grvt-api.md §3 shows for the raw client.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

import aiohttp
from dacite import DaciteError
from pysdk.grvt_raw_async import GrvtRawAsync
from pysdk.grvt_raw_base import DataclassJSONEncoder, GrvtApiConfig
from pysdk.grvt_raw_env import GrvtEnv

from perpflow.venues.errors import AuthError, TransportError
from perpflow.venues.grvt import constants as c
from perpflow.venues.grvt import errors
from perpflow.venues.grvt.auth import Session
from perpflow.venues.grvt.endpoints import Endpoints
from perpflow.venues.ratelimit import RateBudget
from perpflow.venues.types import Proxy
from perpflow.venues.websocket import proxy_args

log = logging.getLogger(__name__)

T = TypeVar("T")


def new_http() -> aiohttp.ClientSession:
    """No cookie jar (the session's cookie goes in explicitly) and no proxy from the environment:
    each account's proxy is its own, named in its config."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(), trust_env=False)


class GrvtRest(GrvtRawAsync):  # type: ignore[misc]  # the SDK is untyped
    def __init__(
        self,
        ep: Endpoints,
        http: aiohttp.ClientSession,
        session: Session | None = None,
        *,
        proxy: Proxy | None = None,
        budget: RateBudget | None = None,
    ) -> None:
        """Build inside a running event loop (the SDK's constructor opens an aiohttp session)."""
        # No key, no private key: the SDK never logs in or signs here (``auth``, ``signing`` do).
        super().__init__(GrvtApiConfig(GrvtEnv.PROD, None, None, None, log))
        self.md_rpc, self.td_rpc = ep.market_data, ep.trades
        self.env.edge.rpc_endpoint = ep.edge
        self._http, self._auth, self._proxy, self._budget = http, session, proxy, budget

    async def close(self) -> None:
        await self._session.close()  # the SDK's own session: opened by its constructor, never used

    async def _post(self, is_auth: bool, path: str, req: Any) -> Any:
        return await self.post_text(is_auth, path, json.dumps(req, cls=DataclassJSONEncoder))

    async def post_text(self, is_auth: bool, path: str, text: str) -> dict[str, Any]:
        """POST ``text`` as it is (a signed order's stored bytes go out unchanged). A private call
        the venue refuses for its session (1000: not authenticated, so not processed) is sent once
        more on a fresh login: a session the venue ended early costs no failed activity."""
        try:
            return await self._post_once(is_auth, path, text)
        except errors.SessionRefused as exc:
            if not is_auth or self._auth is None:
                raise
            self._auth.expire()
            log.info("grvt session refused (%s); logging in again", exc)
            return await self._post_once(is_auth, path, text)

    async def _post_once(self, is_auth: bool, path: str, text: str) -> dict[str, Any]:
        if self._budget is not None:
            await self._budget.acquire(c.WEIGHTS.get(path.rsplit("/", 1)[-1], c.DEFAULT_WEIGHT))
        headers = {"Content-Type": "application/json"}
        if is_auth:
            if self._auth is None:
                raise AuthError("this grvt venue has no API key: it cannot read or trade privately")
            headers.update(await self._auth.headers())
        proxy, proxy_auth = proxy_args(self._proxy)
        try:
            async with self._http.post(
                path,
                data=text.encode(),
                headers=headers,
                proxy=proxy,
                proxy_auth=proxy_auth,
                timeout=aiohttp.ClientTimeout(total=c.REQUEST_TIMEOUT_S),
            ) as resp:
                body = errors.parse(await resp.text())
                failure = errors.from_http(resp.status, body, resp.headers)
        except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
            raise errors.from_exception(exc) or TransportError(str(exc)) from exc
        if failure is not None:
            raise failure
        assert isinstance(body, dict)
        return body

    async def call(self, op: Awaitable[T]) -> T:
        """An SDK method's typed answer; one the SDK cannot read is an unusable answer."""
        try:
            result = await op
        except DaciteError as exc:
            raise TransportError(f"grvt: unusable answer ({exc})") from exc
        failure = errors.sdk_error(result)
        if failure is not None:
            raise failure
        return result
