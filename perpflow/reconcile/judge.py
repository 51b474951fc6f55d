"""Pure judgement of one account's observation: which open orders and positions are orphans.

Deterministic (no I/O, no clock): the reconcile workflow calls it on activity results.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import NamedTuple

from perpflow.hedge import pricing
from perpflow.models import AccountRef
from perpflow.reconcile.models import (
    AccountObservation,
    Judgement,
    OrderOwner,
    OrderView,
    Orphan,
    OrphanKind,
    OrphanReason,
    Owners,
    OwnerStatus,
    PositionView,
)
from perpflow.venues.types import MarketInfo

_REASONS = {
    OwnerStatus.TERMINATED: OrphanReason.OWNER_TERMINATED,
    OwnerStatus.NOT_FOUND: OrphanReason.OWNER_NOT_FOUND,
    OwnerStatus.UNKNOWN_ORDER: OrphanReason.UNKNOWN_ORDER,
}


def order_key(venue: str, account_index: int, market: str, index: int) -> str:
    return f"order/{venue}/{account_index}/{market}/{index}"


def position_key(venue: str, account_index: int, market: str) -> str:
    return f"position/{venue}/{account_index}/{market}"


def judge(obs: AccountObservation) -> Judgement:
    """Orders by their owner's status (asked after the venue read); positions as venue size minus
    what live owners own, by their answer before the read or after it."""
    if obs.owners is None:
        raise ValueError(f"account {obs.account.name} has no owners to judge against")
    owners = {o.client_order_index: o for o in obs.owners.orders}
    orders, orphans = [], []
    for ack in obs.orders:
        owner = owners.get(ack.client_order_index) or OrderOwner(
            client_order_index=ack.client_order_index, workflow_id=None, status=OwnerStatus.UNREACHABLE
        )
        view = OrderView(
            market=ack.market,
            client_order_index=ack.client_order_index,
            order_index=ack.order_index,
            remaining_size=ack.remaining_size,
            filled_size=ack.filled_size,
            owner=owner.workflow_id,
            owner_status=owner.status,
            orphan=owner.status.orphans,
        )
        orders.append(view)
        if view.orphan:
            orphans.append(_order_orphan(obs, view))
    positions = _positions(obs)
    deferred = _deferred(obs.owners) or (_deferred(obs.owners_before) if obs.owners_before else "")
    if not deferred:
        orphans += [_position_orphan(obs, p) for p in positions if p.orphan_size != 0]
    return Judgement(orders=orders, positions=positions, orphans=orphans, deferred=deferred)


def confirm(first: list[Orphan], second: list[Orphan]) -> tuple[list[Orphan], list[str]]:
    """Orphans seen the same both times, and the keys seen only once or changed (unsettled)."""
    before = {o.key: o for o in first}
    confirmed, unsettled = [], []
    for orphan in second:
        seen = before.pop(orphan.key, None)
        if seen is not None and (orphan.kind is OrphanKind.ORDER or seen.size == orphan.size):
            confirmed.append(orphan)
        else:
            unsettled.append(orphan.key)
    return confirmed, unsettled + list(before)


def flatten_size(orphan: Decimal, venue: Decimal, market: MarketInfo) -> tuple[Decimal, str]:
    """The size of a reduce-only close of an orphan position, or 0 and why there is none.

    Never more than the orphan, nor than the venue position on the orphan's side, rounded down to
    the market's size step."""
    if orphan == 0 or venue == 0 or (orphan > 0) != (venue > 0):
        return Decimal(0), f"the orphan {orphan} is not on the side of the position {venue}"
    size = pricing.round_size_down(market, min(abs(orphan), abs(venue)))
    if size < market.min_base_amount:
        return Decimal(0), f"{size} is below the market minimum {market.min_base_amount}"
    return size, ""


def _reason(status: OwnerStatus) -> OrphanReason:
    return _REASONS.get(status, OrphanReason.OWNER_CLOSED)


def _order_orphan(obs: AccountObservation, view: OrderView) -> Orphan:
    acct = obs.account
    index = view.order_index if view.order_index is not None else view.client_order_index
    return Orphan(
        key=order_key(acct.venue, acct.account_index, view.market, index),
        kind=OrphanKind.ORDER,
        reason=_reason(view.owner_status),
        venue=acct.venue,
        account=acct.name,
        account_index=acct.account_index,
        market=view.market,
        size=view.remaining_size,
        client_order_index=view.client_order_index,
        order_index=view.order_index,
        owner=view.owner,
        owner_status=view.owner_status,
    )


def _position_orphan(obs: AccountObservation, view: PositionView) -> Orphan:
    acct = obs.account
    return Orphan(
        key=position_key(acct.venue, acct.account_index, view.market),
        kind=OrphanKind.POSITION,
        reason=OrphanReason.UNOWNED_POSITION,
        venue=acct.venue,
        account=acct.name,
        account_index=acct.account_index,
        market=view.market,
        size=view.orphan_size,
    )


class _Tally(NamedTuple):
    """One owners' answer on one market: the sum of what live owners own, and who."""

    size: Decimal
    owners: list[str]


def _tallies(owners: Owners, acct: AccountRef) -> dict[str, _Tally]:
    tallies: dict[str, _Tally] = defaultdict(lambda: _Tally(Decimal(0), []))
    for live in owners.live:
        for p in live.exposure.positions if live.exposure else []:
            if (p.venue, p.account_index) == (acct.venue, acct.account_index) and p.size != 0:
                size, ids = tallies[p.market]
                tallies[p.market] = _Tally(size + p.size, [*ids, live.workflow_id])
    return tallies


def _positions(obs: AccountObservation) -> list[PositionView]:
    """Each market's venue size against the owners' answers, the one before the venue read (when
    asked) and the one after: whatever the owners owned at the moment of the read lies between."""
    assert obs.owners is not None
    answers = [a for a in (obs.owners_before, obs.owners) if a is not None]
    tallies = [_tallies(a, obs.account) for a in answers]
    venue = {p.market: p.size for p in obs.positions if p.size != 0}
    markets = sorted(venue.keys() | {m for t in tallies for m in t})
    none = _Tally(Decimal(0), [])
    return [_position(m, venue.get(m, Decimal(0)), [t.get(m, none) for t in tallies]) for m in markets]


def _position(market: str, venue: Decimal, answers: list[_Tally]) -> PositionView:
    """An orphan only if no answer explains the venue size: 0 when one does, or when the answers
    lie on either side of it; else the smaller gap (never more than surely unowned)."""
    gaps = [venue - a.size for a in answers]
    nearest = min(range(len(answers)), key=lambda i: (abs(gaps[i]), -i))  # the later on a tie
    straddled = any(g > 0 for g in gaps) and any(g < 0 for g in gaps)
    return PositionView(
        market=market,
        venue_size=venue,
        owned=answers[nearest].size,
        orphan_size=Decimal(0) if straddled else gaps[nearest],
        owners=list(dict.fromkeys(w for a in answers for w in a.owners)),
        answers=[a.size for a in answers],
    )


def _deferred(owners: Owners) -> str:
    """Why positions cannot be judged now: a live owner's share is unknown, or an order is moving
    the position (a flatten sized now could close more than the orphan)."""
    for owner in owners.live:
        if owner.exposure is None:
            return f"live owner {owner.workflow_id} did not answer its exposure: {owner.error}"
    if owners.in_flight:
        wid, cois = min(owners.in_flight.items())
        return f"orders in flight: coi {', '.join(str(c) for c in cois)} of {wid}"
    return ""
