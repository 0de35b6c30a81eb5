"""The dbt warehouse on generated SAP data (DuckDB, plain `dbt` as CI runs it): base units,
currencies, addresses, partition-window tests, idempotent daily runs, reporting on planning
outputs, and documentation of every column."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.demo.generator import DemoConfig, generate
from pipelines.ingest.load import files_for_window, load_table
from pipelines.ingest.specs import TABLE_SPECS
from resources.paths import DBT_EXECUTABLE, DBT_PROJECT_DIR
from resources.warehouse import Warehouse, WarehouseSettings

CONFIG = DemoConfig(materials=8, plants=2, customers=24, vendors=3, days=119, seed=11)
FACTS = ("fct_sales_order_lines", "fct_goods_movements", "fct_inventory_daily", "fct_demand_daily")


@dataclass
class Dbt:
    """`dbt` against one DuckDB file, with its own target and log folders."""

    env: dict[str, str]

    def __call__(self, *args: str) -> tuple[int, list[dict]]:
        """Run a dbt command; returns its exit code and run_results entries."""
        done = subprocess.run(
            [DBT_EXECUTABLE, *args, "--profiles-dir", ".", "--target", "duckdb"],
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
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    tmp = tmp_path_factory.mktemp("warehouse")
    generate(CONFIG, tmp / "landing")
    settings = WarehouseSettings(kind="duckdb", duckdb_path=str(tmp / "warehouse.duckdb"))
    warehouse = settings.open()
    load_raw(warehouse, tmp / "landing", CONFIG)
    target = tmp / "target"
    target.mkdir()
    parsed = DBT_PROJECT_DIR / "target" / "partial_parse.msgpack"
    if parsed.exists():  # saves a full parse when it still fits (dbt checks)
        shutil.copy(parsed, target / parsed.name)
    env = {
        **os.environ,
        "SCP_DUCKDB_PATH": settings.duckdb_path,
        "DBT_TARGET_PATH": str(target),
        "DBT_LOG_PATH": str(tmp / "logs"),
    }
    dbt = Dbt(env)
    code, entries = dbt("build")
    assert code == 0 and not failures(entries), failures(entries)
    return Built(warehouse, dbt, target)


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
    )  # the goods issues, in the base unit, deliver exactly what was ordered
    assert float(issued) == pytest.approx(float(lines["base_qty"].sum()))
    delivered = wh.scalar("select sum(delivered_qty) from staging.stg_sap__lips")
    assert float(delivered) == pytest.approx(float(lines["base_qty"].sum()))


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
            "insert into raw.vbap select vbeln, 999990, matnr, werks, kwmeng, 'XYZ', netwr, "
            "waerk, erdat, _source_file, _source_line, _loaded_at "
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
    policy = keys.assign(
        abc_class=np.where(np.arange(len(keys)) % 2, "A", "C"),
        xyz_class="X",
        policy_type="(s,Q)",
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
            "MATNR": keys["material_id"].iloc[:3].tolist(),
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
    frames = {
        "demand_forecast": forecast,
        "inventory_policy": policy,
        "replenishment_proposals": proposals,
        "delivery_routes": routes,
    }
    return {name: frame.assign(forecast_origin=origin.date()) for name, frame in frames.items()}


def test_reporting_marts_are_empty_without_plans_and_summarise_them_once_written(
    built: Built,
) -> None:
    wh = built.warehouse
    reports = ("fct_forecast_accuracy", "kpi_forecast_accuracy", "kpi_inventory_policy")
    reports += ("kpi_replenishment_plan", "kpi_delivery_routes")
    for report in reports:
        assert wh.scalar(f"select count(*) from reporting.{report}") == 0, report

    planning = _planning_tables(wh)
    for name, frame in planning.items():
        wh.replace_tables({f"planning.{name}": frame}, where="true", params=[])
    code, entries = built.dbt("build", "--select", "path:models/reporting")
    assert code == 0 and not failures(entries), failures(entries)

    accuracy = wh.read_sql("select * from reporting.fct_forecast_accuracy")
    actual = wh.read_sql(
        "select material_id, plant_id, week_start, demand_qty, has_stockout "
        "from marts.fct_demand_weekly where is_complete_week"
    )
    actual["week_start"] = pd.to_datetime(actual["week_start"])
    forecast = planning["demand_forecast"]
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
