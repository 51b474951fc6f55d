"""Assemble the engine and its faces behind one aiohttp app, and run it until a signal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable

from aiohttp import web

from perpflow.sim import admin
from perpflow.sim.face import Face
from perpflow.sim.faces.grvt.face import GrvtFace
from perpflow.sim.faces.lighter.face import LighterFace
from perpflow.sim.venue import SimConfig, Venue

log = logging.getLogger(__name__)

# One entry per face (a new venue adds its class here); the first one's shapes show in /_sim/state.
FACES: tuple[Callable[[Venue], Face], ...] = (LighterFace, GrvtFace)


class PortUnavailable(Exception):
    """The configured host:port cannot be bound (already taken, or not an address here)."""


def build_app(venue: Venue, faces: list[Face]) -> web.Application:
    app = web.Application(client_max_size=4 * 1024 * 1024)
    admin.mount(app, venue, faces)
    for face in faces:
        face.mount(app)
    return app


async def publish(venue: Venue, faces: list[Face]) -> None:
    """Hand what changed in the engine since the last call to every face."""
    changes = venue.engine.drain_changes()
    for face in faces:
        try:
            await face.publish(changes)
        except Exception:  # a bad frame must not kill the stream for everyone
            log.exception("publishing to %s failed", type(face).__name__)


async def run_publisher(venue: Venue, faces: list[Face]) -> None:
    interval = venue.config.book_interval_ms / 1000
    while True:
        await asyncio.sleep(interval)
        await publish(venue, faces)


async def serve(config: SimConfig, ready: Callable[[], None] | None = None) -> None:
    venue = Venue(config)
    faces = [make(venue) for make in FACES]
    runner = web.AppRunner(build_app(venue, faces), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise PortUnavailable(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}") from exc
    drivers = [run_publisher(venue, faces), venue.run_price_path(), venue.run_expiry()]
    tasks = [asyncio.create_task(c) for c in drivers + [t for f in faces for t in f.background()]]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(
        f"perpflow sim listening on http://{config.host}:{config.port} (ws /stream, GRVT /grvt, admin /_sim)",
        file=sys.stderr,
        flush=True,
    )
    if ready is not None:
        ready()
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for face in faces:
            await face.drop_sockets()
        await runner.cleanup()
