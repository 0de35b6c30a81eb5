"""The short summary `make demo` prints: what landed, how good the forecast is, what was planned."""

from __future__ import annotations

from resources.paths import export_dir
from resources.warehouse import QUARANTINE_TABLE, WarehouseSettings

#: Inventory value per plant and month: at month end and averaged over the month's days (a
#: sum of daily stock over a month would count the same stock once per day).
BI_QUERY = """select p.plant_name, k.month_start,
       sum(k.end_stock_value) as month_end_value, sum(k.avg_stock_value) as average_value
from reporting.kpi_inventory k join marts.dim_plant p using (plant_id)
group by 1, 2 order by 1, 2;"""

MARTS = (
    "dim_material",
    "dim_plant",
    "dim_customer",
    "dim_vendor",
    "fct_sales_order_lines",
    "fct_demand_daily",
    "fct_demand_weekly",
    "fct_inventory_daily",
    "fct_goods_movements",
    "fct_lead_times",
)


def summary_lines(generated: dict[str, int] | None, settings: WarehouseSettings) -> list[str]:
    """What a run left in the warehouse and where to look; `generated`: the demo's rows per
    raw table, to compare with what loaded (None: not generated, e.g. mapped SHINE data)."""
    warehouse = settings.open()
    lines = [""]
    if generated is not None:
        lines.append("Rows per raw table (generated -> loaded):")
        for table, expected in sorted(generated.items()):
            loaded = warehouse.scalar(f"select count(*) from raw.{table.lower()}")
            lines.append(f"  raw.{table.lower():<8} {expected:>9,} -> {loaded:>9,}")
    if warehouse.table_exists(QUARANTINE_TABLE):
        rejected = warehouse.scalar(f"select count(*) from {QUARANTINE_TABLE}")
        lines.append(f"Rows in {QUARANTINE_TABLE} (with file, line and reason): {rejected:,}")
    lines.append("Rows per mart:")
    for mart in MARTS:
        if warehouse.table_exists(f"marts.{mart}"):
            rows = warehouse.scalar(f"select count(*) from marts.{mart}")
            lines.append(f"  marts.{mart:<22} {rows:>9,}")
    if warehouse.table_exists("planning.forecast_backtest"):
        lines += _accuracy_lines(warehouse)
    for table, label in (
        ("planning.demand_forecast", "forecast rows"),
        ("planning.inventory_policy", "inventory policies"),
        ("planning.replenishment_proposals", "purchase proposals"),
        ("planning.delivery_routes", "route stops"),
    ):
        if warehouse.table_exists(table):
            lines.append(f"  {label:<20} {warehouse.scalar(f'select count(*) from {table}'):>9,}")
    if warehouse.table_exists("planning.policy_backtest"):
        from pipelines.planning.assets import PolicyBacktestConfig

        weeks = PolicyBacktestConfig().history_days // 7
        replay = warehouse.read_sql(
            "select sum(filled_demand) / sum(total_demand) as achieved, "
            "sum(fill_rate_target * total_demand) / sum(total_demand) as target "
            "from planning.policy_backtest where forecast_origin = "
            "(select max(forecast_origin) from planning.policy_backtest)"
        ).astype(float)
        if replay.notna().all(axis=None):  # no replayed demand: nothing to say
            lines.append(
                f"Policies replayed on the last {weeks} weeks of actual demand: fill rate "
                f"{replay.achieved.iat[0]:.1%} vs target {replay.target.iat[0]:.1%}"
            )
    target = settings.duckdb_path if settings.kind == "duckdb" else repr(settings)
    lines += [
        "",
        f"Warehouse: {target}",
        f"SAP purchase-requisition uploads of each weekly plan: {export_dir()}",
        "A query a BI tool could run (inventory value by plant and month):",
        *("  " + line for line in BI_QUERY.splitlines()),
        "Open the Dagster UI on the same local instance: make ui  (then http://127.0.0.1:3000)",
    ]
    return lines


def _accuracy_lines(warehouse) -> list[str]:
    """The selected models' backtest accuracy against seasonal naive, when both were run."""
    lines: list[str] = []
    accuracy = warehouse.read_sql(
        "select model, avg(mase) as mase, avg(wape) as wape, count(*) as series "
        "from planning.forecast_backtest where selected or model = 'seasonal_naive' "
        "group by model order by mase"
    )
    selected = warehouse.read_sql(
        "select avg(mase) as mase, avg(wape) as wape from planning.forecast_backtest where selected"
    )
    naive = accuracy[accuracy.model == "seasonal_naive"]
    if not selected.empty and not naive.empty and naive.mase.iat[0] > 0:
        sel_mase, naive_mase = float(selected.mase.iat[0]), float(naive.mase.iat[0])
        lines.append(
            f"Forecast accuracy (backtest MASE, mean over series): selected models {sel_mase:.3f} "
            f"vs seasonal naive {naive_mase:.3f} ({(1 - sel_mase / naive_mase):+.1%} better)"
        )
    return lines


def print_summary(generated: dict[str, int] | None = None) -> None:
    print("\n".join(summary_lines(generated, WarehouseSettings.from_env())))
