from __future__ import annotations

from datetime import UTC, datetime

import pytest

from perpflow import names


def test_signer_queue_is_one_per_venue_account_and_key() -> None:
    assert names.signer_queue("lighter", 12345, 3) == "perpflow-signer-lighter-12345-3"
    assert names.signer_queue("lighter", 12345, 3) != names.signer_queue("lighter", 12345, 4)


def test_workflow_ids_are_business_keys() -> None:
    epoch = names.fleet_epoch(datetime(2026, 11, 30, 12, 4, 55, 123456, tzinfo=UTC))
    cycle = names.hedge_cycle_id("alpha", epoch, "a1-b1", 7)
    assert cycle == "hedge-alpha-20261130t120455123-a1-b1-7"
    assert names.hedge_fleet_id("Alpha") == "fleet-alpha"
    assert names.grid_session_id("eth-range") == "grid-eth-range"
    started = datetime(2026, 11, 30, 12, 4, 55, 123456, tzinfo=UTC)
    assert names.grid_session_key("eth-range", started) == "grid-eth-range-20261130t120455123"
    assert names.payout_id(31337, "0xABC", 2) == "payout-31337-0xabc-2"
    assert names.order_key("hedge-alpha-a1-b1-7", "maker-0") == "hedge-alpha-a1-b1-7/maker-0"


def test_health_check_id_is_the_timestamp() -> None:
    at = datetime(2026, 11, 21, 5, 6, 7, 890, tzinfo=UTC)
    assert names.health_check_id(at) == "health-20261121T050607000890Z"


def test_id_segments_cannot_smuggle_separators() -> None:
    assert names.hedge_fleet_id("a b/c") == "fleet-a_b_c"
    with pytest.raises(ValueError, match="empty id segment"):
        names.hedge_fleet_id("  ")


def test_search_attributes_are_the_designed_keywords() -> None:
    assert [k.name for k in names.SEARCH_ATTRIBUTES] == [
        "PerpflowKind",
        "Venue",
        "Account",
        "Market",
        "CycleState",
        "GridState",
    ]
