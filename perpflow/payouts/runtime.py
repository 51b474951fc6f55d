"""Building the payout pieces a process needs from settings + the payout config."""

from __future__ import annotations

from perpflow.chain.client import ChainClient
from perpflow.chain.follower import FollowerConfig
from perpflow.chain.wallet import HotWallet
from perpflow.errors import ConfigError
from perpflow.payouts.config import PayoutsConfig
from perpflow.secrets import resolve
from perpflow.settings import Settings


def chain_client(cfg: PayoutsConfig) -> ChainClient:
    return ChainClient(cfg.chain.rpc_url, cfg.chain.guard_address)


def follower_config(cfg: PayoutsConfig) -> FollowerConfig:
    return FollowerConfig(
        start_block=cfg.chain.start_block,
        ws_url=cfg.chain.ws_url,
        reorg_rewind_blocks=cfg.chain.reorg_rewind_blocks,
        poll_interval_s=cfg.chain.poll_interval_s,
    )


def load_wallet(cfg: PayoutsConfig, settings: Settings) -> HotWallet:
    """Resolve the key reference (wallet worker only) and check it is the configured address."""
    wallet = HotWallet(resolve(cfg.wallet.key, settings.state_dir))
    if wallet.address != cfg.wallet.address:
        raise ConfigError(f"wallet key {cfg.wallet.key} is not the key of {cfg.wallet.address}")
    return wallet


async def check_owner(chain: ChainClient, wallet: HotWallet, cfg: PayoutsConfig) -> None:
    if await chain.chain_id() != cfg.chain.chain_id:
        raise ConfigError(f"node at {cfg.chain.rpc_url} is not chain {cfg.chain.chain_id}")
    owner = await chain.owner()
    if owner != wallet.address:
        raise ConfigError(f"guard {cfg.chain.guard_address} is owned by {owner}, not {wallet.address}")
