"""The dbt warehouse on generated SAP data (DuckDB, plain `dbt` as CI runs it): base units,
currencies, addresses, partition-window tests, idempotent daily runs, reporting on planning
outputs (DuckDB and Postgres), and documentation of every column."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from pipelines.demo.generator import DemoConfig, generate
from pipelines.ingest.load import files_for_window, load_table
from pipelines.ingest.specs import TABLE_SPECS
from pipelines.planning.simulation import summarise_kpis
from pipelines.warehouse.assets import daily_model_inputs, require_daily_model_inputs
from resources.dagster_resources import WarehouseResource
from resources.paths import DBT_EXECUTABLE, DBT_PROJECT_DIR
from resources.warehouse import Warehouse, WarehouseSettings

CONFIG = DemoConfig(materials=8, plants=2, customers=24, vendors=3, days=119, seed=11)
FACTS = ("fct_sales_order_lines", "fct_goods_movements", "fct_inventory_daily", "fct_demand_daily")


@dataclass
class Dbt:
    """`dbt` against one warehouse (DuckDB file or Postgres database), with its own target and
    log folders."""

    env: dict[str, str]
    target: str

    def __call__(self, *args: str) -> tuple[int, list[dict]]:
        """Run a dbt command; returns its exit code and run_results entries."""
        done = subprocess.run(
            [DBT_EXECUTABLE, *args, "--profiles-dir", ".", "--target", self.target],
            cwd=DBT_PROJECT_DIR,
            env=self.env,
            capture_output=True,
            text=True,
        )
        results = Path(self.env["DBT_TARGET_PATH"]) / "run_results.json"
        entries = json.loads(results.read_text())["results"] if results.exists() else []
        if done.returncode not in (0, 1) or not entries:
            raise AssertionError(f"dbt {' '.join(args)} crashed:\n{done.stdout}\n{done.stderr}")
        return done.returncode, entries


@dataclass
class Built:
    warehouse: Warehouse
    dbt: Dbt
    target: Path


def load_raw(warehouse: Warehouse, landing: Path, config: DemoConfig) -> None:
    """Load every generated table into raw.*, as the raw assets do."""
    window = (config.start, config.start + timedelta(days=config.days))
    for spec in TABLE_SPECS.values():
        part = window if spec.is_partitioned else None
        load_table(warehouse, spec, files_for_window(landing, spec, part), part, "test")


def failures(entries: list[dict]) -> list[str]:
    return [e["unique_id"] for e in entries if e["status"] not in ("success", "pass", "no-op")]


def day_vars(day: date) -> str:
    return json.dumps({"min_date": day.isoformat(), "max_date": (day + timedelta(1)).isoformat()})


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("landing")
    generate(CONFIG, path)
    return path


def build_warehouse(settings: WarehouseSettings, landing: Path, tmp: Path) -> Built:
    """Load the generated data into raw and `dbt build` the whole project on it."""
    warehouse = settings.open()
    load_raw(warehouse, landing, CONFIG)
    target = tmp / "target"
    target.mkdir()
    parsed = DBT_PROJECT_DIR / "target" / "partial_parse.msgpack"
    if parsed.exists():  # saves a full parse when it still fits (dbt checks)
        shutil.copy(parsed, target / parsed.name)
    env = {
        **os.environ,
        "SCP_DUCKDB_PATH": settings.duckdb_path,
        "SCP_PG_DATABASE": settings.pg_database,
        "DBT_TARGET_PATH": str(target),
        "DBT_LOG_PATH": str(tmp / "logs"),
    }
    dbt = Dbt(env, settings.kind)
    code, entries = dbt("build")
    assert code == 0 and not failures(entries), failures(entries)
    return Built(warehouse, dbt, target)


@pytest.fixture(scope="module")
def built(landing: Path, tmp_path_factory: pytest.TempPathFactory) -> Built:
    tmp = tmp_path_factory.mktemp("warehouse")
    settings = WarehouseSettings(kind="duckdb", duckdb_path=str(tmp / "warehouse.duckdb"))
    return build_warehouse(settings, landing, tmp)


@pytest.fixture(params=["duckdb", "postgres"])
def engine_built(
    request: pytest.FixtureRequest, landing: Path, tmp_path_factory: pytest.TempPathFactory
) -> Built:
    """The DuckDB warehouse of this module, or the same data built in a fresh Postgres
    database (for the models whose SQL differs most between the engines)."""
    if request.param == "duckdb":
        return request.getfixturevalue("built")
    database = request.getfixturevalue("postgres_database")
    settings = WarehouseSettings(kind="postgres", pg_database=database)
    return build_warehouse(settings, landing, tmp_path_factory.mktemp("postgres"))


def test_demand_is_counted_in_base_units(built: Built) -> None:
    wh = built.warehouse
    vbap = wh.read_sql("select matnr, werks, kwmeng, vrkme from raw.vbap")
    marm = wh.read_sql("select matnr, meinh as vrkme, umrez, umren from raw.marm")
    base_unit = wh.read_sql("select matnr, meins from raw.mara").set_index("matnr")["meins"]
    assert (vbap["vrkme"] != vbap["matnr"].map(base_unit)).sum() > 10  # cartons, packs
    lines = vbap.merge(marm, on=["matnr", "vrkme"], how="left", validate="many_to_one")
    lines["base_qty"] = lines["kwmeng"] * lines["umrez"] / lines["umren"]
    expected = lines.groupby(["matnr", "werks"])["base_qty"].sum()
    for mart in ("fct_demand_daily", "fct_demand_weekly"):
        got = wh.read_sql(
            f"select material_id, plant_id, sum(demand_qty) as qty from marts.{mart} "
            "group by 1, 2 having sum(demand_qty) <> 0"
        ).set_index(["material_id", "plant_id"])["qty"]
        pd.testing.assert_series_equal(
            got.sort_index().astype(float), expected.sort_index(), check_names=False
        )
    issued = wh.scalar(
        "select -sum(menge) from raw.mseg where bwart in ('601', '602')"
    )  # the goods issues, in the base unit, deliver what was ordered unless stock ran short
    assert 0 < float(issued) <= float(lines["base_qty"].sum())
    delivered = wh.scalar("select sum(delivered_qty) from staging.stg_sap__lips")
    assert float(delivered) == pytest.approx(float(issued))


def test_amounts_are_in_their_currency_decimals(built: Built) -> None:
    wh = built.warehouse
    items = wh.read_sql(
        "select r.waerk, r.netwr, s.net_value, s.currency_code from raw.vbap r "
        "join staging.stg_sap__vbap s on s.sales_order_id = r.vbeln "
        "and s.sales_order_item = r.posnr"
    )
    yen, euro = items[items["waerk"] == "JPY"], items[items["waerk"] == "EUR"]
    assert len(yen) > 0 and len(euro) > 0
    # SAP stores 1 000 JPY as 10.00: TCURX says JPY has no decimals.
    assert np.allclose(yen["net_value"], yen["netwr"] * 100)
    assert (yen["net_value"] == yen["net_value"].round()).all()
    assert np.allclose(euro["net_value"], euro["netwr"])
    lines = wh.read_sql("select currency_code, net_value from marts.fct_sales_order_lines")
    assert np.isclose(
        lines.loc[lines["currency_code"] == "JPY", "net_value"].sum(), yen["netwr"].sum() * 100
    )


class RolledBack(Exception):
    """Raised to undo a test's raw rows: the staging views read them inside the transaction."""


def staged_with(wh: Warehouse, table: str, rows: list[dict], query: str) -> list[tuple]:
    """`query`'s rows while `rows` (raw columns; the rest copied from a row of `table`) are in
    raw, inside one transaction that is rolled back, so the module's warehouse is unchanged."""
    with pytest.raises(RolledBack), wh.transaction() as cur:
        cur.execute(f"select * from raw.{table} limit 1")
        names = [d[0] for d in cur.description]
        template = dict(zip(names, cur.fetchone(), strict=True))
        for row in rows:
            values = template | row
            marks = ", ".join("?" for _ in names)
            cur.execute(
                wh.placeholders(f"insert into raw.{table} values ({marks})"),
                [values[n] for n in names],
            )
        cur.execute(query)
        found = [tuple(r) for r in cur.fetchall()]
        raise RolledBack
    return found


def test_staging_signs_movements_by_debit_credit_and_keeps_the_latest_po_change(
    engine_built: Built,
) -> None:
    """MB51 extracts sign issues negative; SE16N's MSEG is unsigned, with SHKZG alone. EKPO is
    partitioned by change date: a backfill that reloads the older day after the newer one
    must not bring the older version back. (One test: each Postgres build costs a minute.)"""
    movements = [
        {"mblnr": "SIGN00001", "zeile": 1, "menge": 5.0, "dmbtr": 12.5, "shkzg": "H"},  # SE16N
        {"mblnr": "SIGN00001", "zeile": 2, "menge": -5.0, "dmbtr": -12.5, "shkzg": "H"},  # MB51
        {"mblnr": "SIGN00001", "zeile": 3, "menge": 7.0, "dmbtr": 3.0, "shkzg": "S"},
    ]
    found = staged_with(
        engine_built.warehouse,
        "mseg",
        movements,
        "select material_document_item, quantity, amount_local from staging.stg_sap__mseg "
        "where material_document_id = 'SIGN00001' order by 1",
    )
    assert [(int(i), float(q)) for i, q, _ in found] == [(1, -5.0), (2, -5.0), (3, 7.0)]
    assert [float(a) < 0 for *_, a in found] == [True, True, False]

    versions = [
        {"ebeln": "PO-CHANGED", "ebelp": 10, "menge": 80.0, "aedat": date(2025, 1, 12)},
        {
            "ebeln": "PO-CHANGED",
            "ebelp": 10,
            "menge": 100.0,
            "aedat": date(2025, 1, 10),
            "_loaded_at": datetime(2030, 1, 1),  # reloaded last
        },
    ]
    found = staged_with(
        engine_built.warehouse,
        "ekpo",
        versions,
        "select ordered_qty_order_unit, changed_on from staging.stg_sap__ekpo "
        "where purchase_order_id = 'PO-CHANGED'",
    )
    assert [(float(q), d) for q, d in found] == [(80.0, date(2025, 1, 12))]


def test_customers_and_plants_carry_their_adrc_address(built: Built) -> None:
    wh = built.warehouse
    owners = wh.read_sql("select addrnumber, appl_table, appl_key from raw.adrv")
    addresses = wh.read_sql("select addrnumber, street, latitude from raw.adrc")
    expected = owners.merge(addresses, on="addrnumber").assign(key=lambda f: f.appl_key.str[3:])
    for dim, key, table in (
        ("dim_customer", "customer_id", "KNA1"),
        ("dim_plant", "plant_id", "T001W"),
    ):
        got = wh.read_sql(f"select {key} as key, street, latitude from marts.{dim}")
        want = expected[expected["appl_table"] == table]
        merged = got.merge(want, on="key", suffixes=("", "_adrc"), validate="one_to_one")
        assert len(merged) == len(got) > 0
        assert (merged["street"] == merged["street_adrc"]).all()
        assert np.allclose(merged["latitude"], merged["latitude_adrc"])


def _fingerprint(wh: Warehouse) -> dict[str, tuple]:
    return {
        fact: tuple(wh.read_sql(f"select count(*), sum(hash(t)) from marts.{fact} t").iloc[0])
        for fact in FACTS
    }


def test_a_daily_run_tests_only_its_window_and_replaces_exactly_its_day(built: Built) -> None:
    wh = built.warehouse
    bad_day = CONFIG.start + timedelta(days=40)
    run_day = CONFIG.start + timedelta(days=70)
    before = _fingerprint(wh)
    # A sales order item in a unit without a MARM conversion, on a day this run does not cover.
    with wh.transaction() as cur:
        cur.execute(
            "insert into raw.vbap (vbeln, posnr, matnr, werks, kwmeng, vrkme, netwr, waerk, "
            "erdat, abgru, _source_file, _source_line, _loaded_at) "
            "select vbeln, 999990, matnr, werks, kwmeng, 'XYZ', netwr, "
            "waerk, erdat, abgru, _source_file, _source_line, _loaded_at "
            "from raw.vbap where erdat = ? limit 1",
            [bad_day.isoformat()],
        )
    try:
        code, entries = built.dbt(
            "build",
            "--indirect-selection",
            "buildable",
            "--select",
            "tag:partitioned",
            "--vars",
            day_vars(run_day),
        )
        assert code == 0 and not failures(entries), failures(entries)
        tests = [e for e in entries if e["unique_id"].startswith("test.")]
        assert len(tests) > 50
        compiled = next(
            (built.target / "run").rglob("not_null_stg_sap__vbap_order_qty.sql")
        ).read_text()
        assert f"created_on >= cast('{run_day.isoformat()}' as date)" in compiled
        assert _fingerprint(wh) == before  # the day was replaced by the same rows

        code, entries = built.dbt("test", "--select", "stg_sap__vbap", "--vars", day_vars(bad_day))
        assert code == 1
        [failed] = failures(entries)
        assert failed.startswith("test.sap_planning.not_null_stg_sap__vbap_order_qty.")
    finally:
        with wh.transaction() as cur:
            cur.execute("delete from raw.vbap where posnr = 999990")


def _planning_tables(wh: Warehouse) -> dict[str, pd.DataFrame]:
    """Planning outputs shaped as the planning code writes them (see pipelines/planning)."""
    weekly = wh.read_sql(
        "select material_id, plant_id, week_start from marts.fct_demand_weekly "
        "where is_complete_week"
    )
    keys = weekly[["material_id", "plant_id"]].drop_duplicates()
    weeks = sorted(pd.to_datetime(weekly["week_start"]).unique())
    origin = pd.Timestamp(weeks[-4])
    forecast = keys.merge(
        pd.DataFrame({"week_start": pd.date_range(origin, periods=13, freq="7D")}), how="cross"
    ).assign(model="ses", forecast_qty=5.0, forecast_lower=2.0, forecast_upper=9.0)
    i = np.arange(len(keys))
    policy = keys.assign(
        abc_class=np.where(i % 2, "A", "C"),
        xyz_class="X",
        policy_type=np.where(i % 3, "(s,Q)", "(R,S)"),
        service_target=0.95,
        mean_weekly_demand=10.0,
        safety_stock=np.arange(len(keys), dtype=float),
        reorder_point=20.0,
        unit_cost=3.0,
        expected_fill_rate=0.9,
        expected_avg_inventory=12.0,
        expected_orders_per_year=13.0,
    )
    proposals = pd.DataFrame(
        {
            "MATNR": keys["material_id"].drop_duplicates().iloc[:3].tolist(),
            "WERKS": keys["plant_id"].iloc[0],
            "LIFNR": "0000300000",
            "MENGE": [10.0, 20.0, 30.0],
            "FRGDT": [origin.date()] * 3,
            "LFDAT": [(origin + pd.Timedelta(days=d)).date() for d in (7, 14, 14)],
            "WAERS": "EUR",
            "order_value": [100.0, 200.0, 300.0],
        }
    )
    routes = pd.DataFrame(
        {
            "vehicle_id": [1, 1, 1, 1],
            "depot_id": keys["plant_id"].iloc[0],
            "sequence": [0, 1, 2, 3],
            "stop_id": ["depot", "c1", "c2", "depot"],
            "kind": ["start", "stop", "stop", "end"],
            "arrival": [480.0, 500.0, 530.0, 575.0],
            "departure": [470.0, 510.0, 540.0, 575.0],
            "load": [0.0, 4.0, 9.0, 9.0],
            "distance": [0.0, 12.5, 7.5, 20.0],
        }
    )
    # The policies replayed (simulate_policy columns): the first series had no demand, the
    # others fill 0.905 to 0.965 of it against a target of 0.97 (A) or 0.90 (C).
    fill_rate_target = np.where(policy["abc_class"] == "A", 0.97, 0.90)
    fill_rate = np.where(i == 0, np.nan, 0.905 + 0.02 * (i % 4))
    total_demand = np.where(i == 0, 0.0, 100.0 + 10 * i)
    cycles = np.where(i == 0, 0, 4 + i % 3)
    backtest = policy[["material_id", "plant_id", "policy_type"]].assign(
        target_type="fill_rate",
        service_target=fill_rate_target,
        days_measured=182,
        total_demand=total_demand,
        filled_demand=np.nan_to_num(fill_rate * total_demand),
        fill_rate=fill_rate,
        fill_rate_target=fill_rate_target,
        cycles=cycles,
        cycle_service_level=np.where(cycles > 0, (cycles - 1) / np.maximum(cycles, 1), np.nan),
        csl_target=0.8,
        service_delta=fill_rate - fill_rate_target,
        avg_inventory_units=10.0 + i,
        avg_inventory_value=3.0 * (10.0 + i),
        expected_avg_inventory=12.0,
        unit_cost=3.0,
        orders=5 + i % 2,
        expected_orders=5.5,
        stockout_days=i % 3,
    )
    frontier = pd.DataFrame(
        {
            "service_target": [0.90, 0.95, 0.99],
            "target_type": "fill_rate",
            "safety_stock_value": [400.0, 600.0, 1200.0],
            "planned_inventory_value": [1000.0, 1300.0, 2100.0],
            "expected_fill_rate": [0.91, 0.95, 0.985],
            "achieved_fill_rate": [0.88, 0.94, 0.99],
            "achieved_csl": [0.7, 0.8, 0.95],
            "simulated_inventory_value": [950.0, 1250.0, 2000.0],
            "orders": [40, 40, 41],
            "stockout_days": [30, 12, 2],
        }
    )
    frames = {
        "demand_forecast": forecast,
        "inventory_policy": policy,
        "replenishment_proposals": proposals,
        "delivery_routes": routes,
        "policy_backtest": backtest,
    }
    tables = {name: frame.assign(forecast_origin=origin.date()) for name, frame in frames.items()}
    vintages = (origin - pd.Timedelta(days=7), origin)
    tables["service_frontier"] = pd.concat(
        [frontier.assign(forecast_origin=vintage.date()) for vintage in vintages]
    )
    return tables


def test_reporting_marts_are_empty_without_plans_and_summarise_them_once_written(
    engine_built: Built,
) -> None:
    wh = engine_built.warehouse
    reports = ("fct_demand_forecast", "fct_forecast_accuracy", "kpi_forecast_accuracy")
    reports += ("kpi_inventory_policy", "fct_purchase_proposals")
    reports += ("kpi_replenishment_plan", "kpi_delivery_routes")
    reports += ("kpi_policy_backtest", "kpi_service_frontier")
    for report in reports:
        assert wh.scalar(f"select count(*) from reporting.{report}") == 0, report

    planning = _planning_tables(wh)
    for name, frame in planning.items():
        wh.replace_tables({f"planning.{name}": frame}, where="true", params=[])
    code, entries = engine_built.dbt("build", "--select", "path:models/reporting")
    assert code == 0 and not failures(entries), failures(entries)

    forecast = planning["demand_forecast"]
    ahead = wh.read_sql("select * from reporting.fct_demand_forecast")
    assert len(ahead) == len(forecast)  # every week, the ones still ahead too
    assert sorted(set(ahead["horizon_weeks"])) == list(range(1, 14))
    assert ahead["is_latest_vintage"].astype(bool).all()
    assert ahead["forecast_qty"].astype(float).eq(5.0).all()

    accuracy = wh.read_sql("select * from reporting.fct_forecast_accuracy")
    actual = wh.read_sql(
        "select material_id, plant_id, week_start, demand_qty, has_stockout "
        "from marts.fct_demand_weekly where is_complete_week"
    )
    actual["week_start"] = pd.to_datetime(actual["week_start"])
    expected = forecast.merge(actual, on=["material_id", "plant_id", "week_start"])
    assert len(accuracy) == len(expected) == 4 * len(forecast) // 13  # 4 complete weeks
    assert set(accuracy["horizon_weeks"]) == {1, 2, 3, 4}
    evaluated = accuracy[~accuracy["has_stockout"].astype(bool)]
    censored = accuracy[accuracy["has_stockout"].astype(bool)]
    assert len(censored) > 0 and censored["error"].isna().all()
    assert np.allclose(evaluated["error"], 5.0 - evaluated["actual_qty"])
    kpi = wh.read_sql(
        "select sum(abs_error) as e, sum(evaluated_weeks) as n from reporting.kpi_forecast_accuracy"
    )
    assert float(kpi["e"].iat[0]) == pytest.approx(float(evaluated["abs_error"].sum()))
    assert int(kpi["n"].iat[0]) == len(evaluated)

    policies = wh.read_sql(
        "select abc_class, sum(policies) as n, sum(safety_stock_value) as value "
        "from reporting.kpi_inventory_policy group by abc_class order by abc_class"
    )
    policy = planning["inventory_policy"]
    want = (policy.safety_stock * policy.unit_cost).groupby(policy.abc_class).sum()
    assert policies["value"].tolist() == pytest.approx(want.sort_index().tolist())
    assert policies["n"].sum() == len(policy)

    lines = wh.read_sql("select * from reporting.fct_purchase_proposals order by quantity")
    sent = planning["replenishment_proposals"]
    assert lines["material_id"].tolist() == sent["MATNR"].tolist()
    assert lines["quantity"].astype(float).tolist() == [10.0, 20.0, 30.0]
    assert set(lines["vendor_id"]) == {"0000300000"} and set(lines["currency_code"]) == {"EUR"}
    assert lines["requisition_item"].isna().all()  # a field the table lacks reads as null
    assert lines["is_latest_vintage"].astype(bool).all()

    plan = wh.read_sql("select * from reporting.kpi_replenishment_plan")
    assert plan[["proposal_lines", "materials"]].values.tolist() == [[3, 3]]
    assert float(plan["order_value"].iat[0]) == 600.0
    assert pd.Timestamp(plan["last_delivery_date"].iat[0]) - pd.Timestamp(
        plan["first_delivery_date"].iat[0]
    ) == pd.Timedelta(days=7)

    routes = wh.read_sql("select * from reporting.kpi_delivery_routes")
    assert routes[["stops", "distance", "peak_load", "route_duration"]].values.tolist() == [
        [2, 40.0, 9.0, 105.0]
    ]

    _assert_policy_backtest_summarised(
        wh, planning["policy_backtest"], planning["inventory_policy"]
    )
    _assert_service_frontier_reported(wh)


def _assert_policy_backtest_summarised(
    wh: Warehouse, backtest: pd.DataFrame, policy: pd.DataFrame
) -> None:
    """The report's sums and ratios equal the asset's own summary (summarise_kpis) per group,
    with each series in the ABC / XYZ class of its vintage's policy."""
    grain = ["plant_id", "abc_class", "xyz_class", "policy_type"]
    classes = policy[["material_id", "plant_id", "abc_class", "xyz_class"]]
    want = summarise_kpis(backtest.merge(classes, on=["material_id", "plant_id"]), by=grain)
    want = want.rename(
        columns={
            "with_target": "series_with_target",
            "inventory_value": "avg_inventory_value",
            "share_within_tolerance": "share_within_2_points",
        }
    )
    got = wh.read_sql("select * from reporting.kpi_policy_backtest")
    assert got["is_latest_vintage"].astype(bool).all()
    assert len(got) == len(want) > 2 and set(got["policy_type"]) == {"(s,Q)", "(R,S)"}
    merged = got.merge(want, on=grain, suffixes=("", "_asset"), validate="one_to_one")
    for column in (
        "series",
        "series_with_target",
        "total_demand",
        "filled_demand",
        "cycles",
        "avg_inventory_value",
        "orders",
        "stockout_days",
        "fill_rate",
        "fill_rate_target",
        "fill_rate_delta",
        "cycle_service_level",
        "csl_target",
        "share_within_2_points",
    ):
        report, asset = merged[column].astype(float), merged[f"{column}_asset"].astype(float)
        assert np.allclose(report, asset, equal_nan=True), column
    # Re-aggregated over everything, the sums give the asset's overall figures.
    total = summarise_kpis(backtest).iloc[0]
    overall = wh.read_sql(
        "select sum(filled_demand) / sum(total_demand) as fill_rate, "
        "sum(target_filled_demand) / sum(total_demand) as fill_rate_target, "
        "cast(sum(ok_cycles) as double precision) / sum(cycles) as csl, "
        "cast(sum(series_within_2_points) as double precision) / sum(series_with_target) "
        "as share_within, sum(expected_avg_inventory_value) as planned_value "
        "from reporting.kpi_policy_backtest"
    ).iloc[0]
    assert float(overall["fill_rate"]) == pytest.approx(total["fill_rate"])
    assert float(overall["fill_rate_target"]) == pytest.approx(total["fill_rate_target"])
    assert float(overall["csl"]) == pytest.approx(total["cycle_service_level"])
    assert float(overall["share_within"]) == pytest.approx(total["share_within_tolerance"])
    planned = (backtest["expected_avg_inventory"] * backtest["unit_cost"]).sum()
    assert float(overall["planned_value"]) == pytest.approx(planned)


def _assert_service_frontier_reported(wh: Warehouse) -> None:
    frontier = wh.read_sql(
        "select * from reporting.kpi_service_frontier order by forecast_origin, service_target"
    )
    assert frontier["is_latest_vintage"].astype(bool).tolist() == [False] * 3 + [True] * 3
    latest = frontier[frontier["is_latest_vintage"].astype(bool)]
    # Planned inventory 1000 -> 1300 -> 2100 over targets 0.90 -> 0.95 -> 0.99.
    per_point = latest["inventory_value_per_point"].astype(float).tolist()
    assert np.isnan(per_point[0]) and per_point[1:] == pytest.approx([60.0, 200.0])
    delta = (latest["achieved_fill_rate"] - latest["expected_fill_rate"]).astype(float)
    assert latest["fill_rate_delta"].astype(float).tolist() == pytest.approx(delta.tolist())


def test_every_built_column_is_documented(built: Built) -> None:
    manifest = json.loads((built.target / "manifest.json").read_text())
    wh = built.warehouse
    problems = []
    for node in manifest["nodes"].values():
        if node["resource_type"] not in ("model", "snapshot"):
            continue
        if node["config"]["materialized"] == "ephemeral":
            continue
        built_columns = wh.read_sql(
            "select column_name from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [node["schema"], node["alias"]],
        )["column_name"].tolist()
        documented = node["columns"]
        missing = [c for c in built_columns if c not in documented]
        stale = [c for c in documented if c not in built_columns]
        blank = [c for c, doc in documented.items() if not doc.get("description")]
        if not node.get("description") or missing or stale or blank or not built_columns:
            problems.append((node["name"], missing, stale, blank))
    assert not problems, problems


def test_daily_models_on_a_new_warehouse_say_what_to_run_first(tmp_path: Path) -> None:
    """ingest_daily launched before refresh_master_data failed with dbt's "Table with name
    stg_sap__tcurx does not exist!"; the run now names what to run first."""
    resource = WarehouseResource(kind="duckdb", duckdb_path=str(tmp_path / "new.duckdb"))
    assert "staging.stg_sap__tcurx" in daily_model_inputs()
    with pytest.raises(dg.Failure) as failure:
        require_daily_model_inputs(resource)
    assert "run the refresh_master_data job first" in failure.value.description
    assert "staging.stg_sap__tcurx" in failure.value.description

    # Automation runs a day's staging once its raw day is loaded, and holds the facts until
    # their master inputs exist: a run fails only for the inputs of the models it builds.
    # Before, every daily run on a new warehouse failed for marts.dim_date, and automation
    # counted the day as handled, so it never ran once master data came.
    require_daily_model_inputs(resource, {dg.AssetKey(["staging", "stg_sap__vbak"])})
    with pytest.raises(dg.Failure) as failure:
        require_daily_model_inputs(resource, {dg.AssetKey(["staging", "stg_sap__mseg"])})
    assert failure.value.description.startswith(
        "The daily models join staging.stg_sap__tcurx, which the warehouse does not hold yet"
    )
