"""What changed in the engine since the faces last published: one batch, read by every face."""

from __future__ import annotations

from dataclasses import dataclass

from perpflow.sim.enums import Side
from perpflow.sim.order import Trade


@dataclass(frozen=True, slots=True)
class Changes:
    levels: dict[int, set[tuple[Side, int]]]  # market -> (side, price) of each level whose total moved
    trades: list[Trade]
    accounts: set[int]  # accounts whose orders, positions or collateral changed
