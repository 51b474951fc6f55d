"""What a live workflow owns on the venue, as it answers the ``exposure`` query.

The exposure reconciler asks every live owner of an account's orders for this and compares the
sum with the venue: whatever no live workflow owns is an orphan.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from perpflow.models import Model

EXPOSURE_QUERY = "exposure"


class OwnedPosition(Model):
    venue: str
    account_index: int
    market: str
    size: Decimal  # signed: + long, - short; this workflow's own fills only


class Exposure(Model):
    workflow_id: str
    positions: list[OwnedPosition] = Field(default_factory=list)
    # Client order indexes of this workflow's orders that may still rest on the venue.
    open_orders: list[int] = Field(default_factory=list)
