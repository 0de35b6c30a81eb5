"""dbt models as Dagster assets, dbt tests as blocking asset checks.

Two `@dbt_assets`: models tagged `partitioned` share the raw tables' daily partitions and get
the window through `--vars` (incremental delete+insert); everything else is unpartitioned.
"""

import json
from collections.abc import Collection, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from pipelines.conditions import follow_any_partition, follow_upstream
from pipelines.ingest.load import ensure_raw_tables
from pipelines.partitions import daily_partitions
from resources.dagster_resources import WAREHOUSE_POOL, WarehouseResource
from resources.paths import DBT_PROJECT_DIR

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)

PARTITIONED_TAG = "partitioned"
PARTITIONED_SELECTOR = f"tag:{PARTITIONED_TAG}"

#: Dagster runs subsets of the project in dependency order. dbt's default (eager) would also
#: pick up a test whose other parent is not built yet; `buildable` runs a test once all its
#: parents are selected or upstream of the selection.
BUILD = ["build", "--indirect-selection", "buildable"]


class WarehouseTranslator(DagsterDbtTranslator):
    """Keys are `[schema, model]` (e.g. `marts/fct_demand_daily`), groups are dbt layers."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        return dg.AssetKey([self._schema(dbt_resource_props), dbt_resource_props["name"]])

    def get_automation_condition(
        self, dbt_resource_props: Mapping[str, Any]
    ) -> dg.AutomationCondition | None:
        if dbt_resource_props["resource_type"] == "source":
            return None
        if PARTITIONED_TAG in dbt_resource_props.get("tags", []):
            return follow_any_partition()
        return follow_upstream()

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return self._schema(dbt_resource_props)

    @staticmethod
    def _schema(props: Mapping[str, Any]) -> str:
        return props.get("config", {}).get("schema") or props["schema"]


translator = WarehouseTranslator()


def daily_model_inputs(selected: Collection[dg.AssetKey] | None = None) -> list[str]:
    """The relations outside the daily partitions that the daily models join (master staging
    views, dimensions): built by `refresh_master_data`, not by the daily runs. `selected`: only
    those of these daily models (a run's selection), else of all."""
    nodes = json.loads(dbt_project.manifest_path.read_text())["nodes"]
    daily = {key for key, node in nodes.items() if PARTITIONED_TAG in node.get("tags", [])}
    chosen = [
        key for key in daily if selected is None or translator.get_asset_key(nodes[key]) in selected
    ]
    inputs = {
        f"{nodes[parent]['schema']}.{nodes[parent].get('alias') or nodes[parent]['name']}"
        for key in chosen
        for parent in nodes[key]["depends_on"]["nodes"]
        if parent.startswith("model.")
        and parent not in daily
        and nodes[parent]["config"]["materialized"] != "ephemeral"
    }
    return sorted(inputs)


def require_daily_model_inputs(
    warehouse: WarehouseResource, selected: Collection[dg.AssetKey] | None = None
) -> None:
    """Fail naming what to run first, instead of dbt's "Table ... does not exist". Only the
    selected models' inputs count: automation runs a day's staging as soon as its raw day is
    loaded, and holds the facts until their master inputs exist (`any_deps_missing`)."""
    opened = warehouse.open()
    with opened.transaction() as cur:
        missing = [
            name for name in daily_model_inputs(selected) if not opened.table_columns(cur, name)
        ]
    if missing:
        raise dg.Failure(
            description=f"The daily models join {', '.join(missing)}, which the warehouse does "
            "not hold yet: run the refresh_master_data job first (a first load of a new "
            "warehouse: `python -m pipelines materialize --from ... --to ...`)."
        )


def dbt_vars_for(context: dg.AssetExecutionContext) -> list[str]:
    window = context.partition_time_window
    variables = {
        "min_date": window.start.date().isoformat(),
        "max_date": window.end.date().isoformat(),
    }
    return ["--vars", json.dumps(variables)]


@dbt_assets(
    manifest=dbt_project.manifest_path,
    select=PARTITIONED_SELECTOR,
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    dagster_dbt_translator=translator,
    project=dbt_project,
    name="dbt_daily_models",
    pool=WAREHOUSE_POOL,
)
def dbt_daily_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
):
    """Incremental facts: one run replaces exactly the partition window."""
    ensure_raw_tables(warehouse.open())
    require_daily_model_inputs(warehouse, context.selected_asset_keys)
    yield from dbt.cli([*BUILD, *dbt_vars_for(context)], context=context).stream()


@dbt_assets(
    manifest=dbt_project.manifest_path,
    exclude=PARTITIONED_SELECTOR,
    dagster_dbt_translator=translator,
    project=dbt_project,
    name="dbt_models",
    pool=WAREHOUSE_POOL,
)
def dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
):
    """Dimensions, snapshots-derived marts and reporting: rebuilt from full history."""
    ensure_raw_tables(warehouse.open())
    yield from dbt.cli(BUILD, context=context).stream()
