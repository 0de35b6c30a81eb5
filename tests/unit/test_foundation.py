"""Unit tests for the foundation's pure pieces: warehouse writes, windows, problem builders."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from pipelines.forecasting.assets import write_vintage
from pipelines.ingest.load import files_for_window, landing_file_name, raw_table_columns
from pipelines.ingest.specs import TABLE_SPECS
from pipelines.materialize import last_complete_week
from pipelines.planning.problems import (
    FleetSettings,
    ReplenishmentSettings,
    replenishment_problem,
    routing_problem,
)
from pipelines.planning.replenishment import solve_replenishment
from pipelines.planning.routing import solve_routes
from resources.warehouse import DuckDBWarehouse, WarehouseSettings, sql_type_for


def test_raw_ddl_comes_from_the_spec():
    columns = raw_table_columns(TABLE_SPECS["MSEG"])
    assert columns["matnr"] == "VARCHAR"
    assert columns["menge"] == "DOUBLE PRECISION"
    assert columns["budat_mkpf"] == "DATE"
    assert columns["zeile"] == "BIGINT"
    assert list(columns)[-3:] == ["_source_file", "_source_line", "_loaded_at"]


def test_landing_files_of_a_window(tmp_path):
    spec = TABLE_SPECS["VBAP"]
    for day in (date(2025, 1, 1), date(2025, 1, 3), date(2025, 1, 5)):
        (tmp_path / landing_file_name(spec, day)).write_text("x")
    files = files_for_window(tmp_path, spec, (date(2025, 1, 1), date(2025, 1, 5)))
    assert [f.name for f in files] == ["VBAP_20250101.csv", "VBAP_20250103.csv"]
    with pytest.raises(ValueError, match="VBAP is partitioned"):
        landing_file_name(spec)


def test_replace_tables_is_atomic_and_idempotent(tmp_path):
    warehouse = DuckDBWarehouse(str(tmp_path / "w.duckdb"))
    warehouse.ensure_schemas()
    frame = pd.DataFrame({"origin": [date(2025, 1, 6)] * 2, "qty": [1.0, 2.0], "id": ["a", "b"]})
    for _ in range(2):
        warehouse.replace_tables({"planning.t": frame}, "origin = ?", ["2025-01-06"])
    assert warehouse.scalar("select count(*) from planning.t") == 2
    assert warehouse.scalar("select typeof(origin) from planning.t limit 1") == "DATE"
    broken = frame.assign(qty=["not", "numeric"])
    with pytest.raises(Exception):  # noqa: B017 - any engine error must roll back
        warehouse.replace_tables(
            {"planning.t": frame.iloc[:1], "planning.t2": frame, "planning.t3": broken.qty},
            "origin = ?",
            ["2025-01-06"],
        )
    assert warehouse.scalar("select count(*) from planning.t") == 2


def test_a_named_slice_is_written_with_its_vintage_or_not_at_all(tmp_path):
    warehouse = DuckDBWarehouse(str(tmp_path / "w.duckdb"))
    warehouse.ensure_schemas()
    origin = pd.Timestamp("2025-01-06")
    names = {"planning.what_if": {"what_if_name": "rush"}}

    def write(kpi: float, named: pd.DataFrame) -> None:
        kpis = pd.DataFrame({"kpi": [kpi]})
        write_vintage(warehouse, origin, {"planning.kpis": kpis, "planning.what_if": named}, names)

    write(1.0, pd.DataFrame({"qty": [1.0]}))
    write_vintage(
        warehouse,
        origin,
        {"planning.what_if": pd.DataFrame({"qty": [2.0]})},
        {"planning.what_if": {"what_if_name": "slow"}},
    )
    write(3.0, pd.DataFrame({"qty": [3.0]}))  # a re-run of "rush" replaces "rush" only
    rows = warehouse.read_sql("select what_if_name, qty from planning.what_if order by 1")
    assert rows.values.tolist() == [["rush", 3.0], ["slow", 2.0]]
    with pytest.raises(Exception):  # noqa: B017 - any engine error must roll back
        write(4.0, pd.DataFrame({"qty": ["not numeric"]}))
    assert warehouse.scalar("select kpi from planning.kpis") == 3.0  # the vintage stayed whole


def test_sql_types_for_frames():
    assert sql_type_for(pd.Series([1.5])) == "DOUBLE PRECISION"
    assert sql_type_for(pd.Series([date(2025, 1, 1)])) == "DATE"
    assert sql_type_for(pd.Series(pd.to_datetime(["2025-01-01"]))) == "TIMESTAMP"
    assert sql_type_for(pd.Series(["x"])) == "VARCHAR"


@pytest.mark.parametrize(
    ("last_day", "monday"),
    [(date(2025, 12, 30), date(2025, 12, 22)), (date(2025, 12, 28), date(2025, 12, 22))],
)
def test_last_complete_week(last_day, monday):
    assert last_complete_week(last_day) == monday


def test_replenishment_problem_orders_what_the_forecast_needs():
    origin = date(2025, 1, 6)
    weeks = pd.date_range(origin, periods=4, freq="W-MON")
    forecast = pd.DataFrame(
        {"material_id": "M1", "plant_id": "P1", "week_start": weeks, "forecast_qty": 10.0}
    )
    policies = pd.DataFrame(
        {"material_id": ["M1"], "plant_id": ["P1"], "safety_stock": [0.0], "unit_cost": [5.0]}
    )
    stock = pd.DataFrame({"material_id": ["M1"], "plant_id": ["P1"], "stock_qty": [5.0]})
    sources = pd.DataFrame(
        {
            "material_id": ["M1"],
            "plant_id": ["P1"],
            "vendor_id": ["V1"],
            "unit_price": [5.0],
            "moq": [None],
            "rounding_qty": [None],
            "planned_delivery_days": [0],
            "purch_org": ["1000"],
            "currency": ["EUR"],
        }
    )
    open_orders = pd.DataFrame(columns=["material_id", "plant_id", "promised_date", "open_qty"])
    settings = ReplenishmentSettings(order_cost=0.0, horizon_weeks=4)
    problem = replenishment_problem(
        forecast, policies, stock, sources, open_orders, origin, settings
    )
    result = solve_replenishment(problem, time_limit_s=10)
    assert result.status in {"optimal", "feasible"}
    assert result.proposals["MENGE"].sum() == pytest.approx(40 - 5)


def test_routing_problem_serves_every_customer_from_its_plant():
    deliveries = pd.DataFrame(
        {
            "plant_id": ["P1", "P1", "P2"],
            "plant_latitude": [50.0, 50.0, 48.0],
            "plant_longitude": [8.0, 8.0, 11.0],
            "customer_id": ["C1", "C2", "C3"],
            "customer_latitude": [50.1, 49.9, 48.1],
            "customer_longitude": [8.1, 8.2, 11.1],
            "weight_kg": [100.0, 200.0, 300.0],
        }
    )
    problem = routing_problem(deliveries, FleetSettings(vehicles_per_plant=1))
    solution = solve_routes(problem, time_limit_s=2)
    assert solution.unserved.empty
    served = solution.routes.dropna(subset=["stop_id"])
    by_stop = dict(zip(served.stop_id, served.depot_id, strict=False))
    assert by_stop["P1/C1"] == "P1" and by_stop["P2/C3"] == "P2"


def test_job_selections_cover_every_asset_exactly_once():
    """The demo and the jobs run the graph in these slices; none may be missed or doubled."""
    from pipelines.definitions import defs
    from pipelines.jobs import DAILY, HISTORY_MARTS, MASTER_DATA, ON_DEMAND, REPORTING, WEEKLY

    graph = defs().resolve_asset_graph()
    selections = (MASTER_DATA, DAILY, HISTORY_MARTS, WEEKLY, REPORTING, ON_DEMAND)
    slices = [s.resolve(graph) for s in selections]
    assert set().union(*slices) == set(graph.materializable_asset_keys)
    assert sum(len(s) for s in slices) == len(set().union(*slices))


def test_duckdb_memory_limit_comes_from_the_environment_and_is_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("SCP_WAREHOUSE", "duckdb")
    monkeypatch.setenv("SCP_DUCKDB_PATH", str(tmp_path / "w.duckdb"))
    monkeypatch.setenv("SCP_DUCKDB_MEMORY_LIMIT", "300MB")
    warehouse = WarehouseSettings.from_env().open()
    assert warehouse.scalar("select current_setting('memory_limit')") == "286.1 MiB"  # 300e6 B
    monkeypatch.setenv("SCP_DUCKDB_MEMORY_LIMIT", "lots")
    with pytest.raises(ValueError, match="SCP_DUCKDB_MEMORY_LIMIT must be a size .* 'lots'"):
        WarehouseSettings.from_env()
