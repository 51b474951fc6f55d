"""Where the embedded stack's services listen, and what every child process is told of it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from perpflow.devstack.grvt import grvt_url
from perpflow.devstack.ports import free_port, port_is_free
from perpflow.settings import Settings

ANVIL_PORT = 8545  # wallets and tools expect it
METRICS_PORT = 9464  # the first metrics port; every perpflow process takes the next free one
# The perpflow processes of the stack, in the order their metrics ports are given out (market-data
# first: it served 9464 alone before the others had metrics).
METRICS_PROCESSES = ("market-data", "orchestrator", "signer", "wallet", "chain-watcher")
# Those whose worker takes `--metrics-port N` (perpflow/metrics/endpoint.py): only they get a port.
TAKES_METRICS_PORT = frozenset(METRICS_PROCESSES)


@dataclass(frozen=True)
class DevOptions:
    host: str = "127.0.0.1"
    temporal_port: int = 7233
    ui_port: int = 8233
    sim_port: int = 8787
    anvil_port: int | None = None  # None: 8545 when free, else any free port
    metrics_port: int = METRICS_PORT  # 0: no metrics endpoints
    metrics_ports: tuple[tuple[str, int], ...] = ()  # given out by resolve()

    @property
    def sim_url(self) -> str:
        return f"http://{self.host}:{self.sim_port}"

    @property
    def temporal_address(self) -> str:
        return f"{self.host}:{self.temporal_port}"

    @property
    def ui_url(self) -> str:
        return f"http://{self.host}:{self.ui_port}"

    @property
    def anvil_url(self) -> str:
        return f"http://{self.host}:{self.anvil_port}"

    def metrics_port_of(self, process: str) -> int | None:
        return dict(self.metrics_ports).get(process)

    def metrics_args(self, process: str) -> list[str]:
        """``--metrics-port N`` for a process that serves metrics, else nothing."""
        port = self.metrics_port_of(process)
        return ["--metrics-port", str(port)] if port else []

    def metrics_bind(self, process: str) -> list[tuple[str, int]]:
        """The process's metrics port as a Service's ``ports`` (checked free before the start)."""
        port = self.metrics_port_of(process)
        return [("metrics", port)] if port else []

    def metrics_urls(self) -> dict[str, str]:
        return {name: f"http://{self.host}:{port}/metrics" for name, port in self.metrics_ports}

    def resolve(self, processes: tuple[str, ...] = METRICS_PROCESSES) -> DevOptions:
        """Every port fixed: anvil's, and one metrics port per process counted up from
        ``metrics_port`` past the ports in use (by this stack or anything else)."""
        anvil = self.anvil_port
        if anvil is None:
            anvil = ANVIL_PORT if port_is_free(self.host, ANVIL_PORT) else free_port(self.host)
        if self.metrics_port == 0:
            return dataclasses.replace(self, anvil_port=anvil, metrics_ports=())
        taken = {self.temporal_port, self.ui_port, self.sim_port, anvil}
        given: list[tuple[str, int]] = []
        port = self.metrics_port
        for name in (p for p in processes if p in TAKES_METRICS_PORT):
            while port in taken or not port_is_free(self.host, port):
                port += 1
            given.append((name, port))
            taken.add(port)
        return dataclasses.replace(self, anvil_port=anvil, metrics_ports=tuple(given))


def child_env(settings: Settings, opts: DevOptions) -> dict[str, str]:
    """What every child process needs to find the stack (secrets are passed by file, not here)."""
    env = {
        "PERPFLOW_TEMPORAL_ADDRESS": opts.temporal_address,
        "PERPFLOW_TEMPORAL_NAMESPACE": settings.temporal_namespace,
        "PERPFLOW_STATE_DIR": str(settings.state_dir.resolve()),
        "PYTHONUNBUFFERED": "1",
        # The SDKs' HTTP clients honour proxy variables; local services must never go through one.
        "NO_PROXY": "127.0.0.1,localhost",
        # The sim speaks both venues' protocols: every worker serves and streams both.
        "PERPFLOW_LIGHTER_URL": opts.sim_url,
        "PERPFLOW_GRVT_URL": grvt_url(opts.sim_url),
    }
    if settings.database_url:
        env["DATABASE_URL"] = settings.database_url
    return env
