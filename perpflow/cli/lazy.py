"""Commands loaded when they run: ``perpflow --help`` imports none of Temporal, SQLAlchemy, web3 or
the venue SDK (their imports cost seconds at every call, ~2.3 s before this), nor typer's rich
help formatter.

The root group lists each command from a stub carrying its one-line help; only when a command is
resolved to run (``perpflow payouts list``, ``perpflow payouts --help``) is its module imported
and the stub replaced by the real typer command. tests/unit/test_cli_startup.py checks the stubs'
help against the loaded commands, so the two cannot drift.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup


@dataclass(frozen=True)
class Lazy:
    """A command of the root group: ``module:attr`` is a ``typer.Typer`` (a noun with verbs) or a
    function (one command); ``help`` is its line in ``perpflow --help``."""

    name: str
    target: str
    help: str

    def load(self) -> Any:
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)

    def command(self) -> Any:
        """The loaded command as typer builds it (a group for a noun)."""
        loaded = self.load()
        if isinstance(loaded, typer.Typer):  # a group even with one verb: `workflows list`
            cmd: Any = typer.main.get_group(loaded)
        else:
            app = typer.Typer(add_completion=False)
            app.command(self.name, help=None if loaded.__doc__ else self.help)(loaded)
            cmd = typer.main.get_command(app)
        cmd.name = self.name
        _plain(cmd)
        return cmd


def _plain(cmd: Any) -> None:
    """Plain help text, as the root's: typer's rich help formatter imports Markdown and syntax
    highlighting (~0.3 s of CPU per ``--help``), and one look for every level of help."""
    cmd.rich_markup_mode = None
    for sub in getattr(cmd, "commands", {}).values():
        _plain(sub)


class _Stub(TyperCommand):
    """Stands in for a lazy command in help listings; never invoked."""

    def __init__(self, spec: Lazy) -> None:
        super().__init__(name=spec.name, help=spec.help, short_help=spec.help)
        self.spec = spec


class LazyGroup(TyperGroup):
    """The root group: ``COMMANDS`` are added as stubs, and loaded when resolved to run."""

    COMMANDS: tuple[Lazy, ...] = ()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for spec in self.COMMANDS:
            self.add_command(_Stub(spec), spec.name)

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        name, cmd, rest = super().resolve_command(ctx, args)
        if isinstance(cmd, _Stub) and name is not None:
            cmd = cmd.spec.command()
            self.commands[name] = cmd
        return name, cmd, rest
