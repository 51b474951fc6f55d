"""The market-data worker as a unit of the embedded stack."""

from __future__ import annotations

import sys

from perpflow.devstack.supervisor import Service
from perpflow.marketdata.status import MarketDataUnhealthy, read_status, status_path, verdict
from perpflow.settings import Settings


def market_data_service(
    settings: Settings, env: dict[str, str], signer_config: str | None = None, metrics_port: int | None = None
) -> Service:
    """Ready once its status file is fresh and every stream it opened is connected."""
    command = [sys.executable, "-m", "workers.market_data", "--metrics-port", str(metrics_port or 0)]
    if signer_config:
        command += ["--signer-config", signer_config]
    path = status_path(settings.state_dir.resolve())

    async def ready() -> bool:
        try:
            verdict(read_status(path))
        except (MarketDataUnhealthy, ValueError):
            return False
        return True

    ports = [("metrics", metrics_port)] if metrics_port else []
    return Service(name="market-data", command=command, ready=ready, env=env, ports=ports)
