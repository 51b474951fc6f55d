"""anvil process management without a real node: argv, binary lookup, start-up failures."""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest

from perpflow.devstack import anvil as anvil_mod
from perpflow.devstack.anvil import (
    AnvilConfig,
    AnvilNode,
    AnvilNotFound,
    AnvilPortInUse,
    AnvilStartError,
    find_anvil,
)
from perpflow.devstack.ports import free_port, port_is_free


def _script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "fake-anvil"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_argv_carries_state_mining_and_silence_flags(tmp_path: Path) -> None:
    config = AnvilConfig(port=9999, state_file=tmp_path / "s.json", no_mining=True, chain_id=5)
    argv = config.argv(Path("/bin/anvil"))
    assert argv[:5] == ["/bin/anvil", "--host", "127.0.0.1", "--port", "9999"]
    assert argv[5:9] == ["--state", str(tmp_path / "s.json"), "--state-interval", "1"]
    assert "--no-mining" in argv and argv[-3:] == ["--chain-id", "5", "--silent"]
    loud = AnvilConfig(log_file=tmp_path / "anvil.log").argv(Path("a"))
    assert "--silent" not in loud


def test_find_anvil_prefers_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _script(tmp_path, "exit 0")
    monkeypatch.setenv("PERPFLOW_ANVIL", str(fake))
    assert find_anvil() == fake


def test_missing_binary_raises_with_install_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PERPFLOW_ANVIL", raising=False)
    monkeypatch.setattr(anvil_mod, "REPO_ROOT", tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AnvilNotFound, match="npm ci"):
        find_anvil()


def test_port_taken_is_reported_before_spawning(tmp_path: Path) -> None:
    fake = _script(tmp_path, "exit 0")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert not port_is_free("127.0.0.1", port)
        with pytest.raises(AnvilPortInUse, match=str(port)):
            AnvilNode(AnvilConfig(port=port, binary=fake)).start()


def test_node_exiting_during_start_up_reports_its_stderr(tmp_path: Path) -> None:
    fake = _script(tmp_path, "echo 'boom: bad flag' >&2; exit 3")
    with pytest.raises(AnvilStartError, match="boom: bad flag"):
        AnvilNode(AnvilConfig(port=free_port(), binary=fake)).start()


def test_node_that_never_answers_times_out_and_is_killed(tmp_path: Path) -> None:
    fake = _script(tmp_path, "exec sleep 30")
    node = AnvilNode(AnvilConfig(port=free_port(), binary=fake, ready_timeout_s=0.2))
    with pytest.raises(AnvilStartError, match="did not answer"):
        node.start()
    assert not node.running()


def test_free_port_is_free() -> None:
    assert port_is_free("127.0.0.1", free_port())
