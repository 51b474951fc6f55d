"""Which fills this worker already handled (signalled, or found not to be ours), per account.

Persisted as a small JSON file in the state dir, written off the hot path after changes, so a
restarted worker does not signal again what it already delivered. Fills are *not* written before
they are signalled: the venue is the durable source. A fill that was seen but not yet delivered
when the worker died is not in this file, so it is delivered again from the ``account_all``
snapshot or the REST backfill after the restart (at least once; workflows dedupe by fill id).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from pathlib import Path

from perpflow.venues.base import VenueName

log = logging.getLogger(__name__)

# Far more than a reconnect can replay (snapshot 50 + REST backfill 100 per market).
KEEP_PER_ACCOUNT = 5_000
SAVE_DELAY_S = 0.2


def fill_log_path(state_dir: Path, venue: VenueName) -> Path:
    """One file per venue: account indexes and fill ids are each venue's own (a GRVT sub-account
    id may equal a Lighter account index). Lighter's keeps the name it had before GRVT."""
    suffix = "" if venue is VenueName.LIGHTER else f"-{venue.value}"
    return state_dir / f"marketdata-fills{suffix}.json"


class FillLog:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._done: dict[int, deque[str]] = {}
        self._index: set[str] = set()
        self._claimed: set[str] = set()  # being routed or delivered right now
        self._save_task: asyncio.Task[None] | None = None
        if path is not None and path.exists():
            self._load(path)

    def _load(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            log.warning("fill log %s unreadable (%s); starting empty", path, exc)
            return
        for account, ids in data.get("accounts", {}).items():
            q = self._done.setdefault(int(account), deque(maxlen=KEEP_PER_ACCOUNT))
            q.extend(ids)
            self._index.update(ids)

    def seen(self, fill_id: str) -> bool:
        return fill_id in self._index or fill_id in self._claimed

    def claim(self, fill_id: str) -> bool:
        """Take a fill for routing; False if it is already handled or in flight."""
        if self.seen(fill_id):
            return False
        self._claimed.add(fill_id)
        return True

    def release(self, fill_id: str) -> None:
        self._claimed.discard(fill_id)

    def done(self, account_index: int, fill_id: str) -> None:
        self._claimed.discard(fill_id)
        q = self._done.setdefault(account_index, deque(maxlen=KEEP_PER_ACCOUNT))
        if len(q) == q.maxlen:
            self._index.discard(q[0])
        q.append(fill_id)
        self._index.add(fill_id)
        self._schedule_save()

    def _schedule_save(self) -> None:
        if self.path is None or (self._save_task is not None and not self._save_task.done()):
            return
        self._save_task = asyncio.get_running_loop().create_task(self._save_later())

    async def _save_later(self) -> None:
        await asyncio.sleep(SAVE_DELAY_S)
        self.save()

    def save(self) -> None:
        if self.path is None:
            return
        data = {"accounts": {str(a): list(q) for a, q in self._done.items()}}
        tmp = self.path.with_suffix(".tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data))
        tmp.replace(self.path)  # atomic: a crash leaves the old file or the new one

    async def close(self) -> None:
        if self._save_task is not None:
            self._save_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._save_task
        self.save()
