"""One websocket client of the GRVT face: its subscriptions and their sequence numbers.

Every (stream, selector) counts on its own: snapshots sent on subscribe carry ``"0"``, every
later message the next number, ``prev_sequence_number`` the one before (grvt-api.md §9). A
skipped-number fault makes the next message jump by two, as a lost message would.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from perpflow.sim.faces.grvt.streams import Selector

Json = dict[str, Any]


def dumps(msg: Json) -> str:
    return json.dumps(msg, separators=(",", ":"))


@dataclass(eq=False)
class Sub:
    selector: Selector
    seq: int = 0


@dataclass(eq=False)
class Conn:
    ws: web.WebSocketResponse
    host: str  # "md" | "td"
    token: str | None  # the cookie it connected with (trade host)
    subs: dict[tuple[str, str], Sub] = field(default_factory=dict)
    # Held while a subscription's answer and snapshots go out: a feed message published meanwhile
    # waits for them, so it follows its snapshot instead of overtaking it.
    feeding: asyncio.Lock = field(default_factory=asyncio.Lock)

    def feed(self, sub: Sub, feed: Json, *, snapshot: bool = False, skip: bool = False) -> str:
        if not snapshot:
            sub.seq += 2 if skip else 1
        seq = sub.seq
        return dumps(
            {
                "stream": sub.selector.stream,
                "selector": sub.selector.text,
                "sequence_number": str(seq),
                "prev_sequence_number": str(max(0, seq - 1)),
                "feed": feed,
            }
        )

    async def send(self, text: str) -> bool:
        if self.ws.closed:
            return False
        try:
            await self.ws.send_str(text)
        except (ConnectionError, RuntimeError):
            return False
        return True
