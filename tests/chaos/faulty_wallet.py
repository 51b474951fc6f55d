"""The wallet worker with a crash point, for the payout chaos test (not a test module).

``python -m tests.chaos.faulty_wallet after_store MARKER_FILE`` runs ``workers.wallet`` and
SIGKILLs it once right after that step of the lane: the marker file is written first, so the
restarted worker (same arguments) runs through.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path

from perpflow.payouts.lane import FaultHook
from perpflow.process import main_entry
from workers import wallet

log = logging.getLogger(__name__)


def kill_once_at(point: str, marker: Path) -> FaultHook:
    def at(step: str) -> None:
        if step != point or marker.exists():
            return
        marker.write_text(step)
        log.warning("fault injection: SIGKILL at %s", step)
        os.kill(os.getpid(), signal.SIGKILL)

    return at


if __name__ == "__main__":
    point, marker = sys.argv[1], Path(sys.argv[2])
    main_entry(lambda: wallet.main(kill_once_at(point, marker)))
