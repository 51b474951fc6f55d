"""``python -m perpflow.dashboards [--out DIR] [--check]``: write (or compare) the dashboards' JSON."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from perpflow.dashboards import BOARDS

DEFAULT_OUT = Path("config/grafana/dashboards")


def stale(out: Path) -> list[str]:
    """Files of ``out`` that differ from what the code builds, are missing, or build nothing."""
    wanted = {f"{board.uid}.json": board.to_json() for board in BOARDS}
    present = {path.name for path in out.glob("*.json")}
    differ = [
        name
        for name, text in wanted.items()
        if not (out / name).is_file() or (out / name).read_text() != text
    ]
    return sorted(differ + list(present - set(wanted)))


def write(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for board in BOARDS:
        path = out / f"{board.uid}.json"
        path.write_text(board.to_json())
        written.append(path)
    for extra in set(out.glob("*.json")) - set(written):
        extra.unlink()  # a dashboard removed from the code leaves Grafana too
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m perpflow.dashboards", description=__doc__)
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"folder of the JSON (default {DEFAULT_OUT})"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the folder differs from the code")
    args = parser.parse_args(argv)
    if args.check:
        differ = stale(args.out)
        for name in differ:
            print(
                f"{args.out / name}: differs from the code; run `python -m perpflow.dashboards`",
                file=sys.stderr,
            )
        return 1 if differ else 0
    for path in write(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
