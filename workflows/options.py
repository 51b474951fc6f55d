"""Named activity presets: timeouts and retry policy declared once, used by every workflow."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy

# Ledger reads and writes: short, retried quickly; a database outage heals by itself.
LEDGER: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=15),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(milliseconds=200),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=10),
    ),
}

# Health probes report a failure as data; retrying would only hide the latency being measured.
PROBE: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(maximum_attempts=2),
}
