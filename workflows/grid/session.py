"""GridSessionWorkflow (``grid-{name}``): a ladder of post-only orders kept on the venue, each fill
re-armed one level away on the other side, until a stop condition, an operator's stop or a
Temporal cancel winds it down as the stop's action says (flatten, keep the position, keep the
orders). The book decides, this process carries out: plan, place, wait for fills, crossings and
feed changes, reconcile, continue as new every N fills carrying the book whole.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel, ValidationError

    from perpflow import names
    from perpflow.config import describe_errors
    from perpflow.exposure import EXPOSURE_QUERY, Exposure, OwnedPosition
    from perpflow.grid.book import GridBook, GridSessionInput
    from perpflow.grid.config import Adjust, GridConfig, StopAction
    from perpflow.grid.errors import LadderError
    from perpflow.grid.models import GridState, GridStatus, StopReason
    from perpflow.hedge.commands import OperatorCommand
    from perpflow.signals import (
        FEED_CHANGED,
        ORDER_FILLED,
        PRICE_CROSSED,
        FeedChanged,
        OrderFilled,
        PriceCrossed,
    )
    from workflows.commands import CommandLog
    from workflows.controls import OperatorControls
    from workflows.grid.deadlines import OFF_THE_CLOCK
    from workflows.grid.orders import SIGNER_CHECK, check_signer, land_inflight, read_mark, read_market
    from workflows.grid.process import steer
    from workflows.grid.run import GridRun
    from workflows.validation import FAIL_ON_INVALID_INPUT, parse_input

M = TypeVar("M", bound=BaseModel)

# A fresh session's level sizes on the market's lot (a base size off it fails the start); sessions
# begun before keep their ladders as they were built.
LOT_CHECK = "grid-lot-check"


@workflow.defn(name="GridSessionWorkflow", failure_exception_types=FAIL_ON_INVALID_INPUT)
class GridSessionWorkflow(OperatorControls):
    def __init__(self) -> None:
        self.commands = CommandLog("grid")
        self.run_: GridRun | None = None
        self.early: list[Callable[[GridRun], object]] = []  # commands sent before the book exists
        self.action: StopAction | None = None  # the last stop signal's choice

    @workflow.run
    async def run(self, raw: Any = None) -> GridStatus:
        inp = parse_input(GridSessionInput, raw, names.Kind.GRID_SESSION)
        self.commands.rejected[:0] = inp.rejected_commands  # a continued run's, before its own
        book = inp.carry or await _open(inp.config())
        self.run_ = run = GridRun(book, carried=inp.carry is not None, rejected=self.commands.rejected)
        if inp.carry is None:
            run.record()
        for command in self.early:
            command(run)
        try:
            return await steer(run)
        except asyncio.CancelledError:
            return await _cancelled(run)

    # -- fills, crossings and the feed, from the market-data worker ------------------------------

    @workflow.signal(name=ORDER_FILLED)
    def order_filled(self, payload: Any) -> None:
        if fill := self._parse(ORDER_FILLED, OrderFilled, payload):
            self._do(lambda run: run.filled(fill))

    @workflow.signal(name=PRICE_CROSSED)
    def price_crossed(self, payload: Any) -> None:
        if crossed := self._parse(PRICE_CROSSED, PriceCrossed, payload):
            self._do(lambda run: run.priced(crossed))

    @workflow.signal(name=FEED_CHANGED)
    def feed_changed(self, payload: Any) -> None:
        if change := self._parse(FEED_CHANGED, FeedChanged, payload):
            self._do(lambda run: run.feed_changed(change))

    # -- the operator ----------------------------------------------------------------------------

    def _pause(self, paused: bool) -> None:
        self._do(lambda run: run.book.pause() if paused else run.book.resume())

    def _stop(self, cmd: OperatorCommand) -> None:
        action = self.action
        self._do(lambda run: run.stop(StopReason.OPERATOR, action))

    @workflow.signal
    def stop(self, payload: Any = None) -> None:
        """``{"action": "flatten" | "keep_position" | "keep_orders", "by": ..., "reason": ...}``,
        every field optional (the config's stop action by default)."""
        self.action = None
        if isinstance(payload, dict) and "action" in payload:
            try:
                self.action = StopAction(payload["action"])
            except ValueError as exc:
                self.commands.reject("stop", payload, exc)
                return
            payload = {k: v for k, v in payload.items() if k != "action"}
        super().stop(payload)

    @workflow.signal
    def flatten(self, payload: Any = None) -> None:
        if self.commands.accept("flatten", payload):
            self._do(lambda run: run.stop(StopReason.OPERATOR, StopAction.FLATTEN))

    @workflow.update
    def adjust(self, raw: Any) -> GridConfig:
        """A new range, level count or size (an ``Adjust``): the ladder is rebuilt once (the same
        change again, a retried update, changes nothing)."""
        run = self._run
        change = Adjust.model_validate(raw)
        config = run.book.adjusted(change)
        if run.book.request_rebuild(config):
            ladder = change.model_dump(exclude_none=True, exclude={"by", "reason"})
            workflow.logger.info(
                "grid %s rebuilds: %s by %s %s", run.book.workflow_id, ladder, change.by, change.reason or ""
            )
        run.wake = True
        return run.book.config

    @adjust.validator
    def _validate_adjust(self, raw: Any) -> None:
        """Refuses, in one line naming the field, a change the session or the market cannot take."""
        if self.run_ is None:
            raise ValueError("the session is starting: adjust it once its ladder is laid")
        book = self.run_.book
        if book.state in (GridState.STOPPING, GridState.STOPPED, GridState.FAILED):
            raise ValueError(f"the session is {book.state}")
        try:
            config = book.adjusted(Adjust.model_validate(raw), on_lot=True)
        except ValidationError as exc:
            raise ValueError(_concise(exc)) from None
        except LadderError as exc:
            raise ValueError(str(exc)) from None
        if book.state is GridState.REBUILDING and config != book.config:
            raise ValueError("a rebuild is under way: adjust again once it is RUNNING")

    @workflow.query
    def status(self) -> GridStatus:
        return self._run.book.status().model_copy(update={"rejected_commands": self.commands.rejected})

    @workflow.query(name=EXPOSURE_QUERY)
    def exposure(self) -> Exposure:
        """What this session owns on the venue, for the exposure reconciler."""
        book = self._run.book
        c = book.config
        own = OwnedPosition(
            venue=c.venue, account_index=c.account.account_index, market=c.market, size=book.position
        )
        return Exposure(
            workflow_id=workflow.info().workflow_id,
            positions=[own] if book.position else [],
            open_orders=book.tally.open_orders(),
        )

    # -- helpers ---------------------------------------------------------------------------------

    @property
    def _run(self) -> GridRun:
        if self.run_ is None:
            raise RuntimeError("the session is starting: its ladder is not laid yet")
        return self.run_

    def _do(self, command: Callable[[GridRun], object]) -> None:
        if self.run_ is None:
            self.early.append(command)
            return
        command(self.run_)
        self.run_.wake = True

    def _parse(self, name: str, model: type[M], payload: Any) -> M | None:
        try:
            return model.model_validate(payload)
        except ValidationError as exc:
            self.commands.reject(name, payload, exc)
            return None


async def _open(config: GridConfig) -> GridBook:
    """A fresh session: its search attributes, the market, the mark, the ladder laid out."""
    workflow.upsert_search_attributes([
        names.KIND.value_set(names.Kind.GRID_SESSION), names.VENUE.value_set(config.venue),
        names.ACCOUNT.value_set(str(config.account.account_index)), names.MARKET.value_set(config.market),
    ])  # fmt: skip
    if workflow.patched(SIGNER_CHECK):
        await check_signer(config)
    market = await read_market(config)
    mark = await read_mark(config, None)
    info = workflow.info()
    started = info.workflow_start_time if workflow.patched(OFF_THE_CLOCK) else workflow.now()
    try:
        book = GridBook.start(
            session=names.grid_session_key(config.name, started), workflow_id=info.workflow_id,
            config=config, market=market, mark=mark, now=started, on_lot=workflow.patched(LOT_CHECK),
        )  # fmt: skip
    except LadderError as exc:
        raise ApplicationError(str(exc), type=LadderError.__name__, non_retryable=True) from None
    workflow.upsert_search_attributes([names.GRID_STATE.value_set(book.state.value)])
    return book


def _concise(exc: ValidationError) -> str:
    """``describe_errors`` without its "(top level): " and "Value error, " (a config's own checks
    already name their fields): ``upper (101000) must be above lower (102000)``."""
    return describe_errors(exc).replace("(top level): ", "").replace("Value error, ", "")


async def _cancelled(run: GridRun) -> GridStatus:
    """A Temporal cancel: the sends under way landed, then a stop with the configured action;
    ends CANCELLED saying what it did."""
    book = run.book
    if book.state.final:  # it had ended; the cancel came during the last ledger write
        await run.flush()
        return book.status()
    await land_inflight(run)
    run.stop(StopReason.CANCELLED)
    status = await steer(run, cancelling=True)
    did = f"{status.stop_reason}: {book.stop_action}, position {status.position}, {status.fills} fills"
    workflow.set_current_details(f"CANCELLED ({did})")
    workflow.logger.info("grid %s cancelled: %s", book.workflow_id, did)
    raise asyncio.CancelledError(did)
