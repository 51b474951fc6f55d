"""Fault injection: each fault applies to the next ``count`` matching requests or for ``seconds``.

Kinds and what the client sees (docs/sim.md has the full table):

* ``http_429``      -> HTTP 429 ``{"code":23000,"message":"Too Many Requests!"}``
* ``http_5xx``      -> HTTP ``status`` (default 503) ``{"code":29500,...}``
* ``latency``       -> the response is delayed by ``latency_ms``
* ``invalid_nonce`` -> sendTx answers 400 ``{"code":21104,"message":"invalid nonce"}``, nothing applied
* ``drop_response`` -> sendTx is applied, then the connection is closed without a response
* ``reject_orders`` -> create-order txs answer 400 with ``code``/``message`` (default 21739)
* ``partial_fill``  -> the next ``count`` taker orders fill at most ``ratio`` of their size
* ``ws_drop``       -> all websockets are closed now; new ones are refused for ``seconds``
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


SEND_PATHS = frozenset({"/api/v1/sendTx", "/api/v1/sendTxBatch"})
# Kinds that only make sense for transaction submission.
_SEND_ONLY = frozenset({FaultKind.INVALID_NONCE, FaultKind.DROP_RESPONSE, FaultKind.REJECT_ORDERS})


@dataclass(slots=True)
class Fault:
    kind: FaultKind
    count: int | None = None  # None = unlimited within the window
    until: float | None = None  # monotonic deadline; None = until the count is used
    path: str | None = None  # only requests to this path (default: kind-specific)
    latency_ms: int = 0
    status: int = 503
    ratio: float = 0.5
    code: int = 21739
    message: str = "not enough margin to create the order"

    def live(self, now: float) -> bool:
        return (self.count is None or self.count > 0) and (self.until is None or now < self.until)

    def matches(self, path: str) -> bool:
        if self.path is not None:
            return path == self.path
        if self.kind in _SEND_ONLY:
            return path in SEND_PATHS
        return path.startswith("/api/")


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
        code=int(body.get("code", 21739)),
        message=str(body.get("message", "not enough margin to create the order")),
    )


class Faults:
    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        self._faults.append(fault)

    def clear(self) -> None:
        self._faults.clear()

    def take(self, kind: FaultKind, path: str) -> Fault | None:
        """The first live fault of ``kind`` for ``path``, using up one of its count."""
        if not self._faults:
            return None
        now = time.monotonic()
        self._faults = [f for f in self._faults if f.live(now)]
        for fault in self._faults:
            if fault.kind is kind and fault.matches(path):
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
