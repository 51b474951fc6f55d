"""Client for the simulator's ``/_sim`` admin API (used by ``perpflow dev`` and the tests)."""

from __future__ import annotations

from decimal import Decimal
from types import TracebackType
from typing import Any, Self

import aiohttp


class SimAdminError(Exception):
    """The admin API answered with an error status."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"sim admin HTTP {status}: {body}")
        self.status = status
        self.body = body


class SimAdmin:
    def __init__(self, base_url: str, session: aiohttp.ClientSession | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._owns_session = session is None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None and self._owns_session:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # The sim is local: never route it through a proxy from the environment.
            self._session = aiohttp.ClientSession(trust_env=False)
            self._owns_session = True
        return self._session

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        async with self._client().request(method, self.base_url + path, json=body) as resp:
            text = await resp.text()
            if resp.status != 200:
                raise SimAdminError(resp.status, text)
            data: dict[str, Any] = await resp.json(content_type=None)
            return data

    async def health(self) -> bool:
        return bool((await self._call("GET", "/_sim/health")).get("ok"))

    async def create_account(
        self, collateral: Decimal | str | int, api_keys: dict[int, str] | None = None
    ) -> int:
        body = {"collateral": str(collateral), "api_keys": {str(k): v for k, v in (api_keys or {}).items()}}
        return int((await self._call("POST", "/_sim/accounts", body))["account_index"])

    async def add_api_key(self, account_index: int, api_key_index: int, public_key: str) -> None:
        body = {"api_key_index": api_key_index, "public_key": public_key}
        await self._call("POST", f"/_sim/accounts/{account_index}/api_keys", body)

    async def fund(self, account_index: int, amount: Decimal | str | int) -> None:
        await self._call("POST", f"/_sim/accounts/{account_index}/fund", {"amount": str(amount)})

    async def set_price(self, market_id: int, price: Decimal | str | int) -> None:
        """Move the reference price; the market maker re-quotes at once, crossing resting orders."""
        await self._call("POST", f"/_sim/markets/{market_id}/price", {"price": str(price)})

    async def set_volatility(self, volatility: float) -> None:
        await self._call("POST", "/_sim/volatility", {"volatility": volatility})

    async def pause(self) -> None:
        await self._call("POST", "/_sim/pause")

    async def resume(self) -> None:
        await self._call("POST", "/_sim/resume")

    async def state(self) -> dict[str, Any]:
        return await self._call("GET", "/_sim/state")

    async def reset(self) -> None:
        await self._call("POST", "/_sim/reset")

    async def inject_fault(
        self, kind: str, *, count: int | None = None, seconds: float | None = None, **params: Any
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"kind": kind, **params}
        if count is not None:
            body["count"] = count
        if seconds is not None:
            body["seconds"] = seconds
        return await self._call("POST", "/_sim/faults", body)

    async def clear_faults(self) -> None:
        await self._call("DELETE", "/_sim/faults")

    async def set_rate_limit(self, per_minute: int | None) -> None:
        await self._call("POST", "/_sim/config", {"rate_limit_per_minute": per_minute})
