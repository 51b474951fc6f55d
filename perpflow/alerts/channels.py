"""Where alerts go beyond the log and the audit table: one small interface per channel.

A channel sends one alert or raises ``ChannelError`` (the delivery loop retries it later). The
error text is stored and logged, so it never carries the channel's URL: webhook URLs hold tokens.
"""

from __future__ import annotations

from typing import Protocol

import aiohttp

from perpflow.alerts.models import Alert
from perpflow.settings import Settings

# A webhook that has not answered by then is treated as down; the row is retried with back-off.
WEBHOOK_TIMEOUT_S = 10.0


class ChannelError(Exception):
    """The channel did not take the alert; the text says why, without secrets."""


class Channel(Protocol):
    name: str

    async def send(self, alert: Alert) -> None: ...

    async def close(self) -> None: ...


class WebhookChannel:
    """POSTs the alert's fields as JSON; any 2xx answer is a delivery."""

    name = "webhook"

    def __init__(self, url: str, timeout_s: float = WEBHOOK_TIMEOUT_S) -> None:
        self._url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._http: aiohttp.ClientSession | None = None

    async def send(self, alert: Alert) -> None:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._http.post(self._url, json=alert.model_dump(mode="json")) as resp:
                if resp.status >= 300:
                    raise ChannelError(f"webhook answered HTTP {resp.status} {resp.reason or ''}".rstrip())
        except (aiohttp.ClientError, TimeoutError) as exc:
            # aiohttp's own messages may include the URL; its type name does not.
            raise ChannelError(f"webhook unreachable: {type(exc).__name__}") from exc

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None


def channels_from(settings: Settings) -> list[Channel]:
    """The configured channels; none means the log and the audit table are the only ones."""
    channels: list[Channel] = []
    if settings.alert_webhook_url:
        channels.append(WebhookChannel(settings.alert_webhook_url))
    return channels
