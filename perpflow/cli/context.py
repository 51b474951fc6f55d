"""Which Temporal server the CLI talks to: PERPFLOW_TEMPORAL_ADDRESS when set (environment or
``.env``), else the running ``perpflow dev`` recorded in the state dir (``dev-stack.json``), else
the default 127.0.0.1:7233. An unreachable server is one line saying how to point the CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from perpflow.devstack.state import StackRecord, running_record, stack_file
from perpflow.errors import PerpflowError
from perpflow.settings import Settings
from perpflow.settings import load_settings as _load_settings

if TYPE_CHECKING:
    from temporalio.client import Client

ADDRESS_ENV = "PERPFLOW_TEMPORAL_ADDRESS"


def found_stack(settings: Settings) -> StackRecord | None:
    """The running dev stack to use: only when no address was given."""
    if "temporal_address" in settings.model_fields_set:
        return None
    return running_record(settings.state_dir)


def load_settings() -> Settings:
    """The settings, pointed at the state dir's running dev stack when no address is set."""
    settings = _load_settings()
    stack = found_stack(settings)
    if stack is None:
        return settings
    update: dict[str, object] = {"temporal_address": stack.temporal_address, "temporal_ui_url": stack.ui_url}
    if "temporal_namespace" not in settings.model_fields_set:
        update["temporal_namespace"] = stack.namespace
    return settings.model_copy(update=update)


def how_to_point(settings: Settings) -> str:
    """Where the address came from and what to do, for an unreachable server."""
    if "temporal_address" in _load_settings().model_fields_set:  # given, not found
        return f"the address {ADDRESS_ENV} gives; is that server up?"
    path = stack_file(settings.state_dir)
    stack = running_record(settings.state_dir)
    if stack is not None and stack.temporal_address == settings.temporal_address:
        return f"the address of the dev stack in {path} (pid {stack.pid}); is it still starting?"
    return (
        f"no dev stack runs from {settings.state_dir}: start one (`make run`) or run perpflow from "
        f"its directory; for another server set {ADDRESS_ENV}=HOST:PORT"
    )


async def reach(settings: Settings) -> Client:
    """A Temporal client, or one line naming the address, where it came from and what to do."""
    from perpflow.temporal_client import connect

    try:
        return await connect(settings)
    except RuntimeError as exc:
        reason = "connection refused" if "Connection refused" in str(exc) else str(exc).splitlines()[0][:160]
        raise PerpflowError(
            f"cannot reach Temporal at {settings.temporal_address} ({reason}), {how_to_point(settings)}"
        ) from None
