"""Fault injection: each fault applies to the next ``count`` matching requests or for ``seconds``.

Faces ask for the faults of the request they are serving, naming its path and whether it
submits orders; docs/sim.md has what each kind looks like on each face.

* ``http_429``, ``http_5xx``, ``latency`` -> any request of a face's API
* ``invalid_nonce``, ``drop_response``     -> requests that submit orders
* ``reject_orders``                        -> submissions that create an order (``code``/``message``
  default to the face's margin rejection)
* ``partial_fill``                         -> the next ``count`` taker orders fill at most ``ratio``
* ``ws_drop``                              -> all websockets close; new ones are refused for ``seconds``
* ``ws_garble``                            -> the next ``count`` account updates (Lighter's
  ``account_all``) carry a position a client cannot read
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class FaultKind(StrEnum):
    HTTP_429 = "http_429"
    HTTP_5XX = "http_5xx"
    LATENCY = "latency"
    INVALID_NONCE = "invalid_nonce"
    DROP_RESPONSE = "drop_response"
    REJECT_ORDERS = "reject_orders"
    PARTIAL_FILL = "partial_fill"
    WS_DROP = "ws_drop"
    WS_GARBLE = "ws_garble"


# Kinds that only make sense for order submission.
_SUBMIT_ONLY = frozenset({FaultKind.INVALID_NONCE, FaultKind.DROP_RESPONSE, FaultKind.REJECT_ORDERS})


@dataclass(slots=True)
class Fault:
    kind: FaultKind
    count: int | None = None  # None = unlimited within the window
    until: float | None = None  # monotonic deadline; None = until the count is used
    path: str | None = None  # only requests to this path (default: kind-specific)
    latency_ms: int = 0
    status: int = 503
    ratio: float = 0.5
    code: int | None = None  # reject_orders: None = the face's own rejection
    message: str | None = None

    def live(self, now: float) -> bool:
        return (self.count is None or self.count > 0) and (self.until is None or now < self.until)

    def matches(self, path: str, submits: bool) -> bool:
        if self.path is not None:
            return path == self.path
        return submits or self.kind not in _SUBMIT_ONLY


def parse_fault(body: dict[str, Any]) -> Fault:
    kind = FaultKind(str(body["kind"]))
    count = body.get("count")
    seconds = body.get("seconds")
    if count is None and seconds is None:
        count = 1
    return Fault(
        kind=kind,
        count=None if count is None else int(count),
        until=None if seconds is None else time.monotonic() + float(seconds),
        path=body.get("path"),
        latency_ms=int(body.get("latency_ms", 0)),
        status=int(body.get("status", 503)),
        ratio=float(body.get("ratio", 0.5)),
        code=None if body.get("code") is None else int(body["code"]),
        message=None if body.get("message") is None else str(body["message"]),
    )


class Faults:
    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        self._faults.append(fault)

    def clear(self) -> None:
        self._faults.clear()

    def take(self, kind: FaultKind, path: str, *, submits: bool) -> Fault | None:
        """The first live fault of ``kind`` for this request, using up one of its count."""
        if not self._faults:
            return None
        now = time.monotonic()
        self._faults = [f for f in self._faults if f.live(now)]
        for fault in self._faults:
            if fault.kind is kind and fault.matches(path, submits):
                if fault.count is not None:
                    fault.count -= 1
                return fault
        return None

    def describe(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        return [
            {
                "kind": f.kind.value,
                "count": f.count,
                "seconds_left": None if f.until is None else f.until - now,
            }
            for f in self._faults
            if f.live(now)
        ]
