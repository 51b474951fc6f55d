"""CLI failures are one clear line on stderr, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PERPFLOW = str(Path(sys.executable).parent / "perpflow")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PERPFLOW, *args], capture_output=True, text=True, timeout=60, env=env)


def test_doctor_without_a_server_is_one_line(monkeypatch_env: dict[str, str]) -> None:
    result = run("doctor", env=monkeypatch_env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "cannot reach Temporal at" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_replaying_a_missing_file_is_one_line() -> None:
    result = run("history", "replay", "no-such-history.json")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: no such file: no-such-history.json"


def test_an_incompatible_history_fails_replay_with_its_reason() -> None:
    bad = Path(__file__).parents[1] / "replay/histories/incompatible/health_check_renamed_activity.json"
    result = run("history", "replay", str(bad))
    assert result.returncode == 1
    assert "FAILED" in result.stdout
    assert "Nondeterminism" in result.stdout


def test_bad_settings_are_one_line(monkeypatch_env: dict[str, str]) -> None:
    env = {**monkeypatch_env, "PERPFLOW_TEMPORAL_TLS_CERT": "/nonexistent.pem"}
    result = run("doctor", env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("error: invalid settings:")
    assert "Traceback" not in result.stderr


def test_a_misspelled_environment_variable_is_one_line_naming_the_valid_one(
    monkeypatch_env: dict[str, str],
) -> None:
    env = {**monkeypatch_env, "PERPFLOW_TEMPORAL_ADRESS": "127.0.0.1:7233"}
    result = run("doctor", env=env)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: invalid settings: unknown environment variable PERPFLOW_TEMPORAL_ADRESS "
        "(did you mean PERPFLOW_TEMPORAL_ADDRESS?)"
    )
