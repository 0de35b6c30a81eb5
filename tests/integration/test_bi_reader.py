"""BI tools log in as bi_reader (Postgres): they can run their queries on marts and reporting,
and can neither write there nor read anything else."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pandas as pd
import psycopg
import pytest
from psycopg import errors

from pipelines.demo.generator import DemoConfig, generate
from pipelines.ingest.load import files_for_window, load_table
from pipelines.ingest.specs import TABLE_SPECS
from resources.paths import DBT_EXECUTABLE, DBT_PROJECT_DIR
from resources.warehouse import WarehouseSettings

CONFIG = DemoConfig(materials=6, plants=2, customers=16, vendors=3, days=98, seed=5)

INVENTORY_BY_PLANT_AND_MONTH = """
select p.plant_id, p.plant_name, k.month_start, sum(k.end_stock_value) as inventory_value
from reporting.kpi_inventory k
join marts.dim_plant p on p.plant_id = k.plant_id
group by p.plant_id, p.plant_name, k.month_start
order by p.plant_id, k.month_start
"""

TOP_20_STOCKOUTS = """
select d.material_id, m.material_description, p.plant_name, d.plant_id,
       count(*) as stockout_days
from marts.fct_demand_daily d
join marts.dim_material m on m.material_id = d.material_id
join marts.dim_plant p on p.plant_id = d.plant_id
where d.is_stockout
group by d.material_id, m.material_description, p.plant_name, d.plant_id
order by stockout_days desc, d.material_id, d.plant_id
limit 20
"""

SERVICE_TREND = """
select month_start,
       sum(delivered_qty) / sum(ordered_qty) as fill_rate,
       cast(sum(otif_lines) as double precision) / sum(order_lines) as otif_rate,
       sum(order_lines) as order_lines
from reporting.kpi_service
group by month_start
order by month_start
"""


def query(con: psycopg.Connection, sql: str) -> pd.DataFrame:
    cur = con.execute(sql)
    return pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])


@pytest.fixture(scope="module")
def database(postgres_server: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh database with the demo data loaded into raw and `dbt build --target postgres`.

    Module-scoped (like conftest's function-scoped `postgres_database`), so the build runs once.
    """
    name = f"scp_bi_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(**postgres_server, autocommit=True) as con:
        con.execute(f"create database {name}")
    try:
        tmp = tmp_path_factory.mktemp("bi_reader")
        generate(CONFIG, tmp / "landing")
        warehouse = WarehouseSettings(kind="postgres", pg_database=name).open()
        window = (CONFIG.start, CONFIG.start + timedelta(days=CONFIG.days))
        for spec in TABLE_SPECS.values():
            part = window if spec.is_partitioned else None
            files = files_for_window(tmp / "landing", spec, part)
            load_table(warehouse, spec, files, part, "test")
        env = {
            **os.environ,
            "SCP_PG_DATABASE": name,
            "DBT_TARGET_PATH": str(tmp / "target"),
            "DBT_LOG_PATH": str(tmp / "logs"),
        }
        done = subprocess.run(
            [DBT_EXECUTABLE, "build", "--profiles-dir", ".", "--target", "postgres"],
            cwd=DBT_PROJECT_DIR,
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout[-5000:]
        yield name
    finally:
        with psycopg.connect(**postgres_server, autocommit=True) as con:
            con.execute(f"drop database if exists {name} with (force)")


@pytest.fixture
def bi(postgres_server: dict, database: str) -> Iterator[psycopg.Connection]:
    settings = {**postgres_server, "user": "bi_reader", "dbname": database}
    with psycopg.connect(**settings, autocommit=True) as con:
        assert con.execute("select current_user").fetchone() == ("bi_reader",)
        yield con


@pytest.fixture
def admin(postgres_server: dict, database: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(**{**postgres_server, "dbname": database}, autocommit=True) as con:
        yield con


def test_inventory_value_by_plant_and_month(bi: psycopg.Connection, admin) -> None:
    got = query(bi, INVENTORY_BY_PLANT_AND_MONTH)
    assert len(got) == 2 * 4  # two plants, 2024-01..2024-04
    # The same figure from raw SAP data: month-end stock (MARD, last snapshot of each material x
    # plant in the month) at the MBEW price per base unit.
    stock = query(
        admin,
        """select m.matnr, m.werks, m.datum, sum(m.labst + m.insme + m.speme) as qty,
                  max(case when b.vprsv = 'S' then b.stprs else b.verpr end / b.peinh) as price
           from raw.mard m join raw.mbew b on b.matnr = m.matnr and b.bwkey = m.werks
           group by m.matnr, m.werks, m.datum""",
    )
    stock["month_start"] = pd.to_datetime(stock["datum"]).dt.to_period("M").dt.start_time
    month_end = stock.loc[stock.groupby(["matnr", "werks", "month_start"])["datum"].idxmax()]
    value = (
        (month_end["qty"] * month_end["price"])
        .groupby([month_end["werks"], month_end["month_start"]])
        .sum()
    )
    got_value = got.set_index(["plant_id", pd.to_datetime(got["month_start"])])["inventory_value"]
    pd.testing.assert_series_equal(
        got_value.astype(float).sort_index(), value.sort_index(), check_names=False
    )


def test_top_20_stockouts(bi: psycopg.Connection, admin) -> None:
    got = query(bi, TOP_20_STOCKOUTS)
    assert 0 < len(got) <= 20 and got["material_description"].notna().all()
    # Stockout days from raw: end-of-day unrestricted stock (all storage locations) is zero.
    days = query(
        admin,
        """select matnr, werks, count(*) as days from (
               select matnr, werks, datum from raw.mard
               group by matnr, werks, datum having sum(labst) <= 0) as empty
           group by matnr, werks""",
    ).set_index(["matnr", "werks"])["days"]
    listed = got.set_index(["material_id", "plant_id"])["stockout_days"]
    assert (listed == days.reindex(listed.index)).all()
    unlisted = days.drop(listed.index)
    assert unlisted.empty or listed.min() >= unlisted.max()


def test_service_trend(bi: psycopg.Connection) -> None:
    got = query(bi, SERVICE_TREND)
    assert len(got) >= 3 and (got["order_lines"] > 0).all()
    fill, otif = got["fill_rate"].astype(float), got["otif_rate"].astype(float)
    # Contract customers keep their orders when stock runs short, and some orders ship late:
    # fill rate (by quantity) and OTIF (by line) fall below 1 without reaching 0.
    for rate in (fill, otif):
        assert rate.between(0, 1, inclusive="right").all()
        assert rate.min() < 1


def test_reporting_marts_on_plans_are_readable(bi: psycopg.Connection) -> None:
    for table in (
        "fct_demand_forecast",
        "fct_purchase_proposals",
        "kpi_forecast_accuracy",
        "kpi_inventory_policy",
        "kpi_replenishment_plan",
        "kpi_policy_backtest",
        "kpi_service_frontier",
    ):
        assert query(bi, f"select count(*) as n from reporting.{table}")["n"].iat[0] == 0


@pytest.mark.parametrize(
    "statement",
    [
        "insert into marts.dim_plant select * from marts.dim_plant",
        "delete from reporting.kpi_service",
        "create table marts.bi_scratch (x integer)",
        "create table reporting.bi_scratch (x integer)",
        "select * from raw.vbap limit 1",
        "select * from quarantine.rejected_rows limit 1",
        "select * from staging.stg_sap__vbap limit 1",
    ],
)
def test_bi_reader_may_not_write_marts_or_read_other_schemas(
    bi: psycopg.Connection, statement: str
) -> None:
    with pytest.raises(errors.InsufficientPrivilege, match="permission denied"):
        bi.execute(statement)


def test_the_denied_objects_exist(admin: psycopg.Connection) -> None:
    """So the permission errors above are about grants, not missing tables."""
    for table in ("raw.vbap", "quarantine.rejected_rows", "staging.stg_sap__vbap"):
        assert admin.execute(f"select count(*) from {table}").fetchone()[0] >= 0
