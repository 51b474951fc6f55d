"""scripts/sim_two_accounts.py passes against the sim fixture; the CLI fails fast on a taken port."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.plugins.sim import SimHandle, SimProcess

ROOT = Path(__file__).resolve().parents[2]


async def test_two_accounts_script_reports_consistent_trade(sim: SimHandle) -> None:
    await sim.admin.reset()
    result = subprocess.run(
        [sys.executable, "scripts/sim_two_accounts.py", "--url", sim.url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout and "trade" in result.stdout


def test_taken_port_is_a_one_line_error(sim_process: SimProcess) -> None:
    port = sim_process.url.rsplit(":", 1)[1]
    result = subprocess.run(
        [sys.executable, "-m", "perpflow.sim", "--port", port, "--price-path", "manual"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "cannot listen" in result.stderr
