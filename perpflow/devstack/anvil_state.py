"""anvil's ``--state`` file across hard stops of ``perpflow dev``.

anvil rewrites the file in place every ``--state-interval``: a SIGKILL that lands mid-write leaves
it cut off, and anvil then refuses to start ("EOF while parsing"). So, before anvil starts, the
file is checked. One that parses is copied (atomically) to ``<stem>.last-good.json``. One that
does not is renamed aside (never deleted) and the last good copy takes its place, or, without a
good copy, anvil starts a fresh chain. Either way a warning in the stack's output names the files.

The copy is taken at each start, not from the dumps while anvil runs (a dump read mid-write is
the very thing to avoid), so falling back loses the chain of the last run. The rest of the stack
copes with a chain older than its own state: the guard set-up (chain.py) deploys again a guard
the chain does not hold, the watcher rewinds a cursor past the head, the wallet lane rebroadcasts
its stored txs above the chain's nonce.
"""

from __future__ import annotations

import itertools
import json
import logging
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

log = logging.getLogger("perpflow.dev")


class StateCheck(StrEnum):
    ABSENT = "absent"  # no file: a fresh chain (the first start, or the operator's reset)
    GOOD = "good"  # parses: anvil loads it, and it is now the last good copy
    RESTORED = "restored"  # did not parse: set aside, the last good copy put in its place
    FRESH = "fresh"  # did not parse and no good copy: set aside, anvil starts a fresh chain


@dataclass(frozen=True)
class StateOutcome:
    check: StateCheck
    set_aside: Path | None = None  # where an unreadable file went
    block: int | None = None  # the head of the state anvil loads


def last_good_path(state_file: Path) -> Path:
    return state_file.with_name(f"{state_file.stem}.last-good{state_file.suffix}")


def check_state_file(state_file: Path, now: datetime | None = None) -> StateOutcome:
    """Makes ``state_file`` one anvil can load (or absent); call it while no anvil writes it."""
    if not state_file.exists():
        return StateOutcome(StateCheck.ABSENT)
    last_good = last_good_path(state_file)
    try:
        state = _read(state_file)
    except ValueError as exc:  # an OSError (unreadable for other reasons) is for the operator
        aside = _set_aside(state_file, now or datetime.now(UTC))
        return _fall_back(state_file, aside, last_good, exc)
    _copy_atomically(state_file, last_good)
    return StateOutcome(StateCheck.GOOD, block=_head(state))


def _fall_back(state_file: Path, aside: Path, last_good: Path, exc: Exception) -> StateOutcome:
    try:
        head = _head(_read(last_good))
    except (OSError, ValueError):
        log.warning(
            "anvil state file %s did not parse (%s) and there is no good copy: kept aside as %s; "
            "anvil starts a FRESH chain (the payout guard is deployed again)",
            state_file, exc, aside,
        )  # fmt: skip
        return StateOutcome(StateCheck.FRESH, set_aside=aside)
    _copy_atomically(last_good, state_file)
    taken = datetime.fromtimestamp(last_good.stat().st_mtime, UTC).isoformat(timespec="seconds")
    log.warning(
        "anvil state file %s did not parse (%s): kept aside as %s; the chain restarts from the "
        "last good copy %s (block %s, taken %s): blocks after it are lost",
        state_file, exc, aside, last_good, head, taken,
    )  # fmt: skip
    return StateOutcome(StateCheck.RESTORED, set_aside=aside, block=head)


def _read(path: Path) -> dict[str, Any]:
    state = json.loads(path.read_bytes())  # a cut-off file never parses: its closing brace is last
    if not isinstance(state, dict):
        raise ValueError(f"a JSON {type(state).__name__}, not anvil's state object")
    return state


def _head(state: dict[str, Any]) -> int | None:
    """The head block, for the log line (anvil writes it as hex); None where it cannot tell."""
    best = state.get("best_block_number")
    if isinstance(best, int):
        return best
    try:
        return int(best, 16) if isinstance(best, str) else None
    except ValueError:
        return None


def _set_aside(path: Path, now: datetime) -> Path:
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    for n in itertools.count(1):
        tag = stamp if n == 1 else f"{stamp}-{n}"
        aside = path.with_name(f"{path.stem}.unreadable-{tag}{path.suffix}")
        if not aside.exists():
            path.rename(aside)
            return aside
    raise AssertionError("unreachable")


def _copy_atomically(src: Path, dst: Path) -> None:
    """Readers (and a SIGKILL mid-copy) see the old copy or the new one, never half of one."""
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.copyfile(src, tmp)
    tmp.replace(dst)
