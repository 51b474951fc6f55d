"""Watch payloads (activity in/out) and the worker's status, as pydantic models.

Pure data: workflows import these to register watches through ``activities/watches.py``.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import AwareDatetime, Field, model_validator

from perpflow.models import Model
from perpflow.signals import ORDER_FILLED, PRICE_CROSSED, Direction, FeedChanged
from perpflow.venues.feed import StreamStatus


class WatchKind(StrEnum):
    ORDER = "order"  # fills of one order (account + client order index)
    BAND = "band"  # the mid price crossing a level in one direction


class WatchSpec(Model):
    """What a workflow asks the market-data worker to watch. ``name`` is unique per workflow,
    so a retried registration updates the same watch instead of adding a second one."""

    workflow_id: str
    name: str = Field(min_length=1, max_length=100)
    kind: WatchKind
    venue: str = "lighter"
    market: str
    account_index: int | None = None
    client_order_index: int | None = None
    level: Decimal | None = Field(default=None, gt=0)
    direction: Direction | None = None
    # The band re-arms only after the price went back beyond level -/+ hysteresis.
    hysteresis: Decimal = Field(default=Decimal(0), ge=0)
    # The price the workflow saw when it set the level: it tells which side we start on, so a
    # level the price already passed fires at once instead of waiting for a second crossing.
    reference_price: Decimal | None = Field(default=None, gt=0)
    signal_name: str | None = None
    # Also signal ``feed_changed`` when a stream this watch depends on goes down or is up again
    # (the book stream; the account's too when ``account_index`` is set).
    wants_feed_state: bool = False
    # The crossing only tells the workflow the price: a fill routed to it meanwhile whose price is
    # past the level stands in for it (``perpflow.marketdata.hold``).
    fill_stands_in: bool = False

    @model_validator(mode="after")
    def _complete(self) -> WatchSpec:
        if self.kind is WatchKind.BAND and (self.level is None or self.direction is None):
            raise ValueError("a band watch needs a level and a direction")
        if self.kind is WatchKind.ORDER and (self.account_index is None or self.client_order_index is None):
            raise ValueError("an order watch needs account_index and client_order_index")
        return self

    @property
    def signal(self) -> str:
        if self.signal_name:
            return self.signal_name
        return ORDER_FILLED if self.kind is WatchKind.ORDER else PRICE_CROSSED


class Watch(Model):
    id: int
    spec: WatchSpec
    # For a watch that wants the feed state, as registered: whether every stream it depends on
    # is up (False when the worker's state is unknown), and those streams' last changes, so
    # later ``feed_changed`` signals at or below their epochs are known to be stale.
    feed_up: bool | None = None
    feed: list[FeedChanged] = Field(default_factory=list)


class WatchSet(Model):
    """A workflow's watches, whole: these are registered (or updated, by name) and every other
    active watch of the workflow is deactivated, in one transaction."""

    workflow_id: str
    specs: list[WatchSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_workflow(self) -> WatchSet:
        if any(spec.workflow_id != self.workflow_id for spec in self.specs):
            raise ValueError("every watch of a set belongs to its workflow")
        if len({spec.name for spec in self.specs}) != len(self.specs):
            raise ValueError("watch names repeat in the set")
        return self


class WatchSetResult(Model):
    count: int
    # As ``Watch``'s, for the set's first watch when it wants the feed state.
    feed_up: bool | None = None
    feed: list[FeedChanged] = Field(default_factory=list)


class DeactivateWatches(Model):
    workflow_id: str
    names: list[str] | None = None  # None: every watch of the workflow


class DeactivatedWatches(Model):
    count: int


class WorkerStatus(Model):
    updated_at: AwareDatetime
    streams: list[StreamStatus]
    pending_signals: int = 0
    feeds: list[FeedChanged] = Field(default_factory=list)  # each stream's last reported change
