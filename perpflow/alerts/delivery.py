"""The alert delivery loop: an asyncio service beside the orchestrator's worker.

It sends the outbox's due alerts to every channel and marks them delivered, or records the error
and retries the row later (1 s doubling to 60 s). Whoever raised an alert never waits for this.
Delivery is at least once: a loop that dies between the post and the mark posts again after the
lease, so receivers can deduplicate on the alert's ``key`` (it is in the JSON body).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

from perpflow.alerts.channels import Channel, ChannelError
from perpflow.alerts.models import OutboxEntry
from perpflow.db.alerts import AlertOutbox

log = logging.getLogger("perpflow.alerts.delivery")

FIRST_RETRY_S = 1.0
MAX_RETRY_S = 60.0
# Longer than any channel's timeout: a row being posted stays hidden from the other loops.
LEASE = timedelta(seconds=60)
# Rows raised by other processes, or left leased by a dead one, are found at least this often;
# rows raised in this process wake the loop at once.
POLL_S = 5.0
BATCH = 20
# Rows due but locked by another loop's claim: look again shortly rather than spin.
BUSY_PAUSE_S = 0.05
# On shutdown an in-flight post may finish; past this it is cancelled and retried after the lease.
CLOSE_GRACE_S = 5.0


def retry_delay(attempts: int, first_s: float = FIRST_RETRY_S, cap_s: float = MAX_RETRY_S) -> float:
    """Seconds before the next try of a row that failed its ``attempts``-th try."""
    return float(min(cap_s, first_s * 2 ** max(attempts - 1, 0)))


def _now() -> datetime:
    return datetime.now(UTC)


class AlertDelivery:
    def __init__(
        self,
        outbox: AlertOutbox,
        channels: Sequence[Channel],
        *,
        poll_s: float = POLL_S,
        first_retry_s: float = FIRST_RETRY_S,
        max_retry_s: float = MAX_RETRY_S,
        lease: timedelta = LEASE,
        batch: int = BATCH,
    ) -> None:
        self.outbox, self.channels = outbox, list(channels)
        self.poll_s, self.lease, self.batch = poll_s, lease, batch
        self._first_s, self._cap_s = first_retry_s, max_retry_s
        self._wake = asyncio.Event()
        self._closing = False

    def wake(self) -> None:
        """A new alert is in the outbox: deliver now instead of at the next poll."""
        self._wake.set()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[AlertDelivery]:
        """Run the loop for the duration of the block; on exit stop it and close the channels."""
        task = asyncio.create_task(self.run(), name="alert-delivery")
        try:
            yield self
        finally:
            self._closing = True
            self._wake.set()
            try:
                await asyncio.wait_for(task, CLOSE_GRACE_S)
            except TimeoutError:
                log.warning("alert delivery cancelled on shutdown; its claimed rows retry after the lease")
            finally:
                for channel in self.channels:
                    await channel.close()

    async def run(self) -> None:
        log.info("alert delivery started channels=%s", [c.name for c in self.channels] or "log+audit")
        while not self._closing:
            self._wake.clear()
            try:
                pause = await self.deliver_due()
            except Exception as exc:  # the ledger is unreachable: the rows wait there, try again
                log.warning("alert delivery round failed: %s: %s", type(exc).__name__, exc)
                pause = self.poll_s
            if pause > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), pause)
        log.info("alert delivery stopped")

    async def deliver_due(self) -> float:
        """Deliver every row due now; the seconds until the next one is due (at most a poll)."""
        claimed = await self.outbox.claim_due(_now(), self.lease, self.batch)
        outcomes = await asyncio.gather(*(self._deliver(e) for e in claimed), return_exceptions=True)
        for entry, outcome in zip(claimed, outcomes, strict=True):
            if isinstance(outcome, BaseException):  # the mark failed: the lease brings it back
                log.warning("alert %s not marked: %s: %s", entry.alert.key, type(outcome).__name__, outcome)
        if len(claimed) == self.batch:
            return 0.0
        due = await self.outbox.next_due()
        if due is None:
            return self.poll_s
        pause = min(self.poll_s, (due - _now()).total_seconds())
        return pause if pause > 0 or claimed else BUSY_PAUSE_S

    async def _deliver(self, entry: OutboxEntry) -> None:
        # Several channels share one row: a retry repeats those that took it already.
        try:
            for channel in self.channels:
                await channel.send(entry.alert)
        except Exception as exc:
            # A channel's own error text is written to be stored; any other may carry a URL.
            error = str(exc) if isinstance(exc, ChannelError) else f"{type(exc).__name__} in {channel.name}"
            delay = retry_delay(entry.attempts, self._first_s, self._cap_s)
            await self.outbox.failed(entry.id, error, _now() + timedelta(seconds=delay))
            log.warning(
                "alert %s not delivered (attempt %d, next in %.1f s): %s",
                entry.alert.key, entry.attempts, delay, error,
            )  # fmt: skip
            return
        await self.outbox.delivered(entry.id, _now())
        log.info("alert %s delivered after %d attempt(s)", entry.alert.key, entry.attempts)
