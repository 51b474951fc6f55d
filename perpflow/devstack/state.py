"""Where a running ``perpflow dev`` listens, recorded in its state dir (``dev-stack.json``).

Written once the stack's addresses are chosen and removed when it stops; the CLI reads it to find
the stack's Temporal server without PERPFLOW_TEMPORAL_ADDRESS (perpflow/cli/context.py), and the
operator (or a script) reads every address from it: ``jq .metrics .perpflow/dev-stack.json``.
A stack killed with SIGKILL leaves its file behind; a record whose process is gone is ignored.
"""

from __future__ import annotations

import contextlib
import os
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

STACK_FILE = "dev-stack.json"


class StackRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    pid: int
    started_at: datetime
    namespace: str
    temporal_address: str
    ui_url: str
    sim_url: str
    ledger_url: str
    anvil_rpc: str | None = None
    metrics: dict[str, str] = {}  # process -> its Prometheus endpoint
    grafana_url: str | None = None

    def addresses(self) -> list[tuple[str, str]]:
        """Every address as (what, where), in the banner's order."""
        rows = [
            ("Temporal Web UI", f"{self.ui_url}/namespaces/{self.namespace}/workflows"),
            ("Temporal gRPC", f"{self.temporal_address}  (namespace {self.namespace})"),
            ("simulated venue", f"{self.sim_url}  (admin {self.sim_url}/_sim)"),
        ]
        if self.anvil_rpc:
            rows.append(("anvil RPC", f"{self.anvil_rpc}  (ws on the same port)"))
        rows += [(f"metrics {name}", url) for name, url in self.metrics.items()]
        if self.grafana_url:
            rows.append(("Grafana", self.grafana_url))
        rows.append(("ledger", self.ledger_url))
        return rows


def stack_file(state_dir: Path) -> Path:
    return state_dir / STACK_FILE


def write_record(state_dir: Path, record: StackRecord) -> Path:
    path = stack_file(state_dir)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(record.model_dump_json(indent=1) + "\n")
    tmp.replace(path)  # readers never see half a file
    return path


def remove_record(state_dir: Path, pid: int) -> None:
    """Remove the record if it is still this process's (a later stack may have replaced it)."""
    record = read_record(state_dir)
    if record is not None and record.pid == pid:
        with contextlib.suppress(FileNotFoundError):
            stack_file(state_dir).unlink()


def read_record(state_dir: Path) -> StackRecord | None:
    try:
        return StackRecord.model_validate_json(stack_file(state_dir).read_bytes())
    except (OSError, ValidationError):
        return None


def running_record(state_dir: Path) -> StackRecord | None:
    """The record of a stack whose supervisor still runs, else None. A process started after the
    record was written holds a reused pid: the stack is gone."""
    record = read_record(state_dir)
    if record is None or not _alive(record.pid):
        return None
    started = _start_time(record.pid)
    return record if started is None or started <= record.started_at.timestamp() + 1 else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    with contextlib.suppress(OSError):  # a zombie is dead for us
        return _stat(pid)[0] != "Z"
    return True


def _stat(pid: int) -> list[str]:
    """/proc/PID/stat from its third field (state) on; the name before it may hold spaces."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _start_time(pid: int) -> float | None:
    """When the process started (epoch seconds), where /proc tells."""
    try:
        ticks = int(_stat(pid)[19])  # field 22: starttime, clock ticks after boot
        boot = next(line for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime"))
    except (OSError, IndexError, ValueError, StopIteration):
        return None
    return int(boot.split()[1]) + ticks / os.sysconf("SC_CLK_TCK")
