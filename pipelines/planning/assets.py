"""Plans made from a forecast vintage: inventory policies, purchase proposals, delivery routes."""

import dagster as dg
import pandas as pd

from pipelines.conditions import follow_upstream
from pipelines.forecasting.assets import CLASSIFICATION, FORECAST, forecast_origin
from pipelines.partitions import weekly_partitions
from resources.dagster_resources import WAREHOUSE_POOL, WarehouseResource

POLICY = dg.AssetKey(["planning", "inventory_policy"])

POLICY_INPUTS_SQL = """
with main_vendor_lead_time as (
    select material_id, plant_id, mean_lead_time_days, stddev_lead_time_days,
           row_number() over (
               partition by material_id, plant_id order by observation_count desc, vendor_id
           ) as preference
    from marts.fct_lead_times
),
cheapest_source as (
    select material_id, plant_id, unit_net_price, planned_delivery_days, min_order_qty,
           row_number() over (
               partition by material_id, plant_id order by unit_net_price, vendor_id
           ) as preference
    from marts.dim_purchasing_info_records
)
select
    c.material_id,
    c.plant_id,
    c.demand_class,
    m.abc_class,
    m.xyz_class,
    c.mean_weekly_forecast as mean_weekly_demand,
    c.sigma_weekly,
    lt.mean_lead_time_days as lead_time_mean_days,
    lt.stddev_lead_time_days as lead_time_std_days,
    coalesce(src.planned_delivery_days, mp.planned_delivery_days) as planned_lead_time_days,
    coalesce(mp.unit_price, src.unit_net_price) as unit_cost,
    src.min_order_qty as moq,
    mp.rounding_qty
from planning.demand_classification c
left join marts.dim_material m on m.material_id = c.material_id
left join marts.dim_material_plant mp
    on mp.material_id = c.material_id and mp.plant_id = c.plant_id
left join main_vendor_lead_time lt
    on lt.material_id = c.material_id and lt.plant_id = c.plant_id and lt.preference = 1
left join cheapest_source src
    on src.material_id = c.material_id and src.plant_id = c.plant_id and src.preference = 1
where c.forecast_origin = ?
"""

NUMERIC_INPUTS = (
    "mean_weekly_demand",
    "sigma_weekly",
    "lead_time_mean_days",
    "lead_time_std_days",
    "planned_lead_time_days",
    "unit_cost",
    "moq",
    "rounding_qty",
)


def policy_inputs(frame: pd.DataFrame) -> pd.DataFrame:
    """Warehouse rows to the numeric frame `compute_policies` expects (NULLs become NaN)."""
    typed = frame.copy()
    for column in NUMERIC_INPUTS:
        typed[column] = pd.to_numeric(typed[column], errors="coerce").astype(float)
    return typed


def policy_is_consistent(policies: pd.DataFrame) -> pd.Series:
    """Safety stock >= 0 and the trigger level ((s,*) reorder point, (R,S) order-up-to) covers it."""
    trigger = policies["reorder_point"].fillna(policies["order_up_to"])
    return (policies["safety_stock"] >= 0) & (trigger >= policies["safety_stock"] - 1e-9)


@dg.asset(
    key=POLICY,
    deps=[
        CLASSIFICATION,
        FORECAST,
        dg.AssetKey(["marts", "fct_lead_times"]),
        dg.AssetKey(["marts", "dim_material"]),
        dg.AssetKey(["marts", "dim_material_plant"]),
        dg.AssetKey(["marts", "dim_purchasing_info_records"]),
    ],
    group_name="planning",
    partitions_def=weekly_partitions,
    pool=WAREHOUSE_POOL,
    kinds={"python"},
    automation_condition=follow_upstream(),
    description="Safety stock, reorder point and order quantity per material x plant.",
    check_specs=[
        dg.AssetCheckSpec(
            "safety_stock_non_negative",
            asset=POLICY,
            blocking=True,
            description="No policy has negative safety stock or a trigger level below it.",
        )
    ],
)
def inventory_policy(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    from pipelines.planning.inventory import PolicyConfig, compute_policies

    origin = forecast_origin(context)
    wh = warehouse.open()
    inputs = policy_inputs(wh.read_sql(POLICY_INPUTS_SQL, [origin.date().isoformat()]))
    policies = compute_policies(inputs, PolicyConfig()).assign(forecast_origin=origin.date())
    wh.replace_tables(
        {"planning.inventory_policy": policies},
        where="forecast_origin = ?",
        params=[origin.date().isoformat()],
    )
    valid = policy_is_consistent(policies)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(policies),
            "policy_types": dg.JsonMetadataValue(policies["policy_type"].value_counts().to_dict()),
            "safety_stock_value": float((policies["safety_stock"] * policies["unit_cost"]).sum()),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="safety_stock_non_negative",
                passed=bool(valid.all()),
                metadata={"violations": int((~valid).sum())},
            )
        ],
    )


planning_assets = [inventory_policy]
