"""The one Definitions of the code location."""

from __future__ import annotations

import dagster as dg
from dagster_dbt import DbtCliResource

from pipelines.automation import schedules, sensors, with_freshness_policies
from pipelines.forecasting.assets import forecasting_assets
from pipelines.ingest.assets import raw_assets
from pipelines.ingest.checks import raw_quality_checks
from pipelines.ingest.sensors import ingest_sensors
from pipelines.jobs import jobs
from pipelines.planning.assets import planning_assets
from pipelines.warehouse.assets import dbt_daily_models, dbt_models, dbt_project
from resources.dagster_resources import landing_from_env, sap_odata_from_env, warehouse_from_env
from resources.paths import DBT_EXECUTABLE


@dg.definitions
def defs() -> dg.Definitions:
    warehouse = warehouse_from_env()
    return dg.Definitions(
        assets=with_freshness_policies(
            [*raw_assets, dbt_daily_models, dbt_models, *forecasting_assets, *planning_assets]
        ),
        asset_checks=raw_quality_checks,
        jobs=jobs,
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
