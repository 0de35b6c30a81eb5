"""A planner's what-if scenario on a real forecast vintage (DuckDB), base forecast untouched.

The weekly demand mart is written directly (generated, seasonal, 3 series), so the test runs
the real forecast engine and the scenario asset without the ingestion and dbt layers.
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from pipelines.forecasting.assets import demand_forecast, demand_forecast_scenario
from resources.dagster_resources import WarehouseResource
from resources.warehouse import Warehouse

HISTORY_WEEKS = pd.date_range("2024-01-01", periods=80, freq="W-MON")
VINTAGE = HISTORY_WEEKS[-1].date().isoformat()  # a vintage's partition is its last actual week
ORIGIN = HISTORY_WEEKS[-1] + timedelta(weeks=1)
PROMOTED_WEEK = ORIGIN + timedelta(weeks=2)
SCENARIO_TABLE = "planning.demand_forecast_scenario"
SCENARIO_OP = "planning__demand_forecast_scenario"
KEYS = ["material_id", "plant_id", "week_start"]


def weekly_demand(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    season = 1 + 0.3 * np.sin(2 * np.pi * np.arange(len(HISTORY_WEEKS)) / 52)
    frames = [
        pd.DataFrame(
            {
                "material_id": material,
                "plant_id": plant,
                "week_start": HISTORY_WEEKS.date,
                "demand_qty": rng.poisson(level * season).astype(float),
                "stockout_days": 0,
            }
        )
        for material, plant, level in (("M1", "P1", 40), ("M2", "P1", 15), ("M1", "P2", 25))
    ]
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def warehouse_resource(tmp_path_factory) -> WarehouseResource:
    """A DuckDB warehouse holding the demand mart and one materialized forecast vintage."""
    path = tmp_path_factory.mktemp("scenario") / "warehouse.duckdb"
    resource = WarehouseResource(kind="duckdb", duckdb_path=str(path))
    resource.open().replace_tables(
        {"marts.fct_demand_weekly": weekly_demand()}, where="true", params=[]
    )
    result = dg.materialize(
        [demand_forecast], partition_key=VINTAGE, resources={"warehouse": resource}
    )
    assert result.success
    return resource


def run_scenario(resource: WarehouseResource, config: dict, partition_key: str = VINTAGE):
    return dg.materialize(
        [demand_forecast_scenario],
        partition_key=partition_key,
        resources={"warehouse": resource},
        run_config={"ops": {SCENARIO_OP: {"config": config}}},
        raise_on_error=False,
    )


def read(warehouse: Warehouse, sql: str, params: list | None = None) -> pd.DataFrame:
    return warehouse.read_sql(sql, params or []).sort_values(KEYS).reset_index(drop=True)


PROMO = {
    "scenario": "promo",
    "uplift_pct": 10,
    "materials": ["M1", "NEW"],
    "plants": ["P1"],
    "promotions": [{"weeks": [PROMOTED_WEEK.date().isoformat()], "uplift_pct": 50}],
    "new_products": [
        {"material_id": "NEW", "plant_id": "P1", "analogue_material_id": "M2", "scale": 0.5}
    ],
}


def test_scenario_uplifts_its_items_and_leaves_the_base_forecast_as_it_was(warehouse_resource):
    warehouse = warehouse_resource.open()
    base_sql = "select * from planning.demand_forecast"
    before = read(warehouse, base_sql)

    result = run_scenario(warehouse_resource, PROMO)

    assert result.success
    pd.testing.assert_frame_equal(read(warehouse, base_sql), before, check_exact=True)
    scenario = read(
        warehouse,
        f"select * from {SCENARIO_TABLE} where scenario = 'promo' and forecast_origin = ?",
        [ORIGIN.date().isoformat()],
    )
    base = before.set_index(KEYS)["forecast_qty"]
    got = scenario.set_index(KEYS)["forecast_qty"]
    m1p1 = got.xs(("M1", "P1"), level=["material_id", "plant_id"])
    factor = np.where(m1p1.index == PROMOTED_WEEK, 1.1 * 1.5, 1.1)
    np.testing.assert_allclose(m1p1, base.loc[("M1", "P1")].loc[m1p1.index] * factor)
    for untouched in (("M2", "P1"), ("M1", "P2")):
        np.testing.assert_allclose(got.loc[untouched], base.loc[untouched])
    new = got.loc[("NEW", "P1")]
    np.testing.assert_allclose(
        new, base.loc[("M2", "P1")] * 0.5 * np.where(new.index == PROMOTED_WEEK, 1.65, 1.1)
    )
    assert len(scenario) == len(before) + len(new)

    [materialization] = result.asset_materializations_for_node(SCENARIO_OP)
    metadata = materialization.metadata
    assert metadata["base_total_qty"].value == pytest.approx(before["forecast_qty"].sum())
    assert metadata["scenario_total_qty"].value == pytest.approx(scenario["forecast_qty"].sum())
    assert metadata["dagster/row_count"].value == len(scenario)


def test_rerunning_a_scenario_replaces_only_its_own_rows(warehouse_resource):
    warehouse = warehouse_resource.open()
    assert run_scenario(warehouse_resource, PROMO).success
    assert run_scenario(warehouse_resource, {"scenario": "flat"}).success
    with warehouse.transaction() as cur:  # the same scenario for an older vintage
        cur.execute(
            f"insert into {SCENARIO_TABLE} select * replace (forecast_origin - 7 as "
            f"forecast_origin) from {SCENARIO_TABLE} where scenario = 'promo'"
        )
    counts_sql = (
        f"select scenario, forecast_origin, count(*) as n, sum(forecast_qty) as qty "
        f"from {SCENARIO_TABLE} group by 1, 2 order by 1, 2"
    )
    before = warehouse.read_sql(counts_sql).set_index(["scenario", "forecast_origin"])

    assert run_scenario(warehouse_resource, {**PROMO, "uplift_pct": 20}).success

    after = warehouse.read_sql(counts_sql).set_index(["scenario", "forecast_origin"])
    older, current = ORIGIN.date() - timedelta(weeks=1), ORIGIN.date()
    pd.testing.assert_series_equal(after["n"], before["n"])
    assert after.loc[("promo", older), "qty"] == pytest.approx(before.loc[("promo", older), "qty"])
    assert after.loc[("flat", current), "qty"] == pytest.approx(
        before.loc[("flat", current), "qty"]
    )
    assert after.loc[("promo", current), "qty"] > before.loc[("promo", current), "qty"]


def test_a_vintage_without_base_forecast_fails_with_a_hint(warehouse_resource):
    missing = (HISTORY_WEEKS[-1] - timedelta(weeks=5)).date().isoformat()
    result = run_scenario(warehouse_resource, {"scenario": "flat"}, partition_key=missing)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "materialize planning/demand_forecast" in failure.message
