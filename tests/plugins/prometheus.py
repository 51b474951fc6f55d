"""The real Prometheus server (Debian's ``prometheus``) on a free port, scraping targets every second,
and what a test expects it to hold."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from perpflow.devstack.ports import free_port
from perpflow.metrics.names import CATALOGUE, FLEET_DAILY_LOSS_LIMIT, REFRESH_FAILURES, Metric, Process

Sample = tuple[dict[str, str], float]
PROCESSES = tuple(p for p in Process if p is not Process.EVERY)


class Prometheus:
    """``prometheus`` on a free port scraping ``targets`` (job -> host:port) every second."""

    def __init__(self, tmp: Path, targets: dict[str, str]) -> None:
        binary = shutil.which("prometheus")
        assert binary, "prometheus is missing: `make test` installs it (scripts/system.sh)"
        self.port = free_port()
        jobs = [{"job_name": job, "static_configs": [{"targets": [at]}]} for job, at in targets.items()]
        config = {"global": {"scrape_interval": "1s", "scrape_timeout": "900ms"}, "scrape_configs": jobs}
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = tmp / "prometheus.log"
        argv = [
            binary, f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]  # fmt: skip
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def _get(self, path: str, **params: str) -> Any:
        url = f"http://127.0.0.1:{self.port}{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as resp:
            return json.loads(resp.read())

    async def series(self) -> list[Sample]:
        """Every perpflow and Temporal SDK series of the last scrapes, with its value."""
        query = '{__name__=~"perpflow_.+|temporal_.+"}'
        try:
            body = await asyncio.to_thread(self._get, "/api/v1/query", query=query)
        except OSError:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            return []  # not listening yet
        return [(r["metric"], float(r["value"][1])) for r in body["data"]["result"]]


# Set by workflow code through its metric meter, once that code sets it (see docs/metrics.md).
FROM_WORKFLOWS = {FLEET_DAILY_LOSS_LIMIT}


def served_by(process: Process) -> list[Metric]:
    """The catalogue's series ``process`` serves from its start (not those workflow code sets)."""
    own = [m for m in CATALOGUE if m.process in (process, Process.EVERY) and m not in FROM_WORKFLOWS]
    if process is Process.MARKET_DATA:  # no scrape-time reads there
        own.remove(REFRESH_FAILURES)
    return own


def missing(found: list[Sample], expected: Callable[[Process], list[Metric]]) -> list[str]:
    """Each expected series absent from its process's job, or present without a catalogue label."""
    gaps = []
    for process in PROCESSES:
        for metric in expected(process):
            labelled = [s for s, _ in found if s["__name__"] == metric.series and s["job"] == process.value]
            if not any(set(metric.labels) <= set(s) for s in labelled):
                gaps.append(f"{process.value}: {metric.series}{list(metric.labels)} ({len(labelled)} series)")
    return gaps
