"""Alert channels as configured: apprise URLs, each with the least severity it receives.

One entry is ``[severity:]scheme://...``: ``critical:tgram://123:abc/-100200`` sends only
critical alerts to that Telegram chat; without a prefix a channel receives every alert (info and
up). Entries are separated by commas, whitespace or new lines; a comma inside an entry (a list of
recipients ``?to=a@x.org,b@x.org``) stays in it, since only a comma before ``scheme://`` splits.
In a file, a line starting with ``#`` is a comment.

A channel's name is its scheme and a short hash of its URL (``tgram-1a2b3c4d``): stable across
restarts, so the outbox knows which channels already took an alert, and free of the URL's tokens.
Pure: parsing only; ``perpflow.alerts.channels`` builds the apprise objects.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from perpflow.alerts.models import Severity
from perpflow.errors import ConfigError

_SCHEME = r"[A-Za-z][A-Za-z0-9+.\-]*://"
_LEVELS = "|".join(s.value for s in Severity)
_PREFIX = re.compile(rf"^({_LEVELS}):(?={_SCHEME})", re.IGNORECASE)
# Split before each entry's start: an optional severity, then a scheme.
_SPLIT = re.compile(rf"[\s,]+(?=(?:(?:{_LEVELS}):)?{_SCHEME})", re.IGNORECASE)
# Shorter pieces of a URL (a port, "hooks") are not secrets and would garble every message.
_MIN_SECRET_LEN = 4
# Apprise's JSON webhook schemes: the old generic webhook setting is one of these.
JSON_SCHEMES = frozenset({"json", "jsons"})


@dataclass(frozen=True)
class ChannelSpec:
    url: str = field(repr=False)  # holds tokens and passwords: never logged, never stored
    min_severity: Severity
    origin: str  # where it was configured, for errors ("PERPFLOW_ALERT_URLS entry 2")
    # The old webhook's body (severity, source, title, detail, key) instead of apprise's JSON.
    alert_body: bool = False

    @property
    def scheme(self) -> str:
        return self.url.split("://", 1)[0].lower()

    @property
    def name(self) -> str:
        digest = hashlib.sha256(self.url.encode()).hexdigest()[:8]
        return f"{self.scheme}-{digest}"

    def accepts(self, severity: Severity) -> bool:
        return severity.rank >= self.min_severity.rank

    def secrets(self) -> list[str]:
        """The URL and the parts of it that may be credentials, longest first (for redaction)."""
        parts = urlsplit(self.url)
        pieces = [self.url, parts.netloc, parts.username or "", parts.password or ""]
        pieces += parts.path.split("/") + [v for kv in parts.query.split("&") for v in kv.split("=")[1:]]
        found = {p for piece in pieces for p in (piece, unquote(piece)) if len(p) >= _MIN_SECRET_LEN}
        return sorted(found, key=len, reverse=True)


def redact(text: str, spec: ChannelSpec) -> str:
    for secret in spec.secrets():
        text = text.replace(secret, "***")
    return text


def parse_specs(text: str, origin: str) -> list[ChannelSpec]:
    """Every entry of ``text`` (a setting's value or a file's content), in order."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    entries = [e for e in _SPLIT.split(" ".join(lines).strip().strip(",")) if e.strip(", ")]
    return [_spec(entry.strip(", "), f"{origin} entry {n}") for n, entry in enumerate(entries, 1)]


def _spec(entry: str, origin: str) -> ChannelSpec:
    severity = Severity.INFO
    prefix = _PREFIX.match(entry)
    if prefix:
        severity, entry = Severity(prefix.group(1).lower()), entry[prefix.end() :]
    if not re.match(_SCHEME, entry):
        # The entry itself is not shown: it may be a piece of a password.
        raise ConfigError(f"{origin} is not a channel URL: expected [info:|warning:|critical:]scheme://...")
    return ChannelSpec(entry, severity, origin)


def webhook_spec(url: str, origin: str = "PERPFLOW_ALERT_WEBHOOK_URL") -> ChannelSpec:
    """The old generic webhook as apprise's JSON channel, posting the same body as before."""
    scheme, sep, rest = url.partition("://")
    mapped = {"http": "json", "https": "jsons"}.get(scheme.lower())
    if not sep or mapped is None:
        raise ConfigError(f"{origin} must be an http:// or https:// URL")
    return ChannelSpec(f"{mapped}://{rest}", Severity.INFO, origin, alert_body=True)


def specs_from(urls: str | None, urls_file: Path | None, webhook_url: str | None) -> list[ChannelSpec]:
    """The channels of the three settings, in that order; an entry repeated is an error."""
    specs: list[ChannelSpec] = []
    if urls:
        specs += parse_specs(urls, "PERPFLOW_ALERT_URLS")
    if urls_file is not None:
        try:
            content = urls_file.read_text()
        except OSError as exc:
            raise ConfigError(f"PERPFLOW_ALERT_URLS_FILE {urls_file}: {exc.strerror or exc}") from exc
        specs += parse_specs(content, f"PERPFLOW_ALERT_URLS_FILE ({urls_file})")
    if webhook_url:
        specs.append(webhook_spec(webhook_url))
    seen: dict[str, ChannelSpec] = {}
    for spec in specs:
        if spec.name in seen:
            raise ConfigError(f"{spec.origin} repeats {seen[spec.name].origin} (channel {spec.name})")
        seen[spec.name] = spec
    return specs
