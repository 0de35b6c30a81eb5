"""Weekly forecast vintages: one partition per forecast origin, every vintage kept."""

import base64
from collections.abc import Mapping

import dagster as dg
import pandas as pd
from pydantic import Field

from pipelines.conditions import weekly_vintage
from pipelines.partitions import weekly_partitions
from resources.dagster_resources import WAREHOUSE_POOL, WarehouseResource
from resources.warehouse import TableSlice, Warehouse

FORECAST = dg.AssetKey(["planning", "demand_forecast"])
BACKTEST = dg.AssetKey(["planning", "forecast_backtest"])
CLASSIFICATION = dg.AssetKey(["planning", "demand_classification"])
ACCURACY = dg.AssetKey(["planning", "forecast_accuracy"])
SCENARIO = dg.AssetKey(["planning", "demand_forecast_scenario"])

HISTORY_SQL = """
select material_id, plant_id, week_start, demand_qty, stockout_days > 0 as stockout
from marts.fct_demand_weekly
where week_start < ?
order by material_id, plant_id, week_start
"""


def forecast_origin(context: dg.AssetExecutionContext) -> pd.Timestamp:
    """A vintage's partition is its last week of actuals; the forecast starts the Monday after."""
    return pd.Timestamp(context.partition_time_window.end.date())


def write_vintage(
    warehouse: Warehouse,
    origin: pd.Timestamp,
    tables: Mapping[str, pd.DataFrame],
    names: Mapping[str, Mapping[str, str]] | None = None,
) -> None:
    """Replace one vintage in every table in one transaction: a re-run never duplicates.

    `names` (table -> column -> value, e.g. a scenario's name) narrows that table's slice to
    the name's rows, so named runs on one vintage sit side by side and a re-run replaces only
    its own."""
    slices = {}
    for table, frame in tables.items():
        key = {"forecast_origin": origin.date(), **(names or {}).get(table, {})}
        slices[table] = TableSlice(
            frame.assign(**key),
            where=" and ".join(f"{column} = ?" for column in key),
            params=[str(value) for value in key.values()],
        )
    warehouse.replace_slices(slices)


def markdown_image(png: bytes) -> dg.MarkdownMetadataValue:
    return dg.MarkdownMetadataValue(
        f"![fan chart](data:image/png;base64,{base64.b64encode(png).decode()})"
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            FORECAST,
            deps=[dg.AssetKey(["marts", "fct_demand_weekly"])],
            description="Weekly demand forecast per material x plant with P10-P95 quantiles.",
            kinds={"python", "statsforecast"},
            automation_condition=weekly_vintage(),
        ),
        dg.AssetSpec(
            BACKTEST,
            deps=[dg.AssetKey(["marts", "fct_demand_weekly"])],
            description="Rolling-origin backtest accuracy per series and model.",
            kinds={"python"},
            automation_condition=weekly_vintage(),
        ),
        dg.AssetSpec(
            CLASSIFICATION,
            deps=[dg.AssetKey(["marts", "fct_demand_weekly"])],
            description="Syntetos-Boylan demand class and forecast error per series.",
            kinds={"python"},
            automation_condition=weekly_vintage(),
        ),
    ],
    group_name="forecasting",
    partitions_def=weekly_partitions,
    pool=WAREHOUSE_POOL,
    check_specs=[
        dg.AssetCheckSpec(
            "forecast_bounds_ordered",
            asset=FORECAST,
            blocking=True,
            description="Every forecast row has 0 <= lower <= point <= upper.",
        ),
        dg.AssetCheckSpec(
            "every_active_series_forecast",
            asset=FORECAST,
            blocking=True,
            description="Each series with demand in the last year has a forecast.",
        ),
    ],
)
def demand_forecast(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    from pipelines.forecasting.accuracy import accuracy_by_class
    from pipelines.forecasting.engine import ForecastConfig, fan_chart_png, run_forecast

    origin = forecast_origin(context)
    wh = warehouse.open()
    history = wh.read_sql(HISTORY_SQL, [origin.date().isoformat()])
    history["week_start"] = pd.to_datetime(history["week_start"])
    history["demand_qty"] = history["demand_qty"].astype(float)
    history["stockout"] = history["stockout"].astype(bool)
    result = run_forecast(history, ForecastConfig(), origin=origin)

    classification = result.classification.merge(
        result.residuals, on=["material_id", "plant_id"], how="left"
    )
    write_vintage(
        wh,
        origin,
        {
            "planning.demand_forecast": result.forecast,
            "planning.forecast_backtest": result.backtest,
            "planning.demand_classification": classification,
        },
    )

    forecast = result.forecast
    selected = result.backtest[result.backtest["selected"]]
    naive = result.backtest[result.backtest["model"] == "seasonal_naive"]
    top = (
        forecast.groupby(["material_id", "plant_id"])["forecast_qty"]
        .sum()
        .nlargest(4)
        .index.tolist()
    )
    yield dg.MaterializeResult(
        asset_key=FORECAST,
        metadata={
            "dagster/row_count": len(forecast),
            "forecast_origin": origin.date().isoformat(),
            "series": forecast[["material_id", "plant_id"]].drop_duplicates().shape[0],
            "selected_models": dg.JsonMetadataValue(selected["model"].value_counts().to_dict()),
            "fan_chart_top_items": markdown_image(fan_chart_png(history, forecast, top)),
        },
    )
    yield dg.MaterializeResult(
        asset_key=BACKTEST,
        metadata={
            "dagster/row_count": len(result.backtest),
            "mase_selected": float(selected["mase"].mean()),
            "mase_seasonal_naive": float(naive["mase"].mean()),
            "quantile_coverage": dg.MarkdownMetadataValue(result.coverage.to_markdown(index=False)),
            "accuracy_by_demand_class": dg.MarkdownMetadataValue(
                accuracy_by_class(result.backtest, result.classification).to_markdown(index=False)
            ),
        },
    )
    yield dg.MaterializeResult(
        asset_key=CLASSIFICATION,
        metadata={
            "dagster/row_count": len(classification),
            "demand_classes": dg.JsonMetadataValue(
                classification["demand_class"].value_counts().to_dict()
            ),
        },
    )
    yield from forecast_checks(forecast, history)


def forecast_checks(forecast: pd.DataFrame, history: pd.DataFrame):
    ordered = (
        (forecast["forecast_lower"] >= 0)
        & (forecast["forecast_lower"] <= forecast["forecast_qty"])
        & (forecast["forecast_qty"] <= forecast["forecast_upper"])
    )
    yield dg.AssetCheckResult(
        check_name="forecast_bounds_ordered",
        asset_key=FORECAST,
        passed=bool(ordered.all()),
        metadata={"violations": int((~ordered).sum())},
    )
    last_year = history["week_start"] >= history["week_start"].max() - pd.Timedelta(weeks=52)
    active = history[last_year & (history["demand_qty"] > 0)][["material_id", "plant_id"]]
    active_keys = set(map(tuple, active.drop_duplicates().to_numpy()))
    forecast_keys = set(
        map(tuple, forecast[["material_id", "plant_id"]].drop_duplicates().to_numpy())
    )
    missing = sorted(active_keys - forecast_keys)
    yield dg.AssetCheckResult(
        check_name="every_active_series_forecast",
        asset_key=FORECAST,
        passed=not missing,
        metadata={"active_series": len(active_keys), "missing": dg.JsonMetadataValue(missing[:20])},
    )


ACTUALS_SQL = """
select material_id, plant_id, week_start, demand_qty, stockout_days > 0 as stockout
from marts.fct_demand_weekly where week_start < ?
"""
PAST_VINTAGES_SQL = """
select material_id, plant_id, week_start, forecast_qty, forecast_origin
from planning.demand_forecast where forecast_origin < ? and week_start < ?
"""


@dg.asset(
    key=ACCURACY,
    deps=[FORECAST, dg.AssetKey(["marts", "fct_demand_weekly"])],
    group_name="forecasting",
    partitions_def=weekly_partitions,
    pool=WAREHOUSE_POOL,
    kinds={"python"},
    automation_condition=weekly_vintage(),
    description="Accuracy and forecast value added vs seasonal naive of every earlier vintage "
    "whose weeks now have actuals, by item, demand class, plant and in total.",
    check_specs=[
        dg.AssetCheckSpec(
            "accuracy_not_degrading",
            asset=ACCURACY,
            description="Warns when recent vintages are worse than the series' usual accuracy.",
        )
    ],
)
def forecast_accuracy(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    from pipelines.forecasting.accuracy import accuracy, detect_degradation

    origin = forecast_origin(context)
    wh = warehouse.open()
    day = origin.date().isoformat()
    actuals = wh.read_sql(ACTUALS_SQL, [day])
    forecasts = (
        wh.read_sql(PAST_VINTAGES_SQL, [day, day])
        if wh.table_exists("planning.demand_forecast")
        else pd.DataFrame()
    )
    if forecasts.empty:
        return dg.MaterializeResult(
            metadata={"dagster/row_count": 0, "note": "no earlier vintage has actuals yet"},
            check_results=[dg.AssetCheckResult(check_name="accuracy_not_degrading", passed=True)],
        )
    for frame in (actuals, forecasts):
        frame["week_start"] = pd.to_datetime(frame["week_start"])
    actuals["demand_qty"] = actuals["demand_qty"].astype(float)
    forecasts["forecast_qty"] = forecasts["forecast_qty"].astype(float)
    classes = wh.read_sql(
        "select material_id, plant_id, demand_class from planning.demand_classification "
        "where forecast_origin = (select max(forecast_origin) from planning.demand_classification"
        " where forecast_origin <= ?)",
        [day],
    )
    table = accuracy(actuals, forecasts, classes, vintage_col="forecast_origin")
    wh.replace_tables(
        {"planning.forecast_accuracy": table.assign(evaluated_at=origin.date())},
        where="evaluated_at = ?",
        params=[day],
    )
    degraded = detect_degradation(table)
    summary = table[table["level"] != "item"] if "level" in table else table
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(table),
            "accuracy_by_level": dg.MarkdownMetadataValue(
                summary.head(40).to_markdown(index=False)
            ),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="accuracy_not_degrading",
                passed=degraded.empty,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"degraded_series": len(degraded)},
            )
        ],
    )


class PromotionConfig(dg.Config):
    weeks: list[str] = Field(description="Mondays of the promoted weeks, e.g. ['2024-06-03'].")
    uplift_pct: float = Field(description="+30 = 30 % more demand in these weeks.")


class NewProductConfig(dg.Config):
    material_id: str = Field(description="The new material.")
    plant_id: str = Field(description="Where it will be sold.")
    analogue_material_id: str = Field(description="The existing material it will sell like.")
    analogue_plant_id: str | None = Field(None, description="Default: the same plant.")
    scale: float = Field(1.0, description="0.5 = half the analogue's volume.")


class ScenarioConfig(dg.Config):
    """What a planner changes; everything else is the vintage's base forecast."""

    scenario: str = Field(description="Name; re-running a name replaces its rows.")
    uplift_pct: float = Field(0.0, description="Uplift on every week, e.g. +10 or -5.")
    materials: list[str] | None = Field(None, description="Only these materials (default all).")
    plants: list[str] | None = Field(None, description="Only these plants (default all).")
    promotions: list[PromotionConfig] = Field(default_factory=list)
    new_products: list[NewProductConfig] = Field(default_factory=list)


BASE_VINTAGE_SQL = "select * from planning.demand_forecast where forecast_origin = ?"


@dg.asset(
    key=SCENARIO,
    deps=[FORECAST],
    group_name="forecasting",
    partitions_def=weekly_partitions,
    pool=WAREHOUSE_POOL,
    kinds={"python"},
    description="What-if forecast of one vintage (uplift, promotions, new products from "
    "analogues), keyed by scenario. Launched by a planner with config; never automatic, and "
    "planning.demand_forecast is left as it is.",
)
def demand_forecast_scenario(
    context: dg.AssetExecutionContext, config: ScenarioConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    from pipelines.forecasting.scenario import Promotion, build_scenario

    origin = forecast_origin(context)
    day = origin.date().isoformat()
    wh = warehouse.open()
    base = (
        wh.read_sql(BASE_VINTAGE_SQL, [day])
        if wh.table_exists("planning.demand_forecast")
        else pd.DataFrame()
    )
    if base.empty:
        raise dg.Failure(
            f"No base forecast for vintage {context.partition_key}: materialize "
            "planning/demand_forecast for that partition first."
        )
    base["week_start"] = pd.to_datetime(base["week_start"])
    new_products = pd.DataFrame([product.model_dump() for product in config.new_products])
    scenario = build_scenario(
        base,
        config.scenario,
        config.uplift_pct,
        [Promotion(p.weeks, p.uplift_pct) for p in config.promotions],
        materials=config.materials,
        plants=config.plants,
        analogue=new_products if len(new_products) else None,
    )
    scenario = scenario[["scenario", *base.columns]]
    table = "planning.demand_forecast_scenario"
    write_vintage(wh, origin, {table: scenario}, {table: {"scenario": config.scenario}})
    weekly = pd.DataFrame(
        {
            "base": base.groupby("week_start")["forecast_qty"].sum(),
            "scenario": scenario.groupby("week_start")["forecast_qty"].sum(),
        }
    )
    weekly["change_pct"] = (weekly["scenario"] / weekly["base"] - 1) * 100
    weekly.index = weekly.index.date
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(scenario),
            "scenario": config.scenario,
            "forecast_origin": day,
            "base_total_qty": float(weekly["base"].sum()),
            "scenario_total_qty": float(weekly["scenario"].sum()),
            "weekly_totals": dg.MarkdownMetadataValue(
                weekly.rename_axis("week_start").round(1).to_markdown()
            ),
        }
    )


forecasting_assets = [demand_forecast, forecast_accuracy, demand_forecast_scenario]
