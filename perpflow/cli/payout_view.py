"""How ``perpflow payouts`` shows payouts: short ids (a payout's id is 84 characters) that fit a
100-column terminal and that every payouts command accepts back, the full record on demand.

A short id is the event's tx hash cut to 8 hex digits and its log index (``7e7658c7-0``), plus
the first hex digits of the block hash for a reorg's re-inclusion (``7e7658c7-0-9f2c1a``). Any
longer prefix of the hash, with or without ``0x`` and the ``payout-CHAIN-`` head, names it too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rich import box
from rich.table import Table

from perpflow.errors import PerpflowError
from perpflow.payouts.models import WEI_PER_ETH, PayoutRecord

FULL_ID = re.compile(r"^payout-(\d+)-0x([0-9a-f]{64})-(\d+)(?:-([0-9a-f]+))?$")
SHORT_ID = re.compile(r"^(?:payout-\d+-)?(?:0x)?([0-9a-f]{4,64})(?:-(\d+))?(?:-([0-9a-f]+))?$")
HASH_DIGITS = 8
REINCLUDED_DIGITS = 6


def short_id(workflow_id: str) -> str:
    found = FULL_ID.match(workflow_id)
    if found is None:
        return workflow_id
    _, tx_hash, log_index, reincluded = found.groups()
    tail = f"-{reincluded[:REINCLUDED_DIGITS]}" if reincluded else ""
    return f"{tx_hash[:HASH_DIGITS]}-{log_index}{tail}"


def short_hex(value: str | None, head: int = 4, tail: int = 4) -> str:
    """``0xCBF1…E76D``: an address or hash recognisable at a glance."""
    if not value:
        return ""
    return value if len(value) <= 2 + head + tail + 1 else f"{value[: 2 + head]}…{value[-tail:]}"


def is_full_id(text: str) -> bool:
    return FULL_ID.match(text) is not None


def matches(text: str, workflow_id: str) -> bool:
    """Whether ``text`` (a full or short id) names the payout ``workflow_id``."""
    if text == workflow_id:
        return True
    wanted, found = SHORT_ID.match(text.lower()), FULL_ID.match(workflow_id)
    if wanted is None or found is None:
        return False
    prefix, log_index, reincluded = wanted.groups()
    _, tx_hash, their_log, their_reinclusion = found.groups()
    return (
        tx_hash.startswith(prefix)
        and (log_index is None or log_index == their_log)
        and (reincluded is None or (their_reinclusion or "").startswith(reincluded))
    )


def pick(text: str, records: Sequence[PayoutRecord]) -> PayoutRecord:
    """The one payout ``text`` names among ``records``; one line otherwise."""
    if SHORT_ID.match(text.lower()) is None and not is_full_id(text):
        raise PerpflowError(f"{text!r} is not a payout id (see `perpflow payouts list`)")
    found = [r for r in records if matches(text, r.workflow_id)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise PerpflowError(f"no payout {text} among the newest {len(records)} (give its full id)")
    ids = ", ".join(short_id(r.workflow_id) for r in found[:5])
    raise PerpflowError(f"{text} names {len(found)} payouts ({ids}{', ...' if len(found) > 5 else ''})")


def eth(wei: int | None) -> str:
    return "" if wei is None else f"{wei / WEI_PER_ETH:.6f}".rstrip("0").rstrip(".")


def _row(r: PayoutRecord, full: bool) -> list[str]:
    def cut(value: str | None) -> str:
        return (value or "") if full else short_hex(value)

    return [
        r.workflow_id if full else short_id(r.workflow_id),
        r.state,
        cut(r.user_address),
        f"{r.leverage_ratio / 100:g}x",
        eth(r.amount_wei),
        "" if r.nonce is None else str(r.nonce),
        cut(r.final_tx_hash),
        r.reason or "",  # names the approver: "approved by alice: ..."
    ]


def list_table(rows: Sequence[PayoutRecord], full: bool = False) -> Table:
    """Newest first; short ids and hashes unless ``full`` (ids to copy, wide terminals, scripts)."""
    table = Table(
        title=f"payouts ({len(rows)})",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    cells = [_row(r, full) for r in rows]
    for i, col in enumerate(("id", "state", "user", "lev", "ETH", "nonce", "final tx")):
        # As wide as their widest cell: only the reason folds when the terminal is narrow.
        fixed = max([len(col), *(len(c[i]) for c in cells)])
        table.add_column(col, no_wrap=True, min_width=fixed)
    table.add_column("reason", overflow="fold", ratio=1)
    for row in cells:
        table.add_row(*row)
    return table


def show_table(r: PayoutRecord, link: str | None = None) -> Table:
    """Every field of one payout, ids and hashes whole."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    fields: list[tuple[str, str]] = [
        ("id", r.workflow_id),
        ("short id", short_id(r.workflow_id)),
        ("state", r.state),
        ("user", r.user_address),
        ("leverage", f"{r.leverage_ratio / 100:g}x"),
        ("liquidated", f"{eth(r.liquidation_amount_wei)} ETH"),
        ("payout", f"{eth(r.amount_wei)} ETH" if r.amount_wei is not None else "not yet decided"),
        ("event", f"tx {r.event_tx_hash} log {r.event_log_index} block {r.event_block_number}"),
        ("chain", str(r.chain_id)),
        ("wallet", r.wallet or ""),
        ("nonce", "" if r.nonce is None else str(r.nonce)),
        *((f"tx {i + 1}", tx) for i, tx in enumerate(r.tx_hashes)),
        ("final tx", r.final_tx_hash or ""),
        ("mined", f"block {r.block_number}, gas {r.gas_used}" if r.block_number else ""),
        ("decided by", r.approved_by or ""),
        ("reason", r.reason or ""),
        ("created", f"{r.created_at:%Y-%m-%d %H:%M:%S %Z}"),
        ("updated", f"{r.updated_at:%Y-%m-%d %H:%M:%S %Z}"),
    ]
    if link:
        fields.append(("Web UI", link))
    for name, value in fields:
        if value:
            table.add_row(name, value)
    return table
