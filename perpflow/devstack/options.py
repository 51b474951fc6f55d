"""Where the embedded stack's services listen, and what every child process is told of it."""

from __future__ import annotations

from dataclasses import dataclass

from perpflow.devstack.marketdata import METRICS_PORT
from perpflow.settings import Settings


@dataclass(frozen=True)
class DevOptions:
    host: str = "127.0.0.1"
    temporal_port: int = 7233
    ui_port: int = 8233
    sim_port: int = 8787
    metrics_port: int = METRICS_PORT  # the market-data worker's Prometheus endpoint

    @property
    def sim_url(self) -> str:
        return f"http://{self.host}:{self.sim_port}"

    @property
    def temporal_address(self) -> str:
        return f"{self.host}:{self.temporal_port}"

    @property
    def ui_url(self) -> str:
        return f"http://{self.host}:{self.ui_port}"


def child_env(settings: Settings, opts: DevOptions) -> dict[str, str]:
    """What every child process needs to find the stack (secrets are passed by file, not here)."""
    env = {
        "PERPFLOW_TEMPORAL_ADDRESS": opts.temporal_address,
        "PERPFLOW_TEMPORAL_NAMESPACE": settings.temporal_namespace,
        "PERPFLOW_STATE_DIR": str(settings.state_dir.resolve()),
        "PYTHONUNBUFFERED": "1",
        # The SDKs' HTTP clients honour proxy variables; local services must never go through one.
        "NO_PROXY": "127.0.0.1,localhost",
        "PERPFLOW_LIGHTER_URL": opts.sim_url,
    }
    if settings.database_url:
        env["DATABASE_URL"] = settings.database_url
    return env
