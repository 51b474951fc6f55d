"""Operator alerts: pure payloads (``models``) apart from their delivery (``routing``, ``channels``,
``delivery``) and the daily status report (``status``, ``report``).

Workflows import ``perpflow.alerts.models`` only, so this package's ``__init__`` imports nothing.
"""
