"""Operator commands: `python -m pipelines doctor | local-instance | materialize`."""

from __future__ import annotations

import argparse
import sys
from datetime import date


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
    materialize = commands.add_parser(
        "materialize",
        help="materialize every asset over a window of the landing files in SCP_LANDING_DIR "
        "(master data, the daily range, marts, the last two weekly plans, reporting); the first "
        "load of a new warehouse",
    )
    materialize.add_argument("--from", dest="first_day", type=date.fromisoformat, required=True)
    materialize.add_argument("--to", dest="last_day", type=date.fromisoformat, required=True)
    args = parser.parse_args(argv)
    if args.command == "materialize":
        from pipelines.demo.summary import print_summary
        from pipelines.ingest.landing import LandingSetupError, existing_landing_store
        from pipelines.materialize import (
            WindowError,
            check_window,
            ensure_local_instance,
            materialize_window,
        )
        from pipelines.partitions import HISTORY_START
        from resources.dagster_resources import landing_from_env

        try:
            check_window(args.first_day, args.last_day, date.fromisoformat(HISTORY_START))
            existing_landing_store(landing_from_env().path)
        except (WindowError, LandingSetupError) as exc:
            parser.error(str(exc))
        instance = ensure_local_instance()
        runs = materialize_window(args.first_day, args.last_day, instance)
        print_summary()
        print(f"{len(runs)} runs in the Dagster instance {instance.root_directory} (`make ui`)")
        return 0
    if args.command == "doctor":
        from pipelines.doctor import main as doctor

        return doctor()
    if args.command == "local-instance":
        from pipelines.materialize import ensure_local_instance

        print(f"Local Dagster instance: {ensure_local_instance().root_directory}")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
