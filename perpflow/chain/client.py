"""ChainClient: the async web3 8 client the wallet and watcher activities use.

AsyncWeb3 + AsyncHTTPProvider rather than the sync client: Temporal activities here are
`async def` on the worker's event loop, and a sync HTTPProvider would block that loop (or need a
thread pool per call). Every node interaction goes through this class so errors are mapped once:
transport trouble -> ChainTransportError, send rejections -> typed SendRejected subclasses,
reverts -> ContractRevert with the decoded reason.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.contract import AsyncContract
from web3.exceptions import ContractLogicError, Web3Exception, Web3RPCError
from web3.providers.rpc.utils import ExceptionRetryConfiguration

from perpflow.chain.artifact import (
    PAYOUT_EXECUTED,
    POSITION_LIQUIDATED,
    event_topic,
    load_artifact,
    selector_of,
)
from perpflow.chain.decode import (
    abi_value,
    classify_send_error,
    decode_guard_logs,
    decode_payout_executed,
    decode_position_liquidated,
    decode_revert,
    to_hex,
)
from perpflow.chain.errors import (
    ChainConfigError,
    ChainError,
    ChainTransportError,
    ContractRevert,
)
from perpflow.chain.fees import DEFAULT_TIP_WEI, fees_for_base
from perpflow.chain.jsonrpc import JsonRpc, RpcError
from perpflow.chain.models import (
    Eip1559Fees,
    PayoutExecuted,
    PositionLiquidated,
    RevertReason,
    SignedTx,
    TxReceipt,
    TxState,
    UnsignedTx,
)

log = logging.getLogger(__name__)

# executePayout measured at ~84k gas when it pays a fresh EOA (cold SSTORE for paid[id], 25k for
# creating the recipient account, the value transfer). A fixed limit lets the payout lane sign
# without eth_estimateGas, which reverts with AlreadyPaid exactly when a rebroadcast is needed.
# ~1.8x margin for a contract recipient's receive(); unused gas is refunded, so it costs nothing.
PAYOUT_GAS_LIMIT = 150_000
# Many providers cap eth_getLogs at a few thousand blocks per request.
DEFAULT_LOG_CHUNK = 2_000


@functools.cache
def _function_abi(fn: str) -> tuple[str, list[str], list[str]]:
    """A guard function's selector, input types and output types."""
    entry = load_artifact().entry("function", fn)
    return selector_of(entry), [i["type"] for i in entry["inputs"]], [o["type"] for o in entry["outputs"]]


@contextlib.contextmanager
def _transport(what: str) -> Any:
    """Maps connection failures to ChainTransportError; JSON-RPC errors stay for the caller."""
    try:
        yield
    except (ChainError, ContractLogicError, Web3RPCError):
        raise
    except (aiohttp.ClientError, TimeoutError, OSError, Web3Exception) as exc:
        raise ChainTransportError(f"{what}: {type(exc).__name__}: {exc}") from exc


def _rpc_error(exc: Web3RPCError) -> tuple[str, int | None]:
    error = (exc.rpc_response or {}).get("error")
    if isinstance(error, Mapping):
        code = error.get("code")
        return str(error.get("message", exc.message)), code if isinstance(code, int) else None
    return str(exc.message), None


class ChainClient:
    def __init__(
        self,
        rpc_url: str,
        guard_address: str | None = None,
        *,
        request_timeout_s: float = 10.0,
        http_retries: int = 2,
        w3: AsyncWeb3[Any] | None = None,
        transport: JsonRpc | None = None,
    ) -> None:
        self.rpc_url = rpc_url
        self._rpc = transport or JsonRpc(rpc_url, timeout_s=request_timeout_s, retries=http_retries)
        self._w3: AsyncWeb3[Any] = w3 or AsyncWeb3(
            AsyncHTTPProvider(
                rpc_url,
                request_kwargs={"timeout": aiohttp.ClientTimeout(total=request_timeout_s)},
                # Only idempotent reads are retried by web3 (eth_sendRawTransaction is not on its
                # allowlist); keep it short, Temporal retries activities with real back-off.
                exception_retry_configuration=ExceptionRetryConfiguration(
                    errors=(aiohttp.ClientError, TimeoutError), retries=http_retries, backoff_factor=0.05
                ),
            )
        )
        self._guard: AsyncContract | None = None
        if guard_address is not None:
            self._guard = self._w3.eth.contract(
                address=AsyncWeb3.to_checksum_address(guard_address), abi=load_artifact().abi
            )
        self._chain_id: int | None = None

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def w3(self) -> AsyncWeb3[Any]:
        return self._w3

    def with_guard(self, guard_address: str) -> ChainClient:
        """A client for another guard address sharing this connection (e.g. right after deploy)."""
        return ChainClient(
            self.rpc_url,
            guard_address,
            w3=self._w3,
            transport=self._rpc,
        )

    @property
    def guard(self) -> AsyncContract:
        if self._guard is None:
            raise ChainConfigError("no LeverageGuard address configured for this client")
        return self._guard

    @property
    def guard_address(self) -> str:
        return str(self.guard.address)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._w3.provider.disconnect()
        await self._rpc.close()

    async def __aenter__(self) -> ChainClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _read(self, method: str, params: list[Any]) -> Any:
        """A read; a JSON-RPC error here is the node's trouble (retryable), not ours."""
        try:
            return await self._rpc.call(method, params)
        except RpcError as exc:
            raise ChainTransportError(str(exc)) from None

    # -- chain reads ------------------------------------------------------------------------

    async def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(await self._read("eth_chainId", []), 16)
        return self._chain_id

    async def head_number(self) -> int:
        return int(await self._read("eth_blockNumber", []), 16)

    async def block_hash(self, number: int) -> str | None:
        """Hash of the canonical block at `number`, None if the chain is not that high (any more)."""
        block = await self._read("eth_getBlockByNumber", [hex(number), False])
        return to_hex(block["hash"]) if block else None

    async def base_fee(self) -> int:
        block = await self._read("eth_getBlockByNumber", ["latest", False])
        return int(block.get("baseFeePerGas", "0x0"), 16)

    async def suggest_fees(self, tip_wei: int | None = None) -> Eip1559Fees:
        return fees_for_base(await self.base_fee(), DEFAULT_TIP_WEI if tip_wei is None else tip_wei)

    async def balance(self, address: str) -> int:
        return int(await self._read("eth_getBalance", [address, "latest"]), 16)

    async def pending_nonce(self, address: str) -> int:
        """Next nonce counting pool txs; use latest_nonce to see what is actually mined."""
        return int(await self._read("eth_getTransactionCount", [address, "pending"]), 16)

    async def latest_nonce(self, address: str) -> int:
        return int(await self._read("eth_getTransactionCount", [address, "latest"]), 16)

    # -- guard reads ------------------------------------------------------------------------

    async def _call_guard(self, fn: str, *args: Any) -> Any:
        """eth_call of a one-output view function, encoded and decoded here (no web3 round)."""
        call = {"to": self.guard_address, "data": self.encode_guard_call(fn, *args)}
        try:
            result = await self._rpc.call("eth_call", [call, "latest"])
        except RpcError as exc:
            if exc.data is None and "revert" not in exc.message.lower():
                raise ChainTransportError(str(exc)) from None
            raise ContractRevert(decode_revert(exc.data)) from None
        _, _, (kind,) = _function_abi(fn)
        (value,) = abi_decode([kind], bytes.fromhex(result.removeprefix("0x")))
        return abi_value(kind, value)

    async def paid(self, liquidation_id: str) -> bool:
        return bool(await self._call_guard("paid", bytes.fromhex(liquidation_id.removeprefix("0x"))))

    async def is_whitelisted(self, user: str) -> bool:
        return bool(await self._call_guard("isWhitelisted", AsyncWeb3.to_checksum_address(user)))

    async def owner(self) -> str:
        return str(await self._call_guard("owner"))

    async def pool_balance(self) -> int:
        return await self.balance(self.guard_address)

    # -- logs -------------------------------------------------------------------------------

    async def iter_log_chunks(
        self, topic0: str, from_block: int, to_block: int | None = None, *, chunk: int = DEFAULT_LOG_CHUNK
    ) -> AsyncIterator[tuple[int, int, list[Any]]]:
        """Raw guard logs in bounded ranges, `to_block` clamped to the head: yields (lo, hi, logs).

        After a rollback the head can be below `from_block`; that yields nothing instead of the
        node's BlockOutOfRange error.
        """
        head = await self.head_number()
        last = head if to_block is None else min(to_block, head)
        lo = max(from_block, 0)
        while lo <= last:
            hi = min(lo + chunk - 1, last)
            query = {"fromBlock": lo, "toBlock": hi, "address": self.guard_address, "topics": [topic0]}
            try:
                with _transport("eth_getLogs"):
                    logs = await self._w3.eth.get_logs(query)  # type: ignore[arg-type]
            except Web3RPCError as exc:  # e.g. the head moved back under us mid-scan
                raise ChainTransportError(f"eth_getLogs {lo}-{hi}: {_rpc_error(exc)[0]}") from exc
            yield lo, hi, list(logs)
            lo = hi + 1

    async def get_liquidations(
        self, from_block: int, to_block: int | None = None, *, chunk: int = DEFAULT_LOG_CHUNK
    ) -> list[PositionLiquidated]:
        topic = event_topic(POSITION_LIQUIDATED)
        return [
            decode_position_liquidated(lg)
            async for _, _, logs in self.iter_log_chunks(topic, from_block, to_block, chunk=chunk)
            for lg in logs
        ]

    async def get_payouts(
        self, from_block: int, to_block: int | None = None, *, chunk: int = DEFAULT_LOG_CHUNK
    ) -> list[PayoutExecuted]:
        topic = event_topic(PAYOUT_EXECUTED)
        return [
            decode_payout_executed(lg)
            async for _, _, logs in self.iter_log_chunks(topic, from_block, to_block, chunk=chunk)
            for lg in logs
        ]

    # -- building, signing, sending ---------------------------------------------------------

    @staticmethod
    def encode_guard_call(fn: str, *args: Any) -> str:
        """Calldata for a guard function (selector + ABI-encoded arguments, no web3 round)."""
        selector, types, _ = _function_abi(fn)
        return selector + abi_encode(types, args).hex()

    def build_payout_tx(
        self,
        *,
        chain_id: int,
        user: str,
        amount_wei: int,
        liquidation_id: str,
        nonce: int,
        fees: Eip1559Fees,
        gas: int = PAYOUT_GAS_LIMIT,
    ) -> UnsignedTx:
        """executePayout with everything explicit (nonce from the wallet lane, fixed gas): no node call."""
        data = self.encode_guard_call(
            "executePayout",
            AsyncWeb3.to_checksum_address(user),
            amount_wei,
            bytes.fromhex(liquidation_id.removeprefix("0x")),
        )
        return UnsignedTx(
            chain_id=chain_id, nonce=nonce, to=self.guard_address, data=data, gas=gas, fees=fees
        )

    async def estimate_gas(self, sender: str, to: str | None, data: str, value: int = 0) -> int:
        tx: dict[str, Any] = {"from": AsyncWeb3.to_checksum_address(sender), "data": data, "value": value}
        if to is not None:
            tx["to"] = AsyncWeb3.to_checksum_address(to)
        try:
            with _transport("eth_estimateGas"):
                return int(await self._w3.eth.estimate_gas(tx))  # type: ignore[arg-type]
        except ContractLogicError as exc:
            raise ContractRevert(decode_revert(exc.data if isinstance(exc.data, str) else None)) from None

    async def send_raw(self, signed: SignedTx) -> str:
        """Broadcasts the stored raw bytes. Safe to repeat: a duplicate is reported as
        AlreadyImported (pending) or NonceTooLow (mined): look the stored hash up then."""
        try:
            tx_hash = to_hex(
                await self._rpc.call("eth_sendRawTransaction", [signed.raw_tx], idempotent=False)
            )
        except RpcError as exc:
            error = classify_send_error(exc.message, exc.code)
            log.info(
                "send rejected tx=%s nonce=%s error=%s", signed.tx_hash, signed.nonce, type(error).__name__
            )
            raise error from None
        if tx_hash != signed.tx_hash:  # would mean the node re-encoded the tx: never expected
            raise ChainError(f"node returned hash {tx_hash} for stored tx {signed.tx_hash}")
        log.info("sent tx=%s sender=%s nonce=%s", tx_hash, signed.sender, signed.nonce)
        return tx_hash

    # -- receipts and outcomes --------------------------------------------------------------

    async def receipt(self, tx_hash: str) -> TxReceipt | None:
        """The receipt, or None while the tx is pending or unknown to the node."""
        raw = await self._read("eth_getTransactionReceipt", [tx_hash])
        if raw is None:
            return None
        guard = self._guard.address if self._guard is not None else None
        liquidations, payouts = decode_guard_logs(list(raw["logs"]), guard)
        return TxReceipt(
            tx_hash=to_hex(raw["transactionHash"]),
            succeeded=int(raw["status"], 16) == 1,
            block_number=int(raw["blockNumber"], 16),
            block_hash=to_hex(raw["blockHash"]),
            sender=to_checksum_address(raw["from"]),
            to=to_checksum_address(raw["to"]) if raw.get("to") else None,
            contract_address=(
                to_checksum_address(raw["contractAddress"]) if raw.get("contractAddress") else None
            ),
            gas_used=int(raw["gasUsed"], 16),
            effective_gas_price=int(raw.get("effectiveGasPrice", "0x0"), 16),
            liquidations=liquidations,
            payouts=payouts,
        )

    async def tx_state(self, tx_hash: str) -> TxState:
        if await self.receipt(tx_hash) is not None:
            return TxState.MINED
        if await self._read("eth_getTransactionByHash", [tx_hash]) is None:
            return TxState.UNKNOWN
        return TxState.PENDING

    async def revert_reason(self, tx_hash: str) -> RevertReason | None:
        """Why a mined tx reverted: replays it with eth_call on the state of block - 1.

        None if the tx succeeded or is not mined. The replay sees the parent block's state, so a
        tx whose revert depended on an earlier tx in the same block may decode as UNKNOWN.
        """
        receipt = await self.receipt(tx_hash)
        if receipt is None or receipt.succeeded:
            return None
        with _transport("eth_getTransactionByHash"):
            tx = await self._w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
        call = {
            "from": tx["from"],
            "to": tx["to"],
            "data": to_hex(tx["input"]),
            "value": tx["value"],
            "gas": tx["gas"],
        }
        try:
            with _transport("eth_call"):
                await self._w3.eth.call(call, receipt.block_number - 1)  # type: ignore[arg-type]
        except ContractLogicError as exc:
            return decode_revert(exc.data if isinstance(exc.data, str) else None)
        return decode_revert(None)  # the replay did not revert: state-dependent, reason lost
