"""``python -m perpflow.sim``: the same command as ``perpflow sim``."""

import typer

from perpflow.sim.command import sim

if __name__ == "__main__":
    typer.run(sim)
