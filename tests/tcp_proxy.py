"""A TCP forwarder a test can cut: reset every live connection and refuse new ones, then restore;
or pause: every connection (and every new one) stays open but nothing gets through, then resume.

It stands between a client and a server the test owns (the market-data worker's Temporal client
and the dev server, a venue feed and the sim) to play a network outage, or a link gone silent,
without touching either process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

CHUNK = 64 * 1024


class CuttableProxy:
    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.rpartition(":")
        self.upstream = (host, int(port))
        self.port = 0  # picked by the first open(), kept by every later one
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.Task[None]] = set()
        self._transports: set[asyncio.WriteTransport] = set()
        self._flowing = asyncio.Event()  # cleared while paused
        self._flowing.set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def open(self) -> None:
        """Listen (again, on the same port): new connections are forwarded upstream."""
        if self._server is None:
            self._server = await asyncio.start_server(self._link, "127.0.0.1", self.port)
            self.port = int(self._server.sockets[0].getsockname()[1])

    def pause(self) -> None:
        """Hold every byte in both directions, on live connections and on new ones (which are
        still accepted): a link that went silent without a reset, as a stalled route does."""
        self._flowing.clear()

    def resume(self) -> None:
        """Pass traffic again, what was held first."""
        self._flowing.set()

    async def cut(self) -> None:
        """Stop listening, so connecting is refused, and reset every live connection."""
        self.resume()  # a held chunk is dropped with its link, not kept for ever
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for transport in self._transports:
            transport.abort()
        # Each link ends once its sockets are gone (cancelling it upsets asyncio's server callback).
        await asyncio.gather(*self._links)

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._links.add(task)
        ends = [writer]
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            ends.append(up_writer)
            if not writer.transport.is_closing():  # not cut while connecting upstream
                self._transports |= {writer.transport, up_writer.transport}
                await _both_ways(reader, writer, up_reader, up_writer, self._flowing)
        except OSError:
            pass  # upstream refused: the client is reset below
        finally:
            # A reset, not a polite close: what a dead link or a killed peer looks like.
            for end in ends:
                end.transport.abort()
                self._transports.discard(end.transport)
            self._links.discard(task)


async def _both_ways(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
    flowing: asyncio.Event,
) -> None:
    """Forward until either side stops, then reset both (so the other pump ends too)."""
    pumps = {
        asyncio.create_task(_pump(reader, up_writer, flowing)),
        asyncio.create_task(_pump(up_reader, writer, flowing)),
    }
    await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
    writer.transport.abort()
    up_writer.transport.abort()
    await asyncio.gather(*pumps)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, flowing: asyncio.Event) -> None:
    try:
        while data := await reader.read(CHUNK):
            await flowing.wait()
            if writer.transport.is_closing():
                return  # reset while the chunk was held
            writer.write(data)
            await writer.drain()
    except OSError:
        pass  # reset under us: the link is over


@asynccontextmanager
async def cuttable_proxy(upstream: str) -> AsyncIterator[CuttableProxy]:
    proxy = CuttableProxy(upstream)
    await proxy.open()
    try:
        yield proxy
    finally:
        await proxy.cut()
