"""Process settings from the environment (prefix ``PERPFLOW_``) or a ``.env`` file.

Every process (workers, CLI, the dev stack) reads the same model, so a typo in a variable
name is an error rather than a silently ignored default.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Collection, Mapping
from datetime import time
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from perpflow.errors import ConfigError

DEFAULT_STATE_DIR = Path(".perpflow")
ENV_PREFIX = "PERPFLOW_"

# PERPFLOW_* variables that are not settings: each is read directly by the code named beside it,
# so Settings lets them pass while any other unknown PERPFLOW_* name (a typo) is an error.
READ_ELSEWHERE = frozenset({
    "PERPFLOW_LOG_LEVEL",  # workers/common.py: the workers' log level
    "PERPFLOW_DEBUG",  # perpflow/cli.py main(): show the traceback instead of one line
    "PERPFLOW_PAYOUTS_CONFIG",  # perpflow/payouts/config.py: the payout YAML's path
    "PERPFLOW_ANVIL",  # perpflow/devstack/anvil.py: the anvil binary
    "PERPFLOW_WALLET_KEY",  # perpflow/chain/wallet.py; config/payouts.example.yaml's env: reference
    "PERPFLOW_TEST_PG",  # tests/conftest.py, bench/harness.py: the Postgres admin URL
    "PERPFLOW_RECORD_HISTORIES",  # tests/plugins/hedge.py: write replay histories
    "PERPFLOW_TEST_KEY",  # tests/unit/test_chain_wallet.py: HotWallet.from_env
    "PERPFLOW_TEST_WALLET_KEY",  # tests/chaos/test_payout_chaos.py: the wallet worker's env: key
    "PERPFLOW_BENCH_WALLET_KEY",  # bench/bench_payouts.py: the wallet worker's env: key
    "PERPFLOW_APT_UPDATED",  # scripts/system.sh: apt-get update ran once
    "PERPFLOW_METRICS_PORT",  # perpflow/metrics/endpoint.py: each process's metrics port
    "PERPFLOW_METRICS_HOST",  # perpflow/metrics/endpoint.py: the address it binds
    "PERPFLOW_METRICS",  # perpflow/metrics/endpoint.py: the prefix of the two above
})  # fmt: skip


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
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
    # GRVT's base URL, likewise: https://grvt.io, https://testnet.grvt.io, or a sim's
    # http://HOST:PORT/grvt (docs/grvt-adapter.md). Set, the market-data worker streams GRVT too.
    grvt_url: str | None = None
    # Alert channels beyond the log and the audit table (docs/alerts.md): apprise URLs, each with
    # an optional least severity ("critical:tgram://..."), separated by commas or new lines; the
    # file holds more of them (a Docker secret). The older webhook is one more JSON channel.
    alert_urls: SecretStr | None = None
    alert_urls_file: Path | None = None
    alert_webhook_url: SecretStr | None = None
    # Alerts of one severity and title within this window after one sent are counted, not sent;
    # their count goes out when the window ends. 0: every alert is sent.
    alert_repeat_window_s: float = Field(default=600.0, ge=0)
    # The daily status report's time of day (UTC, "07:00") to the e-mail channels; unset: none.
    alert_report_at: time | None = None
    # How long a workflow task waits for the orchestrator that has the run cached before any
    # orchestrator may take it: after an orchestrator dies, its runs resume this much later.
    orchestrator_sticky_timeout_s: float = Field(default=10.0, gt=0, le=60)
    # How often market data looks for watches whose workflow no longer runs (terminated, failed)
    # and drops them, with the account streams only they asked for.
    marketdata_sweep_every_s: float = Field(default=30.0, gt=0)
    # The one variable without our prefix: DATABASE_URL is the convention every tool knows.
    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")

    @model_validator(mode="before")
    @classmethod
    def _no_unknown_env(cls, data: Any) -> Any:
        """``extra="forbid"`` catches a typo in ``.env`` only; the process environment's are here."""
        settings = {ENV_PREFIX + n.upper() for n, f in cls.model_fields.items() if f.validation_alias is None}
        check_env_names(os.environ, settings | READ_ELSEWHERE)
        return data

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


def check_env_names(environ: Mapping[str, str], valid: Collection[str]) -> None:
    """Raise naming every ``PERPFLOW_*`` variable not in ``valid``, each with the valid name it is
    probably a typo of ("did you mean ...?"). Names compare upper-cased, as pydantic-settings reads
    them."""
    unknown = sorted(n for n in environ if n.upper().startswith(ENV_PREFIX) and n.upper() not in valid)
    if not unknown:
        return
    # Matched without the prefix, which every name shares and would make any two look alike.
    suffixes = sorted(v.removeprefix(ENV_PREFIX) for v in valid)
    described = []
    for name in unknown:
        close = difflib.get_close_matches(name.upper().removeprefix(ENV_PREFIX), suffixes, n=1)
        described.append(f"{name} (did you mean {ENV_PREFIX}{close[0]}?)" if close else name)
    plural = "s" if len(unknown) > 1 else ""
    raise ConfigError(f"invalid settings: unknown environment variable{plural} {', '.join(described)}")


def load_settings() -> Settings:
    return Settings()
