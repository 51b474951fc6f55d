"""Hedge cycles and the fleets that run them: ``cycle`` is the workflow and its process, ``run``
what one run knows and its bookkeeping, ``legs`` its orders, ``quote`` the maker leg and its
hedges, ``hold`` the hold, ``close`` every way out, ``fleet`` the fleet workflow."""
