"""What the benchmarks share beyond perpflow.devstack.harness: a sim context, a ledger, percentiles."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from perpflow.db.migrate import upgrade
from perpflow.devstack.harness import start_sim, stop_sim


@contextmanager
def sim_process(*extra: str) -> Iterator[str]:
    """``perpflow sim`` on a free port with manual prices (the tests' launcher); yields its URL."""
    with tempfile.TemporaryDirectory() as tmp:
        sim = start_sim(Path(tmp), *extra)
        try:
            yield sim.url
        finally:
            stop_sim(sim.proc)


@contextmanager
def bench_ledger(tmp: Path) -> Iterator[str]:
    """A migrated ledger URL: a fresh Postgres database when one is reachable (the production
    ledger), else a SQLite file in `tmp`. The database is dropped afterwards."""
    admin_url = os.environ.get("PERPFLOW_TEST_PG", "postgresql://127.0.0.1:5432/test")
    name = f"perpflow_bench_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error:
        url = f"sqlite:///{tmp / 'ledger.db'}"
        upgrade(url)
        yield url
        return
    try:
        url = admin_url.rsplit("/", 1)[0] + f"/{name}"
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def backend(url: str) -> str:
    return url.split(":", 1)[0]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(label: str, values: list[float], unit: str = "ms") -> str:
    cells = [
        f"{name}={value:7.2f} {unit}"
        for name, value in (
            ("p50", pct(values, 50)),
            ("p95", pct(values, 95)),
            ("p99", pct(values, 99)),
            ("mean", statistics.fmean(values)),
        )
    ]
    return f"{label:<40} n={len(values):<5} " + "  ".join(cells)


class Moments:
    """Named wall-clock moments (``time.time()``: the sim's clock too, and every process's on this
    host) as they happen; a sample is the first of each name inside one ``begin()``/``end()``
    window, so moments recorded by another process join the samples as well."""

    def __init__(self) -> None:
        self.events: list[tuple[str, float]] = []
        self.windows: list[tuple[float, float]] = []
        self._opened: float | None = None

    def hit(self, name: str, at: float | None = None) -> None:
        self.events.append((name, time.time() if at is None else at))

    def begin(self) -> None:
        self._opened = time.time()

    def end(self) -> None:
        assert self._opened is not None
        self.windows.append((self._opened, time.time()))
        self._opened = None

    def samples(self, elsewhere: list[tuple[str, float]]) -> list[dict[str, float]]:
        events = sorted([*self.events, *elsewhere], key=lambda e: e[1])
        samples = []
        for start, end in self.windows:
            sample: dict[str, float] = {}
            for name, at in events:
                if start <= at <= end:
                    sample.setdefault(name, at)
            samples.append(sample)
        return samples

    def timed(self, obj: Any, method: str, label: str) -> None:
        """Wrap one object's async method: ``<label> start`` and ``<label> end`` around each call."""
        inner = getattr(obj, method)

        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            self.hit(f"{label} start")
            try:
                return await inner(*args, **kwargs)
            finally:
                self.hit(f"{label} end")

        setattr(obj, method, wrapper)
