"""`make demo`: generate SAP-shaped extracts and materialize every asset over the demo window.

Runs go to the local Dagster instance (`DAGSTER_HOME`, SQLite), so `make ui` shows them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from pipelines.demo.generator import DemoConfig, generate
from resources.paths import LOCAL_DIR

LOCAL_INSTANCE_YAML = """\
# Local instance for `make demo` / `make ui`: SQLite storage under this folder.
# A DuckDB file allows one writing process, so warehouse steps take turns.
concurrency:
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""


#: 60 weeks: a full seasonal year plus the backtest windows. Every day of every daily asset is
#: a partition with its own events in the local SQLite instance, so the window sets the cost.
DEMO_DAYS = 420

#: The runs' full event logs are in the instance (see `make ui`); the console shows warnings only.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def ensure_local_instance() -> dg.DagsterInstance:
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(LOCAL_DIR / "dagster")))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(LOCAL_INSTANCE_YAML)
    return dg.DagsterInstance.get()


def demo_window(config: DemoConfig) -> tuple[date, date]:
    """First and last day of generated history (inclusive)."""
    return config.start, config.start + timedelta(days=config.days - 1)


def last_complete_week(last_day: date) -> date:
    """The Monday of the last full Monday-Sunday week that ends on or before `last_day`."""
    sunday = last_day - timedelta(days=(last_day.weekday() + 1) % 7)
    return sunday - timedelta(days=6)


def materialize_demo(
    config: DemoConfig, instance: dg.DagsterInstance, landing: Path
) -> dict[str, str]:
    """Materialize every asset over the demo window, in dependency order; returns run ids."""
    from pipelines.definitions import defs as load_defs
    from pipelines.jobs import DAILY, HISTORY_MARTS, MASTER_DATA, REPORTING, WEEKLY

    definitions = load_defs()
    resources = dict(definitions.resources or {})
    every_asset = [*(definitions.assets or []), *(definitions.asset_checks or [])]
    first_day, last_day = demo_window(config)
    # Two vintages, so the accuracy of the older one is measured against last week's actuals.
    week = last_complete_week(last_day).isoformat()
    previous_week = (last_complete_week(last_day) - timedelta(days=7)).isoformat()
    all_keys = dg.AssetSelection.assets(*every_asset)
    range_tags = {
        "dagster/asset_partition_range_start": first_day.isoformat(),
        "dagster/asset_partition_range_end": last_day.isoformat(),
    }
    steps = [
        ("master data and what the daily facts join", MASTER_DATA, {}, None),
        (f"daily history {first_day}..{last_day}", DAILY, range_tags, None),
        ("dimensions and history-wide marts", HISTORY_MARTS, {}, None),
        (f"forecast and plans, vintage {previous_week}", WEEKLY, {}, previous_week),
        (f"forecast and plans, vintage {week}", WEEKLY, {}, week),
        ("reporting marts", REPORTING, {}, None),
    ]
    run_ids = {}
    for label, selection, tags, partition_key in steps:
        if not (selection & all_keys).resolve(every_asset):
            continue
        started = time.perf_counter()
        result = dg.materialize(
            every_asset,
            selection=selection & all_keys,
            instance=instance,
            resources=resources,
            tags=tags,
            partition_key=partition_key,
            run_config=QUIET_CONSOLE,
            raise_on_error=True,
        )
        run_ids[label] = result.run_id
        print(f"  [{time.perf_counter() - started:6.1f}s] {label}: run {result.run_id[:8]}")
    return run_ids


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
    instance = ensure_local_instance()
    materialize_demo(config, instance, landing)
    from pipelines.demo.summary import print_summary

    print_summary(counts)
    print(f"Demo finished in {time.perf_counter() - started:.0f}s")
    (LOCAL_DIR / "demo_counts.json").write_text(json.dumps(counts, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
