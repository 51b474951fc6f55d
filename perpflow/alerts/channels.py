"""Where alerts go beyond the log and the audit table: apprise channels, one per configured URL.

E-mail (``mailto://``/``mailtos://``, SMTP with STARTTLS and login), Telegram (``tgram://``),
Slack (``slack://``), Discord (``discord://``), JSON webhooks (``json://``/``jsons://``) and every
other service apprise knows. A channel sends one alert or raises ``ChannelError`` (the delivery
loop retries that channel alone, later). The error text is stored and logged, so it is scrubbed of
the channel's URL and of every piece of it that may be a token or a password.

Only the orchestrator imports this module (apprise loads its plugins on the first URL: ~1 s).
"""

from __future__ import annotations

import copy
import logging
from typing import Protocol
from urllib.parse import quote

import apprise
from apprise.plugins.email.base import NotifyEmail

from perpflow.alerts.models import Alert, Severity
from perpflow.alerts.routing import JSON_SCHEMES, ChannelSpec, redact, specs_from, webhook_spec
from perpflow.errors import ConfigError
from perpflow.settings import Settings

# A channel that has not answered by then is treated as down; its send is retried with back-off.
CHANNEL_TIMEOUT_S = 30.0

_NOTIFY_TYPES = {
    Severity.INFO: apprise.NotifyType.INFO,
    Severity.WARNING: apprise.NotifyType.WARNING,
    Severity.CRITICAL: apprise.NotifyType.FAILURE,
}
# The old webhook's body: apprise's "message" renamed "detail", its own fields dropped (apprise's
# payload mapping: ":name=" drops a field, ":name=other" renames it, a new name adds it).
_ALERT_BODY = {"message": "detail", "type": "", "version": "", "attachments": ""}
# An empty detail: apprise needs a message, so it is dropped and an empty "detail" added instead.
_EMPTY_DETAIL = {"message": "", "detail": ""}

# Apprise's DEBUG lines print request URLs with their tokens: never in perpflow's log. Its warnings
# are captured per call (an AppriseResult's logs) and logged by the delivery loop, scrubbed and
# with the channel's name, so they do not also go to the root handlers.
_apprise_log = logging.getLogger("apprise")
_apprise_log.setLevel(logging.WARNING)
_apprise_log.propagate = False


class ChannelError(Exception):
    """The channel did not take the alert; the text says why, without secrets."""


class Channel(Protocol):
    name: str

    def accepts(self, severity: Severity) -> bool:
        """Whether alerts of this severity go to this channel."""
        ...

    @property
    def takes_reports(self) -> bool:
        """Whether the status report (HTML) goes to this channel: the e-mail channels."""
        ...

    async def send(self, alert: Alert, html: str | None = None) -> None: ...

    async def close(self) -> None: ...


def _asset() -> apprise.AppriseAsset:
    # In memory only: a container's file system is no place for apprise's cache or its logs.
    return apprise.AppriseAsset(
        app_id="perpflow", app_desc="perpflow alerts", storage_mode="memory", result_log_disk_size=0
    )


class AppriseChannel:
    """One apprise URL. JSON webhooks also get the alert's severity, source and key as fields."""

    def __init__(self, spec: ChannelSpec, timeout_s: float = CHANNEL_TIMEOUT_S) -> None:
        self.spec, self.name, self.timeout_s = spec, spec.name, timeout_s
        self._asset = _asset()
        self.plugin = self._instantiate(spec.url)  # the URL is checked now: config fails at start
        self._json = spec.scheme in JSON_SCHEMES

    def accepts(self, severity: Severity) -> bool:
        return self.spec.accepts(severity)

    @property
    def takes_reports(self) -> bool:
        return isinstance(self.plugin, NotifyEmail)

    async def send(self, alert: Alert, html: str | None = None) -> None:
        # A plugin object per send: apprise paces one object's sends (e-mail 5.5 s apart) by sleeping
        # in a thread of its small pool, which concurrent alerts and the lease cannot wait for. A
        # service's own rate limit answer is a failed send, retried on the channel's back-off.
        plugin = (
            self._instantiate(self.spec.url + self._fields(alert)) if self._json else copy.copy(self.plugin)
        )
        target = apprise.Apprise(asset=self._asset)
        target.add(plugin)
        if html is not None:  # the report: its own subject, the HTML (apprise adds a text part)
            title, body = alert.title, html
        elif self._json:  # apprise needs a message: the title when there is no detail
            title, body = alert.title, alert.detail or alert.title
        else:
            title, body = chat_text(alert)
        result = await target.async_notify(
            body=body,
            title=title,
            notify_type=_NOTIFY_TYPES[alert.severity],
            body_format=apprise.NotifyFormat.HTML if html else apprise.NotifyFormat.TEXT,
            timeout=self.timeout_s,
        )
        if not result:
            raise ChannelError(self._why(result))

    async def close(self) -> None:
        return None

    def _fields(self, alert: Alert) -> str:
        fields = {"severity": alert.severity.value, "source": alert.source, "key": alert.key or ""}
        if self.spec.alert_body:
            fields |= _ALERT_BODY | ({} if alert.detail else _EMPTY_DETAIL)
        query = "&".join(f":{name}={quote(value, safe='')}" for name, value in fields.items())
        return ("&" if "?" in self.spec.url else "?") + query

    def _instantiate(self, url: str) -> apprise.NotifyBase:
        plugin = apprise.Apprise.instantiate(url, asset=self._asset)
        if plugin is None:
            raise ConfigError(
                f"{self.spec.origin} ({self.spec.scheme}://...) is not a URL apprise can send to: "
                "see its documentation for that service's URL"
            )
        return plugin

    def _why(self, result: apprise.AppriseResult) -> str:
        if result.status is apprise.AppriseResultStatus.TIMEOUT:
            return f"{self.name}: no answer within {self.timeout_s:g} s"
        said = "; ".join(dict.fromkeys(e.message.strip() for e in result.logs() if e.message.strip()))
        return f"{self.name}: {redact(said, self.spec) or 'refused the message'}"


def chat_text(alert: Alert) -> tuple[str, str]:
    """A chat message's or an e-mail's title and body: the severity first, the key last."""
    title = f"{alert.severity.upper()}: {alert.title}"
    footer = f"source: {alert.source}\nkey: {alert.key}" if alert.key else f"source: {alert.source}"
    return title, f"{alert.detail}\n\n{footer}" if alert.detail else footer


def WebhookChannel(url: str) -> AppriseChannel:  # the old class's name, kept for its callers
    """The old generic webhook: apprise's JSON channel posting severity, source, title, detail, key."""
    return AppriseChannel(webhook_spec(url, "webhook"))


def channels_from(settings: Settings) -> list[Channel]:
    """The configured channels; none means the log and the audit table are the only ones."""
    webhook = settings.alert_webhook_url.get_secret_value() if settings.alert_webhook_url else None
    urls = settings.alert_urls.get_secret_value() if settings.alert_urls else None
    return [AppriseChannel(spec) for spec in specs_from(urls, settings.alert_urls_file, webhook)]
