"""JSON-RPC 2.0 over one keep-alive aiohttp session: the hot path of `ChainClient`.

web3's AsyncHTTPProvider opens a new connection per request (``force_close``) and runs every
call through its middleware and result formatters: about 1 ms of CPU and a DNS lookup on a thread
each. Hundreds of payouts polling receipts and checking eligibility spend most of their time
there, so the frequent calls (heads, receipts, guard reads, sends) go through this instead; web3
stays for ABI work and the rare calls (logs, gas estimates, revert replays).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import aiohttp

from perpflow.chain.errors import ChainTransportError

CONNECTIONS = 32


class RpcError(Exception):
    """The node answered with a JSON-RPC error object."""

    def __init__(self, method: str, error: dict[str, Any]) -> None:
        self.message = str(error.get("message", error))
        code = error.get("code")
        self.code = code if isinstance(code, int) else None
        data = error.get("data")
        self.data = data if isinstance(data, str) else None
        super().__init__(f"{method}: {self.message}")


class JsonRpc:
    def __init__(self, url: str, *, timeout_s: float, retries: int) -> None:
        self.url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._retries = retries
        self._ids = itertools.count(1)
        self._session: aiohttp.ClientSession | None = None

    async def call(self, method: str, params: list[Any], *, idempotent: bool = True) -> Any:
        """The call's result. Transport failures of idempotent calls are retried briefly (the
        caller's Temporal retry policy does the real back-off); a send is never re-posted here."""
        body = json.dumps({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params})
        attempts = 1 + (self._retries if idempotent else 0)
        for attempt in range(attempts):
            try:
                async with self._http().post(
                    self.url, data=body, headers={"Content-Type": "application/json"}
                ) as resp:
                    resp.raise_for_status()
                    answer = await resp.json(content_type=None)
                break
            except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
                if attempt + 1 == attempts:
                    raise ChainTransportError(f"{method}: {type(exc).__name__}: {exc}") from exc
                await asyncio.sleep(0.05 * 2**attempt)
        if "error" in answer:
            raise RpcError(method, answer["error"])
        return answer.get("result")

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=CONNECTIONS), timeout=self._timeout
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
