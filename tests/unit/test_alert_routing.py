"""Alert channels as configured: entries, severity prefixes, the secret file, the old webhook
setting, channel names and error texts that never show a token."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import SecretStr

from perpflow.alerts.models import Severity
from perpflow.alerts.routing import ChannelSpec, parse_specs, redact, specs_from, webhook_spec
from perpflow.errors import ConfigError
from perpflow.settings import Settings

MAIL = (
    "mailtos://alerts:pa55word@smtp.example.org:587?to=ops@example.org,desk@example.org&from=bot@example.org"
)
TELEGRAM = "tgram://123456789:AAHsecretTokenValue/-100200300"


def entries(text: str) -> list[tuple[str, Severity]]:
    return [(s.url, s.min_severity) for s in parse_specs(text, "test")]


def test_entries_split_on_commas_and_new_lines_but_not_inside_a_list_of_recipients() -> None:
    assert entries(f"{MAIL},{TELEGRAM}\n json://hooks.example.org/x ,") == [
        (MAIL, Severity.INFO),
        (TELEGRAM, Severity.INFO),
        ("json://hooks.example.org/x", Severity.INFO),
    ]


def test_a_severity_prefix_is_the_least_severity_a_channel_receives() -> None:
    specs = parse_specs(f"critical:{TELEGRAM}, Warning:{MAIL}, info:json://h/x", "test")
    assert [(s.scheme, s.min_severity) for s in specs] == [
        ("tgram", Severity.CRITICAL),
        ("mailtos", Severity.WARNING),
        ("json", Severity.INFO),
    ]
    pager = specs[0]
    assert [pager.accepts(s) for s in Severity] == [False, False, True]
    assert all(specs[2].accepts(s) for s in Severity)


def test_the_file_has_an_entry_per_line_and_comments(tmp_path: Path) -> None:
    secret = tmp_path / "alert_urls"
    secret.write_text(f"# the desk's chat, critical only\ncritical:{TELEGRAM}\n\n  # mail\n{MAIL}\n")
    specs = specs_from("json://h/x", secret, None)
    assert [(s.scheme, s.min_severity, s.origin) for s in specs] == [
        ("json", Severity.INFO, "PERPFLOW_ALERT_URLS entry 1"),
        ("tgram", Severity.CRITICAL, f"PERPFLOW_ALERT_URLS_FILE ({secret}) entry 1"),
        ("mailtos", Severity.INFO, f"PERPFLOW_ALERT_URLS_FILE ({secret}) entry 2"),
    ]


def test_a_missing_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"PERPFLOW_ALERT_URLS_FILE .*missing: No such file"):
        specs_from(None, tmp_path / "missing", None)


def test_the_old_webhook_setting_is_a_json_channel_for_every_alert_with_the_old_body() -> None:
    assert webhook_spec("https://hooks.example.org/T0K3N") == ChannelSpec(
        "jsons://hooks.example.org/T0K3N", Severity.INFO, "PERPFLOW_ALERT_WEBHOOK_URL", alert_body=True
    )
    assert webhook_spec("http://127.0.0.1:9000/hook").url == "json://127.0.0.1:9000/hook"
    with pytest.raises(ConfigError, match="PERPFLOW_ALERT_WEBHOOK_URL must be an http:// or https:// URL"):
        webhook_spec("ftp://x/y")


def test_a_channel_name_is_its_scheme_and_a_hash_stable_across_prefixes_and_free_of_secrets() -> None:
    [plain] = parse_specs(TELEGRAM, "a")
    [prefixed] = parse_specs(f"critical:{TELEGRAM}", "b")
    assert plain.name == prefixed.name
    assert plain.name.startswith("tgram-") and len(plain.name) == len("tgram-") + 8
    assert "AAH" not in plain.name and "123456789" not in plain.name
    assert "pa55word" not in repr(parse_specs(MAIL, "c")[0])


def test_a_channel_configured_twice_is_an_error() -> None:
    with pytest.raises(ConfigError, match="PERPFLOW_ALERT_URLS entry 2 repeats PERPFLOW_ALERT_URLS entry 1"):
        specs_from(f"{TELEGRAM},critical:{TELEGRAM}", None, None)


def test_an_entry_that_is_not_a_url_is_named_by_its_place_never_by_its_text() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_specs("hunter2-password, json://h/x", "PERPFLOW_ALERT_URLS")
    assert str(exc.value) == (
        "PERPFLOW_ALERT_URLS entry 1 is not a channel URL: expected [info:|warning:|critical:]scheme://..."
    )


def test_redact_removes_the_url_and_every_credential_in_it() -> None:
    [mail] = parse_specs(MAIL, "t")
    [telegram] = parse_specs(TELEGRAM, "t")
    said = f"login failed for alerts:pa55word at {MAIL}"
    assert "pa55word" not in redact(said, mail) and MAIL not in redact(said, mail)
    assert redact("POST .../bot123456789:AAHsecretTokenValue/sendMessage: 401", telegram) == (
        "POST .../bot***/sendMessage: 401"
    )


def test_settings_read_the_channels_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PERPFLOW_ALERT_URLS", f"critical:{TELEGRAM}")
    monkeypatch.setenv("PERPFLOW_ALERT_URLS_FILE", str(tmp_path / "urls"))
    monkeypatch.setenv("PERPFLOW_ALERT_WEBHOOK_URL", "https://hooks.example.org/T0K3N")
    monkeypatch.setenv("PERPFLOW_ALERT_REPEAT_WINDOW_S", "120")
    monkeypatch.setenv("PERPFLOW_ALERT_REPORT_AT", "07:30")
    settings = Settings()
    assert settings.alert_urls == SecretStr(f"critical:{TELEGRAM}")
    assert "AAHsecret" not in repr(settings) and "T0K3N" not in repr(settings)
    assert settings.alert_urls_file == tmp_path / "urls"
    assert (settings.alert_repeat_window_s, f"{settings.alert_report_at}") == (120.0, "07:30:00")


ROOT = Path(__file__).parents[2]


def test_the_documented_value_and_the_example_file_are_channels_apprise_can_send_to() -> None:
    from perpflow.alerts.channels import AppriseChannel, channels_from  # apprise loads its plugins: ~1 s

    [documented] = re.findall(r'PERPFLOW_ALERT_URLS="([^"]+)"', (ROOT / "docs/alerts.md").read_text())
    channels = channels_from(Settings(alert_urls=SecretStr(documented)))
    channels += channels_from(Settings(alert_urls_file=ROOT / "config/alerts.example.urls"))
    assert all(isinstance(c, AppriseChannel) for c in channels)
    assert [(c.name.split("-")[0], c.spec.min_severity, c.takes_reports) for c in channels] == [
        ("tgram", Severity.CRITICAL, False),
        ("mailtos", Severity.WARNING, True),
        ("json", Severity.INFO, False),
        ("mailtos", Severity.WARNING, True),
        ("tgram", Severity.CRITICAL, False),
        ("slack", Severity.WARNING, False),
        ("discord", Severity.CRITICAL, False),
        ("jsons", Severity.INFO, False),
    ]


def test_a_url_apprise_cannot_send_to_stops_the_start_naming_the_entry_not_its_token() -> None:
    from perpflow.alerts.channels import channels_from

    with pytest.raises(ConfigError) as exc:
        channels_from(Settings(alert_urls=SecretStr("json://h/x, tgram://not-a-bot-token-SECRET")))
    assert str(exc.value) == (
        "PERPFLOW_ALERT_URLS entry 2 (tgram://...) is not a URL apprise can send to: "
        "see its documentation for that service's URL"
    )
