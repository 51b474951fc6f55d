"""`perpflow` starts without loading what only some commands need: `perpflow --help` imports none
of Temporal, SQLAlchemy, web3 or the venue SDK (bench/bench_cli.py measures the time); each command
is loaded when it runs, and its line in `perpflow --help` is the loaded command's own help."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from perpflow.cli.main import Root

HEAVY = ("temporalio", "sqlalchemy", "web3", "lighter", "eth_account", "aiohttp", "typer.rich_utils")

LOADED_BY_HELP = """
import json, sys
from perpflow.cli.main import app
try:
    app(["--help"], prog_name="perpflow")
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)))
"""


def test_perpflow_help_imports_no_heavy_library() -> None:
    done = subprocess.run(
        [sys.executable, "-c", LOADED_BY_HELP], capture_output=True, text=True, timeout=60, check=True
    )
    help_text, _, modules = done.stdout.rpartition("\n[")
    loaded = json.loads("[" + modules)
    assert [m for m in loaded if m.split(".")[0] in HEAVY or m in HEAVY] == []
    for spec in Root.COMMANDS:
        assert spec.name in help_text


@pytest.mark.parametrize("spec", Root.COMMANDS, ids=lambda spec: spec.name)
def test_each_command_loads_and_its_listed_help_is_its_own(spec: object) -> None:
    cmd = spec.command()  # type: ignore[attr-defined]
    assert cmd.name == spec.name  # type: ignore[attr-defined]
    own = (cmd.help or "").strip().splitlines()[0]
    assert own == spec.help, f"update {spec.name}'s line in perpflow/cli/main.py: {own!r}"  # type: ignore[attr-defined]
