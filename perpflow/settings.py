"""Process settings from the environment (prefix ``PERPFLOW_``) or a ``.env`` file.

Every process (workers, CLI, the dev stack) reads the same model, so a typo in a variable
name is an error rather than a silently ignored default.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_STATE_DIR = Path(".perpflow")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PERPFLOW_",
        env_file=".env",
        extra="forbid",
        secrets_dir=None,
    )

    state_dir: Path = DEFAULT_STATE_DIR
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "perpflow"
    temporal_ui_url: str = "http://127.0.0.1:8233"
    # Temporal Cloud: mTLS client certificate, or an API key (which implies TLS).
    temporal_tls: bool = False
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_tls_ca: Path | None = None
    temporal_api_key: SecretStr | None = None
    # The venue's REST/WS base URL for public market reads (the signer config names its own).
    lighter_url: str | None = None
    # Alerts are logged and audited; this webhook (chat, pager) receives them as JSON too.
    alert_webhook_url: str | None = None
    # The one variable without our prefix: DATABASE_URL is the convention every tool knows.
    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.temporal_tls_cert is None) != (self.temporal_tls_key is None):
            raise ValueError("PERPFLOW_TEMPORAL_TLS_CERT and PERPFLOW_TEMPORAL_TLS_KEY go together")
        return self

    @property
    def ledger_url(self) -> str:
        """The ledger's database URL: ``DATABASE_URL``, else a SQLite file in the state dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.state_dir / 'ledger.db').resolve()}"

    @property
    def secrets_file(self) -> Path:
        return self.state_dir / "secrets.json"


def load_settings() -> Settings:
    return Settings()
