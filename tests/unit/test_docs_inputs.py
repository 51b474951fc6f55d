"""The raw JSON inputs docs/operator.md shows operators are valid inputs of their workflows."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest
from pydantic import BaseModel

DOC = Path(__file__).parents[2] / "docs" / "operator.md"
BLOCK = re.compile(r"<!-- input: ([\w.]+):(\w+) -->\s*```json\n(.*?)```", re.S)
EXAMPLES = BLOCK.findall(DOC.read_text())


def test_every_workflow_input_is_shown() -> None:
    shown = {model for _, model, _ in EXAMPLES}
    assert shown == {
        "HealthCheckInput",
        "HedgeCycleInput",
        "FleetInput",
        "GridSessionInput",
        "PayoutInput",
        "ReconcileInput",
    }


@pytest.mark.parametrize(("module", "model", "text"), EXAMPLES, ids=[m for _, m, _ in EXAMPLES])
def test_the_documented_json_is_a_valid_input(module: str, model: str, text: str) -> None:
    cls: type[BaseModel] = getattr(importlib.import_module(module), model)
    cls.model_validate(json.loads(text))
