"""Reading Temporal failures inside workflows."""

from __future__ import annotations


def root_cause(exc: BaseException) -> str:
    """The first line of the innermost cause: what actually went wrong, for reasons and logs."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
