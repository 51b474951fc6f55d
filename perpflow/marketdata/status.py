"""The worker's stream states in a small JSON file, for ``perpflow doctor`` and operators.

The embedded stack shares one state dir between processes, so a file is enough there; the
file's age is part of the verdict (a dead worker stops refreshing it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from perpflow.errors import PerpflowError
from perpflow.marketdata.models import WorkerStatus

STATUS_FILE = "marketdata-status.json"
# The worker rewrites the file every couple of seconds; three missed writes is a dead worker.
MAX_AGE_S = 10.0


class MarketDataUnhealthy(PerpflowError):
    """The market-data worker is absent, or one of its streams is down."""


def status_path(state_dir: Path) -> Path:
    return state_dir / STATUS_FILE


def write_status(path: Path, status: WorkerStatus) -> None:
    tmp = path.with_suffix(".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(status.model_dump_json())
    tmp.replace(path)


def read_status(path: Path) -> WorkerStatus:
    try:
        return WorkerStatus.model_validate_json(path.read_text())
    except FileNotFoundError:
        raise MarketDataUnhealthy(f"no status file at {path}: the market-data worker never ran") from None


def verdict(status: WorkerStatus, *, now: datetime | None = None, max_age_s: float = MAX_AGE_S) -> str:
    """A one-line summary if healthy; raises ``MarketDataUnhealthy`` naming what is wrong."""
    age = ((now or datetime.now(UTC)) - status.updated_at).total_seconds()
    if age > max_age_s:
        raise MarketDataUnhealthy(f"status is {age:.0f} s old: the market-data worker is not running")
    down = [s for s in status.streams if not s.state.healthy]
    if down:
        worst = ", ".join(f"{s.name} {s.state.value} {s.error}".strip() for s in down)
        raise MarketDataUnhealthy(f"{len(down)}/{len(status.streams)} streams down: {worst}")
    return f"{len(status.streams)} streams connected, {status.pending_signals} signals pending"
