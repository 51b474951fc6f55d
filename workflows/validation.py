"""The one input-validation convention of every perpflow workflow.

The pydantic converter raises ``ValidationError`` while decoding a start input with a wrong
type, an unknown field (models forbid extras) or a value out of range. By default that fails
only the *workflow task*, which retries forever and leaves the workflow RUNNING; listing the
type here makes the workflow FAIL at once, its failure naming the field.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

FAIL_ON_INVALID_INPUT: list[type[BaseException]] = [ValidationError]
