"""Positions judged against the owners' answers before and after the venue read: a position that
moved during the read is explained by one of them; only what neither explains is an orphan."""

from __future__ import annotations

from decimal import Decimal

from perpflow.exposure import Exposure, OwnedPosition
from perpflow.models import AccountRef
from perpflow.reconcile.judge import judge
from perpflow.reconcile.models import AccountObservation, LiveOwner, OrphanKind, Owners
from perpflow.venues.types import PositionInfo

D = Decimal
ACCOUNT = AccountRef(name="a", venue="lighter", account_index=7, api_key_index=3)


def answer(*held: tuple[str, str], in_flight: dict[str, list[int]] | None = None, silent: str = "") -> Owners:
    """Live owners and what each owns of ETH on the account (``silent``: one that did not answer)."""
    live = [
        LiveOwner(
            workflow_id=wid,
            exposure=Exposure(
                workflow_id=wid,
                positions=[OwnedPosition(venue="lighter", account_index=7, market="ETH", size=D(size))],
            ),
        )
        for wid, size in held
    ]
    if silent:
        live.append(LiveOwner(workflow_id=silent, exposure=None, error="no exposure query"))
    return Owners(orders=[], live=live, in_flight=in_flight or {})


def observe(venue: str, before: Owners | None, after: Owners) -> AccountObservation:
    return AccountObservation(
        account=ACCOUNT,
        positions=[PositionInfo(market="ETH", size=D(venue), avg_entry_price=D(2000))],
        owners=after,
        owners_before=before,
    )


def test_a_close_landing_during_the_venue_read_is_explained_by_the_answer_before_it() -> None:
    got = judge(observe("0.05", before=answer(("cycle", "0.05")), after=answer(("cycle", "0"))))
    assert got.orphans == []
    [view] = got.positions
    assert (view.venue_size, view.owned, view.orphan_size, view.owners, view.answers) == (
        D("0.05"), D("0.05"), 0, ["cycle"], [D("0.05"), D(0)],
    )  # fmt: skip


def test_without_the_answer_before_the_read_the_same_look_is_an_orphan() -> None:
    [orphan] = judge(observe("0.05", before=None, after=answer(("cycle", "0")))).orphans
    assert (orphan.kind, orphan.size) == (OrphanKind.POSITION, D("0.05"))


def test_a_fill_landing_during_the_read_is_explained_by_the_answer_after_it() -> None:
    got = judge(observe("-0.05", before=answer(), after=answer(("cycle", "-0.05"))))
    assert got.orphans == []
    assert [p.owned for p in got.positions] == [D("-0.05")]


def test_a_real_orphan_beside_a_racing_owner_is_only_what_neither_answer_explains() -> None:
    """0.02 by hand beside a cycle closing its 0.05 during the read: the orphan is 0.02, not 0.07."""
    [orphan] = judge(observe("0.07", before=answer(("cycle", "0.05")), after=answer())).orphans
    assert orphan.size == D("0.02")
    [short] = judge(observe("-0.07", before=answer(), after=answer(("cycle", "-0.05")))).orphans
    assert short.size == D("-0.02")


def test_answers_on_either_side_of_the_venue_size_explain_it() -> None:
    """A close half landed by the read: 0.05 owned before, 0.03 on the venue, nothing after."""
    got = judge(observe("0.03", before=answer(("cycle", "0.05")), after=answer()))
    assert got.orphans == []
    [view] = got.positions
    assert (view.orphan_size, view.answers) == (0, [D("0.05"), D(0)])


def test_an_orphan_no_answer_explains_is_an_orphan_whichever_answer_is_nearer() -> None:
    got = judge(observe("0.05", before=answer(), after=answer()))
    [orphan] = got.orphans
    assert orphan.size == D("0.05")


def test_a_silent_owner_or_an_order_in_flight_in_the_answer_before_defers_positions() -> None:
    silent = judge(observe("0.05", before=answer(silent="grid-x"), after=answer()))
    assert (silent.orphans, silent.deferred.startswith("live owner grid-x")) == ([], True)
    moving = judge(observe("0.05", before=answer(in_flight={"cycle": [9]}), after=answer()))
    assert (moving.orphans, moving.deferred) == ([], "orders in flight: coi 9 of cycle")
