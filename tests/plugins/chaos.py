"""Helpers for chaos tests that run the real worker processes (no fixtures here): a process that is
SIGKILLed and restarted at will (or at seeded random points), the signer's YAML and environment for
fresh sim accounts, and a price wiggle that keeps resting quotes filling."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import yaml
from temporalio.testing import WorkflowEnvironment

from perpflow.venues.lighter.client import LighterVenue
from tests.plugins.sim import SimHandle
from tests.plugins.venues import SimAccount, best

ROOT = Path(__file__).parents[2]


class Proc:
    """One worker process (``python -m workers.…``), its output appended to ``log``."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.argv, self.env, self.log = name, argv, env, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0
        self.offset = 0  # where this start's output begins in the log

    def start(self) -> None:
        self.offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.kills += 1

    async def polling(self, timeout: float = 60, marker: str = "worker polling") -> float:
        """Wait until this start's output says its workers poll; how long that took."""
        begun = time.monotonic()
        while marker.encode() not in self.log.read_bytes()[self.offset :]:
            assert self.proc is not None and self.proc.poll() is None, f"{self.name} exited:\n{self.tail()}"
            assert time.monotonic() - begun < timeout, f"{self.name} not polling after {timeout}s"
            await asyncio.sleep(0.1)
        return time.monotonic() - begun

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True)
class WorkerProcs:
    orchestrator: Proc
    signer: Proc

    @property
    def all(self) -> tuple[Proc, Proc]:
        return self.orchestrator, self.signer


def worker_procs(
    temporal: WorkflowEnvironment,
    sim: SimHandle,
    postgres_url: str,
    accounts: list[SimAccount],
    state_dir: Path,
) -> WorkerProcs:
    """The orchestrator and one signer holding every account's key (read from the environment),
    pointed at this test's dev server, the sim and the Postgres ledger; not started yet."""
    config = state_dir / "signer.yaml"
    config.write_text(
        yaml.safe_dump({
            "lighter": {"url": sim.url},
            "accounts": [
                {"name": f"c{i}", "account_index": a.account_index, "api_key_index": a.api_key_index,
                 "api_key": f"env:CHAOS_KEY_{i}", "tier": "premium"}
                for i, a in enumerate(accounts)
            ],
        })
    )  # fmt: skip
    env = {
        **os.environ,
        "PERPFLOW_TEMPORAL_ADDRESS": temporal.client.service_client.config.target_host,
        "PERPFLOW_TEMPORAL_NAMESPACE": temporal.client.namespace,
        "PERPFLOW_STATE_DIR": str(state_dir),
        "DATABASE_URL": postgres_url,
        "PERPFLOW_LIGHTER_URL": sim.url,
        "NO_PROXY": "127.0.0.1,localhost",
        **{f"CHAOS_KEY_{i}": a.private_key.get_secret_value() for i, a in enumerate(accounts)},
    }
    python = [sys.executable, "-m"]
    return WorkerProcs(
        Proc("orchestrator", [*python, "workers.orchestrator"], env, state_dir / "orchestrator.log"),
        Proc("signer", [*python, "workers.signer", str(config)], env, state_dir / "signer.log"),
    )


async def wiggle(sim: SimHandle, public: LighterVenue, stop: asyncio.Event, rng: random.Random) -> None:
    """Move the price a few ticks at a time so resting quotes keep filling, both ways."""
    while not stop.is_set():
        bid, ask = await best(public)
        mid = (bid + ask) / 2
        await sim.admin.set_price(0, (mid + Decimal(rng.choice([-4, -3, 3, 4]))).quantize(Decimal("0.01")))
        await asyncio.sleep(0.7)


async def kill_at_random(procs: Sequence[Proc], stop: asyncio.Event, rng: random.Random) -> None:
    """Until ``stop``: every 8-14 s SIGKILL one of ``procs`` (drawn from ``rng``) and restart it
    0.2-1.5 s later, without waiting for it to poll again."""
    while not stop.is_set():
        await asyncio.sleep(rng.uniform(8, 14))
        victim = rng.choice(procs)
        victim.kill()
        await asyncio.sleep(rng.uniform(0.2, 1.5))
        victim.start()
