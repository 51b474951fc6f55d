"""`perpflow grid` as an operator runs it: every mistake is one line naming what is wrong (bad
YAML, the invalid field, an unknown session, Temporal unreachable), never a traceback, and a
second start of a running name is refused with the session's id.

The session here has no worker: the start, the refusal and the lookups are Temporal's alone
(docs/operator.md; tests/integration/test_devstack.py drives a real session)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from temporalio.testing import WorkflowEnvironment

from perpflow import names
from perpflow.devstack.ports import free_port

# Lists sessions across the shared dev server: run after the parallel part of `make test`.
pytestmark = pytest.mark.serial

EXAMPLE = Path(__file__).parents[2] / "config" / "grid.example.yaml"
PERPFLOW = Path(sys.executable).parent / "perpflow"


def perpflow(address: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PERPFLOW_TEMPORAL_ADDRESS": address, "PERPFLOW_TEMPORAL_NAMESPACE": "perpflow"}
    env.pop("PERPFLOW_DEBUG", None)
    return subprocess.run([str(PERPFLOW), *args], env=env, capture_output=True, text=True, timeout=60)


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def config_file(tmp_path: Path, **changes: object) -> Path:
    raw = {**yaml.safe_load(EXAMPLE.read_text()), **changes}
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture
def unreachable() -> str:
    return f"127.0.0.1:{free_port()}"


def test_bad_yaml_is_one_line_naming_the_file(tmp_path: Path, unreachable: str) -> None:
    bad = tmp_path / "grid.yaml"
    bad.write_text("name: [unclosed\n")
    assert one_line_error(perpflow(unreachable, "grid", "start", str(bad))).startswith(
        f"error: {bad}: not valid YAML"
    )


def test_an_invalid_config_is_refused_before_temporal_naming_the_field(
    tmp_path: Path, unreachable: str
) -> None:
    line = one_line_error(perpflow(unreachable, "grid", "start", str(config_file(tmp_path, levels=1))))
    assert line == f"error: {tmp_path / 'grid.yaml'}: levels: Input should be greater than or equal to 2"
    incoherent = config_file(tmp_path, lower="3300")
    assert "upper (3200) must be above lower (3300)" in one_line_error(
        perpflow(unreachable, "grid", "start", str(incoherent))
    )
    unknown = config_file(tmp_path, levles=5)
    assert "levles: Extra inputs are not permitted" in one_line_error(
        perpflow(unreachable, "grid", "start", str(unknown))
    )


def test_an_invalid_adjust_or_two_stop_flags_are_refused_before_temporal(unreachable: str) -> None:
    assert one_line_error(perpflow(unreachable, "grid", "adjust", "x", "--levels", "1")) == (
        "error: invalid adjust: levels: Input should be greater than or equal to 2"
    )
    assert "give at least one field" in one_line_error(perpflow(unreachable, "grid", "adjust", "x"))
    assert one_line_error(perpflow(unreachable, "grid", "stop", "x", "--flatten", "--keep-orders")) == (
        "error: give at most one of --flatten, --keep-position, --keep-orders"
    )


@pytest.mark.parametrize("args", [("status", "x"), ("list",), ("pause", "x")])
def test_temporal_unreachable_is_one_line_saying_where(unreachable: str, args: tuple[str, ...]) -> None:
    line = one_line_error(perpflow(unreachable, "grid", *args))
    assert line.startswith(f"error: cannot reach Temporal at {unreachable} (connection refused)")


async def test_unknown_sessions_and_a_second_start_of_a_running_name(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    address = temporal_env.client.service_client.config.target_host
    name = f"cli{uuid.uuid4().hex[:6]}"
    wid = names.grid_session_id(name)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return perpflow(address, "grid", *args)

    for args in (
        ("status", name),
        ("pause", name),
        ("stop", name, "--flatten"),
        ("adjust", name, "--levels", "5"),
    ):
        missing = one_line_error(await asyncio.to_thread(run, *args))
        assert wid in missing, missing
        assert "no " in missing and "grid session" in missing

    config = config_file(tmp_path, name=name)
    started = await asyncio.to_thread(run, "start", str(config))
    try:
        assert started.returncode == 0, started.stderr
        assert started.stdout.strip() == f"started {wid}"
        again = one_line_error(await asyncio.to_thread(run, "start", str(config)))
        assert again == f"error: grid session {wid} is already running (stop it first, or pick another name)"
        listed = await asyncio.to_thread(run, "list")
        assert listed.returncode == 0 and wid in listed.stdout
    finally:
        await temporal_env.client.get_workflow_handle(wid).terminate(reason="test over")
