"""Ledger activities of grid sessions (orchestrator queue): the session's row and its fills."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

from perpflow.db.grid import GridSessions
from perpflow.grid.models import GridFills, GridRecord


class GridActivities:
    def __init__(self, sessions: GridSessions) -> None:
        self.sessions = sessions

    @activity.defn(name="record_grid_session")
    async def record_grid_session(self, rec: GridRecord) -> None:
        await self.sessions.save(rec)

    @activity.defn(name="record_grid_fills")
    async def record_grid_fills(self, batch: GridFills) -> None:
        """A retry records nothing twice (one row per session and fill id)."""
        await self.sessions.record_fills(batch.fills)

    def all(self) -> list[Callable[..., Any]]:
        return [self.record_grid_session, self.record_grid_fills]
