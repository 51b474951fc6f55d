"""Managed anvil processes: state persistence, on-demand mining, and newHeads reconnect across a restart."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from perpflow.chain.backoff import Backoff
from perpflow.chain.client import ChainClient
from perpflow.chain.heads import HeadWatcher
from perpflow.devstack.anvil import AnvilConfig, AnvilNode, AnvilNotFound, AnvilPortInUse, find_anvil
from perpflow.devstack.chain_admin import DevNode
from perpflow.devstack.ports import free_port
from tests.plugins.chain import state_file_holds


@pytest.fixture
def anvil_binary() -> Path:
    try:
        return find_anvil()
    except AnvilNotFound as exc:
        pytest.skip(f"anvil binary absent: {exc}")


@pytest.fixture
def nodes() -> Iterator[list[AnvilNode]]:
    started: list[AnvilNode] = []
    yield started
    for node in started:
        node.stop(graceful=False)


async def test_second_node_on_a_taken_port_fails_clearly(anvil_binary: Path, nodes: list[AnvilNode]) -> None:
    nodes.append(AnvilNode(AnvilConfig(port=free_port())).start())
    with pytest.raises(AnvilPortInUse):
        AnvilNode(AnvilConfig(port=nodes[0].config.port)).start()


async def test_state_file_survives_sigkill_with_state_interval(
    anvil_binary: Path, nodes: list[AnvilNode], tmp_path: Path
) -> None:
    config = AnvilConfig(port=free_port(), state_file=tmp_path / "chain.json")
    node = AnvilNode(config).start()
    nodes.append(node)
    async with ChainClient(node.http_url) as client, DevNode(node.http_url) as control:
        await control.call("anvil_mine", "0x5")
        head = await client.head_number()
        block_hash = await client.block_hash(head)
    assert config.state_file is not None
    async with asyncio.timeout(10):
        while not state_file_holds(config.state_file, head):  # the next --state-interval dump
            await asyncio.sleep(0.05)
    node.stop(graceful=False)
    nodes.append(node.start())
    async with ChainClient(node.http_url) as client:
        assert await client.head_number() == head
        assert await client.block_hash(head) == block_hash


async def test_no_mining_keeps_txs_pending_until_mined(anvil_binary: Path, nodes: list[AnvilNode]) -> None:
    node = AnvilNode(AnvilConfig(port=free_port(), no_mining=True)).start()
    nodes.append(node)
    async with ChainClient(node.http_url) as client, DevNode(node.http_url) as control:
        assert await control.call("anvil_getAutomine") is False
        head = await client.head_number()
        await control.call("anvil_mine", "0x1")
        assert await client.head_number() == head + 1


async def test_head_watcher_reconnects_after_node_restart(anvil_binary: Path, nodes: list[AnvilNode]) -> None:
    node = AnvilNode(AnvilConfig(port=free_port())).start()
    nodes.append(node)
    watcher = HeadWatcher(node.ws_url, Backoff(initial=0.05, maximum=0.2))
    watcher.start()
    try:
        async with asyncio.timeout(10):
            while not watcher.connected:
                await asyncio.sleep(0.01)
            node.stop(graceful=False)
            while watcher.connected:
                await asyncio.sleep(0.01)
            node.start()
            while watcher.connects < 2:
                await asyncio.sleep(0.01)
            seen = watcher.seq
            async with DevNode(node.http_url) as control:
                await control.call("anvil_mine", "0x1")
            assert await watcher.wait_for_change(seen, 5)
        assert watcher.latest == 1
    finally:
        await watcher.stop()
