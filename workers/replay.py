"""Replay saved workflow histories against the current workflow code; the outcomes go to a JSON file.

``perpflow history replay`` runs this process: the workflow code lives on the worker side, and
the ``perpflow`` package does not import it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import TypeAdapter

from perpflow.history import ReplayOutcome, replay_files
from perpflow.process import main_entry
from workflows.registry import ALL_WORKFLOWS

OUTCOMES = TypeAdapter(list[ReplayOutcome])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="Where to write the outcomes (JSON).")
    parser.add_argument("histories", type=Path, nargs="+")
    args = parser.parse_args()
    args.out.write_bytes(OUTCOMES.dump_json(await replay_files(args.histories, ALL_WORKFLOWS)))


if __name__ == "__main__":
    main_entry(main)
