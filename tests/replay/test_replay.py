"""Every committed history replays on the current code; the known-bad ones must not."""

from __future__ import annotations

from pathlib import Path

import pytest

from perpflow.history import replay_files
from workflows.registry import ALL_WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"
GOOD = sorted(HISTORIES.glob("*.json"))
BAD = sorted((HISTORIES / "incompatible").glob("*.json"))


def test_there_are_histories_to_replay() -> None:
    assert GOOD
    assert BAD


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.stem)
async def test_committed_history_replays(path: Path) -> None:
    [outcome] = await replay_files([path], ALL_WORKFLOWS)
    assert outcome.ok, outcome.error


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
async def test_incompatible_history_is_reported_as_nondeterministic(path: Path) -> None:
    [outcome] = await replay_files([path], ALL_WORKFLOWS)
    assert not outcome.ok
    assert "Nondeterminism" in (outcome.error or "")
