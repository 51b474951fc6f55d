"""A grid session's process: reconcile, check the stops, plan, carry the plan out, wait for the
next fill, crossing, feed change or command; until the stop is carried out. A run continues as
new every ``fills_per_run`` fills, carrying the book whole.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from perpflow.grid.book import GridSessionInput
    from perpflow.grid.models import GridState, GridStatus, Plan
    from workflows.grid.orders import carry_out, poll, read_mark, reconcile
    from workflows.grid.run import GridRun
    from workflows.grid.watch import watch_ladder

# A session continues as new past this many events even without its fills (Temporal's hard
# limit is 51,200).
HISTORY_LIMIT = 10_000
_WINDING_DOWN = (GridState.STOPPING, GridState.REBUILDING)


async def steer(run: GridRun, *, cancelling: bool = False) -> GridStatus:
    """Until the session is stopped; ``cancelling``: a Temporal cancel's stop (it never continues
    as new, and registers no watch)."""
    book = run.book
    while True:
        if not cancelling and book.state in (GridState.RUNNING, GridState.PAUSED):
            await watch_ladder(run)
        due = run.deadlines.reconcile_now()  # its timer taken even when a reconnect asks too
        if due or run.reconcile_due:
            run.price = await read_mark(run.config, run.price)
            await reconcile(run)
            run.record_fills(at_least=1)
        elif run.deadlines.poll_now():
            await poll(run)
        _check_stops(run)
        if book.state in _WINDING_DOWN and book.settled:
            if book.state is GridState.STOPPING:
                return await run.end()
            book.rebuilt(run.mark)
            run.noted()
            continue
        plan = Plan() if _holding(run) else book.plan(run.mark, run.feed_up)
        run.noted()
        if plan:
            await carry_out(run, plan)
            run.noted()
            run.record_fills()
            continue
        if not cancelling and _continue_due(run):
            await _continue(run)
        await _wait(run)


def _check_stops(run: GridRun) -> None:
    """A stop condition met begins the stop (after a fresh look at the venue); out of range with
    the recenter policy, a rebuild around the price."""
    book = run.book
    if book.state not in (GridState.RUNNING, GridState.PAUSED):
        return
    if reason := book.check_stop(run.mark, time_up=run.deadlines.time_up()):
        workflow.logger.info("grid %s stops: %s at %s", book.workflow_id, reason, run.mark)
        run.stop(reason)
    elif config := book.recentered(run.mark):
        workflow.logger.info("grid %s recenters at %s", book.workflow_id, run.mark)
        book.request_rebuild(config)


def _holding(run: GridRun) -> bool:
    """Refused placements in a row: new ones wait a while (stops and rebuilds do not)."""
    return run.deadlines.holding() and run.book.state is GridState.RUNNING


async def _wait(run: GridRun) -> None:
    await run.deadlines.wait(lambda: run.wake)
    run.wake = False


def _continue_due(run: GridRun) -> bool:
    # The history's length is not the clock, but it is not the same in a replay either (see
    # workflows.grid.deadlines): only a run that crosses the limit within a few events of such a
    # query would decide otherwise in a replay. Sessions continue every fills_per_run fills first.
    info = workflow.info()
    full = info.is_continue_as_new_suggested() or info.get_current_history_length() > HISTORY_LIMIT
    return run.book.continue_as_new_due or full


async def _continue(run: GridRun) -> None:
    await run.flush()
    await workflow.wait_condition(workflow.all_handlers_finished)
    workflow.logger.info("grid %s continues as new after %s fills", run.book.workflow_id, run.book.fills)
    workflow.continue_as_new(GridSessionInput.resume(run.book, run.rejected))
