"""Benchmark the simulated venue against a raw aiohttp baseline (run by ``make bench``).

1. sendTx: N create-order txs pre-signed with the SDK's ``sign_create_order`` (explicit nonces)
   are POSTed form-urlencoded over C keep-alive connections; figure = accepted txs/s.
   Baseline: a bare aiohttp app that reads the same form and answers a constant RespSendTx.
2. Book fan-out: S websocket subscribers on ``order_book/0`` while the admin API moves the
   price (each move re-quotes the ladder); figure = book level updates delivered/s across all
   subscribers. Baseline: a bare aiohttp app broadcasting a same-sized frame as fast as it can.

Both servers run as subprocesses on this machine, so client and server share its cores.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from urllib.parse import urlencode

import aiohttp

from perpflow.devstack.harness import start_sim, stop_sim
from perpflow.devstack.ports import free_port

N_TX = int(os.environ.get("BENCH_TXS", "5000"))  # the Go signer needs ~4 ms per tx
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "32"))
# Enough subscribers that the fan-out, not the 50 ms batching, bounds the frames per second.
SUBSCRIBERS = int(os.environ.get("BENCH_SUBSCRIBERS", "200"))
FANOUT_SECONDS = float(os.environ.get("BENCH_FANOUT_S", "5"))

BASELINE = textwrap.dedent(
    """
    import asyncio, sys, json
    from urllib.parse import parse_qsl
    from aiohttp import web
    RESP = json.dumps({"code": 200, "message": "", "tx_hash": "0" * 80,
                       "predicted_execution_time_ms": 0, "volume_quota_remaining": 1000}).encode()
    FRAME = sys.argv[2]
    async def send_tx(request):
        dict(parse_qsl((await request.read()).decode()))
        return web.Response(body=RESP, content_type="application/json")
    async def stream(request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.receive()  # the subscribe message
        closing = asyncio.ensure_future(ws.receive())  # the client's close frame ends the flood
        while not closing.done() and not ws.closed:
            await ws.send_str(FRAME)
            await asyncio.sleep(0)
        await ws.close()
        return ws
    app = web.Application()
    app.router.add_post("/api/v1/sendTx", send_tx)
    app.router.add_get("/stream", stream)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
    """
)


async def post_all(url: str, bodies: list[bytes]) -> float:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    queue = iter(bodies)
    failures = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal failures
        for body in queue:
            async with session.post(url, data=body, headers=headers) as resp:
                await resp.read()
                failures += resp.status != 200

    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:
        start = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - start
    if failures:
        print(f"  warning: {failures} non-200 responses")
    return len(bodies) / elapsed


async def signed_bodies(url: str) -> list[bytes]:
    import lighter

    private_key, public_key, _ = lighter.create_api_key()
    async with (
        aiohttp.ClientSession(trust_env=False) as s,
        s.post(
            url + "/_sim/accounts", json={"collateral": "1000000000000", "api_keys": {"3": public_key}}
        ) as r,
    ):
        account = (await r.json())["account_index"]
    client = lighter.SignerClient(url=url, account_index=account, api_private_keys={3: private_key})
    bodies = []
    for nonce in range(N_TX):
        # Resting bids spread below the market: every tx inserts into the book.
        price = 280000 - (nonce % 2000) * 5
        tx_type, info, _, err = client.sign_create_order(
            0, nonce + 1, 100, price, 0, 0, 1, nonce=nonce, api_key_index=3
        )
        assert err is None, err
        bodies.append(urlencode({"tx_type": tx_type, "tx_info": info}).encode())
    await client.close()
    return bodies


async def count_frames(ws_url: str, seconds: float, subscribe: dict[str, str]) -> tuple[int, int]:
    frames = levels = 0
    stop = time.perf_counter() + seconds

    async def one(session: aiohttp.ClientSession) -> None:
        nonlocal frames, levels
        async with session.ws_connect(ws_url, max_msg_size=0) as ws:
            await ws.send_json(subscribe)
            while time.perf_counter() < stop:
                try:
                    msg = await asyncio.wait_for(ws.receive(), max(0.01, stop - time.perf_counter()))
                except TimeoutError:
                    break
                data = json.loads(msg.data)
                book = data.get("order_book")
                if data.get("type", "").startswith("update") and book:
                    frames += 1
                    levels += len(book["asks"]) + len(book["bids"])

    async with aiohttp.ClientSession(trust_env=False) as session:
        await asyncio.gather(*(one(session) for _ in range(SUBSCRIBERS)))
    return frames, levels


async def drive_prices(url: str, seconds: float) -> None:
    stop = time.perf_counter() + seconds
    i = 0
    async with aiohttp.ClientSession(trust_env=False) as s:
        while time.perf_counter() < stop:
            i += 1
            price = 3000 + (i % 40) * 0.5
            async with s.post(f"{url}/_sim/markets/0/price", json={"price": str(price)}) as r:
                await r.read()
            await asyncio.sleep(0.002)


def start_baseline(frame: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", BASELINE, str(port), frame],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    import socket

    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, f"127.0.0.1:{port}"


async def main() -> None:
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    sim = start_sim(tmp, "--book-interval-ms", "5")
    try:
        bodies = await signed_bodies(sim.url)
        sim_rate = await post_all(sim.url + "/api/v1/sendTx", bodies)
        driver = asyncio.create_task(drive_prices(sim.url, FANOUT_SECONDS + 0.5))
        frames, levels = await count_frames(
            sim.ws_url, FANOUT_SECONDS, {"type": "subscribe", "channel": "order_book/0"}
        )
        await driver
    finally:
        stop_sim(sim.proc)
    frame = json.dumps(
        {
            "type": "update/order_book",
            "channel": "order_book:0",
            "order_book": {
                "asks": [{"price": "3000.00", "size": "1.0000"}] * 10,
                "bids": [{"price": "2999.00", "size": "1.0000"}] * 10,
            },
        }
    )
    base, addr = start_baseline(frame)
    try:
        base_rate = await post_all(f"http://{addr}/api/v1/sendTx", bodies)
        b_frames, b_levels = await count_frames(f"ws://{addr}/stream", FANOUT_SECONDS, {"type": "subscribe"})
    finally:
        base.kill()
        base.wait()
    fan = levels / FANOUT_SECONDS
    b_fan = b_levels / FANOUT_SECONDS
    print(
        f"sendTx submissions/s : sim {sim_rate:9.0f}   baseline {base_rate:9.0f}"
        f"   ratio {sim_rate / base_rate:5.2f}"
        f"   (target >= 5000; {N_TX} txs, {CONCURRENCY} connections)"
    )
    print(
        f"book level updates/s : sim {fan:9.0f}   baseline {b_fan:9.0f}   ratio {fan / b_fan:5.2f}"
        f"   (target >= 10000; {SUBSCRIBERS} subscribers, {frames / FANOUT_SECONDS:.0f} frames/s,"
        f" baseline {b_frames / FANOUT_SECONDS:.0f} frames/s)"
    )


if __name__ == "__main__":
    asyncio.run(main())
