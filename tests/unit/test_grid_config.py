"""A grid session's config: the example file loads, bad fields fail by name, adjust revalidates."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from perpflow.config import load_yaml
from perpflow.errors import ConfigError
from perpflow.grid.config import Adjust, GridConfig, GridMode, RebuildPolicy, StopAction

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "grid.example.yaml"


def raw(**changes: Any) -> dict[str, Any]:
    """A start input as an operator types it: plain JSON, numbers as strings."""
    base: dict[str, Any] = {
        "name": "eth-range",
        "account": {"account_index": 7, "api_key_index": 3},
        "market": "ETH",
        "lower": "2800",
        "upper": "3200",
        "levels": 21,
        "size": "0.05",
    }
    return {**base, **changes}


def test_the_example_file_is_a_valid_config() -> None:
    config = load_yaml(EXAMPLE, GridConfig)
    assert (config.name, config.market, config.levels, config.mode) == (
        "eth-range",
        "ETH",
        21,
        GridMode.NEUTRAL,
    )
    assert config.stop.action is StopAction.FLATTEN


def test_raw_json_takes_the_defaults() -> None:
    config = GridConfig.model_validate(raw())
    assert config.post_only and config.rebuild is RebuildPolicy.NEVER
    assert config.stop.outside_range_pct == Decimal(1)
    assert config.activation_band_pct is None


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"upper": "2700"}, "upper (2700) must be above lower (2800)"),
        ({"levels": 1}, "levels"),
        ({"activation_band_pct": "0"}, "activation_band_pct"),
        ({"size": "-1"}, "size"),
        ({"mode": "sideways"}, "mode"),
        ({"typo": 1}, "typo"),
        ({"rebuild": "recenter", "rebuild_trigger_pct": "2"}, "the range stop would end the grid"),
    ],
)
def test_a_bad_field_fails_by_name(changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(problem)):
        GridConfig.model_validate(raw(**changes))


def test_a_yaml_typo_names_the_file_and_the_key(tmp_path: Path) -> None:
    path = tmp_path / "grid.yaml"
    path.write_text(EXAMPLE.read_text().replace("post_only:", "postonly:"))
    with pytest.raises(ConfigError, match="postonly"):
        load_yaml(path, GridConfig)


def test_adjust_changes_only_what_it_names_and_revalidates() -> None:
    config = GridConfig.model_validate(raw())
    moved = config.adjusted(Adjust(lower=Decimal(2900), levels=11, by="ops", reason="wider"))
    assert (moved.lower, moved.upper, moved.levels, moved.size) == (2900, 3200, 11, Decimal("0.05"))
    with pytest.raises(ValidationError, match="must be above lower"):
        config.adjusted(Adjust(lower=Decimal(3300)))
    with pytest.raises(ValidationError, match="changes nothing"):
        Adjust()
    with pytest.raises(ValidationError, match="changes nothing"):
        Adjust(by="ops", reason="who and why alone change nothing")
