"""Whether each stream is up, as numbered changes told to the workflows that asked (``feed_changed``).

A stream is down from the moment it leaves ``connected`` (a drop, staleness, a refused connect)
and up again only once the service has caught up what the outage hid. Each change gets an epoch
that only grows, across restarts too (microseconds of the wall clock, at least one more than the
last), so a workflow can drop duplicates and changes overtaken by later ones.

A workflow is told the current state of every stream its watches depend on as soon as a refresh
shows it a watch that wants it, and every change after that: once per (workflow, change).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from perpflow.marketdata.delivery import Delivery
from perpflow.marketdata.models import Watch, WatchSpec, WorkerStatus
from perpflow.marketdata.status import MAX_AGE_S
from perpflow.signals import FEED_CHANGED, FeedChanged, FeedState
from perpflow.venues.base import VenueName

log = logging.getLogger(__name__)

BOOKS = "books"
ACCOUNT = "account-"


def account_stream(account_index: int) -> str:
    return f"{ACCOUNT}{account_index}"


def account_of(stream: str) -> int | None:
    return int(stream.removeprefix(ACCOUNT)) if stream.startswith(ACCOUNT) else None


def streams_of(spec: WatchSpec) -> set[str]:
    """The streams a watch's facts come through: the books, and its account's fills."""
    if spec.account_index is None:
        return {BOOKS}
    return {BOOKS, account_stream(spec.account_index)}


def with_feed(watch: Watch, status: WorkerStatus | None, now: datetime) -> Watch:
    """The watch as registered, with the worker's last change of each stream it depends on, as
    its status file shows them: down unless every one is up (and down when the file is stale)."""
    streams = streams_of(watch.spec)
    feed: list[FeedChanged] = []
    if status is not None and (now - status.updated_at).total_seconds() <= MAX_AGE_S:
        feed = [f for f in status.feeds if f.venue == watch.spec.venue and f.stream in streams]
    up = {f.stream for f in feed if f.state is FeedState.UP} == streams
    return watch.model_copy(update={"feed_up": up, "feed": feed})


class Liveness:
    def __init__(self, venue: VenueName, send: Callable[[Delivery], None]) -> None:
        self.venue, self._send = venue, send
        self.current: dict[str, FeedChanged] = {}  # stream name -> its last change
        self._wanted: dict[str, set[str]] = {}  # workflow id -> the streams its watches use
        self._told: dict[tuple[str, str], int] = {}  # (workflow id, stream) -> epoch sent
        self._epoch = 0

    def sync_watches(self, watches: Iterable[Watch]) -> None:
        wanted: dict[str, set[str]] = defaultdict(set)
        for w in watches:
            if w.spec.wants_feed_state:
                wanted[w.spec.workflow_id] |= streams_of(w.spec)
        self._wanted = dict(wanted)
        self._told = {k: e for k, e in self._told.items() if k[1] in self._wanted.get(k[0], ())}
        self._tell()

    def set(self, stream: str, state: FeedState) -> bool:
        """Record the stream's state; True when it changed (and was told)."""
        last = self.current.get(stream)
        if last is not None and last.state is state:
            return False
        now = datetime.now(UTC)
        self._epoch = max(self._epoch + 1, int(now.timestamp() * 1_000_000))
        self.current[stream] = FeedChanged(
            venue=self.venue,
            stream=stream,
            account_index=account_of(stream),
            state=state,
            since=now,
            epoch=self._epoch,
        )
        log.info("feed %s %s epoch=%d", stream, state.value, self._epoch)
        self._tell()
        return True

    def _tell(self) -> None:
        for workflow_id, streams in self._wanted.items():
            for stream in streams:
                change = self.current.get(stream)
                if change is None or self._told.get((workflow_id, stream)) == change.epoch:
                    continue
                self._told[(workflow_id, stream)] = change.epoch
                key = f"feed-{stream}-{change.epoch}"
                self._send(Delivery(workflow_id, FEED_CHANGED, change, key=key, kind="feed"))
