"""What the benchmarks share beyond perpflow.devstack.harness: a sim context, a ledger, percentiles,
perpflow's worker processes and their environment, a tape of each account's trades on the sim."""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
from temporalio.client import Client

from perpflow.db.migrate import upgrade
from perpflow.devstack.harness import ROOT, start_sim, stop_sim

# The sim publishes its streams in batches this far apart (50 ms by default). A cycle paced by the
# streams themselves falls at the same point of every batch and waits for the next one each time
# (a baseline hedger did: ~48 ms a fill), while one paced by queries and activities falls anywhere
# in it. A short period and a random phase before each price move keep that wait small and the
# same in distribution for both paths.
BOOK_INTERVAL_MS = 5


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
    """The q-th percentile; NaN without samples (a path that measured nothing says so)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(label: str, values: list[float], unit: str = "ms") -> str:
    if not values:
        return f"{label:<40} n=0     (no samples)"
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


def stack_env(client: Client, url: str, ledger_url: str, state_dir: Path) -> dict[str, str]:
    """perpflow's worker processes on this Temporal server, the sim at `url` (its Lighter face) and
    this ledger; no PERPFLOW_ setting of the caller's leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PERPFLOW_")}
    return {
        **env,
        "PERPFLOW_TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "PERPFLOW_TEMPORAL_NAMESPACE": client.namespace,
        "PERPFLOW_LIGHTER_URL": url,
        "PERPFLOW_STATE_DIR": str(state_dir),
        "PERPFLOW_LOG_LEVEL": "WARNING",
        "DATABASE_URL": ledger_url,
        "NO_PROXY": "127.0.0.1,localhost",
    }


@contextmanager
def processes(commands: dict[str, list[str]], env: dict[str, str], logs: Path) -> Iterator[None]:
    """Each command a process (stderr to ``logs/<name>.log``), stopped with SIGTERM at the end; the
    last lines of each log are printed if the body fails."""
    procs = []
    for name, cmd in commands.items():
        with (logs / f"{name}.log").open("wb") as err:
            procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err))
    try:
        yield
    except BaseException:
        for name in commands:
            lines = (logs / f"{name}.log").read_text(errors="replace").splitlines()
            print(f"-- {name}.log, last lines:\n" + "\n".join(lines[-15:]), file=sys.stderr)
        raise
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def until(
    check: Callable[[], Awaitable[bool]], what: str, timeout: float = 120, every: float = 0.1
) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(every)


class Tape:
    """Each engine account's trades as the Lighter face's account stream publishes them (either
    face's accounts: one engine), with the sim's timestamps (ms) and when each arrived here
    (``received_at``, s)."""

    def __init__(self, url: str, accounts: list[int], wait_s: float) -> None:
        self.url, self.accounts, self.wait_s = url, accounts, wait_s
        self.trades: dict[int, asyncio.Queue[dict[str, Any]]] = {a: asyncio.Queue() for a in accounts}
        self.subscribed = asyncio.Event()

    async def run(self, http: aiohttp.ClientSession) -> None:
        seen: set[tuple[int, int]] = set()
        async with http.ws_connect(self.url.replace("http", "ws") + "/stream") as ws:
            for a in self.accounts:
                await ws.send_json({"type": "subscribe", "channel": f"account_all/{a}"})
            self.subscribed.set()
            async for frame in ws:
                arrived = time.time()
                msg = json.loads(frame.data)
                if msg.get("type") != "update/account_all":
                    continue
                for batch in msg.get("trades", {}).values():
                    for trade in batch:
                        if (msg["account"], trade["trade_id"]) not in seen:
                            seen.add((msg["account"], trade["trade_id"]))
                            await self.trades[msg["account"]].put(trade | {"received_at": arrived})

    async def next(self, account: int) -> dict[str, Any]:
        """The account's next trade, waiting `wait_s` at most."""
        return await asyncio.wait_for(self.trades[account].get(), self.wait_s)

    def drain(self) -> None:
        for q in self.trades.values():
            while not q.empty():
                q.get_nowait()
