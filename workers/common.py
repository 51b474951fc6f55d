"""What every worker process shares: logging, settings, clean shutdown on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from importlib.metadata import version

from temporalio.worker import Worker

log = logging.getLogger("perpflow.worker")

# Named, not derived: the SDK's default hashes the code of every loaded module (web3 brings
# thousands), which costs seconds of CPU at every worker start.
BUILD_ID = f"perpflow-{version('perpflow')}"


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


async def run_workers(workers: list[Worker], stop: asyncio.Event) -> None:
    """Run the workers until ``stop`` is set, then let in-flight tasks finish and exit."""
    async with AsyncExitStack() as stack:
        for worker in workers:
            await stack.enter_async_context(worker)
            log.info("worker polling task_queue=%s", worker.task_queue)
        await stop.wait()
        log.info("stopping %d worker(s)", len(workers))


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
