"""One metrics endpoint per process: ``--metrics-port N`` (else ``PERPFLOW_METRICS_PORT``; 0 or
neither: none), bound to ``--metrics-host`` (else ``PERPFLOW_METRICS_HOST``, else 127.0.0.1; a
container sets 0.0.0.0 so Prometheus reaches it).

It serves, on one port: the instruments of ``perpflow.metrics.instruments`` (prometheus-client's
process-wide registry, with the process collector), the Temporal SDK's metrics (``sdk``), the
process's scrape-time gauges, and ``perpflow_build_info``.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from importlib.metadata import version
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, Gauge, start_http_server
from prometheus_client.registry import Collector
from pydantic_settings import BaseSettings, SettingsConfigDict

from perpflow.metrics import names
from perpflow.metrics.names import Process
from perpflow.metrics.sdk import SdkMetrics, install

log = logging.getLogger(__name__)

CONTAINER_PORT = 9464  # every service's port in docker-compose (Prometheus scrapes <service>:9464)


class MetricsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PERPFLOW_METRICS_", extra="ignore")

    port: int = 0
    host: str = "127.0.0.1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--metrics-port", type=int, default=None, help="serve Prometheus metrics on this port (0: none)"
    )
    parser.add_argument("--metrics-host", default=None, help="address the metrics port binds (127.0.0.1)")


def from_arguments(args: argparse.Namespace) -> MetricsSettings:
    """The flags where given, the environment for the rest."""
    env = MetricsSettings()
    return MetricsSettings(
        port=env.port if args.metrics_port is None else args.metrics_port,
        host=env.host if args.metrics_host is None else args.metrics_host,
    )


def parse(argv: list[str] | None = None, prog: str | None = None) -> MetricsSettings:
    """For a process without other flags: its metrics flags (anything else is an error)."""
    parser = argparse.ArgumentParser(prog=prog)
    add_arguments(parser)
    return from_arguments(parser.parse_args(argv))


@dataclass
class Endpoint:
    """The process's metrics, served once ``start``ed. ``install_sdk`` must run before the
    process's first Temporal client connects (the SDK's runtime is chosen then)."""

    process: Process
    settings: MetricsSettings
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    sdk: SdkMetrics = field(default_factory=SdkMetrics)
    _server: WSGIServer | None = None

    def __post_init__(self) -> None:
        self.registry.register(REGISTRY)  # type: ignore[arg-type]  # a registry is a collector
        info = Gauge(
            names.BUILD_INFO.name, names.BUILD_INFO.help, names.BUILD_INFO.labels, registry=self.registry
        )
        info.labels(self.process.value, version("perpflow")).set(1)

    @property
    def enabled(self) -> bool:
        return self.settings.port > 0

    def install_sdk(self) -> None:
        if self.enabled:
            self.registry.register(self.sdk)
            install(self.sdk)

    def add(self, collector: Collector) -> None:
        self.registry.register(collector)

    def start(self) -> None:
        if not self.enabled:
            return
        host, port = self.settings.host, self.settings.port
        self._server, _ = start_http_server(port, addr=host, registry=self.registry)
        log.info("metrics on http://%s:%d/metrics process=%s", host, port, self.process.value)

    def close(self) -> None:
        self.sdk.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
