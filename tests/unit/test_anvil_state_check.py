"""The check of anvil's state file before the dev stack starts anvil, on files alone (the
integration test tests/integration/test_anvil_state.py starts real nodes from them)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from perpflow.devstack.anvil_state import StateCheck, check_state_file, last_good_path

NOW = datetime(2026, 12, 1, 11, 0, tzinfo=UTC)
STATE = json.dumps({"block": {}, "accounts": {}, "best_block_number": "0x2a"})


def test_no_state_file_is_a_fresh_chain_and_writes_nothing(tmp_path: Path) -> None:
    assert check_state_file(tmp_path / "anvil-state.json").check is StateCheck.ABSENT
    assert list(tmp_path.iterdir()) == []


def test_a_state_file_that_parses_becomes_the_last_good_copy(tmp_path: Path) -> None:
    state = tmp_path / "anvil-state.json"
    state.write_text(STATE)
    outcome = check_state_file(state)
    assert (outcome.check, outcome.block) == (StateCheck.GOOD, 42)
    assert last_good_path(state).read_text() == STATE and state.read_text() == STATE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["anvil-state.json", "anvil-state.last-good.json"]


def test_an_unreadable_file_and_an_unreadable_copy_are_both_kept_and_the_chain_starts_fresh(
    tmp_path: Path,
) -> None:
    state = tmp_path / "anvil-state.json"
    state.write_text(STATE[:20])
    last_good_path(state).write_text("")  # cut off too: never put in the state file's place
    outcome = check_state_file(state, NOW)
    assert outcome.check is StateCheck.FRESH and not state.exists()
    assert outcome.set_aside == tmp_path / "anvil-state.unreadable-20261201T110000Z.json"
    assert outcome.set_aside.read_text() == STATE[:20]
    assert last_good_path(state).read_text() == ""


def test_a_second_unreadable_file_in_the_same_second_does_not_replace_the_first(tmp_path: Path) -> None:
    state = tmp_path / "anvil-state.json"
    last_good_path(state).write_text(STATE)
    asides = []
    for text in ("[", "{"):
        state.write_text(text)
        outcome = check_state_file(state, NOW)
        assert outcome.check is StateCheck.RESTORED and state.read_text() == STATE
        assert outcome.set_aside is not None
        asides.append(outcome.set_aside)
    assert [p.read_text() for p in asides] == ["[", "{"]
    assert asides[1].name == "anvil-state.unreadable-20261201T110000Z-2.json"
