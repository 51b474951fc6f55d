"""How fast `perpflow` starts: `perpflow --help`, a noun's help, and one real subcommand
(`perpflow payouts list` on an empty ledger), each against the interpreter's own floor
(`python -c pass`) measured in the same run, as ratios.

Each command runs REPEAT times as a new process; the best wall time is the one least disturbed by
other load, and the CPU time (user + sys of the child) is printed beside it: on a busy machine the
wall time grows, the CPU time much less. Before the commands were loaded lazily, `perpflow --help`
took ~2.3 s (it imported Temporal, SQLAlchemy, web3 and the venue SDK); the target is <= 0.5 s.
"""

from __future__ import annotations

import importlib.util
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from perpflow.db.migrate import upgrade

REPEAT = 7
TARGET_S = 0.5
PERPFLOW = str(Path(sys.executable).parent / "perpflow")


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, cpu) seconds of one run of ``argv`` as a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def measure(argv: list[str], env: dict[str, str]) -> dict[str, float]:
    timed(argv, env)  # warm the page cache and the .pyc files
    runs = [timed(argv, env) for _ in range(REPEAT)]
    walls, cpus = [w for w, _ in runs], [c for _, c in runs]
    return {"best": min(walls), "median": statistics.median(walls), "cpu": min(cpus)}


def bytecode_cached() -> bool:
    """Whether the libraries' compiled .pyc files exist or can be written: without them every
    process compiles each module it imports (seconds for Temporal's and SQLAlchemy's)."""
    spec = importlib.util.find_spec("sqlalchemy")
    origin = spec.origin if spec else None
    cached = origin is not None and Path(importlib.util.cache_from_source(origin)).exists()
    return cached or not os.environ.get("PYTHONDONTWRITEBYTECODE")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PERPFLOW_STATE_DIR": tmp, "COLUMNS": "100"}
        env.pop("DATABASE_URL", None)
        upgrade(f"sqlite:///{Path(tmp) / 'ledger.db'}")
        cases = {
            "python -c pass (floor)": [sys.executable, "-c", "pass"],
            "perpflow --help": [PERPFLOW, "--help"],
            "perpflow payouts --help": [PERPFLOW, "payouts", "--help"],
            "perpflow payouts list": [PERPFLOW, "payouts", "list"],
        }
        results = {name: measure(argv, env) for name, argv in cases.items()}
    floor = results["python -c pass (floor)"]
    print(f"{REPEAT} runs each, new process per run; best and median wall time, best CPU time")
    if not bytecode_cached():
        print("no bytecode cache (PYTHONDONTWRITEBYTECODE and no .pyc installed): each run compiles")
    print(f"{'command':<26} {'best s':>7} {'median s':>9} {'cpu s':>7} {'x floor':>8}")
    for name, r in results.items():
        ratio = r["best"] / floor["best"]
        print(f"{name:<26} {r['best']:>7.3f} {r['median']:>9.3f} {r['cpu']:>7.3f} {ratio:>7.1f}x")
    help_s = results["perpflow --help"]["best"]
    verdict = "within" if help_s <= TARGET_S else "OVER"
    print(f"perpflow --help: {help_s:.3f} s, {verdict} the {TARGET_S} s target (was ~2.3 s)")


if __name__ == "__main__":
    main()
