"""The committed LeverageGuard artifact: content, ABI facts, and byte-for-byte reproducibility."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from perpflow.chain.artifact import error_by_selector, event_topic, load_artifact, selector_of

ROOT = Path(__file__).resolve().parents[2]
ARTIFACT = ROOT / "perpflow" / "chain" / "LeverageGuard.json"
SOURCE = ROOT / "contracts" / "LeverageGuard.sol"


def test_artifact_matches_committed_source_and_pinned_compiler() -> None:
    artifact = load_artifact()
    assert artifact.source_sha256 == hashlib.sha256(SOURCE.read_bytes()).hexdigest()
    assert artifact.compiler.version.startswith("0.8.37+")
    assert artifact.compiler.settings == {"optimizer": {"enabled": True, "runs": 200}, "evmVersion": "cancun"}
    assert artifact.bytecode.startswith("0x60") and artifact.deployed_bytecode.startswith("0x60")
    assert ARTIFACT.read_bytes().endswith(b"}\n")


def test_event_topics_and_error_selectors_match_known_values() -> None:
    assert (
        event_topic("PositionLiquidated")
        == "0xb599f4177300bc574d09b859cefe5e758c124ec3c83a343159535a85b0abc3ba"
    )
    selectors = {entry["name"]: sel for sel, entry in error_by_selector().items()}
    assert selectors["AlreadyPaid"] == "0xf4b76a0e"
    assert selectors["InsufficientBalance"] == "0xcf479181"
    assert selectors["NotOwner"] == "0x30cd7471"
    assert {"NotWhitelisted", "NotReporter", "ZeroAmount", "TransferFailed"} <= set(selectors)


def test_abi_exposes_the_payout_api() -> None:
    artifact = load_artifact()
    pay = artifact.entry("function", "executePayout")
    assert [i["type"] for i in pay["inputs"]] == ["address", "uint256", "bytes32"]
    assert selector_of(artifact.entry("function", "paid")) == selector_of(
        {"name": "paid", "inputs": [{"type": "bytes32"}]}
    )
    payout_event = artifact.entry("event", "PayoutExecuted")
    assert [(i["name"], i["indexed"]) for i in payout_event["inputs"]] == [
        ("user", True),
        ("amount", False),
        ("liquidationId", True),
    ]


@pytest.mark.skipif(
    shutil.which("node") is None or not (ROOT / "node_modules" / "solc").is_dir(),
    reason="needs node and node_modules/solc (npm ci) to recompile",
)
def test_recompiling_reproduces_the_committed_artifact_byte_for_byte(tmp_path: Path) -> None:
    out = tmp_path / "LeverageGuard.json"
    subprocess.run(
        ["node", str(ROOT / "scripts" / "compile_contract.js"), "--out", str(out)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert out.read_bytes() == ARTIFACT.read_bytes(), "run `node scripts/compile_contract.js` and commit"
