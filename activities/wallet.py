"""The wallet lane's activities: served only by the wallet worker, one slot per hot wallet."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

from perpflow.payouts import models as m
from perpflow.payouts.lane import WalletLane


class WalletActivities:
    def __init__(self, lane: WalletLane) -> None:
        self._lane = lane

    @activity.defn(name="wallet_send_payout")
    async def send_payout(self, req: m.SendRequest) -> m.SendResult:
        activity.heartbeat()  # a SIGKILLed lane is noticed within the heartbeat timeout
        return await self._lane.send(req)

    @activity.defn(name="wallet_bump_payout")
    async def bump_payout(self, req: m.SendRequest) -> m.SendResult:
        activity.heartbeat()
        return await self._lane.bump(req)

    def all(self) -> list[Callable[..., Any]]:
        return [self.send_payout, self.bump_payout]
