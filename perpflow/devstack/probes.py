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
    client = await Client.connect(address, namespace=namespace)
    resp = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(namespace=namespace, task_queue=TaskQueue(name=queue), task_queue_type=kind)
    )
    return len(resp.pollers) > 0
