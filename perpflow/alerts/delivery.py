"""The alert delivery loop: an asyncio service beside the orchestrator's worker.

It sends the outbox's due alerts to every channel whose least severity they reach and records
each channel's outcome: a channel that took an alert is never sent it again, a channel that failed
is retried alone, later (1 s doubling to 60 s per channel). Whoever raised an alert never waits for
this. Alerts of one severity and title within ``repeat_window`` of one sent are repeats: counted,
not sent, and their count goes out as one summary when the window ends. At ``report_at`` (UTC)
each day the status report goes to the e-mail channels, once whatever the number of loops.

Delivery is at least once: a loop that dies between a send and its record sends again after the
lease, so receivers can deduplicate on the alert's ``key`` (in every message's text or fields).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, time, timedelta

from perpflow.alerts.channels import Channel, ChannelError, channels_from
from perpflow.alerts.models import Alert, AlertRole, ChannelState, OutboxEntry
from perpflow.alerts.report import build_report, report_alert
from perpflow.db.alerts import AlertOutbox, ChannelOutcome
from perpflow.db.ledger import Ledger
from perpflow.settings import Settings

log = logging.getLogger("perpflow.alerts.delivery")

FIRST_RETRY_S = 1.0
MAX_RETRY_S = 60.0
# Longer than any channel's timeout: a row being sent stays hidden from the other loops.
LEASE = timedelta(seconds=60)
# Rows raised by other processes, or left leased by a dead one, are found at least this often;
# rows raised in this process wake the loop at once.
POLL_S = 5.0
BATCH = 20
# Rows due but locked by another loop's claim: look again shortly rather than spin.
BUSY_PAUSE_S = 0.05
# On shutdown an in-flight send may finish; past this it is cancelled and retried after the lease.
CLOSE_GRACE_S = 5.0
# A storm of one alert (an orphan per account, a stream flapping) is one message and a count.
REPEAT_WINDOW = timedelta(minutes=10)


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
        repeat_window: timedelta = REPEAT_WINDOW,
        report_at: time | None = None,
    ) -> None:
        self.outbox, self.channels = outbox, list(channels)
        self.poll_s, self.lease, self.batch = poll_s, lease, batch
        self.repeat_window, self.report_at = repeat_window, report_at
        self._first_s, self._cap_s = first_retry_s, max_retry_s
        self._wake = asyncio.Event()
        self._closing = False
        self._reported: str | None = None  # the last day whose report row this loop saw written

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
        until_report = await self.schedule_report(_now())
        claimed = await self.outbox.claim_due(_now(), self.lease, self.batch)
        # One by one, oldest first: a lead is known before the repeats that follow it.
        sending = []
        for claim in claimed:
            entry = claim
            if entry.role is None:
                role = await self.outbox.classify(entry, self.repeat_window, _now())
                entry = entry.model_copy(update={"role": role})
            if entry.role is not AlertRole.REPEAT:
                sending.append(entry)
        outcomes = await asyncio.gather(*(self._deliver(e) for e in sending), return_exceptions=True)
        for entry, outcome in zip(sending, outcomes, strict=True):
            if isinstance(outcome, BaseException):  # the record failed: the lease brings it back
                log.warning("alert %s not recorded: %s: %s", entry.alert.key, type(outcome).__name__, outcome)
        if len(claimed) == self.batch:
            return 0.0
        due = await self.outbox.next_due()
        if due is None:
            return min(self.poll_s, until_report)
        pause = min(self.poll_s, until_report, (due - _now()).total_seconds())
        return pause if pause > 0 or claimed else BUSY_PAUSE_S

    async def _deliver(self, entry: OutboxEntry) -> None:
        now = _now()
        try:
            alert, html = await self._content(entry)
        except Exception as exc:  # the report's or the summary's ledger read: try the row again
            retry_at = now + timedelta(seconds=retry_delay(entry.attempts, self._first_s, self._cap_s))
            await self.outbox.failed(entry.id, f"content: {type(exc).__name__}: {exc}", retry_at)
            log.warning("alert %s content failed: %s: %s", entry.alert.key, type(exc).__name__, exc)
            return
        targets = self._targets(entry)
        states = await self.outbox.channel_states(entry.id)
        due = [c for c in targets if _due(states.get(c.name), now)]
        errors = await asyncio.gather(*(_send(c, alert, html) for c in due))
        sent = _now()  # a retry's delay counts from the answer (a timeout is 30 s after the start)
        outcomes = [
            self._outcome(c.name, error, states.get(c.name), sent)
            for c, error in zip(due, errors, strict=True)
        ]
        done = await self.outbox.record(entry.id, [c.name for c in targets], outcomes, sent)
        for o in outcomes:
            if o.error is None:
                log.info("alert %s delivered to %s", entry.alert.key, o.channel)
            else:
                log.warning("alert %s not delivered to %s (next at %s): %s",
                            entry.alert.key, o.channel, f"{o.retry_at:%H:%M:%S}", o.error)  # fmt: skip
        if done:
            log.info("alert %s delivered after %d round(s)", entry.alert.key, entry.attempts)

    async def _content(self, entry: OutboxEntry) -> tuple[Alert, str | None]:
        if entry.role is AlertRole.SUMMARY:
            return await self.outbox.stamp_summary(entry, self.repeat_window), None
        if entry.role is AlertRole.REPORT:
            subject, text, html = await build_report(self.outbox.ledger)
            return entry.alert.model_copy(update={"title": subject, "detail": text}), html
        return entry.alert, None

    def _targets(self, entry: OutboxEntry) -> list[Channel]:
        if entry.role is AlertRole.REPORT:
            return [c for c in self.channels if c.takes_reports]
        return [c for c in self.channels if c.accepts(entry.alert.severity)]

    def _outcome(
        self, channel: str, error: str | None, state: ChannelState | None, now: datetime
    ) -> ChannelOutcome:
        attempts = 1 if state is None else state.attempts + 1
        delay = retry_delay(attempts, self._first_s, self._cap_s)
        return ChannelOutcome(channel, error, now + timedelta(seconds=delay))

    async def schedule_report(self, now: datetime) -> float:
        """Write today's report row once its time has come; seconds until the next report time."""
        if self.report_at is None or not any(c.takes_reports for c in self.channels):
            return self.poll_s
        today = datetime.combine(now.date(), self.report_at, tzinfo=UTC)
        day = f"{now.date():%Y-%m-%d}"
        if now >= today and self._reported != day:
            # Written by whichever loop gets there first; the key (the day) makes it once.
            await self.outbox.enqueue_report(report_alert(day), now)
            self._reported = day
        upcoming = today if now < today else today + timedelta(days=1)
        return max((upcoming - now).total_seconds(), 0.0)


def _due(state: ChannelState | None, now: datetime) -> bool:
    return state is None or (state.delivered_at is None and state.next_attempt_at <= now)


async def _send(channel: Channel, alert: Alert, html: str | None) -> str | None:
    """None when the channel took it, else why not: a channel never raises into the loop."""
    try:
        await channel.send(alert, html)
    except ChannelError as exc:
        return str(exc)
    except Exception as exc:  # a channel's bug: its text may carry a URL, its type does not
        return f"{channel.name}: {type(exc).__name__}"
    return None


def delivery_from(settings: Settings, ledger: Ledger) -> AlertDelivery:
    """The orchestrator's loop: the configured channels, repeat window and report time."""
    return AlertDelivery(
        AlertOutbox(ledger),
        channels_from(settings),
        repeat_window=timedelta(seconds=settings.alert_repeat_window_s),
        report_at=settings.alert_report_at,
    )
