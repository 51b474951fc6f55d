"""The one way every process and the CLI connects to Temporal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from temporalio.client import Client, WorkflowExecutionDescription
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import CompositePayloadConverter, DataConverter
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from perpflow.errors import PerpflowError
from perpflow.settings import Settings


class SharedPydanticConverter(CompositePayloadConverter):
    """``PydanticPayloadConverter`` whose parts are built once per process. The SDK builds a new
    payload converter for each serialization context, several per workflow task (the workflow's,
    each command's); the pydantic one builds its JSON converter, a schema serializer and an empty
    type-adapter cache each time: 13% of a grid session's CPU per workflow task (replayed). The
    parts keep no per-context state; their type-adapter cache is thread-safe."""

    def __init__(self) -> None:
        super().__init__(*_PYDANTIC_PARTS)


_PYDANTIC_PARTS = tuple(PydanticPayloadConverter().converters.values())
# The payloads are the pydantic converter's, byte for byte.
DATA_CONVERTER = DataConverter(payload_converter_class=SharedPydanticConverter)


def tls_config(settings: Settings) -> TLSConfig | bool:
    if settings.temporal_tls_cert and settings.temporal_tls_key:
        return TLSConfig(
            client_cert=settings.temporal_tls_cert.read_bytes(),
            client_private_key=settings.temporal_tls_key.read_bytes(),
            server_root_ca_cert=settings.temporal_tls_ca.read_bytes() if settings.temporal_tls_ca else None,
        )
    # Temporal Cloud API keys are only accepted over TLS.
    return settings.temporal_tls or settings.temporal_api_key is not None


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=DATA_CONVERTER,
        tls=tls_config(settings),
        api_key=settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None,
    )


async def start_job(
    client: Client,
    workflow: str,
    arg: Any,
    *,
    workflow_id: str,
    listed_as: Sequence[SearchAttributePair[str]],
    task_queue: str,
    reuse: bool = False,
) -> None:
    """Start a job under its business id. Its search attributes are set at start, not only by the
    workflow, so a job that fails before its first task is listed too. ``reuse``: a running job
    of that id is this one; otherwise starting it again raises WorkflowAlreadyStartedError."""
    await client.start_workflow(
        workflow,
        arg,
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING if reuse else WorkflowIDConflictPolicy.FAIL,
        search_attributes=TypedSearchAttributes(list(listed_as)),
    )


async def describe_run(
    client: Client, workflow_id: str, run_id: str | None, *, missing: str
) -> WorkflowExecutionDescription:
    """The latest run of ``workflow_id`` (or that run); ``missing`` is the error when there is none."""
    try:
        return await client.get_workflow_handle(workflow_id, run_id=run_id).describe()
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise PerpflowError(missing) from None
        raise
