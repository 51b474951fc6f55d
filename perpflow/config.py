"""YAML strategy configs loaded into pydantic models that forbid unknown keys.

A typo must fail loudly with the file and the key path, never fall back to a default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from perpflow.errors import ConfigError


class ConfigModel(BaseModel):
    """Base for every YAML config section."""

    model_config = ConfigDict(extra="forbid", frozen=True)


M = TypeVar("M", bound=BaseModel)


def describe_errors(exc: ValidationError) -> str:
    """One line per problem: ``pairs.0.size: Input should be greater than 0``."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"{where}: {err['msg']}")
    return "; ".join(lines)


def load_yaml(path: Path, model: type[M]) -> M:
    try:
        raw: Any = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    try:
        return model.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe_errors(exc)}") from None
