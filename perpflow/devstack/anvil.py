"""The local anvil node as a managed subprocess (`perpflow dev`, the test fixtures, the benches)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from pydantic import BaseModel, ConfigDict, Field

from perpflow.chain.errors import ChainError
from perpflow.devstack.ports import port_is_free

log = logging.getLogger(__name__)

ANVIL_ENV = "PERPFLOW_ANVIL"
# Where `npm ci` (scripts/bootstrap.sh) puts the pinned binary; the platform package ships the
# ELF itself, so no Node launcher sits between us and the process we signal.
NPM_ANVIL = Path("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
REPO_ROOT = Path(__file__).resolve().parents[2]
# anvil answers its first eth_chainId 36-64 ms after spawn; 20 ms probes keep start-up snappy.
READY_PROBE_INTERVAL_S = 0.02


class AnvilError(ChainError):
    """Base for local-node management errors."""


class AnvilNotFound(AnvilError):
    """No anvil binary: run `npm ci` (scripts/bootstrap.sh) or set PERPFLOW_ANVIL."""


class AnvilPortInUse(AnvilError):
    """The requested host:port is already bound by another process."""


class AnvilStartError(AnvilError):
    """anvil exited during start-up or did not answer eth_chainId before the deadline."""


class AnvilConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8545, gt=0, lt=65536)
    state_file: Path | None = None
    # With --state-interval the state survives a SIGKILL (anvil otherwise dumps on graceful exit).
    state_interval_s: int = Field(default=1, ge=1)
    no_mining: bool = False
    block_time_s: float | None = Field(default=None, gt=0)
    chain_id: int | None = None
    binary: Path | None = None
    log_file: Path | None = None  # None: --silent and output discarded
    ready_timeout_s: float = Field(default=10.0, gt=0)
    extra_args: tuple[str, ...] = ()

    def argv(self, binary: Path) -> list[str]:
        args = [str(binary), "--host", self.host, "--port", str(self.port)]
        if self.state_file is not None:
            args += ["--state", str(self.state_file), "--state-interval", str(self.state_interval_s)]
        if self.no_mining:
            args.append("--no-mining")
        if self.block_time_s is not None:
            args += ["--block-time", str(self.block_time_s)]
        if self.chain_id is not None:
            args += ["--chain-id", str(self.chain_id)]
        if self.log_file is None:
            args.append("--silent")
        return [*args, *self.extra_args]


def find_anvil(explicit: Path | None = None) -> Path:
    """$PERPFLOW_ANVIL, then the npm-installed binary (repo, then cwd), then `anvil` on PATH."""
    env = os.environ.get(ANVIL_ENV)
    candidates = [explicit, Path(env) if env else None, REPO_ROOT / NPM_ANVIL, Path.cwd() / NPM_ANVIL]
    for path in candidates:
        if path is not None and path.is_file() and os.access(path, os.X_OK):
            return path
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    raise AnvilNotFound(
        f"anvil binary not found (looked at ${ANVIL_ENV}, {REPO_ROOT / NPM_ANVIL}, PATH); "
        "run scripts/bootstrap.sh (npm ci) or set PERPFLOW_ANVIL"
    )


def probe_chain_id(url: str, timeout_s: float = 0.5) -> int | None:
    """eth_chainId over plain urllib (no web3, no event loop): None while the node is not up."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    request = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return int(json.loads(response.read())["result"], 16)
    except (OSError, urllib.error.URLError, ValueError, KeyError):
        return None


class AnvilNode:
    """One anvil process. `start()` returns once eth_chainId answers; `stop()` ends it."""

    def __init__(self, config: AnvilConfig | None = None) -> None:
        self.config = config or AnvilConfig()
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: tempfile._TemporaryFileWrapper[bytes] | None = None
        self.chain_id: int | None = None

    @property
    def http_url(self) -> str:
        return f"http://{self.config.host}:{self.config.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.config.host}:{self.config.port}"  # anvil serves WS on the HTTP port

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> AnvilNode:
        if self.running():
            return self
        binary = find_anvil(self.config.binary)
        if not port_is_free(self.config.host, self.config.port):
            raise AnvilPortInUse(f"{self.config.host}:{self.config.port} is already in use")
        self._stderr = tempfile.NamedTemporaryFile(prefix="anvil-", suffix=".err")  # noqa: SIM115
        out = self.config.log_file.open("ab") if self.config.log_file else subprocess.DEVNULL
        try:
            self._proc = subprocess.Popen(
                self.config.argv(binary), stdout=out, stderr=self._stderr, stdin=subprocess.DEVNULL
            )
        finally:
            if out is not subprocess.DEVNULL:
                out.close()  # type: ignore[union-attr]
        self._wait_ready()
        log.info("anvil started pid=%s url=%s chain_id=%s", self.pid, self.http_url, self.chain_id)
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.config.ready_timeout_s
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                self._fail_started(f"anvil exited with code {self._proc.returncode}")
            self.chain_id = probe_chain_id(self.http_url)
            if self.chain_id is not None:
                return
            time.sleep(READY_PROBE_INTERVAL_S)
        self.stop(graceful=False)
        self._fail_started(f"anvil did not answer eth_chainId within {self.config.ready_timeout_s}s")

    def _fail_started(self, what: str) -> None:
        detail = self._stderr_tail()
        self._close_stderr()
        if "address already in use" in detail.lower():
            raise AnvilPortInUse(f"{self.config.host}:{self.config.port} is already in use")
        raise AnvilStartError(f"{what}: {detail}" if detail else what)

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        with contextlib.suppress(OSError):
            return Path(self._stderr.name).read_bytes()[-2000:].decode(errors="replace").strip()
        return ""

    def _close_stderr(self) -> None:
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def stop(self, graceful: bool = True, timeout_s: float = 5.0) -> None:
        """SIGTERM (anvil dumps --state, about 2 s) or SIGKILL (instant); SIGKILL after the timeout."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM if graceful else signal.SIGKILL)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.info("anvil stopped pid=%s graceful=%s", proc.pid, graceful)
        self._close_stderr()

    def __enter__(self) -> AnvilNode:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop(graceful=self.config.state_file is not None)
