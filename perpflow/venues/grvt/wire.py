"""GRVT websocket feeds -> venue-neutral feed events (grvt-api.md §9).

A feed message is ``{stream, selector, sequence_number, prev_sequence_number, feed}``. ``v1.book.d``
starts each subscription with a full book, then sends changed levels (size "0" removes one); its
numbers chain by ``prev_sequence_number``, which the consumer checks. Fills go through the
adapter's ``parse.fill`` so websocket and REST fills share one id scheme.
"""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from perpflow.venues.feed import BookUpdate, Level
from perpflow.venues.grvt import parse
from perpflow.venues.types import VenueFill

Msg = dict[str, Any]

BOOK_STREAM = "v1.book.d"
FILL_STREAM = "v1.fill"
BOOK_RATE_MS = 100  # v1.book.d rates: 50/100/500/1000 ms


def book_selector(instrument: str) -> str:
    return f"{instrument}@{BOOK_RATE_MS}"


def instrument_of(selector: str) -> str:
    return selector.split("@", 1)[0]


def levels(raw: list[dict[str, Any]] | None) -> list[Level]:
    return [(Decimal(str(lv["price"])), Decimal(str(lv["size"]))) for lv in raw or ()]


def book_update(msg: Msg, first: bool) -> BookUpdate:
    """The first message on a selector since its subscribe is the full book."""
    feed = msg["feed"]
    return BookUpdate(
        market=str(feed.get("instrument") or instrument_of(str(msg.get("selector", "")))),
        snapshot=first,
        seq=int(msg.get("sequence_number") or 0),
        prev_seq=int(msg.get("prev_sequence_number") or 0),
        bids=levels(feed.get("bids")),
        asks=levels(feed.get("asks")),
    )


def in_sequence(msg: Msg, first: bool, last: int | None) -> bool:
    """Whether a message follows the one before it on its selector (duplicates count as in order)."""
    if first or last is None:
        return True
    seq, prev = int(msg.get("sequence_number") or 0), int(msg.get("prev_sequence_number") or 0)
    return last in (prev, seq)


def fill(msg: Msg) -> VenueFill:
    return parse.fill(SimpleNamespace(**msg["feed"]))
