"""Operator alerts: pure payloads (``models``) apart from their delivery (``channels``, ``delivery``).

Workflows import ``perpflow.alerts.models`` only, so this package's ``__init__`` imports nothing.
"""
