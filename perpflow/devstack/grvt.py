"""The embedded stack's GRVT demo account, on the sim's GRVT face (docs/grvt.md).

One engine account reached through GRVT's protocol: a sub-account id of GRVT's shape, a signing key
generated at run time (eth-account) and an API key with trade and view permissions tagged to it.
Both are kept only in ``<state dir>/secrets.json`` like the Lighter demo keys; the signer config
names them as ``secrets:NAME`` (``api_key`` signs orders, ``session_key`` logs in).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from secrets import token_hex
from typing import Any

import aiohttp
from eth_account import Account

from perpflow.models import AccountRef

DEMO_GRVT_ACCOUNT = "demo-grvt-1"
# Fixed, so a demo session Temporal still runs from the last ``make run`` finds its account again
# (the sim starts empty each time); 16 digits as GRVT's, never a Lighter demo account's index.
DEMO_GRVT_SUB_ACCOUNT = 1_000_000_000_000_001
DEMO_GRVT_KEY_INDEX = 0  # GRVT keys have no index: it only names the key's signer queue


def grvt_url(sim_url: str) -> str:
    """The sim serves GRVT's three hosts under this base (``/grvt/edge``, ``/td``, ``/md``)."""
    return f"{sim_url}/grvt"


@dataclass(frozen=True)
class GrvtDemoAccount:
    ref: AccountRef
    secrets: dict[str, str]  # secrets.json entries
    signer_entry: dict[str, Any]  # the account in the signer YAML


async def create_grvt_demo_account(sim_url: str, collateral: Decimal) -> GrvtDemoAccount:
    signer = Account.create()
    api_key = token_hex(16)
    name = DEMO_GRVT_ACCOUNT
    body = {
        "collateral": str(collateral),
        "grvt_sub_account_id": str(DEMO_GRVT_SUB_ACCOUNT),
        "grvt_api_keys": [{"api_key": api_key, "signer": signer.address, "permissions": ["trade", "view"]}],
    }
    # The sim is local: never through a proxy from the environment.
    async with (
        aiohttp.ClientSession(trust_env=False) as http,
        http.post(f"{sim_url}/_sim/accounts", json=body) as resp,
    ):
        if resp.status != 200:
            raise RuntimeError(f"sim refused the GRVT demo account: HTTP {resp.status} {await resp.text()}")
    ref = AccountRef(
        name=name, venue="grvt", account_index=DEMO_GRVT_SUB_ACCOUNT, api_key_index=DEMO_GRVT_KEY_INDEX
    )
    entry = {
        "name": name, "venue": "grvt", "account_index": DEMO_GRVT_SUB_ACCOUNT,
        "api_key_index": DEMO_GRVT_KEY_INDEX, "api_key": f"secrets:{name}",
        "session_key": f"secrets:{name}-session",
    }  # fmt: skip
    keys = {name: signer.key.to_0x_hex(), f"{name}-session": api_key}
    return GrvtDemoAccount(ref=ref, secrets=keys, signer_entry=entry)
