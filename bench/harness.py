"""What the benchmarks share: free ports, a simulated venue subprocess, percentiles."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def sim_process(*extra: str) -> Iterator[str]:
    """``perpflow sim`` on a free port with manual prices; yields its base URL."""
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "perpflow.sim",
            "--port",
            str(port),
            "--price-path",
            "manual",
            "--seed",
            "1",
            *extra,
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(url + "/_sim/health", timeout=1):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("the simulated venue did not start") from None
            time.sleep(0.05)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(label: str, values: list[float], unit: str = "ms") -> str:
    cells = [
        f"{name}={value:7.2f} {unit}"
        for name, value in (
            ("p50", pct(values, 50)),
            ("p95", pct(values, 95)),
            ("p99", pct(values, 99)),
            ("mean", statistics.fmean(values)),
        )
    ]
    return f"{label:<40} n={len(values):<5} " + "  ".join(cells)
