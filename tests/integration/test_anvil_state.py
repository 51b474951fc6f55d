"""The dev stack's chain start after a SIGKILL cut anvil's state file off mid-write (anvil rewrites
it in place every second): the chain comes back from the last good copy, or, without one, starts
fresh with the payout guard deployed again; the cut-off file is kept aside and the output says so.

Each start runs the stack's own chain units (state check, anvil, guard set-up) under the
supervisor, with a real anvil on a free port and the state dir in tmp_path.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from perpflow.chain.client import ChainClient
from perpflow.devstack.anvil import AnvilNotFound, find_anvil
from perpflow.devstack.anvil_state import last_good_path
from perpflow.devstack.chain import DEMO_FILE, chain_setup_units
from perpflow.devstack.options import DevOptions
from perpflow.devstack.ports import free_port
from perpflow.devstack.supervisor import Supervisor
from perpflow.settings import Settings
from tests.plugins.chain import state_file_holds

STATE_FILE = "anvil-state.json"
DUMP_TIMEOUT_S = 15.0  # --state-interval is 1 s


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    try:
        find_anvil()
    except AnvilNotFound as exc:
        pytest.skip(f"anvil binary absent: {exc}")
    return tmp_path


@asynccontextmanager
async def chain_started(state_dir: Path) -> AsyncIterator[ChainClient]:
    """The stack's chain half started as `perpflow dev` does; yields a client of its anvil."""
    opts = DevOptions(anvil_port=free_port())
    supervisor = Supervisor(chain_setup_units(Settings(state_dir=state_dir), opts))
    try:
        await supervisor.start()
        async with ChainClient(opts.anvil_url) as client:
            yield client
    finally:
        await supervisor.stop()


async def dumped(state_dir: Path, client: ChainClient) -> None:
    """Until anvil's periodic dump holds today's head: what a SIGKILL from now on would keep."""
    head = await client.head_number()
    async with asyncio.timeout(DUMP_TIMEOUT_S):
        while not state_file_holds(state_dir / STATE_FILE, head):
            await asyncio.sleep(0.05)


def demo_state(state_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((state_dir / DEMO_FILE).read_text())
    return data


def cut_off(path: Path) -> bytes:
    """The file as a SIGKILL mid-write leaves it: its first half."""
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    return path.read_bytes()


def state_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "perpflow.dev" and r.levelno == logging.WARNING and "anvil state file" in r.getMessage()
    ]


def dev_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "perpflow.dev"]


async def test_a_state_file_cut_off_mid_write_restarts_the_chain_from_the_last_good_copy(
    state_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="perpflow.dev")
    async with chain_started(state_dir) as client:  # first start: a fresh chain, the guard deployed
        deploy_block = demo_state(state_dir)["start_block"]
        deploy_hash = await client.block_hash(deploy_block)
        await dumped(state_dir, client)
    async with chain_started(state_dir) as client:  # a start from a file that parses keeps a copy
        await dumped(state_dir, client)
    bad = cut_off(state_dir / STATE_FILE)
    caplog.clear()

    async with chain_started(state_dir) as client:
        assert await client.block_hash(deploy_block) == deploy_hash  # the same chain, not a fresh one

    aside = list(state_dir.glob("anvil-state.unreadable-*.json"))
    assert len(aside) == 1 and aside[0].read_bytes() == bad
    [line] = state_warnings(caplog)
    assert "last good copy" in line and str(aside[0]) in line
    assert str(last_good_path(state_dir / STATE_FILE)) in line
    assert any(m.startswith("payout guard reused") for m in dev_lines(caplog))


async def test_a_state_file_cut_off_with_no_good_copy_starts_a_fresh_chain_and_deploys_the_guard_again(
    state_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="perpflow.dev")
    async with chain_started(state_dir) as client:  # the first start: no file yet, so no good copy
        first_hash = await client.block_hash(1)
        await dumped(state_dir, client)
    assert not last_good_path(state_dir / STATE_FILE).exists()
    bad = cut_off(state_dir / STATE_FILE)
    caplog.clear()

    async with chain_started(state_dir) as client:
        demo = demo_state(state_dir)
        assert await client.w3.eth.get_code(demo["guard"]) not in (b"", "0x")
        assert await client.block_hash(1) != first_hash  # a fresh chain, not the first one

    aside = list(state_dir.glob("anvil-state.unreadable-*.json"))
    assert len(aside) == 1 and aside[0].read_bytes() == bad
    [line] = state_warnings(caplog)
    assert "FRESH chain" in line and str(aside[0]) in line
    assert any(m.startswith("payout guard deployed") for m in dev_lines(caplog))
