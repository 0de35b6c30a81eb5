"""Materialize every asset over a window of landing files: the first load of a new warehouse.

`make demo` runs it on generated data; `python -m pipelines materialize --from D --to D` runs it
on whatever `SCP_LANDING_DIR` holds (mapped SHINE data, a year of real extracts). Steps go in
dependency order, each one run: master data, the daily range (one run, a single-run backfill),
history-wide marts, the two last weekly vintages (so the older one's accuracy is measured) and
the reporting marts. Runs go to the local Dagster instance (`DAGSTER_HOME`, default
`.local/dagster`, SQLite), so `make ui` shows them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import dagster as dg

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

#: The runs' full event logs are in the instance (see `make ui`); the console shows warnings only.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
#: Dagster's opt-in (dagster-io/dagster#29288) to plan a range run with one event per asset.
PLANNED_SUBSET_ENV = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"


class WindowError(ValueError):
    """A window the daily partitions cannot hold; the message says how to fix it."""


def ensure_local_instance() -> dg.DagsterInstance:
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(LOCAL_DIR / "dagster")))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(LOCAL_INSTANCE_YAML)
    return dg.DagsterInstance.get()


def last_complete_week(last_day: date) -> date:
    """The Monday of the last full Monday-Sunday week that ends on or before `last_day`."""
    sunday = last_day - timedelta(days=(last_day.weekday() + 1) % 7)
    return sunday - timedelta(days=6)


def check_window(first_day: date, last_day: date, history_start: date) -> None:
    """Daily partitions start at SCP_HISTORY_START (read at import), and a plan needs a week."""
    if last_day < first_day:
        raise WindowError(f"--to {last_day} is before --from {first_day}")
    if first_day < history_start:
        raise WindowError(
            f"--from {first_day} is before SCP_HISTORY_START ({history_start}): days before it "
            f"have no partitions; set SCP_HISTORY_START={first_day} (or earlier) and run again"
        )
    if last_complete_week(last_day) - timedelta(days=7) < first_day:
        raise WindowError(
            f"{first_day}..{last_day} holds fewer than two full Monday-Sunday weeks: the plan "
            "needs two weekly vintages"
        )


@contextmanager
def one_planned_event_per_asset() -> Iterator[None]:
    """Plan a partition-range run with one event per asset instead of one per partition.

    By default Dagster writes a planned event for every asset x day before the daily range
    runs: about 10,900 for the demo's 420 days, some 5 ms each on SQLite. The price of the
    opt-in is that a failed range run does not mark its partitions failed (they stay missing);
    the command fails loudly instead. Scoped to these runs, so the daemon keeps the default.
    """
    before = os.environ.get(PLANNED_SUBSET_ENV)
    os.environ[PLANNED_SUBSET_ENV] = "true"
    try:
        yield
    finally:
        if before is None:
            del os.environ[PLANNED_SUBSET_ENV]
        else:
            os.environ[PLANNED_SUBSET_ENV] = before


def materialize_window(
    first_day: date, last_day: date, instance: dg.DagsterInstance
) -> dict[str, str]:
    """Materialize every asset over `first_day`..`last_day` in dependency order; run ids.

    Each step is a run of the named job that owns its assets (a subset of it where the job
    holds more), so the UI lists them under Jobs as it would the scheduled runs."""
    from pipelines.definitions import defs as load_defs
    from pipelines.ingest.assets import CHECK_VERDICTS_TAG
    from pipelines.jobs import DAILY, HISTORY_MARTS, MASTER_DATA, REPORTING, WEEKLY

    definitions = load_defs()
    graph = definitions.resolve_asset_graph()
    week = last_complete_week(last_day)
    previous_week = (week - timedelta(days=7)).isoformat()
    range_tags = {
        "dagster/asset_partition_range_start": first_day.isoformat(),
        "dagster/asset_partition_range_end": last_day.isoformat(),
        CHECK_VERDICTS_TAG: "run",  # the command runs the downstream steps itself
    }
    steps = [
        ("master data and what the daily facts join", "refresh_master_data", MASTER_DATA, {}, None),
        (f"daily history {first_day}..{last_day}", "ingest_daily", DAILY, range_tags, None),
        ("dimensions and history-wide marts", "refresh_marts", HISTORY_MARTS, {}, None),
        (f"forecast and plans, vintage {previous_week}", "plan_weekly", WEEKLY, {}, previous_week),
        (f"forecast and plans, vintage {week}", "plan_weekly", WEEKLY, {}, week.isoformat()),
        ("reporting marts", "refresh_marts", REPORTING, {}, None),
    ]
    run_ids = {}
    for label, job_name, selection, tags, partition_key in steps:
        keys = selection.resolve(graph)
        if not keys:
            continue
        started = time.perf_counter()
        with one_planned_event_per_asset():
            result = definitions.resolve_job_def(job_name).execute_in_process(
                run_config=QUIET_CONSOLE,
                instance=instance,
                tags=tags,
                partition_key=partition_key,
                asset_selection=sorted(keys),
                raise_on_error=True,
            )
        run_ids[label] = result.run_id
        print(f"  [{time.perf_counter() - started:6.1f}s] {label}: run {result.run_id[:8]}")
    return run_ids
