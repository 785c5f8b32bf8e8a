"""`python -m runners.tables [--runs DIR] [--paper DIR] [--out DIR]` (what `make tables` runs)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import PaperDataError, make_tables


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runners.tables", description=__doc__)
    parser.add_argument("--runs", default="results/runs", help="result records (default: results/runs)")
    parser.add_argument("--paper", default="results/paper", help="the paper's tables (default: results/paper)")
    parser.add_argument("--out", default="results/tables", help="where to write (default: results/tables)")
    parser.add_argument("--no-figures", action="store_true", help="rebuild the text tables only (PNGs stay as they are)")
    args = parser.parse_args(argv)
    try:
        report = make_tables(Path(args.runs), Path(args.paper), Path(args.out), runs_label=args.runs.rstrip("/"),
                             paper_label=args.paper.rstrip("/"), figures=not args.no_figures)
    except PaperDataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    statuses = ", ".join(f"{status}: {n}" for status, n in report.skipped_by_status.items())
    skipped = f", skipped {report.skipped} whose status is not ok ({statuses})" if report.skipped else ""
    print(f"tables: {report.records} result records from {args.runs}{skipped}")
    for name in report.written:
        print(f"  wrote   {args.out}/{name}")
    for name in report.removed:
        print(f"  removed {args.out}/{name}")
    if report.unchanged:
        print(f"  {len(report.unchanged)} file(s) unchanged")
    for message in report.messages:
        print(f"note: {message}")
    print(f"index: {args.out}/README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
