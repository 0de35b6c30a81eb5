"""Operator commands: `python -m pipelines doctor`."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "doctor",
        help="check configuration, databases, dbt manifest, landing folder, solvers and "
        "forecasting engines; exit code 1 if anything is wrong",
    )
    args = parser.parse_args(argv)
    if args.command == "doctor":
        from pipelines.doctor import main as doctor

        return doctor()
    return 2


if __name__ == "__main__":
    sys.exit(main())
