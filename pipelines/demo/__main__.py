"""CLI: `python -m pipelines.demo --materials 60 --plants 3 ... --out .local/landing`."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

from pipelines.demo.generator import DemoConfig, generate


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--start must be YYYY-MM-DD, got {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    defaults = DemoConfig()
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.demo",
        description="Write deterministic SAP-shaped demo extracts (SE16N-style CSV files).",
    )
    parser.add_argument("--materials", type=int, default=defaults.materials)
    parser.add_argument("--plants", type=int, default=defaults.plants)
    parser.add_argument("--customers", type=int, default=defaults.customers)
    parser.add_argument("--vendors", type=int, default=defaults.vendors)
    parser.add_argument("--days", type=int, default=defaults.days)
    parser.add_argument("--start", type=_parse_date, default=defaults.start)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--out", type=Path, default=Path(".local/landing"))
    args = parser.parse_args(argv)
    try:
        config = DemoConfig(
            materials=args.materials,
            plants=args.plants,
            customers=args.customers,
            vendors=args.vendors,
            days=args.days,
            start=args.start,
            seed=args.seed,
        )
    except ValueError as exc:
        parser.error(str(exc))
    began = time.perf_counter()
    counts = generate(config, args.out)
    elapsed = time.perf_counter() - began
    for table, rows in counts.items():
        print(f"{table:6s} {rows:>10,d}")
    print(f"{sum(counts.values()):,d} rows written to {args.out} in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
