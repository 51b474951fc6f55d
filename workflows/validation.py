"""The one input-validation convention of every perpflow workflow.

Workflows take their start input loosely (``Any``) and validate it here, inside ``run``: a missing
input, ``null``, an array, a scalar, an unknown field, a wrong type or a value out of range fails
the workflow at once with a message naming the field, and the workflow still carries its
``PerpflowKind`` so ``workflows list --kind ... --status failed`` finds it. (Typed ``run``
arguments would be decoded by the converter before any workflow code runs: a missing argument
would fail only the *workflow task*, which retries forever and leaves the workflow RUNNING.)
"""

from __future__ import annotations

from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel, ValidationError

    from perpflow.config import describe_errors
    from perpflow.names import KIND, Kind

M = TypeVar("M", bound=BaseModel)

INVALID_INPUT = "InvalidInput"

# Still listed: a signal or update payload the converter cannot decode into its declared model.
FAIL_ON_INVALID_INPUT: list[type[BaseException]] = [ValidationError]


def parse_input(model: type[M], raw: Any, kind: Kind) -> M:
    """``raw`` as ``model``, or the workflow fails (tagged with its kind) naming what is wrong."""
    if isinstance(raw, model):
        return raw
    if isinstance(raw, dict):
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            problem = describe_errors(exc)
    else:
        required = ", ".join(f'"{n}": ...' for n, f in model.model_fields.items() if f.is_required())
        got = "no input" if raw is None else f"got {type(raw).__name__} {str(raw)[:80]}"
        problem = f"{got}: {workflow.info().workflow_type} takes a JSON object like {{{required}}}"
    workflow.upsert_search_attributes([KIND.value_set(kind)])
    workflow.logger.warning("%s %s: invalid input: %s", kind, workflow.info().workflow_id, problem)
    raise ApplicationError(f"invalid input: {problem}", type=INVALID_INPUT, non_retryable=True)
