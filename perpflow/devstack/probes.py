"""Readiness probes shared by the embedded stack's services and the tests."""

from __future__ import annotations

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client


async def queue_has_pollers(
    address: str,
    namespace: str,
    queue: str,
    kind: TaskQueueType.ValueType = TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
) -> bool:
    """Whether a worker polls ``queue`` (signer and wallet workers poll activity tasks only)."""
    client = await temporal_client(address, namespace)
    resp = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(namespace=namespace, task_queue=TaskQueue(name=queue), task_queue_type=kind)
    )
    return len(resp.pollers) > 0


_clients: dict[tuple[str, str], Client] = {}


async def temporal_client(address: str, namespace: str) -> Client:
    """One connection per server for all readiness polls (they run every 0.1 s while starting)."""
    key = (address, namespace)
    if key not in _clients:
        _clients[key] = await Client.connect(address, namespace=namespace)
    return _clients[key]
