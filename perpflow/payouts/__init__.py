"""Liquidation payouts: config, pure rules, the wallet lane, the tracker and the chain watcher.

Nothing here imports ``temporalio.workflow``; the workflow lives in ``workflows/payout.py`` and
reaches this package only through activities (``activities/payouts.py``, ``activities/wallet.py``).
"""
