"""Feed changes: numbered, told once per workflow and change, only to watches that asked, scoped
to the streams a watch depends on; a registration reads the worker's last changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from perpflow.marketdata.delivery import Delivery
from perpflow.marketdata.liveness import BOOKS, Liveness, account_stream, with_feed
from perpflow.marketdata.models import Watch, WatchKind, WatchSpec, WorkerStatus
from perpflow.signals import FEED_CHANGED, Direction, FeedChanged, FeedState
from perpflow.venues.base import VenueName

ACCOUNT = account_stream(7)


def watch(workflow_id: str, *, account_index: int | None = 7, wants: bool = True, id: int = 1) -> Watch:
    spec = WatchSpec(
        workflow_id=workflow_id,
        name=f"w{id}",
        kind=WatchKind.BAND,
        market="ETH",
        account_index=account_index,
        level=Decimal(100),
        direction=Direction.UP,
        wants_feed_state=wants,
    )
    return Watch(id=id, spec=spec)


def rig() -> tuple[Liveness, list[Delivery]]:
    sent: list[Delivery] = []
    return Liveness(VenueName.LIGHTER, sent.append), sent


def told(sent: list[Delivery]) -> list[tuple[str, str, str]]:
    out = []
    for d in sent:
        assert d.signal == FEED_CHANGED and isinstance(d.payload, FeedChanged)
        out.append((d.workflow_id, d.payload.stream, d.payload.state.value))
    return out


def test_a_change_is_told_once_to_each_workflow_that_asked_for_its_stream() -> None:
    live, sent = rig()
    live.sync_watches([
        watch("grid", id=1),
        watch("grid", id=2),  # two watches, one workflow: told once
        watch("books-only", account_index=None, id=3),
        watch("cycle", wants=False, id=4),
    ])  # fmt: skip
    assert live.set(ACCOUNT, FeedState.DOWN)
    assert not live.set(ACCOUNT, FeedState.DOWN)  # stale after disconnected: no new change
    assert live.set(BOOKS, FeedState.DOWN)
    assert told(sent) == [
        ("grid", ACCOUNT, "down"),
        ("grid", BOOKS, "down"),
        ("books-only", BOOKS, "down"),
    ]


def test_epochs_grow_with_every_change_and_a_new_watch_is_told_the_current_state() -> None:
    live, sent = rig()
    live.set(BOOKS, FeedState.DOWN)
    live.set(BOOKS, FeedState.UP)
    live.sync_watches([watch("grid", account_index=None)])
    live.sync_watches([watch("grid", account_index=None)])  # a later refresh: nothing new
    (first,) = sent
    assert isinstance(first.payload, FeedChanged)
    assert (first.payload.state, first.payload.epoch) == (FeedState.UP, live.current[BOOKS].epoch)
    live.set(BOOKS, FeedState.DOWN)
    epochs = [d.payload.epoch for d in sent if isinstance(d.payload, FeedChanged)]
    assert epochs == sorted(set(epochs)) and len(epochs) == 2


def test_a_watch_registered_again_after_it_went_away_is_told_again() -> None:
    live, sent = rig()
    live.set(BOOKS, FeedState.UP)
    live.sync_watches([watch("grid", account_index=None)])
    live.sync_watches([])
    live.sync_watches([watch("grid", account_index=None)])
    assert told(sent) == [("grid", BOOKS, "up")] * 2


def test_a_registration_is_up_only_when_every_stream_it_needs_is_up_in_a_fresh_status() -> None:
    live, _ = rig()
    live.set(BOOKS, FeedState.UP)
    live.set(ACCOUNT, FeedState.DOWN)
    now = datetime.now(UTC)
    status = WorkerStatus(updated_at=now, streams=[], feeds=list(live.current.values()))
    assert with_feed(watch("g", account_index=None), status, now).feed_up is True
    needs_account = with_feed(watch("g"), status, now)
    assert needs_account.feed_up is False and {f.stream for f in needs_account.feed} == {BOOKS, ACCOUNT}
    live.set(ACCOUNT, FeedState.UP)
    status = status.model_copy(update={"feeds": list(live.current.values())})
    assert with_feed(watch("g"), status, now).feed_up is True
    stale = with_feed(watch("g"), status, now + timedelta(minutes=1))
    assert stale.feed_up is False and stale.feed == []
    assert with_feed(watch("g"), None, now).feed_up is False
