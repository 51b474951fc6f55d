"""Prometheus metrics of every perpflow process: the catalogue of names (``names``), the
instruments observed where events happen, the ledger's gauges computed at scrape time, the
Temporal SDK's own metrics forwarded into the same registry, and the one HTTP endpoint per process.

Nothing here imports another perpflow package: the order gateway, the payout tracker and the
wallet lane import their instruments from here, and the ledger is reached through SQL alone.
"""
