"""What every perpflow process shares: logging, clean shutdown on SIGTERM/SIGINT, a safe exit."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable

from perpflow.errors import PerpflowError

log = logging.getLogger("perpflow.worker")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def expected(exc: BaseException) -> bool:
    """A failure the code foresaw, logged as one line: perpflow's typed errors (a venue refusal, a
    rate limit, an invalid nonce: their retry is the design), the ApplicationErrors the activity
    shims raise from them, and cancellation (a worker shutting down, a workflow cancelled).
    Anything else is a bug until shown otherwise, and keeps its traceback."""
    kinds: list[type[BaseException]] = [PerpflowError, asyncio.CancelledError]
    temporal = sys.modules.get("temporalio.exceptions")  # loaded by every process that can raise them
    if temporal is not None:
        kinds += [temporal.ApplicationError, temporal.CancelledError]
    return isinstance(exc, tuple(kinds))


def describe(exc: BaseException) -> str:
    """``Type: first line`` of an exception, with an ApplicationError's own type name (its str()
    starts with that name already; its ``message`` does not)."""
    kind = getattr(exc, "type", None) or type(exc).__name__
    message = getattr(exc, "message", None)
    lines = (message if isinstance(message, str) else str(exc)).strip().splitlines()
    return f"{kind}: {lines[0]}" if lines else str(kind)


class OneLineExpected(logging.Formatter):
    """Prints an expected failure as ``message: Type: text`` instead of its traceback."""

    def format(self, record: logging.LogRecord) -> str:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None or not expected(exc):
            return super().format(record)
        short = logging.makeLogRecord(record.__dict__)
        short.exc_info, short.exc_text, short.stack_info = None, None, None
        short.msg, short.args = f"{record.getMessage()}: {describe(exc)}", None
        return super().format(short)


def configure_logging(level: str | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLineExpected(LOG_FORMAT))
    logging.basicConfig(level=level or os.environ.get("PERPFLOW_LOG_LEVEL", "INFO"), handlers=[handler])


def stop_event() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT, so ``main()`` can shut down in order."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def settle() -> None:
    """What the process holds so far (its imports, its setup) is left out of every later garbage
    collection: a full collection otherwise walks all of it, and stalled a signer serving a hundred
    accounts for 150-250 ms at a time, every order in flight with it (bench_grid_scale, measured
    with ``gc.callbacks``: 30-90 ms once settled)."""
    gc.freeze()


def main_entry(main: Callable[[], Awaitable[None]]) -> None:
    """Run ``main`` and exit without the SDK's known finalisation crash (sdk-python #300)."""
    configure_logging()
    settle()
    code = 0
    try:
        asyncio.run(main())  # type: ignore[arg-type]
    except Exception:
        log.exception("worker failed")
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
