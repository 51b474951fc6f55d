"""Acceptance check: two accounts trade with each other through a running sim's book.

Uses only lighter-sdk and the documented admin HTTP API (docs/sim.md). Starts nothing:
``python scripts/sim_two_accounts.py --url http://127.0.0.1:8787``. Exits 1 on inconsistency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import urllib.request
from typing import Any

import lighter

ETH = 0
SIZE = 2000  # 0.2000 ETH


def admin(url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(
        url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        data: dict[str, Any] = json.load(resp)
        return data


async def new_account(url: str) -> tuple[int, lighter.SignerClient]:
    private_key, public_key, err = lighter.create_api_key()
    if err:
        raise RuntimeError(err)
    index = admin(url, "/_sim/accounts", {"collateral": "50000", "api_keys": {"3": public_key}})[
        "account_index"
    ]
    return index, lighter.SignerClient(url=url, account_index=index, api_private_keys={3: private_key})


async def run(url: str) -> list[str]:
    api = lighter.ApiClient(configuration=lighter.Configuration(host=url))
    (seller, s_client), (buyer, b_client) = await new_account(url), await new_account(url)
    problems: list[str] = []
    try:
        book = await lighter.OrderApi(api).order_book_orders(ETH, 1)
        best_bid = int(book.bids[0].price.replace(".", ""))
        best_ask = int(book.asks[0].price.replace(".", ""))
        price = (best_bid + best_ask) // 2  # inside the spread: only the two accounts can meet there
        _, _, err = await s_client.create_order(ETH, 1, SIZE, price, True, 0, 2)  # post-only ask
        problems += [f"seller order: {err}"] if err else []
        _, _, err = await b_client.create_order(ETH, 2, SIZE, price, False, 0, 0, order_expiry=0)  # IOC bid
        problems += [f"buyer order: {err}"] if err else []
        accounts = await lighter.AccountApi(api).account(by="index", value=f"{seller}")
        s_pos = accounts.accounts[0].positions
        accounts = await lighter.AccountApi(api).account(by="index", value=f"{buyer}")
        b_pos = accounts.accounts[0].positions
        token, _ = b_client.create_auth_token_with_expiry(api_key_index=3)
        trades = (
            await lighter.OrderApi(api).trades("timestamp", 10, authorization=token, account_index=buyer)
        ).trades
        print(f"seller {seller}: {[(p.symbol, p.sign, p.position, p.avg_entry_price) for p in s_pos]}")
        print(f"buyer  {buyer}: {[(p.symbol, p.sign, p.position, p.avg_entry_price) for p in b_pos]}")
        for t in trades:
            print(f"trade {t.trade_id}: {t.size} @ {t.price} ask={t.ask_account_id} bid={t.bid_account_id}")
        expected = f"{SIZE / 10_000:.4f}"
        if [(p.sign, p.position) for p in s_pos] != [(-1, expected)]:
            problems.append(f"seller position {s_pos}")
        if [(p.sign, p.position) for p in b_pos] != [(1, expected)]:
            problems.append(f"buyer position {b_pos}")
        if [(t.ask_account_id, t.bid_account_id, t.size) for t in trades] != [(seller, buyer, expected)]:
            problems.append(f"trades {trades}")
    finally:
        await s_client.close()
        await b_client.close()
        await api.close()
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="sim base URL, e.g. http://127.0.0.1:8787")
    args = parser.parse_args()
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    problems = asyncio.run(run(args.url.rstrip("/")))
    for problem in problems:
        print(f"INCONSISTENT: {problem}", file=sys.stderr)
    print("OK" if not problems else "FAILED")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
