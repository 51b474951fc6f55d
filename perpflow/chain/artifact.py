"""The committed LeverageGuard artifact (built by scripts/compile_contract.js) and ABI lookups."""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from eth_utils.crypto import keccak
from pydantic import BaseModel, ConfigDict, Field

from perpflow.chain.errors import ChainConfigError

ARTIFACT_FILE = "LeverageGuard.json"


class CompilerInfo(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: str
    settings: dict[str, Any]


class ContractArtifact(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    contract_name: str = Field(alias="contractName")
    source_name: str = Field(alias="sourceName")
    source_sha256: str = Field(alias="sourceSha256")
    compiler: CompilerInfo
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str = Field(alias="deployedBytecode")

    def entries(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.abi if e.get("type") == kind]

    def entry(self, kind: str, name: str) -> dict[str, Any]:
        for e in self.entries(kind):
            if e.get("name") == name:
                return e
        raise ChainConfigError(f"{self.contract_name} ABI has no {kind} {name}")


@functools.cache
def load_artifact() -> ContractArtifact:
    """The artifact shipped next to this module (package data, so it works from a wheel too)."""
    text = resources.files("perpflow.chain").joinpath(ARTIFACT_FILE).read_text(encoding="utf-8")
    try:
        return ContractArtifact.model_validate(json.loads(text))
    except ValueError as exc:
        raise ChainConfigError(f"corrupt {ARTIFACT_FILE}: {exc}") from exc


def signature(entry: dict[str, Any]) -> str:
    """Canonical signature, e.g. `AlreadyPaid(bytes32)` (no tuple types in this contract)."""
    return f"{entry['name']}({','.join(i['type'] for i in entry['inputs'])})"


def selector_of(entry: dict[str, Any]) -> str:
    return "0x" + keccak(text=signature(entry))[:4].hex()


def topic_of(entry: dict[str, Any]) -> str:
    return "0x" + keccak(text=signature(entry)).hex()


@functools.cache
def event_topic(name: str) -> str:
    return topic_of(load_artifact().entry("event", name))


@functools.cache
def error_by_selector() -> dict[str, dict[str, Any]]:
    """Custom errors of the guard keyed by their 4-byte selector (0x-hex)."""
    return {selector_of(e): e for e in load_artifact().entries("error")}


POSITION_LIQUIDATED = "PositionLiquidated"
PAYOUT_EXECUTED = "PayoutExecuted"
