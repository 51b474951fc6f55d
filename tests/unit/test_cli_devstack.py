"""Where `perpflow dev` listens and how the CLI finds it: every port fixed before the start (one
metrics port per process, counted up past taken ones), recorded in the state dir while the stack
runs, and read by the CLI when PERPFLOW_TEMPORAL_ADDRESS is not set."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from perpflow.cli.context import load_settings
from perpflow.devstack.options import DevOptions
from perpflow.devstack.ports import free_port
from perpflow.devstack.state import StackRecord, running_record, stack_file, write_record

PERPFLOW = str(Path(sys.executable).parent / "perpflow")
PROCESSES = ("market-data", "orchestrator", "signer", "wallet", "chain-watcher")


def test_each_process_gets_its_own_free_metrics_port_counted_up_past_taken_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("perpflow.devstack.options.TAKES_METRICS_PORT", frozenset(PROCESSES))
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        first = holder.getsockname()[1]
        opts = DevOptions(temporal_port=first + 2, anvil_port=free_port(), metrics_port=first).resolve(
            PROCESSES
        )
    ports = dict(opts.metrics_ports)
    assert list(ports) == list(PROCESSES)
    assert first not in ports.values() and first + 2 not in ports.values()  # taken, the stack's own
    assert len(set(ports.values())) == len(PROCESSES)
    assert min(ports.values()) > first
    assert opts.metrics_args("signer") == ["--metrics-port", str(ports["signer"])]
    assert opts.metrics_urls()["wallet"] == f"http://127.0.0.1:{ports['wallet']}/metrics"


def test_metrics_port_0_starts_no_endpoint_and_a_given_anvil_port_is_kept() -> None:
    opts = DevOptions(anvil_port=18545, metrics_port=0).resolve()
    assert (opts.metrics_ports, opts.metrics_args("market-data"), opts.anvil_port) == ((), [], 18545)


def record(pid: int, temporal_port: int) -> StackRecord:
    return StackRecord(
        pid=pid, started_at=datetime.now(UTC), namespace="perpflow-dev",
        temporal_address=f"127.0.0.1:{temporal_port}", ui_url="http://127.0.0.1:18233",
        sim_url="http://127.0.0.1:18787", ledger_url="sqlite:///ledger.db",
        anvil_rpc="http://127.0.0.1:18545", metrics={"market-data": "http://127.0.0.1:19464/metrics"},
    )  # fmt: skip


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no .env of the repository's
    monkeypatch.setenv("PERPFLOW_STATE_DIR", str(tmp_path / ".perpflow"))
    monkeypatch.delenv("PERPFLOW_TEMPORAL_ADDRESS", raising=False)
    monkeypatch.delenv("PERPFLOW_TEMPORAL_NAMESPACE", raising=False)
    (tmp_path / ".perpflow").mkdir()
    return tmp_path / ".perpflow"


def test_the_cli_uses_the_running_stack_of_its_state_dir(state_dir: Path) -> None:
    write_record(state_dir, record(os.getpid(), 17233))
    settings = load_settings()
    assert (settings.temporal_address, settings.temporal_namespace) == ("127.0.0.1:17233", "perpflow-dev")
    assert settings.temporal_ui_url == "http://127.0.0.1:18233"


def test_an_address_given_wins_over_the_stack(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_record(state_dir, record(os.getpid(), 17233))
    monkeypatch.setenv("PERPFLOW_TEMPORAL_ADDRESS", "10.0.0.5:7233")
    assert load_settings().temporal_address == "10.0.0.5:7233"


def test_a_stopped_or_unreadable_stack_is_ignored(state_dir: Path) -> None:
    write_record(state_dir, record(dead_pid(), 17233))
    assert running_record(state_dir) is None
    # A live process that started after the record was written holds a reused pid.
    reused = record(os.getpid(), 17233).model_copy(update={"started_at": datetime(2020, 1, 1, tzinfo=UTC)})
    write_record(state_dir, reused)
    assert running_record(state_dir) is None
    assert load_settings().temporal_address == "127.0.0.1:7233"
    stack_file(state_dir).write_text("{not json")
    assert running_record(state_dir) is None


def test_an_unreachable_server_is_one_line_saying_where_the_address_came_from(state_dir: Path) -> None:
    port = free_port()
    write_record(state_dir, record(os.getpid(), port))
    env = {k: v for k, v in os.environ.items() if k != "PERPFLOW_DEBUG"}
    found = subprocess.run([PERPFLOW, "grid", "list"], env=env, capture_output=True, text=True, timeout=60)
    assert found.returncode == 1
    assert found.stderr.strip().splitlines() == [
        f"error: cannot reach Temporal at 127.0.0.1:{port} (connection refused), the address of the dev "
        f"stack in {stack_file(state_dir)} (pid {os.getpid()}); is it still starting?"
    ]
    stack_file(state_dir).unlink()
    none = subprocess.run([PERPFLOW, "grid", "list"], env=env, capture_output=True, text=True, timeout=60)
    assert none.returncode == 1
    assert "no dev stack runs from" in none.stderr
    assert "set PERPFLOW_TEMPORAL_ADDRESS=HOST:PORT" in none.stderr
