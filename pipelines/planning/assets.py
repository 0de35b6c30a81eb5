"""Plans made from a forecast vintage: inventory policies, purchase proposals, delivery routes."""

from collections.abc import Iterator

import dagster as dg
import pandas as pd
from pydantic import Field

from pipelines.conditions import follow_upstream
from pipelines.forecasting.assets import (
    CLASSIFICATION,
    FORECAST,
    forecast_origin,
    markdown_image,
    write_vintage,
)
from pipelines.partitions import weekly_partitions
from resources.dagster_resources import WAREHOUSE_POOL, WarehouseResource
from resources.paths import export_dir

POLICY = dg.AssetKey(["planning", "inventory_policy"])
PROPOSALS = dg.AssetKey(["planning", "replenishment_proposals"])
ROUTES = dg.AssetKey(["planning", "delivery_routes"])
POLICY_BACKTEST = dg.AssetKey(["planning", "policy_backtest"])
SERVICE_FRONTIER = dg.AssetKey(["planning", "service_frontier"])

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
    inputs = wh.read_sql(POLICY_INPUTS_SQL, [origin.date().isoformat()])
    policies = compute_policies(inputs, PolicyConfig())
    write_vintage(wh, origin, {"planning.inventory_policy": policies})
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

#: PyVRP measured 0.16 % from the best-known Solomon distances at 10 s against OR-Tools' 6.2 %
#: (benchmarks/planning/routing/RESULTS.md); OR-Tools stays available as `backend="ortools"`.
ROUTING_BACKEND = "pyvrp"

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


def as_floats(frame: pd.DataFrame, exclude: tuple[str, ...] = ()) -> pd.DataFrame:
    """Decimals from Postgres arrive as `Decimal`; solvers want floats."""
    typed = frame.copy()
    for column in typed.columns.difference(list(exclude)):
        if typed[column].dtype == object:
            converted = pd.to_numeric(typed[column], errors="coerce")
            if converted.notna().sum() == typed[column].notna().sum():
                typed[column] = converted.astype(float)
    return typed


ID_COLUMNS = ("material_id", "plant_id", "vendor_id", "customer_id", "purch_org", "currency")


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
    from pipelines.planning.replenishment import export_vintage, solve_replenishment

    origin = forecast_origin(context)
    wh = warehouse.open()
    frames = {
        name: as_floats(wh.read_sql(sql, [origin.date().isoformat()] * sql.count("?")), ID_COLUMNS)
        for name, sql in REPLENISHMENT_SQL.items()
    }
    problem = replenishment_problem(
        **frames, origin=origin.date(), settings=ReplenishmentSettings()
    )
    result = solve_replenishment(problem, time_limit_s=60.0)
    proposals = result.proposals
    write_vintage(
        wh,
        origin,
        {"planning.replenishment_proposals": proposals, "planning.replenishment_plan": result.plan},
    )
    exports = export_vintage(proposals, export_dir(), origin.date())
    if len(result.infeasibility):
        context.log.warning(f"Replenishment infeasible:\n{result.infeasibility.to_string()}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(proposals),
            "sap_upload_files": dg.JsonMetadataValue([str(path) for path in exports]),
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
    kinds={"python", "pyvrp"},
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
    deliveries = as_floats(wh.read_sql(ROUTING_SQL, [origin.date().isoformat()]), ID_COLUMNS)
    if deliveries.empty:
        return dg.MaterializeResult(metadata={"dagster/row_count": 0, "status": "no deliveries"})
    problem = routing_problem(deliveries, FleetSettings())
    solution = solve_routes(problem, time_limit_s=10.0, backend=ROUTING_BACKEND)
    routes, unserved = solution.routes, solution.unserved
    write_vintage(
        wh,
        origin,
        {"planning.delivery_routes": routes, "planning.unserved_deliveries": unserved},
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(routes),
            "status": solution.status,
            "backend": ROUTING_BACKEND,
            "total_distance_km": float(solution.total_distance),
            "vehicles_used": solution.vehicles_used,
            "unserved": len(unserved),
            "route_map": markdown_image(route_map_png(problem, solution)),
        }
    )


BACKTEST_SQL = {
    "policies": """
        select * from planning.inventory_policy where forecast_origin = ?""",
    "daily_demand": """
        select material_id, plant_id, demand_date as date, demand_qty
        from marts.fct_demand_daily
        where demand_date < ? and demand_date >= cast(? as date) - {history_days}""",
    "lead_times": """
        select material_id, plant_id, lead_time_days
        from intermediate.int_lead_time_observations
        where receipt_date < ? and lead_time_days >= 0
        order by material_id, plant_id, receipt_date""",
}


class PolicyBacktestConfig(dg.Config):
    """The replay window and an optional what-if (a planner's launchpad settings)."""

    history_days: int = Field(182, ge=28, description="Days of actual demand replayed.")
    frontier_targets: list[float] = Field(
        [0.80, 0.85, 0.90, 0.93, 0.95, 0.97, 0.98, 0.99],
        description="Fill-rate targets of the investment-vs-service frontier.",
    )
    what_if_name: str = Field(
        "what_if", description="Name; re-running a name replaces only its own rows."
    )
    what_if_service_target: float | None = Field(
        None, gt=0, lt=1, description="What-if: one service target for every item."
    )
    what_if_lead_time_factor: float = Field(
        1.0, gt=0, description="What-if: lead times x factor (plan and replay alike)."
    )
    what_if_lead_time_shift_days: float = Field(0.0, description="What-if: lead times + days.")

    @property
    def has_what_if(self) -> bool:
        return (
            self.what_if_service_target is not None
            or self.what_if_lead_time_factor != 1.0
            or self.what_if_lead_time_shift_days != 0.0
        )


BACKTEST_DEPS = [
    POLICY,
    dg.AssetKey(["marts", "fct_demand_daily"]),
    dg.AssetKey(["intermediate", "int_lead_time_observations"]),
]


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            POLICY_BACKTEST,
            deps=BACKTEST_DEPS,
            description="The vintage's policies replayed on actual daily demand with actual "
            "lead times: achieved vs target service, inventory, orders, stockout days.",
            kinds={"python"},
            automation_condition=follow_upstream(),
        ),
        dg.AssetSpec(
            SERVICE_FRONTIER,
            deps=BACKTEST_DEPS,
            description="Inventory investment against service level, planned and replayed.",
            kinds={"python"},
            automation_condition=follow_upstream(),
        ),
    ],
    group_name="planning",
    partitions_def=weekly_partitions,
    pool=WAREHOUSE_POOL,
)
def policy_backtest(
    context: dg.AssetExecutionContext, config: PolicyBacktestConfig, warehouse: WarehouseResource
) -> Iterator[dg.MaterializeResult]:
    from pipelines.planning.inventory import PolicyConfig
    from pipelines.planning.simulation import (
        frontier_png,
        service_frontier,
        simulate_policy,
        summarise_kpis,
        what_if,
    )

    origin = forecast_origin(context)
    wh = warehouse.open()
    day = origin.date().isoformat()
    policies, daily_demand, lead_times = (
        as_floats(
            wh.read_sql(sql.format(history_days=config.history_days), [day] * sql.count("?")),
            ID_COLUMNS,
        )
        for sql in BACKTEST_SQL.values()
    )
    policies = policies.drop(columns="forecast_origin")
    kpis = simulate_policy(daily_demand, policies, lead_times)
    inputs = as_floats(wh.read_sql(POLICY_INPUTS_SQL, [day]), ID_COLUMNS)
    frontier = service_frontier(
        inputs, PolicyConfig(), daily_demand, lead_times, targets=config.frontier_targets
    )
    vintage = {"planning.policy_backtest": kpis, "planning.service_frontier": frontier}
    names = {}
    if config.has_what_if:
        vintage["planning.policy_what_if"] = what_if(
            inputs,
            PolicyConfig(),
            daily_demand,
            lead_times,
            service_target=config.what_if_service_target,
            lead_time_factor=config.what_if_lead_time_factor,
            lead_time_shift_days=config.what_if_lead_time_shift_days,
        ).assign(  # what was asked, beside what it gave; NaN keeps the column numeric
            what_if_service_target=config.what_if_service_target or float("nan"),
            what_if_lead_time_factor=config.what_if_lead_time_factor,
            what_if_lead_time_shift_days=config.what_if_lead_time_shift_days,
        )
        names["planning.policy_what_if"] = {"what_if_name": config.what_if_name}
    write_vintage(wh, origin, vintage, names)  # the what-if lands with its backtest or not at all
    by_policy = summarise_kpis(kpis, by=["policy_type"])
    total = summarise_kpis(kpis).iloc[0]
    yield dg.MaterializeResult(
        asset_key=POLICY_BACKTEST,
        metadata={
            "dagster/row_count": len(kpis),
            "fill_rate": float(total["fill_rate"]),
            "fill_rate_target": float(total["fill_rate_target"]),
            "share_within_2_points": float(total["share_within_tolerance"]),
            "stockout_days": int(total["stockout_days"]),
            "by_policy": dg.MarkdownMetadataValue(by_policy.to_markdown(index=False)),
            "what_if": config.what_if_name if config.has_what_if else None,
        },
    )
    yield dg.MaterializeResult(
        asset_key=SERVICE_FRONTIER,
        metadata={
            "dagster/row_count": len(frontier),
            "frontier": markdown_image(frontier_png(frontier)),
        },
    )


planning_assets = [inventory_policy, policy_backtest, replenishment_proposals, delivery_routes]
