"""A local webhook receiver for the alert tests (aiohttp on a free port)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Webhook:
    """A local receiver answering ``answer`` to every POST; it keeps each body and its answer."""

    answer: int
    url: str = ""
    posts: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    def accepted(self) -> list[dict[str, Any]]:
        return [body for status, body in self.posts if status < 300]


@asynccontextmanager
async def webhook(answer: int) -> AsyncIterator[Webhook]:
    hook = Webhook(answer)

    async def receive(request: web.Request) -> web.Response:
        hook.posts.append((hook.answer, await request.json()))
        return web.Response(status=hook.answer)

    app = web.Application()
    app.router.add_post("/hooks/secret-token", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    hook.url = f"http://{host}:{port}/hooks/secret-token"
    try:
        yield hook
    finally:
        await runner.cleanup()
