"""What every operator command (pause, resume, stop, kill, flatten, approve, ...) records: who
sent it and why, as ``--by`` / ``--reason``, carried in the signal's payload and audited."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

By = Annotated[str | None, typer.Option("--by", help="Who, recorded with the command (default: your login).")]
Reason = Annotated[str | None, typer.Option("--reason", help="Why, recorded with the command.")]


def operator(by: str | None) -> str:
    return by or getpass.getuser()


def command_payload(by: str | None, reason: str | None, **fields: str | None) -> dict[str, str]:
    """A signal's payload: who, why (when given) and the command's own fields (when given)."""
    sent = {"by": operator(by), "reason": reason, **fields}
    return {key: value for key, value in sent.items() if value is not None}
