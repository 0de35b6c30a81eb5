"""Asset jobs, one per partition scheme, because a run covers assets that share one.

- `ingest_daily`: transactional raw tables and the incremental dbt facts, per day (a range of
  days runs as a single run: every asset has `BackfillPolicy.single_run`).
- `refresh_master_data`: master data and the unpartitioned dbt models built on full history.
- `plan_weekly`: a forecast vintage and the plans made from it, per week.

What-if scenarios (`ON_DEMAND`) are in no job: a planner launches them with config.
"""

from __future__ import annotations

import dagster as dg

from pipelines.automation import WORKLOAD_TAG
from pipelines.forecasting.assets import demand_forecast_scenario, forecasting_assets
from pipelines.ingest.assets import raw_assets
from pipelines.partitions import daily_partitions, weekly_partitions
from pipelines.planning.assets import planning_assets
from pipelines.warehouse.assets import dbt_daily_models, dbt_models

#: A run whose process died (e.g. the code server was killed) is failed after this, instead of
#: holding its warehouse pool slot; the run retry policy then re-launches it.
MAX_RUNTIME = {"dagster/max_runtime": "7200"}

raw_daily = [a for a in raw_assets if a.partitions_def is not None]
raw_master = [a for a in raw_assets if a.partitions_def is None]

#: The selections that split the graph by partition scheme, in the order a fresh warehouse
#: needs them: master data and what the daily facts join, the days, the marts over history,
#: the weekly vintages, and the reporting marts over the plans; on demand, what-if scenarios.
ON_DEMAND = dg.AssetSelection.assets(demand_forecast_scenario)
DAILY = dg.AssetSelection.assets(*raw_daily, dbt_daily_models)
MASTER_DATA = dg.AssetSelection.assets(*raw_master) | (DAILY.upstream() - DAILY)
WEEKLY = dg.AssetSelection.assets(*forecasting_assets, *planning_assets) - ON_DEMAND
REPORTING = dg.AssetSelection.groups("reporting")
HISTORY_MARTS = dg.AssetSelection.assets(dbt_models) - MASTER_DATA - REPORTING

ingest_daily_job = dg.define_asset_job(
    "ingest_daily",
    selection=DAILY,
    partitions_def=daily_partitions,
    tags=MAX_RUNTIME,
    description="Load a day (or a range of days) of SAP transactions and update the facts.",
)

refresh_master_data_job = dg.define_asset_job(
    "refresh_master_data",
    selection=MASTER_DATA,
    tags=MAX_RUNTIME,
    description="Reload SAP master data and the dimensions the daily facts join.",
)

refresh_marts_job = dg.define_asset_job(
    "refresh_marts",
    selection=HISTORY_MARTS | REPORTING,
    tags=MAX_RUNTIME,
    description="Rebuild the marts over all history and the reporting marts (automation "
    "does this after each load; the job is for a manual refresh).",
)

plan_weekly_job = dg.define_asset_job(
    "plan_weekly",
    selection=WEEKLY,
    partitions_def=weekly_partitions,
    tags={**MAX_RUNTIME, WORKLOAD_TAG: "planning"},
    description="Forecast demand and compute plans for one weekly vintage.",
)

jobs = [ingest_daily_job, refresh_master_data_job, refresh_marts_job, plan_weekly_job]
