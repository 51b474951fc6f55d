"""``perpflow doctor``: every part of the stack probed side by side, a table (or ``--json``) of what
was found, and exit status 1 on any problem.

- temporal: the server answers and knows the namespace;
- pollers: a worker polls the orchestrator's queue, each signer key's send and read queues (the
  ledger's accounts, ``<state dir>/signer.yaml``, ``--signer-config``) and the payout wallet's;
- orchestrator: a HealthCheckWorkflow round trip (the ledger and venue as the worker sees them);
- workflows: failed or timed out within ``--since``; stuck (a workflow task failing, an activity
  retrying for the ``--stuck-attempts``-th time);
- orphans: the reconciler's open ones, and a look-only reconcile run per venue now;
- ledger, venue, market-data streams, and from the payout config the chain (head age), the
  wallet's gas and the guard's pool.

Each probe has its own timeout and they run in parallel; what is not configured where doctor runs
is listed as skipped, not as a problem. Heavy imports wait until the command runs.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Awaitable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from temporalio.client import Client

    from perpflow.chain.client import ChainClient
    from perpflow.db.ledger import Ledger
    from perpflow.health import Diagnosis, Finding, Probe
    from perpflow.payouts.config import PayoutsConfig
    from perpflow.settings import Settings

# What a look-only reconcile run may take beyond the probe timeout: it looks twice at a suspect,
# ``settle_s`` apart (4 s by default).
LOOK_EXTRA_S = 10.0
Pending = asyncio.Future["Finding"]
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class DoctorOptions:
    timeout_s: float = 5.0
    since: timedelta = timedelta(hours=1)
    poller_max_age_s: float = 90.0
    head_max_age_s: float = 60.0
    stuck_attempts: int = 5
    wallet_payouts: int = 10
    signer_configs: tuple[Path, ...] = ()
    look: bool = True


def duration(text: str) -> timedelta:
    match = _DURATION.match(text.strip())
    if not match:
        raise typer.BadParameter(f"{text!r} is not a duration like 90s, 30m, 2h or 1d")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def doctor(  # noqa: PLR0917  (typer reads one parameter per option)
    json: Annotated[bool, typer.Option("--json", help="Print the findings as JSON.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds each probe may take.")] = 5.0,
    since: Annotated[str, typer.Option(help="Failed workflows this far back (90s, 30m, 2h, 1d).")] = "1h",
    poller_max_age: Annotated[
        float, typer.Option(help="Seconds since a queue's last poll for its worker to count as up.")
    ] = 90.0,
    head_max_age: Annotated[float, typer.Option(help="Seconds the chain's newest block may be old.")] = 60.0,
    stuck_attempts: Annotated[int, typer.Option(help="An activity on this attempt is stuck.")] = 5,
    wallet_payouts: Annotated[int, typer.Option(help="Payouts the wallet's gas must cover.")] = 10,
    signer_config: Annotated[
        list[Path] | None, typer.Option(help="A signer YAML whose queues to probe (repeatable).")
    ] = None,
    look: Annotated[bool, typer.Option(help="Look for orphans on the venues now (a look-only run).")] = True,
) -> None:
    """Probe every part of the stack; list what was found, exit 1 on any problem."""
    opts = DoctorOptions(
        timeout_s=timeout, since=duration(since), poller_max_age_s=poller_max_age,
        head_max_age_s=head_max_age, stuck_attempts=stuck_attempts, wallet_payouts=wallet_payouts,
        signer_configs=tuple(signer_config or ()), look=look,
    )  # fmt: skip
    diagnosis = asyncio.run(diagnose(_settings(), opts))
    if json:
        sys.stdout.write(diagnosis.model_dump_json(indent=2) + "\n")
    else:
        _print_table(diagnosis)
    if not diagnosis.ok:
        _print_problems(diagnosis)
        raise typer.Exit(1)


def _settings() -> Settings:
    """The CLI's settings (a running `perpflow dev` found in the state dir when no address is set),
    with that stack's simulated venue as the venue to probe when none is set."""
    from perpflow.cli.context import load_settings
    from perpflow.devstack.state import running_record

    settings = load_settings()
    stack = running_record(settings.state_dir) if settings.lighter_url is None else None
    if stack is not None and stack.temporal_address == settings.temporal_address:
        return settings.model_copy(update={"lighter_url": stack.sim_url})
    return settings


def _print_table(diagnosis: Diagnosis) -> None:
    from rich.markup import escape

    from perpflow.cli.console import console, new_table
    from perpflow.health import Status

    colour = {
        Status.OK: "[green]ok[/]",
        Status.PROBLEM: "[bold red]PROBLEM[/]",
        Status.SKIPPED: "[dim]skipped[/]",
    }
    table = new_table(
        f"perpflow doctor {diagnosis.checked_at:%Y-%m-%d %H:%M:%S}Z", "part", "name", "", "detail", "ms"
    )
    for f in diagnosis.findings:
        table.add_row(f.part, escape(f.name), colour[f.status], escape(f.detail), f"{f.ms:.0f}")
    console.print(table)


def _print_problems(diagnosis: Diagnosis) -> None:
    from rich.markup import escape

    from perpflow.cli.console import err

    problems = diagnosis.problems
    listed = "; ".join(f"{p.part} {p.name}: {p.detail}" for p in problems)
    err.print(f"[red]error:[/] {len(problems)} problem(s): {escape(listed)}", highlight=False)


# -- the diagnosis ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignerKey:
    """One venue API key: the signer process holding it serves its send and read queues."""

    venue: str
    account_index: int
    api_key_index: int
    account: str


@dataclass
class Here:
    """What doctor can reach from where it runs, each missing part with the reason."""

    settings: Settings
    ledger: Ledger | None = None
    no_ledger: str = ""
    payouts: PayoutsConfig | None = None
    no_payouts: str = ""
    chain: ChainClient | None = None
    keys: dict[tuple[str, int, int], SignerKey] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)  # problems met while looking around


async def diagnose(settings: Settings, opts: DoctorOptions) -> Diagnosis:
    """Every probe, in parallel, each within its timeout; Temporal's first, then the local ones."""
    from perpflow.health import Diagnosis

    async with AsyncExitStack() as stack:
        here = await _look_around(settings, opts, stack)
        remote, local = await asyncio.gather(_temporal_findings(here, opts), _local_findings(here, opts))
    return Diagnosis.of([*remote, *here.findings, *local])


async def _look_around(settings: Settings, opts: DoctorOptions, stack: AsyncExitStack) -> Here:
    """Opens what is configured here; imports only what it opens (web3 alone costs a second)."""
    from perpflow.payouts.config import config_path, load_payouts_config

    here = Here(settings)
    sqlite = settings.state_dir / "ledger.db"
    if settings.database_url or sqlite.exists():
        from perpflow.db.ledger import Ledger

        here.ledger = Ledger(settings.ledger_url)
        stack.push_async_callback(here.ledger.close)
    else:
        here.no_ledger = f"no ledger here: DATABASE_URL is unset and there is no {sqlite}"
    if not config_path(settings).is_file():
        here.no_payouts = "no payout config here (PERPFLOW_PAYOUTS_CONFIG or <state dir>/payouts.yaml)"
    else:
        try:
            here.payouts = load_payouts_config(settings)
        except Exception as exc:
            here.findings.append(_problem("chain", "payout config", str(exc)))
    if here.payouts is not None:
        from perpflow.chain.client import ChainClient

        cfg = here.payouts.chain
        here.chain = ChainClient(
            cfg.rpc_url, cfg.guard_address, request_timeout_s=opts.timeout_s, http_retries=1
        )
        stack.push_async_callback(here.chain.close)
    await _signer_keys(here, opts)
    return here


async def _signer_keys(here: Here, opts: DoctorOptions) -> None:
    """The keys of the signer configs and of the ledger's accounts (the ones the reconciler and
    the fleets know); a config or ledger that cannot be read is a finding of its own."""
    default = here.settings.state_dir / "signer.yaml"
    paths = [*opts.signer_configs, *([default] if default.is_file() else [])]
    for path in dict.fromkeys(paths):
        try:
            keys = _config_keys(path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            here.findings.append(_problem("pollers", str(path), f"signer config unreadable: {exc}"))
            continue
        for key in keys:
            here.keys.setdefault((key.venue, key.account_index, key.api_key_index), key)
    if here.ledger is None:
        return
    try:
        accounts = await asyncio.wait_for(here.ledger.accounts(), opts.timeout_s)
    except Exception as exc:
        here.findings.append(_problem("pollers", "ledger accounts", f"cannot list them: {exc or 'timeout'}"))
        return
    for ref in accounts:
        if ref.api_key_index is not None:
            key = SignerKey(ref.venue, ref.account_index, ref.api_key_index, ref.name)
            here.keys.setdefault((key.venue, key.account_index, key.api_key_index), key)


def _config_keys(path: Path) -> list[SignerKey]:
    """The accounts of a signer config, read as plain YAML: the signer validates the whole file
    (and fails at start on a bad one, which the pollers then show); the model would import every
    venue's SDK (seconds), and doctor needs four fields."""
    import yaml

    accounts = (yaml.safe_load(path.read_text()) or {})["accounts"]
    return [
        SignerKey(
            str(a.get("venue", "lighter")), int(a["account_index"]), int(a["api_key_index"]), str(a["name"])
        )
        for a in accounts
    ]


def _problem(part: str, name: str, detail: str) -> Finding:
    from perpflow.health import Finding, Status

    return Finding(part=part, name=name, status=Status.PROBLEM, detail=detail)


def _skipped(part: str, name: str, detail: str) -> Finding:
    from perpflow.health import Finding, Status

    return Finding(part=part, name=name, status=Status.SKIPPED, detail=detail)


# -- local probes: the ledger, the venue, market data, the chain -----------------------------------


async def _local_findings(here: Here, opts: DoctorOptions) -> list[Finding]:
    from perpflow.health import examine, ledger_probe, market_data_probe, orphans_probe

    settings = here.settings
    jobs: list[Awaitable[Finding]] = []
    if here.ledger is not None:
        jobs += [examine("ledger", ledger_probe(here.ledger), opts.timeout_s),
                 examine("orphans", orphans_probe(here.ledger), opts.timeout_s)]  # fmt: skip
    jobs.append(_venue(settings, opts))
    required = settings.lighter_url is not None
    jobs.append(
        examine("market-data", market_data_probe(settings.state_dir, required=required), opts.timeout_s)
    )
    jobs += _chain(here, opts)
    found = list(await asyncio.gather(*jobs))
    if here.ledger is None:
        found.insert(0, _skipped("ledger", "-", here.no_ledger))
    return found


async def _venue(settings: Settings, opts: DoctorOptions) -> Finding:
    if not settings.lighter_url:
        return _skipped("venue", "lighter", "PERPFLOW_LIGHTER_URL is not set here")
    from perpflow.health import examine, venue_probe
    from perpflow.venues.base import VenueAccess, VenueName
    from perpflow.venues.registry import build_venue

    venue = build_venue(VenueName.LIGHTER, VenueAccess(settings.lighter_url))
    try:
        return await examine("venue", venue_probe(venue), opts.timeout_s)
    finally:
        await venue.close()


def _chain(here: Here, opts: DoctorOptions) -> list[Pending]:
    if here.payouts is None or here.chain is None:  # unreadable: a finding already says why
        parts = ("chain", "wallet", "pool") if here.no_payouts else ()
        return [_done(_skipped(part, "-", here.no_payouts)) for part in parts]
    from perpflow.chain.client import PAYOUT_GAS_LIMIT
    from perpflow.health import examine, head_probe, pool_probe, wallet_probe

    cfg, chain = here.payouts, here.chain
    largest = max([cfg.rules.default_amount_eth, *(t.amount_eth for t in cfg.rules.tiers)])
    probes: list[tuple[str, Probe]] = [
        ("chain", head_probe(chain, cfg.chain.chain_id, opts.head_max_age_s)),
        ("wallet", wallet_probe(chain, cfg.wallet.address, opts.wallet_payouts, PAYOUT_GAS_LIMIT)),
        ("pool", pool_probe(chain, largest)),
    ]
    return [asyncio.ensure_future(examine(part, probe, opts.timeout_s)) for part, probe in probes]


def _done(finding: Finding) -> Pending:
    future: Pending = asyncio.get_running_loop().create_future()
    future.set_result(finding)
    return future


# -- Temporal: the server, the pollers, the workflows, the orchestrator, a look for orphans --------


async def _temporal_findings(here: Here, opts: DoctorOptions) -> list[Finding]:
    from perpflow.cli.context import reach
    from perpflow.health import Status, examine, failed_workflows_probe, stuck_workflows_probe, temporal_probe

    address = here.settings.temporal_address
    try:
        client = await asyncio.wait_for(reach(here.settings), opts.timeout_s)
    except TimeoutError:
        return [_problem("temporal", address, f"no answer within {opts.timeout_s:g} s; is it running?")]
    except Exception as exc:
        parts = ("pollers", "workflows", "orchestrator")
        return [_problem("temporal", address, str(exc)), *(_skipped(p, "-", "no Temporal") for p in parts)]
    queues = _queues(here)
    first = await asyncio.gather(
        examine("temporal", temporal_probe(client), opts.timeout_s),
        *(examine("pollers", probe, opts.timeout_s) for probe in _poller_probes(client, queues, opts)),
        examine("workflows", failed_workflows_probe(client, opts.since), opts.timeout_s),
        examine(
            "workflows",
            stuck_workflows_probe(client, opts.stuck_attempts, opts.poller_max_age_s),
            opts.timeout_s,
        ),
    )
    polled = {f.name for f in first if f.part == "pollers" and f.status is Status.OK}
    orchestrator, looks = await asyncio.gather(
        _orchestrator(client, polled, opts), asyncio.gather(*_looks(client, here, polled, opts))
    )
    return [*first, *orchestrator, *looks]


@dataclass(frozen=True)
class Queue:
    name: str
    served_by: str
    activities: bool  # polled for activity tasks only (signers, the wallet)


def _queues(here: Here) -> list[Queue]:
    from perpflow import names

    queues = [Queue(names.ORCHESTRATOR_QUEUE, "the orchestrator (workers.orchestrator)", activities=False)]
    for key in sorted(here.keys.values(), key=lambda k: (k.venue, k.account_index, k.api_key_index)):
        served_by = f"the signer of {key.account} (workers.signer)"
        ids = (key.venue, key.account_index, key.api_key_index)
        queues += [Queue(names.signer_queue(*ids), served_by, activities=True),
                   Queue(names.signer_read_queue(*ids), served_by, activities=True)]  # fmt: skip
    if here.payouts is not None:
        wallet = names.wallet_queue(here.payouts.chain.chain_id, here.payouts.wallet.address)
        queues.append(Queue(wallet, "the payout wallet (workers.wallet)", activities=True))
    return queues


def _poller_probes(client: Client, queues: list[Queue], opts: DoctorOptions) -> list[Probe]:
    from perpflow.health import poller_probe

    return [
        poller_probe(client, q.name, q.served_by, activities=q.activities, max_age_s=opts.poller_max_age_s)
        for q in queues
    ]


async def _orchestrator(client: Client, polled: set[str], opts: DoctorOptions) -> list[Finding]:
    """HealthCheckWorkflow through the orchestrator: workflow and activity tasks both served, then
    one row per check the orchestrator ran (the ledger, orphans, the venue and market data as the
    worker sees them). Not started without a live poller: it would only time out."""
    from perpflow import names
    from perpflow.health import Finding, Probe, Status, examine
    from perpflow.models import HealthCheckInput, HealthReport

    name = "HealthCheckWorkflow"
    if names.ORCHESTRATOR_QUEUE not in polled:
        return [_skipped("orchestrator", name, f"nothing polls {names.ORCHESTRATOR_QUEUE}")]
    reports: list[HealthReport] = []

    async def check() -> str:
        from datetime import UTC, datetime

        handle = await client.start_workflow(
            name,
            HealthCheckInput(timeout_seconds=opts.timeout_s),
            id=names.health_check_id(datetime.now(UTC)),
            task_queue=names.ORCHESTRATOR_QUEUE,
            execution_timeout=timedelta(seconds=max(60.0, 4 * opts.timeout_s)),
            result_type=HealthReport,
        )
        reports.append(await handle.result())
        return f"answered {handle.id}"

    trip = await examine("orchestrator", Probe(name, check), 2 * opts.timeout_s)
    checks = [
        Finding(
            part="orchestrator", name=f"{c.component} {c.name}", detail=c.detail, ms=round(c.latency_ms, 1),
            status=Status.OK if c.healthy else Status.PROBLEM,
        )
        for report in reports
        for c in report.components
    ]  # fmt: skip
    return [trip, *checks]


def _looks(client: Client, here: Here, polled: set[str], opts: DoctorOptions) -> list[Pending]:
    """A look-only reconcile run per venue over the ledger's accounts whose signer reads are served
    (the run reads each account through its signer): what no live workflow owns, now."""
    from perpflow import names

    if not opts.look:
        return []
    if names.ORCHESTRATOR_QUEUE not in polled:
        return [_done(_skipped("orphans", "look", f"nothing polls {names.ORCHESTRATOR_QUEUE}"))]
    by_venue: dict[str, list[str]] = {}
    unread: list[str] = []
    for key in here.keys.values():
        served = names.signer_read_queue(key.venue, key.account_index, key.api_key_index) in polled
        (by_venue.setdefault(key.venue, []) if served else unread).append(key.account)
    looks: list[Pending] = [
        asyncio.ensure_future(_look(client, v, sorted(accounts), opts)) for v, accounts in by_venue.items()
    ]
    if unread:
        not_read = ", ".join(sorted(unread))
        looks.append(_done(_skipped("orphans", "look", f"their signer is down, not looked at: {not_read}")))
    return looks


async def _look(client: Client, venue: str, accounts: list[str], opts: DoctorOptions) -> Finding:
    from perpflow.cli.accounts import look
    from perpflow.health import Probe, Unhealthy, examine

    async def check() -> str:
        report = await look(client, venue, only=accounts, timeout=opts.timeout_s + LOOK_EXTRA_S)
        failed = [f"{a.account.name}: {a.error}" for a in report.accounts if a.error]
        orphans = [o.describe() for o in report.orphans]
        if orphans or failed:
            raise Unhealthy("; ".join([*orphans, *failed]))
        looked = len(report.accounts)
        unknown = f" ({len(report.unknown_accounts)} not in the ledger)" if report.unknown_accounts else ""
        return f"{looked} account(s) looked at now: no orphan{unknown}"

    return await examine("orphans", Probe(f"look {venue}", check), opts.timeout_s + 2 * LOOK_EXTRA_S)
