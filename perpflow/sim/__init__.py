"""Simulated perp venue: a matching engine behind a Lighter-compatible HTTP/WS face.

Run it with ``perpflow sim`` or ``python -m perpflow.sim``; see docs/sim.md.
"""
