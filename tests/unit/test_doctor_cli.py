"""`perpflow doctor` without a stack: one problem per part that is down, skipped for what is not
configured where it runs, JSON for scripts, exit 1. (tests/integration/test_doctor.py runs it on a
stack of real processes.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PERPFLOW = str(Path(sys.executable).parent / "perpflow")


def doctor(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PERPFLOW, "doctor", *args], env=env, capture_output=True, text=True, timeout=120)


def test_without_temporal_the_json_names_it_the_one_problem_and_skips_the_unconfigured(
    monkeypatch_env: dict[str, str],
) -> None:
    done = doctor(monkeypatch_env, "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    found = json.loads(done.stdout)
    assert found["ok"] is False
    status = {f["part"]: f["status"] for f in found["findings"]}
    assert status.pop("temporal") == "problem"
    assert set(status.values()) == {"skipped"}, found["findings"]
    assert {"pollers", "workflows", "orchestrator", "ledger", "venue", "chain", "wallet", "pool"} <= set(
        status
    )
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: 1 problem(s): temporal ") and "cannot reach Temporal at" in line


def test_an_unreadable_payout_config_is_a_problem_of_its_own(monkeypatch_env: dict[str, str]) -> None:
    (Path(monkeypatch_env["PERPFLOW_STATE_DIR"]) / "payouts.yaml").write_text("chain: {chain_id: 0}\n")
    done = doctor(monkeypatch_env, "--json")
    found = {(f["part"], f["name"]): f for f in json.loads(done.stdout)["findings"]}
    assert found["chain", "payout config"]["status"] == "problem"
    assert "chain_id" in found["chain", "payout config"]["detail"]
    assert "payout config" in done.stderr


def test_a_malformed_duration_is_refused(monkeypatch_env: dict[str, str]) -> None:
    done = doctor(monkeypatch_env, "--since", "5 fortnights")
    assert done.returncode == 2
    assert "is not a duration like 90s, 30m, 2h or 1d" in done.stderr
