"""Crash points for chaos tests: SIGKILL this process once at a named step of the wallet lane.

``PERPFLOW_FAULT_KILL=after_store:<marker file>`` kills the worker right after the signed tx is
stored (before the broadcast) unless the marker file exists; the marker is created first, so
the restarted worker runs through. Unset (production): a no-op.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

log = logging.getLogger(__name__)

FAULT_ENV = "PERPFLOW_FAULT_KILL"


def crash_point(name: str) -> None:
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    point, _, marker = spec.partition(":")
    if point != name or not marker or Path(marker).exists():
        return
    Path(marker).write_text(name)
    log.warning("fault injection: SIGKILL at %s", name)
    os.kill(os.getpid(), signal.SIGKILL)
