"""What every worker process shares (besides ``perpflow.process``): its build id, running until
stopped, its metrics endpoint, and the venues its settings name."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from importlib.metadata import version

from temporalio.worker import Worker

from perpflow.metrics.endpoint import Endpoint
from perpflow.metrics.scrape import Read, ScrapeTime
from perpflow.process import settle
from perpflow.settings import Settings
from perpflow.venues.base import VenueName

log = logging.getLogger("perpflow.worker")

# Named, not derived: the SDK's default hashes the code of every loaded module (web3 brings
# thousands), which costs seconds of CPU at every worker start.
BUILD_ID = f"perpflow-{version('perpflow')}"


async def run_workers(workers: list[Worker], stop: asyncio.Event) -> None:
    """Run the workers until ``stop`` is set, then let in-flight tasks finish and exit."""
    async with AsyncExitStack() as stack:
        for worker in workers:
            await stack.enter_async_context(worker)
            log.info("worker polling task_queue=%s", worker.task_queue)
        settle()  # the workers, venues and clients just built
        await stop.wait()
        log.info("stopping %d worker(s)", len(workers))


def start_metrics(metrics: Endpoint, **reads: Read) -> None:
    """Serve ``metrics`` (if its port is set) with the process's scrape-time ``reads`` (by source
    name, each run on this event loop when a scrape finds its values older than a few seconds).
    The caller closes it (``metrics.close()``) when the process stops."""
    loop = asyncio.get_running_loop()
    for source, read in reads.items():
        metrics.add(ScrapeTime(source, read, loop))
    metrics.start()


def venue_urls(settings: Settings) -> dict[VenueName, str]:
    """The venues whose URL is set (``PERPFLOW_LIGHTER_URL``, ``PERPFLOW_GRVT_URL``), for public
    reads and market data; each signer's config names its accounts' own endpoints."""
    urls = {VenueName.LIGHTER: settings.lighter_url, VenueName.GRVT: settings.grvt_url}
    return {venue: url for venue, url in urls.items() if url}
