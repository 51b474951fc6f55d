"""A small process supervisor for the embedded stack.

Units start in order, each after the previous one is ready; child output is streamed with a
name prefix; SIGINT/SIGTERM, the ``--duration`` deadline or any child dying stops every child
(TERM, then KILL), last started first. Children also get PR_SET_PDEATHSIG, so even a
SIGKILLed supervisor leaves no orphan behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from perpflow.devstack.ports import port_is_free
from perpflow.errors import ServiceError

log = logging.getLogger("perpflow.dev")

READY_POLL_SECONDS = 0.1
STOP_GRACE_SECONDS = 10.0


@dataclass
class Service:
    """A child process, ready when ``ready()`` first returns True."""

    name: str
    command: list[str]
    ready: Callable[[], Awaitable[bool]] | None = None
    env: dict[str, str] = field(default_factory=dict)
    ports: list[tuple[str, int]] = field(default_factory=list)
    ready_timeout: float = 60.0


@dataclass
class Step:
    """A one-shot task run in the supervisor between services (migrations, seeding)."""

    name: str
    run: Callable[[], Awaitable[None]]


Unit = Service | Step


def _die_with_parent() -> None:
    """Runs in the child between fork and exec: SIGKILL it when the supervisor dies."""
    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


class Supervisor:
    def __init__(self, units: Sequence[Unit], host: str = "127.0.0.1") -> None:
        self.units = list(units)
        self.host = host
        self.children: list[tuple[Service, asyncio.subprocess.Process]] = []
        self._pumps: list[asyncio.Task[None]] = []
        self._failed = asyncio.Event()
        self._stopping = False
        self.failure: str | None = None

    def check_ports(self) -> None:
        for unit in self.units:
            if not isinstance(unit, Service):
                continue
            for label, port in unit.ports:
                if not port_is_free(self.host, port):
                    raise ServiceError(
                        f"port {port} ({unit.name} {label}) is already in use: stop what holds it "
                        f"or choose another port"
                    )

    async def start(self) -> None:
        self.check_ports()
        for unit in self.units:
            if self._failed.is_set():
                raise ServiceError(self.failure or "a service stopped")
            if isinstance(unit, Step):
                log.info("step %s", unit.name)
                await unit.run()
            else:
                await self._spawn(unit)
                await self._wait_ready(unit)

    async def _spawn(self, svc: Service) -> None:
        log.info("starting %s: %s", svc.name, " ".join(svc.command))
        proc = await asyncio.create_subprocess_exec(
            *svc.command,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
            env={**os.environ, **svc.env},
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self.children.append((svc, proc))
        self._pumps.append(asyncio.create_task(self._pump(svc, proc)))

    async def _pump(self, svc: Service, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        prefix = f"{svc.name:>13} | "
        async for raw in proc.stdout:
            sys.stdout.write(prefix + raw.decode(errors="replace").rstrip() + "\n")
            sys.stdout.flush()
        code = await proc.wait()
        if not self._stopping:
            self.failure = f"{svc.name} exited unexpectedly with code {code}"
            log.error(self.failure)
            self._failed.set()

    async def _wait_ready(self, svc: Service) -> None:
        if svc.ready is None:
            return
        deadline = asyncio.get_running_loop().time() + svc.ready_timeout
        while True:
            if self._failed.is_set():
                raise ServiceError(self.failure or f"{svc.name} stopped")
            with contextlib.suppress(Exception):
                if await svc.ready():
                    log.info("%s ready", svc.name)
                    return
            if asyncio.get_running_loop().time() > deadline:
                raise ServiceError(f"{svc.name} was not ready within {svc.ready_timeout:g} s")
            await asyncio.sleep(READY_POLL_SECONDS)

    async def wait(self, stop: asyncio.Event, duration: float | None) -> None:
        """Block until a stop signal, the duration, or a child failure."""
        waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(self._failed.wait())]
        try:
            await asyncio.wait(waiters, timeout=duration, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waiters:
                task.cancel()

    async def stop(self) -> None:
        self._stopping = True
        for svc, proc in reversed(self.children):
            await _terminate(svc, proc)
        for pump in self._pumps:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(pump, timeout=2)


async def _terminate(svc: Service, proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    log.info("stopping %s (pid %d)", svc.name, proc.pid)
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), timeout=STOP_GRACE_SECONDS)
    except TimeoutError:
        log.warning("%s did not stop in %g s; killing it", svc.name, STOP_GRACE_SECONDS)
        _signal_group(proc.pid, signal.SIGKILL)
        await proc.wait()
    # Anything the child left in its group goes with it.
    _signal_group(proc.pid, signal.SIGKILL)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
