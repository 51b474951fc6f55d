"""What changed in the engine since the faces last published: one batch, read by every face."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from perpflow.sim.enums import Side
from perpflow.sim.order import Order, Trade


@dataclass(frozen=True, slots=True)
class Changes:
    levels: dict[int, set[tuple[Side, int]]]  # market -> (side, price) of each level whose total moved
    trades: list[Trade]
    accounts: set[int]  # accounts whose orders, positions or collateral changed


def ended_since(ended: Sequence[Order], last: Order | None) -> tuple[list[Order], Order | None]:
    """The orders of an account's ``ended`` history (append-only, oldest first) after ``last``,
    newest first, and the newest of them all: what a face's watch takes as ended since it looked."""
    fresh: list[Order] = []
    for o in reversed(ended):
        if o is last:
            break
        fresh.append(o)
    return fresh, ended[-1] if ended else last
