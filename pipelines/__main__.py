"""Operator commands: `python -m pipelines doctor`, `python -m pipelines local-instance`."""

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
    commands.add_parser(
        "local-instance",
        help="create the local Dagster instance (DAGSTER_HOME, default .local/dagster) with its "
        "one-slot warehouse pool; `make ui` runs it first",
    )
    args = parser.parse_args(argv)
    if args.command == "doctor":
        from pipelines.doctor import main as doctor

        return doctor()
    if args.command == "local-instance":
        from pipelines.demo.run import ensure_local_instance

        print(f"Local Dagster instance: {ensure_local_instance().root_directory}")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
