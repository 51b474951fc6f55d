"""`perpflow payouts list` at 100 columns: short ids that fit and that the commands take back; the
whole record with `--full` or `payouts show`."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from rich.console import Console

from perpflow import names
from perpflow.cli.payout_view import list_table, matches, pick, short_id, show_table
from perpflow.errors import PerpflowError
from perpflow.payouts.models import PayoutRecord, PayoutState

AT = datetime(2026, 11, 30, 18, 52, tzinfo=UTC)
HASHES = [
    "0x7e7658c71880460257465c03d1b64d6560a75c28275af57c9195f741b2cb0a36",
    "0x3c1d46dfccf870845df7bb089dbdbd5e6105d1d575f204801a2350d81eab2e5f",
]


def record(tx_hash: str, log_index: int = 0, reincluded: str | None = None, **fields: object) -> PayoutRecord:
    base: dict[str, object] = {
        "workflow_id": names.payout_id(31337, tx_hash, log_index, reincluded),
        "chain_id": 31337, "event_tx_hash": tx_hash, "event_log_index": log_index, "event_block_number": 63,
        "user_address": "0xCBF1CFA9f8D8D32239F7c8C946914F1425D7E76D", "leverage_ratio": 1250,
        "liquidation_amount_wei": 10**18, "amount_wei": 2 * 10**16, "state": PayoutState.DONE,
        "wallet": "0x4CCDa15F7D90Ab1ffDe902d8471082E4C8710A87", "nonce": 7, "raw_tx": None,
        "tx_hashes": [HASHES[1]], "final_tx_hash": HASHES[1], "gas_used": 51234, "block_number": 66,
        "approved_by": "alice", "reason": "approved by alice: ticket OPS-42, checked by hand",
        "created_at": AT, "updated_at": AT,
    }  # fmt: skip
    return PayoutRecord.model_validate({**base, **fields})


def rendered(table: object, width: int = 100) -> list[str]:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(table)
    return console.export_text().splitlines()


ROWS = [
    record(HASHES[0]),
    record(
        HASHES[0], 1, state=PayoutState.AWAITING_APPROVAL, approved_by=None, final_tx_hash=None, nonce=None
    ),
    record(HASHES[1], 0, reincluded="0x9f2c1a0b3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4"),
]


def test_the_list_fits_100_columns_each_payout_on_a_line_by_its_short_id() -> None:
    lines = rendered(list_table(ROWS))
    assert max(len(line) for line in lines) <= 100
    for r in ROWS:
        hits = [line for line in lines if line.startswith(short_id(r.workflow_id) + " ")]
        assert len(hits) == 1, "\n".join(lines)
        assert all(cell in hits[0] for cell in (r.state, "0xCBF1…E76D", "12.5x", "0.02", "approved by"))
    assert not any(r.workflow_id in "\n".join(lines) for r in ROWS)


def test_full_shows_whole_ids_and_hashes() -> None:
    text = "\n".join(rendered(list_table(ROWS, full=True), width=240))
    for r in ROWS:
        assert r.workflow_id in text
    assert HASHES[1] in text and ROWS[0].user_address in text


def test_short_ids_name_one_payout_and_every_command_takes_them() -> None:
    assert [short_id(r.workflow_id) for r in ROWS] == ["7e7658c7-0", "7e7658c7-1", "3c1d46df-0-9f2c1a"]
    for r in ROWS:
        assert pick(short_id(r.workflow_id), ROWS) is r
        assert pick(r.workflow_id, ROWS) is r
    assert pick("0x3c1d46", ROWS) is ROWS[2]  # a prefix of the hash, 0x or not
    assert matches(f"payout-31337-{HASHES[0][:14]}-1", ROWS[1].workflow_id)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("7e7658c7", "7e7658c7 names 2 payouts (7e7658c7-0, 7e7658c7-1)"),
        ("7e7658c7-5", "no payout 7e7658c7-5 among the newest 3 (give its full id)"),
        ("hedge-demo-1", "'hedge-demo-1' is not a payout id"),
    ],
)
def test_an_unknown_or_ambiguous_id_is_one_line(text: str, error: str) -> None:
    with pytest.raises(PerpflowError) as caught:
        pick(text, ROWS)
    assert str(caught.value).startswith(error)


def test_show_prints_the_whole_record_at_100_columns() -> None:
    lines = rendered(show_table(ROWS[0], "http://127.0.0.1:8233/namespaces/perpflow/workflows/x"))
    text = "\n".join(lines)
    assert max(len(line) for line in lines) <= 100
    assert ROWS[0].workflow_id in text and HASHES[1] in text
    assert "approved by alice: ticket OPS-42" in text and "0.02 ETH" in text
