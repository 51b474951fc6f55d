"""Simulated perp venue: one venue-neutral matching engine behind one face per venue protocol.

The engine (engine, book, matching, accounts, triggers, faults, admin API) speaks its own terms;
``faces/<venue>/`` translate a venue's HTTP/WS protocol to them. Run it with ``perpflow sim`` or
``python -m perpflow.sim``; see docs/sim.md.
"""
