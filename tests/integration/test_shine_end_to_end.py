"""SAP's SHINE EPM demo data, mapped by config/mappings/shine-epm.yaml, through the whole
pipeline (raw -> dbt -> forecast -> plans) on DuckDB and on Postgres.

Expected figures are computed here from SHINE's own CSV files with pandas, not by the mapper.
The pipeline runs in a subprocess because `pipelines.partitions` reads SCP_HISTORY_START at
import time, and SHINE's history (2015) starts long before the default.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from pipelines.ingest.mapping import MappingReport, load_mapping, map_sources
from resources.paths import PROJECT_ROOT
from resources.warehouse import Warehouse, WarehouseSettings

pytestmark = pytest.mark.slow

CONFIG = PROJECT_ROOT / "config" / "mappings" / "shine-epm.yaml"
#: The damaged record of SAP's salesOrderItem.csv: a tab inside SALESORDERITEM.
DAMAGED_LINE = 4386

PIPELINE = """
import sys
from datetime import date

import dagster as dg

from pipelines.demo.summary import print_summary
from pipelines.materialize import materialize_window

first, last = date.fromisoformat(sys.argv[1]), date.fromisoformat(sys.argv[2])
materialize_window(first, last, dg.DagsterInstance.ephemeral())
print_summary()  # as `python -m pipelines materialize` ends
"""


@dataclass
class ShineRun:
    warehouse: Warehouse
    report: MappingReport
    shine: Path
    log: str  # the pipeline's output


def run_shine(tmp: Path, shine: Path, settings: WarehouseSettings, env: dict[str, str]) -> ShineRun:
    """Map SHINE into a fresh landing folder, then materialize every asset over the window."""
    config = load_mapping(CONFIG)
    assert config.window is not None
    first, last = config.window
    landing = tmp / "landing"
    report = map_sources(config, shine, landing)
    child_env = {
        **os.environ,
        **env,
        "SCP_LANDING_DIR": str(landing),
        "SCP_HISTORY_START": first.isoformat(),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.getenv("PYTHONPATH")])),
    }
    log = tmp / "pipeline.log"
    with log.open("w") as output:
        done = subprocess.run(
            [sys.executable, "-c", PIPELINE, first.isoformat(), last.isoformat()],
            cwd=PROJECT_ROOT,
            env=child_env,
            stdout=output,
            stderr=subprocess.STDOUT,
            timeout=1800,
        )
    tail = "\n".join(log.read_text().splitlines()[-40:])
    assert done.returncode == 0, f"pipeline failed on SHINE; last lines of {log}:\n{tail}"
    return ShineRun(settings.open(), report, shine, log.read_text())


@pytest.fixture(scope="module")
def shine(datasets: Path) -> Path:
    return datasets / "sap" / "shine-epm"


@pytest.fixture(scope="module")
def duckdb_run(tmp_path_factory, shine: Path) -> ShineRun:
    tmp = tmp_path_factory.mktemp("shine_duckdb")
    path = str(tmp / "warehouse.duckdb")
    env = {"SCP_WAREHOUSE": "duckdb", "SCP_DUCKDB_PATH": path}
    return run_shine(tmp, shine, WarehouseSettings(kind="duckdb", duckdb_path=path), env)


@pytest.fixture(scope="module")
def postgres_run(tmp_path_factory, shine: Path, postgres_server: dict) -> ShineRun:
    """A module-wide database (conftest's `postgres_database` is per test), dropped afterwards."""
    import psycopg

    name = f"scp_shine_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(**postgres_server, autocommit=True) as con:
        con.execute(f"create database {name}")
    settings = WarehouseSettings(
        kind="postgres",
        pg_host=postgres_server["host"],
        pg_port=postgres_server["port"],
        pg_user=postgres_server["user"],
        pg_database=name,
    )
    env = {
        "SCP_WAREHOUSE": "postgres",
        "SCP_PG_HOST": settings.pg_host,
        "SCP_PG_PORT": str(settings.pg_port),
        "SCP_PG_USER": settings.pg_user,
        "SCP_PG_DATABASE": name,
    }
    try:
        yield run_shine(tmp_path_factory.mktemp("shine_postgres"), shine, settings, env)
    finally:
        with psycopg.connect(**postgres_server, autocommit=True) as con:
            con.execute(f"drop database if exists {name} with (force)")


@pytest.fixture(params=["duckdb", "postgres"])
def run(request) -> ShineRun:
    return request.getfixturevalue(f"{request.param}_run")


# -- SHINE as its own files say ----------------------------------------------------------------


def read(shine: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(shine / name, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def in_2015(dates: pd.Series) -> pd.Series:
    return dates.between("2015-01-01", "2015-12-31")


def sales_items_2015(shine: Path) -> pd.DataFrame:
    orders = read(shine, "salesOrder.csv")
    items = read(shine, "salesOrderItem.csv")
    created = orders.set_index("SALESORDERID")["HISTORY.CREATEDAT"]
    items["CREATED"] = items["SALESORDERID"].map(created)
    items["LINE"] = items.index + 2  # the header is line 1
    return items[in_2015(items["CREATED"])]


def receipts_2015(shine: Path) -> pd.DataFrame:
    orders = read(shine, "purchaseOrder.csv")
    items = read(shine, "purchaseOrderItem.csv")
    items["ORDERED"] = items["PURCHASEORDERID"].map(
        orders.set_index("PURCHASEORDERID")["HISTORY.CREATEDAT"]
    )
    return items[in_2015(items["DELIVERYDATE"])]


# -- the mapping -------------------------------------------------------------------------------


def test_mapping_writes_shine_rows_and_foresees_the_damaged_one(duckdb_run: ShineRun):
    report, shine = duckdb_run.report, duckdb_run.shine
    orders = read(shine, "salesOrder.csv")
    items = sales_items_2015(shine)
    receipts = receipts_2015(shine)
    partners = read(shine, "businessPartner.csv")
    expected = {
        "T001W": 1,
        "MARA": len(read(shine, "products.csv")),
        "VBAK": int(in_2015(orders["HISTORY.CREATEDAT"]).sum()),
        "VBAP": len(items),
        "EKKO": len(read(shine, "purchaseOrder.csv")),
        "EKPO": len(read(shine, "purchaseOrderItem.csv")),
        "EKBE": len(receipts),
        "MSEG": len(receipts) + len(items),
        "LFA1": int(
            (
                (partners["PARTNERROLE"] == "1")
                | partners["PARTNERID"].isin(read(shine, "products.csv")["SUPPLIER.PARTNERID"])
                | partners["PARTNERID"].isin(read(shine, "purchaseOrder.csv")["PARTNER.PARTNERID"])
            ).sum()
        ),
        "KNA1": int(
            (
                (partners["PARTNERROLE"] == "2")
                | partners["PARTNERID"].isin(orders["PARTNER.PARTNERID"])
            ).sum()
        ),
    }
    assert {table: report.rows[table] for table in expected} == expected
    assert expected["VBAK"] == 977 and expected["EKBE"] == 5463  # SHINE's own figures
    assert report.days is not None and [d.isoformat() for d in report.days] == [
        "2015-01-01",
        "2015-12-31",
    ]
    damaged = items[~items["SALESORDERITEM"].str.isdigit()]
    assert damaged["LINE"].tolist() == [DAMAGED_LINE]
    assert [(i.table, i.column, i.origin) for i in report.issues] == [
        ("VBAP", "POSNR", f"salesOrderItem.csv line {DAMAGED_LINE}"),
        ("MSEG", "ZEILE", f"salesOrderItem.csv line {DAMAGED_LINE}"),
    ]


# -- the pipeline on both warehouses -----------------------------------------------------------


def test_raw_counts_equal_the_mapped_rows(run: ShineRun):
    for table, rows in run.report.rows.items():
        loaded = run.warehouse.scalar(f"select count(*) from raw.{table.lower()}")
        assert loaded == rows - run.report.quarantine_expected[table], table
    assert run.warehouse.scalar("select count(*) from raw.mard") == 0  # SHINE has no stock


def test_only_the_damaged_record_is_quarantined(run: ShineRun):
    rejected = run.warehouse.read_sql(
        "select table_name, column_name, reason from quarantine.rejected_rows order by 1"
    )

    def noted(column: str) -> str:  # the mapper's note: quarantine leads back to SAP's file
        return (
            f"mapped from salesOrderItem.csv line {DAMAGED_LINE}, not loaded: "
            f"{column} '10\\tHT-' is not a valid integer value"
        )

    assert rejected.to_dict("records") == [
        {"table_name": "MSEG", "column_name": "ZEILE", "reason": noted("ZEILE")},
        {"table_name": "VBAP", "column_name": "POSNR", "reason": noted("POSNR")},
    ]


def test_the_summary_says_where_forecasts_plans_and_rejects_are(run: ShineRun):
    """`materialize` ended naming only the Dagster instance: not where the plans were."""
    forecasts = run.warehouse.scalar("select count(*) from planning.demand_forecast")
    proposals = run.warehouse.scalar("select count(*) from planning.replenishment_proposals")
    assert forecasts > 0 and proposals > 0
    lines = [line.strip() for line in run.log.splitlines()]
    assert f"{'forecast rows':<20} {forecasts:>9,}" in lines
    assert f"{'purchase proposals':<20} {proposals:>9,}" in lines
    assert "Rows in quarantine.rejected_rows (with file, line and reason): 2" in lines
    assert any(line.startswith("Warehouse: ") for line in lines)


def test_demand_equals_shine_sales_quantities(run: ShineRun):
    items = sales_items_2015(run.shine)
    ordered = items.loc[items["LINE"] != DAMAGED_LINE, "QUANTITY"].astype(float).sum()
    demand = run.warehouse.scalar("select sum(demand_qty) from marts.fct_demand_daily")
    assert float(demand) == pytest.approx(ordered)
    by_material = run.warehouse.read_sql(
        "select material_id, sum(demand_qty) as qty from marts.fct_demand_daily "
        "where material_id = 'HT-1000' group by 1"
    )
    ht1000 = items[(items["PRODUCT.PRODUCTID"] == "HT-1000") & (items["LINE"] != DAMAGED_LINE)]
    assert float(by_material["qty"].iloc[0]) == pytest.approx(
        ht1000["QUANTITY"].astype(float).sum()
    )


def test_lead_times_come_from_the_derived_receipts(run: ShineRun):
    receipts = receipts_2015(run.shine)
    positive = (
        pd.to_datetime(receipts["DELIVERYDATE"]) > pd.to_datetime(receipts["ORDERED"])
    ).sum()
    observed = run.warehouse.scalar("select sum(observation_count) from marts.fct_lead_times")
    assert int(observed) == int(positive)
    assert run.warehouse.scalar("select min(min_lead_time_days) from marts.fct_lead_times") > 0


def test_every_sold_shine_product_has_a_forecast_and_a_policy(run: ShineRun):
    items = sales_items_2015(run.shine)
    sold = set(items.loc[items["LINE"] != DAMAGED_LINE, "PRODUCT.PRODUCTID"])
    forecast = run.warehouse.read_sql("select * from planning.demand_forecast")
    policies = run.warehouse.read_sql("select * from planning.inventory_policy")
    assert sold <= set(forecast["material_id"])
    assert sold <= set(policies["material_id"])
    assert set(forecast["plant_id"]) == {"1000"}
    ht1000 = forecast[forecast["material_id"] == "HT-1000"]
    assert len(ht1000) > 0
    assert (ht1000["forecast_lower"] <= ht1000["forecast_qty"] + 1e-9).all()
    assert (ht1000["forecast_qty"] <= ht1000["forecast_upper"] + 1e-9).all()
    policy = policies[policies["material_id"] == "HT-1000"].iloc[0]
    assert policy["safety_stock"] >= 0
    assert policy["reorder_point"] >= policy["safety_stock"] - 1e-9
    assert policy["unit_cost"] == pytest.approx(956.0)  # SHINE's price of HT-1000 (MBEW.STPRS)
