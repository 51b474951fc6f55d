"""Grid sessions: ``session`` is the workflow and its operator API, ``process`` its process,
``run`` what one run knows and its bookkeeping, ``orders`` its orders and the venue's truth,
``watch`` the band watches and the feed."""
