"""The one Definitions of the code location."""

from __future__ import annotations

import dagster as dg
from dagster_dbt import DbtCliResource

from pipelines.automation import schedules, sensors, with_freshness_policies
from pipelines.forecasting.assets import forecasting_assets
from pipelines.ingest.assets import raw_assets
from pipelines.ingest.checks import raw_quality_checks
from pipelines.ingest.sensors import ingest_jobs, ingest_sensors
from pipelines.jobs import jobs
from pipelines.planning.assets import planning_assets
from pipelines.warehouse.assets import dbt_daily_models, dbt_models, dbt_project
from resources.dagster_resources import landing_from_env, sap_odata_from_env, warehouse_from_env
from resources.paths import DBT_EXECUTABLE

#: Each step of a run is a subprocess. `spawn` (Dagster's default) makes every step import the
#: code location again (about 8 s on a busy 2-core host: a 26-step master-data run spent 4
#: minutes starting processes); a forkserver imports it once per run and forks the steps.
#: Great Expectations is preloaded there too (2.6 s), since most steps of a load are its checks;
#: the code location itself still never imports it. The DuckDB warehouse waits for a finished
#: step's process to let go of its file (`DuckDBWarehouse.connect`), since forked steps follow
#: each other closely.
STEP_EXECUTOR = dg.multiprocess_executor.configured(
    {
        "start_method": {
            "forkserver": {"preload_modules": ["pipelines.definitions", "great_expectations"]}
        }
    },
    name="forkserver_multiprocess",
)


@dg.definitions
def defs() -> dg.Definitions:
    warehouse = warehouse_from_env()
    return dg.Definitions(
        assets=with_freshness_policies(
            [*raw_assets, dbt_daily_models, dbt_models, *forecasting_assets, *planning_assets]
        ),
        asset_checks=raw_quality_checks,
        jobs=[*jobs, *ingest_jobs],
        executor=STEP_EXECUTOR,
        schedules=schedules,
        sensors=[*sensors, *ingest_sensors],
        resources={
            "warehouse": warehouse,
            "landing": landing_from_env(),
            "sap_odata": sap_odata_from_env(),
            "dbt": DbtCliResource(
                project_dir=dbt_project, target=warehouse.dbt_target, dbt_executable=DBT_EXECUTABLE
            ),
        },
    )
