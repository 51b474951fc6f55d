"""What every perpflow process shares: logging, clean shutdown on SIGTERM/SIGINT, a safe exit."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable

log = logging.getLogger("perpflow.worker")


def configure_logging(level: str | None = None) -> None:
    logging.basicConfig(
        level=level or os.environ.get("PERPFLOW_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )


def stop_event() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT, so ``main()`` can shut down in order."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def main_entry(main: Callable[[], Awaitable[None]]) -> None:
    """Run ``main`` and exit without the SDK's known finalisation crash (sdk-python #300)."""
    configure_logging()
    code = 0
    try:
        asyncio.run(main())  # type: ignore[arg-type]
    except Exception:
        log.exception("worker failed")
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
