"""The payout YAML config (``config/payouts.example.yaml``): chain, wallet, rules, timings.

The wallet key is a secret *reference* (``env:``, ``file:``, ``secrets:``), resolved only by the
wallet worker; every other process sees the public address alone.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

from pydantic import Field, model_validator

from perpflow.chain.models import Address
from perpflow.config import ConfigModel, load_yaml
from perpflow.errors import ConfigError
from perpflow.payouts.models import PayoutPolicy, Tier
from perpflow.settings import Settings

CONFIG_ENV = "PERPFLOW_PAYOUTS_CONFIG"
CONFIG_FILE = "payouts.yaml"


class ChainSection(ConfigModel):
    chain_id: int = Field(gt=0)
    rpc_url: str
    ws_url: str | None = None
    guard_address: Address
    start_block: int = Field(default=0, ge=0, description="first block to scan (the deploy block)")
    # Must exceed the deepest reorg we care about, so at least the confirmation depth.
    reorg_rewind_blocks: int = Field(default=12, ge=1)
    poll_interval_s: float = Field(default=1.0, gt=0)


class WalletSection(ConfigModel):
    address: Address
    key: str = Field(pattern=r"^(env|file|secrets):.+", description="secret reference, never the key")


class RulesSection(ConfigModel):
    tiers: list[Tier] = Field(
        default_factory=lambda: [
            Tier(above_leverage=Decimal(10), amount_eth=Decimal("0.02")),
            Tier(above_leverage=Decimal(5), amount_eth=Decimal("0.01")),
        ]
    )
    default_amount_eth: Decimal = Field(default=Decimal("0.005"), gt=0)
    per_user_daily_cap_eth: Decimal = Field(default=Decimal("0.1"), gt=0)
    daily_cap_eth: Decimal = Field(default=Decimal("10"), gt=0)
    approval_threshold_eth: Decimal | None = Field(default=None, ge=0)
    approval_timeout_s: float = Field(default=3600, gt=0)


class TimingSection(ConfigModel):
    confirmations: int = Field(default=2, ge=1)
    tx_confirmations: int = Field(default=2, ge=1)
    stuck_after_s: float = Field(default=30, gt=0)
    check_max_wait_s: float = Field(default=5, gt=0, le=8)
    pool_recheck_s: float = Field(default=60, gt=0)


class PayoutsConfig(ConfigModel):
    chain: ChainSection
    wallet: WalletSection
    rules: RulesSection = Field(default_factory=RulesSection)
    timing: TimingSection = Field(default_factory=TimingSection)
    orchestrator_queue: str | None = None  # default: perpflow.names.ORCHESTRATOR_QUEUE

    @model_validator(mode="after")
    def _rewind_covers_confirmations(self) -> PayoutsConfig:
        if self.chain.reorg_rewind_blocks < self.timing.confirmations:
            raise ValueError("chain.reorg_rewind_blocks must be >= timing.confirmations")
        return self

    def policy(self) -> PayoutPolicy:
        r, t = self.rules, self.timing
        return PayoutPolicy(
            chain_id=self.chain.chain_id,
            guard_address=self.chain.guard_address,
            wallet_address=self.wallet.address,
            confirmations=t.confirmations,
            tx_confirmations=t.tx_confirmations,
            tiers=r.tiers,
            default_amount_eth=r.default_amount_eth,
            per_user_daily_cap_eth=r.per_user_daily_cap_eth,
            daily_cap_eth=r.daily_cap_eth,
            approval_threshold_eth=r.approval_threshold_eth,
            approval_timeout_s=r.approval_timeout_s,
            stuck_after_s=t.stuck_after_s,
            check_max_wait_s=t.check_max_wait_s,
            pool_recheck_s=t.pool_recheck_s,
        )


def config_path(settings: Settings) -> Path:
    explicit = os.environ.get(CONFIG_ENV)
    return Path(explicit) if explicit else settings.state_dir / CONFIG_FILE


def load_payouts_config(settings: Settings) -> PayoutsConfig:
    path = config_path(settings)
    if not path.is_file():
        raise ConfigError(f"no payout config at {path} (set {CONFIG_ENV} or run `perpflow dev`)")
    return load_yaml(path, PayoutsConfig)


def maybe_payouts_config(settings: Settings) -> PayoutsConfig | None:
    """The config if one exists (the orchestrator serves payouts only when configured)."""
    return load_payouts_config(settings) if config_path(settings).is_file() else None
