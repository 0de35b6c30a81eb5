"""CLI: `python -m pipelines.ingest map --config config/mappings/shine-epm.yaml --source <dir>
--out <landing dir>` maps SAP-shaped exports into landing files (see config/mappings/README.md).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date
from pathlib import Path

from pipelines.ingest.mapping import MappingError, MappingReport, load_mapping, map_sources

#: Issues printed in full; the rest are counted (all are in _mapping_summary.json).
SHOWN_ISSUES = 20


def _history_hint(report: MappingReport) -> str | None:
    """Partitions start at SCP_HISTORY_START: say so when mapped history begins earlier."""
    if report.days is None:
        return None
    from pipelines.partitions import HISTORY_START

    first, last = report.days
    if first >= date.fromisoformat(HISTORY_START):
        return None
    current = os.getenv("SCP_HISTORY_START")
    now = f"it is {current}" if current else f"the default is {HISTORY_START}"
    return (
        f"The mapped history spans {first}..{last} and starts before SCP_HISTORY_START ({now}): "
        f"run the pipeline with SCP_HISTORY_START={first} or earlier, as days before it have no "
        "partitions."
    )


def print_report(report: MappingReport) -> None:
    print(f"{'table':6s} {'rows':>8s} {'files':>6s} {'filtered':>9s} {'outside':>8s}  days")
    for table in report.tables.values():
        days = f"{table.first_day}..{table.last_day}" if table.first_day else ""
        print(
            f"{table.table:6s} {table.rows:>8,d} {len(table.files):>6,d} "
            f"{table.filtered_rows:>9,d} {table.outside_window:>8,d}  {days}"
        )
    total = sum(report.rows.values())
    where = f" into {report.out_dir}" if report.out_dir else " (dry run: nothing written)"
    print(f"{total:,d} rows from {report.source_dir}{where}")
    if report.summary:
        print(f"summary: {report.summary}")
    if report.lookups:
        print("\nlookups (rows that found their row):")
        for path, lookup in report.lookups.items():
            print(f"  {path} in {lookup.file}: {lookup.matched:,d} of {lookup.rows:,d}")
    for warning in report.warnings:
        print(f"\nwarning: {warning}")
    if report.issues:
        expected = sum(report.quarantine_expected.values())
        print(f"\n{expected} mapped rows will be quarantined by the load:")
        for issue in report.issues[:SHOWN_ISSUES]:
            print(f"  {issue}")
        if len(report.issues) > SHOWN_ISSUES:
            print(f"  ... and {len(report.issues) - SHOWN_ISSUES} more issues")
    refused = {n: r for t in report.tables.values() for n, r in t.refused_files.items()}
    if refused:
        print(
            f"\n{len(refused)} files will be refused whole by the load (more of their rows "
            "rejected than SCP_QUARANTINE_THRESHOLD allows; their days keep what raw holds):"
        )
        for name, (rejected, rows) in list(refused.items())[:SHOWN_ISSUES]:
            print(f"  {name}: {rejected} of {rows} rows")
        if len(refused) > SHOWN_ISSUES:
            print(f"  ... and {len(refused) - SHOWN_ISSUES} more files")
    hint = _history_hint(report)
    if hint:
        print(f"\n{hint}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.ingest",
        description="Ingestion tools for SAP extracts.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    mapping = commands.add_parser(
        "map",
        help="map SAP-shaped exports with other file/column names into canonical landing files",
        description="Translate exports into landing files (<TABLE>.csv, <TABLE>_<YYYYMMDD>.csv) "
        "by a YAML mapping; the landing sensor and raw assets then load them unchanged.",
    )
    mapping.add_argument("--config", type=Path, required=True, help="the YAML mapping")
    mapping.add_argument("--source", type=Path, required=True, help="folder of the exports")
    target = mapping.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--out",
        type=Path,
        help="where to write the landing files: the landing folder ($SCP_LANDING_DIR, loaded by "
        "`python -m pipelines materialize`) or its incoming/ (loaded by the landing sensor); "
        "the summary goes beside incoming/, not into it",
    )
    target.add_argument(
        "--dry-run", action="store_true", help="check and map, report, write nothing"
    )
    mapping.add_argument(
        "--replace",
        action="store_true",
        help="delete landing files of the mapped tables already in --out first",
    )
    args = parser.parse_args(argv)
    if args.replace and args.dry_run:
        mapping.error(
            "--replace deletes landing files in --out; a --dry-run writes and deletes nothing"
        )
    try:
        config = load_mapping(args.config)
        report = map_sources(config, args.source, args.out, replace=args.replace)
    except MappingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
