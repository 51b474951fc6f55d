"""On-chain layer for liquidation payouts: LeverageGuard artifact, anvil, web3 client, log follower.

Import the pieces from their modules (`perpflow.chain.client.ChainClient`, ...); this package
imports nothing heavy at import time so workflow code can depend on `perpflow.chain.models`.
"""
