"""Plans made from a forecast vintage: inventory policies, purchase proposals, delivery routes."""

import dagster as dg
import pandas as pd

from pipelines.conditions import follow_upstream
from pipelines.forecasting.assets import CLASSIFICATION, FORECAST, forecast_origin, markdown_image
from pipelines.partitions import weekly_partitions
from resources.dagster_resources import WAREHOUSE_POOL, WarehouseResource

POLICY = dg.AssetKey(["planning", "inventory_policy"])
PROPOSALS = dg.AssetKey(["planning", "replenishment_proposals"])
ROUTES = dg.AssetKey(["planning", "delivery_routes"])

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
    """Safety stock >= 0 and covered by the trigger: reorder point, or (R,S) order-up-to."""
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


REPLENISHMENT_SQL = {
    "forecast": """
        select material_id, plant_id, week_start, forecast_qty
        from planning.demand_forecast where forecast_origin = ?""",
    "policies": """
        select material_id, plant_id, safety_stock, unit_cost
        from planning.inventory_policy where forecast_origin = ? and policy_type <> 'none'""",
    "stock": """
        select material_id, plant_id, stock_qty from marts.fct_inventory_daily
        where snapshot_date = (
            select max(snapshot_date) from marts.fct_inventory_daily where snapshot_date < ?)""",
    "sources": """
        select i.material_id, i.plant_id, i.vendor_id, i.unit_net_price as unit_price,
               i.min_order_qty as moq, mp.rounding_qty, i.planned_delivery_days,
               i.purchasing_org_id as purch_org, i.currency_code as currency
        from marts.dim_purchasing_info_records i
        left join marts.dim_material_plant mp
            on mp.material_id = i.material_id and mp.plant_id = i.plant_id""",
    "open_orders": """
        select material_id, plant_id, promised_date, ordered_qty - received_qty as open_qty
        from marts.fct_purchase_orders where is_open and order_date < ?""",
}

ROUTING_SQL = """
select l.plant_id, p.latitude as plant_latitude, p.longitude as plant_longitude,
       l.customer_id, c.latitude as customer_latitude, c.longitude as customer_longitude,
       sum(l.order_qty * coalesce(m.gross_weight, 1)) as weight_kg
from marts.fct_sales_order_lines l
join marts.dim_plant p on p.plant_id = l.plant_id
join marts.dim_customer c on c.customer_id = l.customer_id
left join marts.dim_material m on m.material_id = l.material_id
where l.requested_delivery_date = (
    select max(requested_delivery_date) from marts.fct_sales_order_lines
    where requested_delivery_date < ?)
group by 1, 2, 3, 4, 5, 6
"""


def _numeric(frame: pd.DataFrame, exclude: tuple[str, ...]) -> pd.DataFrame:
    """Decimals from Postgres arrive as `Decimal`; solvers want floats."""
    typed = frame.copy()
    for column in typed.columns.difference(list(exclude)):
        if typed[column].dtype == object:
            converted = pd.to_numeric(typed[column], errors="coerce")
            if converted.notna().sum() == typed[column].notna().sum():
                typed[column] = converted.astype(float)
    return typed


_IDS = ("material_id", "plant_id", "vendor_id", "customer_id", "purch_org", "currency")


@dg.asset(
    key=PROPOSALS,
    deps=[
        POLICY,
        FORECAST,
        dg.AssetKey(["marts", "fct_inventory_daily"]),
        dg.AssetKey(["marts", "fct_purchase_orders"]),
        dg.AssetKey(["marts", "dim_purchasing_info_records"]),
    ],
    group_name="planning",
    partitions_def=weekly_partitions,
    pool=WAREHOUSE_POOL,
    kinds={"python", "ortools"},
    automation_condition=follow_upstream(),
    description="Purchase requisitions per material x plant x vendor and week (MIP).",
)
def replenishment_proposals(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    from pipelines.planning.problems import ReplenishmentSettings, replenishment_problem
    from pipelines.planning.replenishment import solve_replenishment

    origin = forecast_origin(context)
    wh = warehouse.open()
    frames = {
        name: _numeric(wh.read_sql(sql, [origin.date().isoformat()] * sql.count("?")), _IDS)
        for name, sql in REPLENISHMENT_SQL.items()
    }
    problem = replenishment_problem(
        **frames, origin=origin.date(), settings=ReplenishmentSettings()
    )
    result = solve_replenishment(problem, time_limit_s=60.0)
    proposals = result.proposals.assign(forecast_origin=origin.date())
    plan = result.plan.assign(forecast_origin=origin.date())
    wh.replace_tables(
        {"planning.replenishment_proposals": proposals, "planning.replenishment_plan": plan},
        where="forecast_origin = ?",
        params=[origin.date().isoformat()],
    )
    if len(result.infeasibility):
        context.log.warning(f"Replenishment infeasible:\n{result.infeasibility.to_string()}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(proposals),
            "status": result.status,
            "method": result.method,
            "objective": float(result.objective),
            "bound": float(result.bound),
            "gap": float(result.gap),
            "solve_seconds": float(result.solve_seconds),
            "infeasibility": dg.MarkdownMetadataValue(
                result.infeasibility.to_markdown(index=False)
                if len(result.infeasibility)
                else "none"
            ),
        }
    )


@dg.asset(
    key=ROUTES,
    deps=[
        dg.AssetKey(["marts", "fct_sales_order_lines"]),
        dg.AssetKey(["marts", "dim_customer"]),
        dg.AssetKey(["marts", "dim_plant"]),
    ],
    group_name="planning",
    partitions_def=weekly_partitions,
    pool=WAREHOUSE_POOL,
    kinds={"python", "ortools"},
    automation_condition=follow_upstream(),
    description="Delivery routes from the plants to customers for the last delivery day (VRPTW).",
)
def delivery_routes(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    from pipelines.planning.problems import FleetSettings, routing_problem
    from pipelines.planning.routing import route_map_png, solve_routes

    origin = forecast_origin(context)
    wh = warehouse.open()
    deliveries = _numeric(wh.read_sql(ROUTING_SQL, [origin.date().isoformat()]), _IDS)
    if deliveries.empty:
        return dg.MaterializeResult(metadata={"dagster/row_count": 0, "status": "no deliveries"})
    problem = routing_problem(deliveries, FleetSettings())
    solution = solve_routes(problem, time_limit_s=10.0)
    routes = solution.routes.assign(forecast_origin=origin.date())
    unserved = solution.unserved.assign(forecast_origin=origin.date())
    wh.replace_tables(
        {"planning.delivery_routes": routes, "planning.unserved_deliveries": unserved},
        where="forecast_origin = ?",
        params=[origin.date().isoformat()],
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(routes),
            "status": solution.status,
            "total_distance_km": float(solution.total_distance),
            "vehicles_used": solution.vehicles_used,
            "unserved": len(unserved),
            "route_map": markdown_image(route_map_png(problem, solution)),
        }
    )


planning_assets = [inventory_policy, replenishment_proposals, delivery_routes]
