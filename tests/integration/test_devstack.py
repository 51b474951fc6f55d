"""`perpflow dev` as a user runs it: the stack comes up, answers, and stops without orphans."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
import requests
import yaml

from perpflow import names
from perpflow.db.migrate import head_revision
from perpflow.devstack.grvt import DEMO_GRVT_ACCOUNT, DEMO_GRVT_SUB_ACCOUNT
from perpflow.devstack.ports import free_port
from perpflow.devstack.venue import DEMO_GRID_ACCOUNT
from perpflow.sim.venue import SimConfig
from perpflow.venues.grvt.signing import client_order_index
from tests.plugins.prometheus import Prometheus, missing, served_by

# A whole stack and its CLI: run after the parallel part of `make test`, on an idle machine.
pytestmark = pytest.mark.serial

BIN = Path(sys.executable).parent
BANNER = "perpflow embedded stack is up"


@dataclass
class Stack:
    proc: subprocess.Popen[str]
    env: dict[str, str]
    temporal_port: int
    ui_port: int
    anvil_port: int
    lines: list[str] = field(default_factory=list)

    @property
    def record(self) -> Path:
        return Path(self.env["PERPFLOW_STATE_DIR"]) / "dev-stack.json"

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "perpflow"), *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def ok(self, *args: str) -> str:
        result = self.cli(*args)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def temporal(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "temporal"), *args, "--address", f"127.0.0.1:{self.temporal_port}", "-n", "perpflow"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (children run in their own sessions, so walk ppids)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def stack_env(tmp: Path, temporal_port: int) -> dict[str, str]:
    env = {
        **os.environ,
        "PERPFLOW_STATE_DIR": str(tmp / ".perpflow"),
        "PERPFLOW_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    env.pop("DATABASE_URL", None)
    return env


def start_stack(tmp: Path, *extra: str) -> Stack:
    tport, uport, aport = free_port(), free_port(), free_port()
    env = stack_env(tmp, tport)
    proc = subprocess.Popen(
        [str(BIN / "perpflow"), "dev", "--temporal-port", str(tport), "--ui-port", str(uport),
         "--sim-port", str(free_port()), "--anvil-port", str(aport), "--metrics-port", str(free_port()),
         *extra],
        env=env, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    stack = Stack(proc=proc, env=env, temporal_port=tport, ui_port=uport, anvil_port=aport)
    assert proc.stdout is not None
    threading.Thread(target=lambda: stack.lines.extend(proc.stdout or []), daemon=True).start()
    return stack


def wait_for_banner(stack: Stack, timeout: float = 180) -> None:
    # Every service starts in turn (anvil and the payout guard too): minutes on a busy two-core box.
    deadline = time.monotonic() + timeout
    while not any(BANNER in line for line in stack.lines):
        if stack.proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail("stack did not come up:\n" + "".join(stack.lines[-40:]))
        time.sleep(0.2)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start_stack(tmp_path_factory.mktemp("dev"), "--duration", "900")
    wait_for_banner(stack)
    yield stack
    if stack.proc.poll() is None:
        stack.proc.kill()


def test_web_ui_api_answers(stack: Stack) -> None:
    resp = requests.get(f"http://127.0.0.1:{stack.ui_port}/api/v1/namespaces/perpflow/workflows", timeout=10)
    assert resp.status_code == 200
    assert any(f"127.0.0.1:{stack.ui_port}" in line for line in stack.lines)


def test_the_banner_and_the_state_dir_name_every_address(stack: Stack) -> None:
    recorded = json.loads(stack.record.read_text())
    assert recorded["pid"] == stack.proc.pid
    assert recorded["temporal_address"] == f"127.0.0.1:{stack.temporal_port}"
    assert recorded["anvil_rpc"] == f"http://127.0.0.1:{stack.anvil_port}"
    banner = "".join(stack.lines[next(i for i, line in enumerate(stack.lines) if BANNER in line) :])
    addresses = [recorded["ui_url"], recorded["temporal_address"], recorded["sim_url"], recorded["anvil_rpc"]]
    for address in [*addresses, *recorded["metrics"].values()]:
        assert address in banner
    assert set(recorded["metrics"]) == {"market-data", "orchestrator", "signer", "wallet", "chain-watcher"}
    for url in recorded["metrics"].values():
        assert requests.get(url, timeout=10).status_code == 200


async def test_the_real_prometheus_scrapes_every_process_of_the_stack(stack: Stack, tmp_path: Path) -> None:
    """Each process's catalogue series, under its own job."""
    recorded = json.loads(stack.record.read_text())
    targets = {job: urllib.parse.urlsplit(url).netloc for job, url in recorded["metrics"].items()}

    prometheus = Prometheus(tmp_path, targets)
    try:
        deadline = time.monotonic() + 120  # a bound for a loaded machine, not a timing expectation
        while gaps := missing(await prometheus.series(), served_by):
            assert time.monotonic() < deadline, "Prometheus lacks:\n" + "\n".join(gaps)
            await asyncio.sleep(0.5)
    finally:
        prometheus.stop()


def test_the_cli_finds_the_stack_without_an_address(stack: Stack) -> None:
    env = {k: v for k, v in stack.env.items() if k != "PERPFLOW_TEMPORAL_ADDRESS"}

    def listed() -> bool:
        done = subprocess.run(
            [str(BIN / "perpflow"), "workflows", "list", "--kind", "hedge-fleet"],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return "fleet-demo" in done.stdout

    until("the demo fleet listed", listed, timeout=60)


def test_doctor_reports_the_ledger_healthy(stack: Stack) -> None:
    result = stack.cli("doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ledger" in result.stdout
    assert f"sqlite schema {head_revision()}" in result.stdout
    assert "3 markets at http://127.0.0.1:" in result.stdout


def test_bad_input_from_the_temporal_cli_fails_the_workflow_naming_the_field(stack: Stack) -> None:
    started = stack.temporal("workflow", "start", "--type", "HealthCheckWorkflow",
                             "--task-queue", "perpflow-orchestrator", "--workflow-id", "bad-input-1",
                             "--input", '{"bogus": 1}')  # fmt: skip
    assert started.returncode == 0, started.stderr
    deadline = time.monotonic() + 20
    while True:
        shown = stack.temporal("workflow", "describe", "-w", "bad-input-1", "-o", "json")
        info = json.loads(shown.stdout)["workflowExecutionInfo"]
        if info["status"] != "WORKFLOW_EXECUTION_STATUS_RUNNING" or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert info["status"] == "WORKFLOW_EXECUTION_STATUS_FAILED"
    history = stack.temporal("workflow", "show", "-w", "bad-input-1", "-o", "json").stdout
    assert "bogus" in history
    assert "Extra inputs are not permitted" in history


def test_exported_history_replays(stack: Stack, tmp_path: Path) -> None:
    query = 'PerpflowKind="health" AND ExecutionStatus="Completed"'
    listed = stack.temporal("workflow", "list", "--query", query, "-o", "json")
    workflow_id = json.loads(listed.stdout)[0]["execution"]["workflowId"]
    out = tmp_path / "health.json"
    exported = stack.cli("history", "export", workflow_id, "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    replayed = stack.cli("history", "replay", str(out))
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "ok" in replayed.stdout


def test_workflows_list_filters_by_kind(stack: Stack) -> None:
    result = stack.cli("workflows", "list", "--kind", "health", "--status", "completed")
    assert result.returncode == 0, result.stderr
    assert "HealthCheck" in result.stdout


def until(
    what: str, check: Callable[[], bool], timeout: float = 120, explain: Callable[[], str] | None = None
) -> None:
    """Poll ``check`` each second; past ``timeout``, fail with what ``explain`` tells."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out waiting for {what}" + (f"\n{explain()}" if explain else ""))
        time.sleep(1)


def test_the_demo_grid_runs_beside_the_fleet_and_shows_in_the_status_output(stack: Stack) -> None:
    until(
        "the demo grid's view", lambda: any("grid-demo  (RUNNING)  RUNNING" in line for line in stack.lines)
    )
    until("its PnL", lambda: any("demo-grid |   PnL net" in line for line in stack.lines), timeout=30)
    status = stack.ok("grid", "status", "demo")
    assert "grid-demo  (RUNNING)  RUNNING" in status
    assert all(col in status for col in ("price", "side", "state", "order", "filled", "realised", "funding"))
    assert "grid-demo" in stack.ok("grid", "list")


GRVT_GRID = "grid-demo-grvt"
BTC = 1  # the sim's market behind GRVT's BTC_USDT_Perp


def grvt_rows(stack: Stack) -> list[str]:
    """``perpflow accounts --venue grvt``: the venue's own word, read through the signer's GRVT key."""
    return [
        line for line in stack.ok("accounts", "--venue", "grvt").splitlines() if DEMO_GRVT_ACCOUNT in line
    ]


def test_the_grvt_demo_grid_rests_its_ladder_on_the_sims_grvt_face(stack: Stack) -> None:
    state = Path(stack.env["PERPFLOW_STATE_DIR"])
    signer = yaml.safe_load((state / "signer.yaml").read_text())
    [account] = [a for a in signer["accounts"] if a.get("venue") == "grvt"]
    assert (account["name"], account["account_index"]) == (DEMO_GRVT_ACCOUNT, DEMO_GRVT_SUB_ACCOUNT)
    assert (account["api_key"], account["session_key"]) == (
        f"secrets:{DEMO_GRVT_ACCOUNT}", f"secrets:{DEMO_GRVT_ACCOUNT}-session",
    )  # fmt: skip
    assert signer["grvt"]["url"].endswith("/grvt")
    keys = json.loads((state / "secrets.json").read_text())
    assert keys[DEMO_GRVT_ACCOUNT] not in (state / "signer.yaml").read_text()

    until(
        "the GRVT demo grid's view",
        lambda: any(f"{GRVT_GRID}  (RUNNING)  RUNNING" in ln for ln in stack.lines),
    )
    assert GRVT_GRID in stack.ok("grid", "list")
    assert any("perpflow grid status demo-grvt" in line for line in stack.lines)  # the banner's hint

    def resting() -> bool:
        owned = [r for r in grvt_rows(stack) if "BTC_USDT_Perp" in r and GRVT_GRID in r and "running" in r]
        return len(owned) >= 2  # a buy and a sell at least (4 a side when the price sits mid-range)

    until("the GRVT grid's orders on the GRVT face, owned by it", resting)
    status = stack.ok("grid", "status", "demo-grvt")
    assert f"{GRVT_GRID}  (RUNNING)  RUNNING" in status and "OPEN" in status


@dataclass
class GrvtLook:
    """One ``perpflow accounts --venue grvt`` of the demo account: the venue's own word (read
    through the signer's GRVT key) beside what live workflows answer they own of it."""

    text: str
    position: Decimal = Decimal(0)  # the venue's, on BTC_USDT_Perp
    owned: Decimal = Decimal(0)  # of it, by live owners
    resting: set[int] = field(default_factory=set)  # the client order indexes resting on the venue

    @property
    def rows(self) -> list[str]:
        return [line for line in self.text.splitlines() if DEMO_GRVT_ACCOUNT in line]


def grvt_look(stack: Stack) -> GrvtLook:
    """The venue in one look (``--settle 0``: no second look at a suspect, only the venue's word
    and the owners' answers are read here)."""
    look = GrvtLook(stack.ok("accounts", "--venue", "grvt", "--settle", "0"))
    positions, _, orders = look.text.partition("open orders on grvt")
    for cells in _cells(positions):  # account, policy, market, venue, owned, orphan, owners, verdict
        if cells[2] == "BTC_USDT_Perp":
            look.position, look.owned = Decimal(cells[3]), Decimal(cells[4] or 0)
    look.resting = {int(cells[2]) for cells in _cells(orders)}  # account, market, coi, ...
    return look


def _cells(table: str) -> list[list[str]]:
    rows = [line for line in table.splitlines() if DEMO_GRVT_ACCOUNT in line]
    return [[cell.strip() for cell in row.split("│")[1:-1]] for row in rows]


def sim_call(sim_url: str, path: str, body: dict[str, object]) -> None:
    answer = requests.post(f"{sim_url}/_sim/{path}", json=body, timeout=10)
    assert answer.status_code == 200, answer.text


def resting_buys(sim_url: str, cois: set[int]) -> list[Decimal]:
    """The prices of the buys among ``cois`` that rest on the sim's BTC book, by the sim's word
    (it keeps GRVT's client_order_id, 2^63 above ours)."""
    state = requests.get(f"{sim_url}/_sim/state", timeout=10).json()
    return [
        Decimal(o["price"])
        for account in state["accounts"]
        for o in account["open_orders"]
        if o["market_index"] == BTC
        and o["side"] == "buy"
        and client_order_index(o["client_order_index"]) in cois
    ]


def test_a_terminated_grvt_demo_grid_is_cleaned_up_by_the_grvt_reconciler_schedule(stack: Stack) -> None:
    """Its resting orders cancelled and its position flattened on GRVT by ``reconcile-grvt``."""
    until("the GRVT grid's orders on the venue", lambda: bool(grvt_look(stack).resting))
    sim_url = json.loads(stack.record.read_text())["sim_url"]
    # The walk stands still meanwhile: only this test moves BTC (the fleet and the Lighter grid
    # trade ETH), so no fill happens but the one it makes, and none closes the position it leaves.
    sim_call(sim_url, "volatility", {"volatility": 0})
    try:
        _leave_a_position(stack, sim_url)
        terminated = stack.temporal("workflow", "terminate", "-w", GRVT_GRID, "--reason", "pytest")
        assert terminated.returncode == 0, terminated.stderr
        # The Schedule's next run now rather than up to a period (30 s) on; BufferOne: after the
        # run under way, if one is (it may have looked while the session still owned all).
        schedule = names.reconcile_schedule_id("grvt")
        triggered = stack.temporal("schedule", "trigger", "-s", schedule, "--overlap-policy", "BufferOne")
        assert triggered.returncode == 0, triggered.stderr
        _cleaned_up_by_the_reconciler(stack)
    finally:
        sim_call(sim_url, "volatility", {"volatility": SimConfig().volatility})


def _leave_a_position(stack: Stack, sim_url: str) -> None:
    """Until the venue holds a BTC position that the live session owns whole, none of its orders
    under way. While the account is flat, the price goes half a step (75) below the top buy
    resting on the venue, and the sim's maker fills that buy. A position the walk left before it
    stood still (a sell filled: short a level) is kept: filling the top buy would close it."""
    seen: dict[str, str] = {}

    def held() -> bool:
        look = grvt_look(stack)
        seen["venue"] = look.text
        if look.position == 0:
            if buys := resting_buys(sim_url, look.resting):
                price = max(buys) - 75
                sim_call(sim_url, f"markets/{BTC}/price", {"price": str(price)})
                seen["moves"] = (
                    seen.get("moves", "") + f"BTC to {price}, under the top resting buy {max(buys)}\n"
                )
            return False
        if look.owned != look.position:
            return False
        status = stack.ok("grid", "status", "demo-grvt")
        return not re.search(r"│\s*(PLACING|CANCELLING)\s*│", status)

    def explain() -> str:
        return _story(stack, {**seen, "session": stack.cli("grid", "status", "demo-grvt").stdout})

    until("a position the live GRVT session owns", held, explain=explain)


def _cleaned_up_by_the_reconciler(stack: Stack) -> None:
    seen: dict[str, str] = {}

    def clean() -> bool:
        look = grvt_look(stack)
        seen["venue"] = look.text
        # The position row only (its verdict "flat", not the policy "flatten"), no order rows.
        return len(look.rows) == 1 and re.search(r"│ flat\s+│", look.rows[0]) is not None

    until("reconcile-grvt's cleanup", clean, timeout=180, explain=lambda: _story(stack, seen))
    acted = [
        ln
        for ln in stack.lines
        if re.search(r"reconcile reconcile-grvt-\d{4}-\S+ (cancel-order|flatten) ", ln)
    ]
    story = _story(stack, seen)
    assert any(" flatten position/grvt/" in ln and "ok=True" in ln for ln in acted), story
    assert any(" cancel-order order/grvt/" in ln and "ok=True" in ln for ln in acted), story


def _story(stack: Stack, seen: dict[str, str]) -> str:
    """What a failure shows: the last looks at the venue and the session, and the log's lines of
    the GRVT grid and of the Schedule's runs (not the look-only ones)."""
    logged = [
        line.rstrip()[:400]
        for line in stack.lines
        if GRVT_GRID in line or "BTC_USDT_Perp" in line or re.search(r"reconcile-grvt-\d{4}", line)
    ]
    looks = "\n".join(f"-- {what}:\n{text}" for what, text in seen.items())
    return f"{looks}\n-- the stack's GRVT lines (last 40):\n" + "\n".join(logged[-40:])


def grid_config(stack: Stack, name: str) -> Path:
    """A small SOL grid on the demo grid account (the demo's own grid is on ETH)."""
    signer = yaml.safe_load((Path(stack.env["PERPFLOW_STATE_DIR"]) / "signer.yaml").read_text())
    account = next(a for a in signer["accounts"] if a["name"] == DEMO_GRID_ACCOUNT)
    config = {
        "name": name, "market": "SOL", "lower": "140", "upper": "160", "levels": 5, "size": "0.1",
        "stop": {"outside_range_pct": "10"},
        "account": {"account_index": account["account_index"], "api_key_index": account["api_key_index"]},
    }  # fmt: skip
    path = Path(stack.env["PERPFLOW_STATE_DIR"]) / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def grid_shows(stack: Stack, name: str, text: str) -> Callable[[], bool]:
    return lambda: text in stack.ok("grid", "status", name)


STOP_FLAGS = {"clif": "--flatten", "clikp": "--keep-position", "cliko": "--keep-orders"}


def test_the_grid_cli_starts_steers_and_stops_sessions(stack: Stack) -> None:
    for name in STOP_FLAGS:
        config = grid_config(stack, name)
        assert stack.ok("grid", "start", str(config)).strip() == f"started grid-{name}"
    refused = stack.cli("grid", "start", str(config))
    assert refused.returncode == 1 and "is already running" in refused.stderr
    for name in STOP_FLAGS:
        until(f"{name}'s ladder", grid_shows(stack, name, "OPEN"))
    assert "sent pause to grid-clif" in stack.ok("grid", "pause", "clif", "--by", "ops", "--reason", "test")
    until("PAUSED", grid_shows(stack, "clif", "PAUSED"), timeout=60)
    stack.ok("grid", "resume", "clif")
    until("RUNNING again", grid_shows(stack, "clif", "RUNNING  v"), timeout=60)
    assert "7 levels" in stack.ok("grid", "adjust", "clif", "--levels", "7")
    until("the rebuilt ladder", grid_shows(stack, "clif", "RUNNING  v1"), timeout=90)
    for name, flag in STOP_FLAGS.items():
        assert f"sent stop to grid-{name}" in stack.ok("grid", "stop", name, flag)
    for name, flag in STOP_FLAGS.items():
        until(f"{name} STOPPED", grid_shows(stack, name, "STOPPED"), timeout=90)
        assert ("OPEN" in stack.ok("grid", "status", name)) is (flag == "--keep-orders")


def test_ctrl_c_stops_every_child(stack: Stack) -> None:
    children = descendants(stack.proc.pid)
    assert len(children) >= 2  # temporal server and the orchestrator worker
    stack.proc.send_signal(signal.SIGINT)
    assert stack.proc.wait(timeout=30) == 0
    assert not stack.record.exists()
    deadline = time.monotonic() + 10
    while any(alive(p) for p in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in children if alive(p)]


def test_a_killed_supervisor_takes_its_children_along(tmp_path: Path) -> None:
    stack = start_stack(tmp_path, "--duration", "120")
    wait_for_banner(stack)
    children = descendants(stack.proc.pid)
    stack.proc.kill()
    stack.proc.wait()
    deadline = time.monotonic() + 10
    while any(alive(p) for p in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in children if alive(p)]


def test_a_taken_port_is_a_clear_error_not_a_hang(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        tport = free_port()
        result = subprocess.run(
            [str(BIN / "perpflow"), "dev", "--temporal-port", str(tport), "--ui-port", str(taken),
             "--sim-port", str(free_port()), "--metrics-port", str(free_port())],
            env=stack_env(tmp_path, tport), cwd=tmp_path, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    assert result.returncode == 1
    assert f"port {taken}" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout
