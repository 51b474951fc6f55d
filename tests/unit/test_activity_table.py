"""The workflows' activity table and presets name what the activities really are: every entry an
activity registered under that name with the same argument and result types, every non-retryable
error type the name of an exception class the activities (or what they call) raise."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, get_type_hints

import pytest
from pydantic import ValidationError
from temporalio.common import RetryPolicy

import activities
from workflows import calls, options

ROOT = Path(__file__).parents[2]
# Raised by pydantic itself when a payload does not validate, never by a raise statement of ours.
RAISED_BY_LIBRARIES = {ValidationError.__name__}


def _activity_functions() -> Iterator[Callable[..., Any]]:
    for info in pkgutil.walk_packages(activities.__path__, "activities."):
        for value in vars(importlib.import_module(info.name)).values():
            members = vars(value).values() if isinstance(value, type) else [value]
            yield from (m for m in members if hasattr(m, "__temporal_activity_definition"))


REGISTERED = {fn.__temporal_activity_definition.name: fn for fn in _activity_functions()}  # type: ignore[attr-defined]
TABLE = {name: entry for name, entry in vars(calls).items() if isinstance(entry, calls.Activity)}
PRESETS = {
    name: preset["retry_policy"]
    for name, preset in vars(options).items()
    if isinstance(preset, dict) and isinstance(preset.get("retry_policy"), RetryPolicy)
}


def _raised_names() -> set[str]:
    """Every class name in a ``raise`` statement of the activities and the code they call."""
    names: set[str] = set()
    for folder in ("activities", "perpflow"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Raise) and node.exc is not None:
                    target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                    if isinstance(target, ast.Name):
                        names.add(target.id)
                    elif isinstance(target, ast.Attribute):
                        names.add(target.attr)
    return names


# Parsed once, at collection: run inside the suite's session (after hundreds of tests), CPython
# 3.11.7's ast.parse once failed with "SystemError: AST constructor recursion depth mismatch".
RAISED = _raised_names() | RAISED_BY_LIBRARIES


@pytest.mark.parametrize("constant", sorted(TABLE))
def test_each_table_entry_is_a_registered_activity_with_its_types(constant: str) -> None:
    entry = TABLE[constant]
    assert entry.name in REGISTERED, f"{constant}: no activity registers the name {entry.name!r}"
    hints = get_type_hints(REGISTERED[entry.name])
    returns = hints.pop("return")
    assert list(hints.values()) == [entry.arg], f"{constant}: the activity takes {hints}"
    assert returns is (type(None) if entry.result is None else entry.result), f"{constant}: returns {returns}"


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_non_retryable_types_are_exceptions_the_activities_raise(preset: str) -> None:
    missing = [n for n in PRESETS[preset].non_retryable_error_types or [] if n not in RAISED]
    assert not missing, f"{preset}: no activity raises {missing}"
