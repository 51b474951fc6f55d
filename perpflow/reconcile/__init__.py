"""The exposure reconciler: venue positions and open orders matched to the live workflows that own
them; whatever no live workflow owns is an orphan, alerted once and handled per account policy.

``models`` and ``judge`` are pure (workflow code imports them); ``owners`` talks to Temporal and
the ledger, ``schedule`` creates the Temporal Schedules. This ``__init__`` imports nothing.
"""
