"""`make demo`: generate SAP-shaped extracts and materialize every asset over the demo window.

Runs go to the local Dagster instance (`DAGSTER_HOME`, SQLite), so `make ui` shows them
(`pipelines.materialize`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from pipelines.demo.generator import DemoConfig, generate
from pipelines.materialize import ensure_local_instance, materialize_window
from resources.paths import LOCAL_DIR

#: 60 weeks: a full seasonal year plus the backtest windows. Every day of every daily asset is
#: a partition with its own events in the local SQLite instance, so the window sets the cost.
DEMO_DAYS = 420


def demo_window(config: DemoConfig) -> tuple[date, date]:
    """First and last day of generated history (inclusive)."""
    return config.start, config.start + timedelta(days=config.days - 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--materials", type=int, default=DemoConfig.materials)
    parser.add_argument("--plants", type=int, default=DemoConfig.plants)
    parser.add_argument("--days", type=int, default=DEMO_DAYS)
    parser.add_argument("--seed", type=int, default=DemoConfig.seed)
    args = parser.parse_args(argv)
    config = DemoConfig(
        materials=args.materials, plants=args.plants, days=args.days, seed=args.seed
    )

    landing = Path(os.environ.setdefault("SCP_LANDING_DIR", str(LOCAL_DIR / "landing")))
    started = time.perf_counter()
    counts = generate(config, landing)
    print(f"Generated {sum(counts.values()):,} SAP rows into {landing}")
    materialize_window(*demo_window(config), ensure_local_instance())
    from pipelines.demo.summary import print_summary

    print_summary(counts)
    print(f"Demo finished in {time.perf_counter() - started:.0f}s")
    (LOCAL_DIR / "demo_counts.json").write_text(json.dumps(counts, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
