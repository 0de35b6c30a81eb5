"""Raw quality checks on DuckDB and Postgres: bad rows injected into raw are quarantined with
reason, file and line; the quarantined share fails the check; a blocking failure stops the
downstream asset of the run; cross-file duplicates are found across chunk boundaries."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

import pipelines.ingest.assets as assets_module
from pipelines.alerts import Alert
from pipelines.conditions import follow_any_partition
from pipelines.demo import DemoConfig, generate
from pipelines.ingest.assets import raw_asset_key, raw_assets
from pipelines.ingest.checks import CHECK_NAME, build_quality_check
from pipelines.ingest.landing import MANIFEST_TABLE
from pipelines.ingest.load import files_for_window, load_table, raw_table_columns
from pipelines.ingest.quality import QualityRules, run_table_quality
from pipelines.ingest.specs import TABLE_SPECS
from pipelines.partitions import daily_partitions
from resources.dagster_resources import LandingZone, WarehouseResource
from resources.warehouse import QUARANTINE_TABLE, Warehouse

MSEG = TABLE_SPECS["MSEG"]
T001W = TABLE_SPECS["T001W"]
ASSETS = {key.path[-1]: asset for asset in raw_assets for key in asset.keys}
MSEG_CHECK = build_quality_check(MSEG)


@pytest.fixture(scope="module")
def demo_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    landing = tmp_path_factory.mktemp("demo")
    generate(DemoConfig(materials=8, plants=2, customers=10, vendors=2, days=6, seed=7), landing)
    return landing


@pytest.fixture(params=["duckdb", "postgres"])
def resource(request: pytest.FixtureRequest, tmp_path: Path) -> WarehouseResource:
    if request.param == "duckdb":
        return WarehouseResource(kind="duckdb", duckdb_path=str(tmp_path / "wh.duckdb"))
    return WarehouseResource(
        kind="postgres", pg_database=request.getfixturevalue("postgres_database")
    )


def busiest_day(landing: Path) -> date:
    """The demo day with the most MSEG lines, so the injected rows have company."""
    files = sorted(landing.glob("MSEG_*.csv"), key=lambda p: (len(p.read_bytes().splitlines()), p))
    stamp = files[-1].stem.split("_")[1]
    return date(int(stamp[:4]), int(stamp[4:6]), int(stamp[6:]))


def window_of(day: date) -> tuple[date, date]:
    return day, day + timedelta(days=1)


def load_demo(warehouse: Warehouse, landing: Path, day: date) -> int:
    load_table(warehouse, T001W, files_for_window(landing, T001W, None), None, "load-t001w")
    window = window_of(day)
    report = load_table(warehouse, MSEG, files_for_window(landing, MSEG, window), window, "load")
    assert report.rows_quarantined == 0 and report.rows_loaded >= 5
    return report.rows_loaded


def run_check(resource: WarehouseResource, day: date) -> dg.AssetCheckEvaluation:
    """Only the check, for the day's partition. `partition_key=` rejects a selection without
    assets in Dagster 1.13, so the partition goes in as the run tag the UI sets."""
    result = dg.materialize(
        [ASSETS["mseg"], MSEG_CHECK],
        selection=dg.AssetSelection.checks(MSEG_CHECK),
        tags={"dagster/partition": day.isoformat()},
        resources={"warehouse": resource, "landing": LandingZone()},
        raise_on_error=False,
    )
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def quarantine(warehouse: Warehouse) -> list[tuple]:
    frame = warehouse.read_sql(
        f"select source_file, source_line, column_name, reason, raw_record, run_id "
        f"from {QUARANTINE_TABLE} order by source_line, column_name"
    )
    return [tuple(row) for row in frame.itertuples(index=False)]


def test_injected_bad_rows_are_quarantined_and_fail_the_check(
    resource: WarehouseResource, demo_landing: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = resource.open()
    day = busiest_day(demo_landing)
    loaded = load_demo(warehouse, demo_landing, day)
    file = f"MSEG_{day:%Y%m%d}.csv"
    good = warehouse.read_sql("select * from raw.mseg order by _source_line")
    first = good.iloc[0]
    later = (day + timedelta(days=5)).isoformat()
    bad = pd.DataFrame(
        [
            first.to_dict() | {"mblnr": "7000000001", "bwart": "999", "_source_line": 9001},
            first.to_dict() | {"mblnr": "7000000002", "werks": "9999", "_source_line": 9002},
            first.to_dict() | {"_source_line": 9003},  # the key of the first row again
            first.to_dict() | {"mblnr": "7000000004", "budat_mkpf": later, "_source_line": 9004},
            first.to_dict() | {"mblnr": "7000000005", "meins": "XX", "_source_line": 9005},
        ]
    )
    bad["budat_mkpf"] = pd.to_datetime(bad["budat_mkpf"]).dt.date
    with warehouse.transaction() as cur:
        warehouse.insert_frame(cur, "raw.mseg", bad)

    evaluation = run_check(resource, day)

    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert evaluation.partition == day.isoformat()
    metadata = {k: v.value for k, v in evaluation.metadata.items()}
    assert (metadata["rows_checked"], metadata["rows_rejected"]) == (loaded + 5, 5)
    assert metadata["quarantined_share"] == pytest.approx(5 / (loaded + 5), abs=1e-6)
    assert metadata["rejected_by_rule"] == {
        "in_set(BWART)": 1,
        "in_set(MEINS)": 1,
        "in_set(WERKS)": 1,
        "in_window(BUDAT_MKPF)": 1,
        "unique(MBLNR,MJAHR,ZEILE)": 1,
    }
    allowed = ", ".join(MSEG.allowed_values["BWART"])
    rows = quarantine(warehouse)
    assert [row[:4] for row in rows] == [
        (file, 9001, "BWART", f"value '999' not in allowed values ({allowed})"),
        (file, 9002, "WERKS", "plant '9999' not in raw.t001w"),
        (
            file,
            9003,
            "MBLNR,MJAHR,ZEILE",
            "duplicate key (MBLNR, MJAHR, ZEILE) in the checked window",
        ),
        (
            file,
            9004,
            "BUDAT_MKPF",
            f"date {later} outside partition window [{day}, {day + timedelta(days=1)})",
        ),
        (file, 9005, "MEINS", "unit 'XX' not in known units (ST, KG, L, KAR, PAK, EA, PC)"),
    ]
    assert {row[5] for row in rows} == {rows[0][5]} != {"load"}  # the check's run id
    records = [json.loads(row[4]) for row in rows]
    assert [r["bwart"] for r in records] == [
        "999",
        first["bwart"],
        first["bwart"],
        first["bwart"],
        first["bwart"],
    ]
    assert records[3]["budat_mkpf"] == later and records[2]["mblnr"] == first["mblnr"]

    # raw holds exactly the loaded rows again; the original of the duplicate key is kept
    after = warehouse.read_sql("select * from raw.mseg order by _source_line")
    pd.testing.assert_frame_equal(after, good)

    # a re-run finds nothing new and reports the same share; the threshold is configurable
    again = run_check(resource, day)
    assert not again.passed
    assert again.metadata["rows_rejected"].value == 0
    assert again.metadata["rows_quarantined_before"].value == 5
    assert again.metadata["quarantined_share"].value == metadata["quarantined_share"]
    monkeypatch.setenv("SCP_QUARANTINE_THRESHOLD", "0.5")
    assert run_check(resource, day).passed
    assert len(quarantine(warehouse)) == 5


@dg.asset(
    deps=[raw_asset_key("MSEG")],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def movements_summary() -> None:
    """Stands in for the dbt models that read raw.mseg."""


def write_mseg_day(landing: Path, source: Path, unknown_plant_in_first_row: bool) -> None:
    """The demo day's file, optionally with a plant raw.t001w does not know on its first line:
    one row, which the loader tolerates in a file (`over_threshold`) and the suite does not."""
    lines = source.read_text(encoding="utf-8-sig").splitlines()
    header, rows = lines[0], lines[1:]
    werks = header.split(";").index("WERKS")
    if unknown_plant_in_first_row:
        fields = rows[0].split(";")
        fields[werks] = "9999"
        rows[0] = ";".join(fields)
    (landing / source.name).write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")


def test_a_blocking_failure_stops_downstream(
    resource: WarehouseResource, demo_landing: Path, tmp_path: Path
) -> None:
    warehouse = resource.open()
    day = busiest_day(demo_landing)
    load_table(warehouse, T001W, files_for_window(demo_landing, T001W, None), None, "load-t001w")
    landing = tmp_path / "landing"
    landing.mkdir()
    source = demo_landing / f"MSEG_{day:%Y%m%d}.csv"
    lines = len(source.read_text(encoding="utf-8-sig").splitlines()) - 1

    def materialize() -> dg.ExecuteInProcessResult:
        return dg.materialize(
            [ASSETS["mseg"], MSEG_CHECK, movements_summary],
            selection=dg.AssetSelection.assets(ASSETS["mseg"], movements_summary)
            | dg.AssetSelection.checks(MSEG_CHECK),
            partition_key=day.isoformat(),
            resources={"warehouse": resource, "landing": LandingZone(path=str(landing))},
            raise_on_error=False,
        )

    write_mseg_day(landing, source, unknown_plant_in_first_row=True)
    failed = materialize()

    assert not failed.success
    checks = {e.check_name: e for e in failed.get_asset_check_evaluations()}
    assert not checks[CHECK_NAME].passed
    assert checks["quarantine_share_below_threshold"].passed  # the loader saw nothing wrong
    materialized = {e.asset_key for e in failed.get_asset_materialization_events()}
    assert materialized == {raw_asset_key("MSEG")}
    started = {e.step_key for e in failed.all_events if e.event_type_value == "STEP_START"}
    assert "movements_summary" not in started
    assert warehouse.scalar(f"select count(*) from {QUARANTINE_TABLE}") == 1
    assert warehouse.scalar("select count(*) from raw.mseg where werks = '9999'") == 0

    write_mseg_day(landing, source, unknown_plant_in_first_row=False)  # the correction
    fixed = materialize()

    assert fixed.success
    assert all(e.passed for e in fixed.get_asset_check_evaluations())
    materialized = {e.asset_key for e in fixed.get_asset_materialization_events()}
    assert materialized == {raw_asset_key("MSEG"), movements_summary.key}
    assert warehouse.scalar(f"select count(*) from {QUARANTINE_TABLE}") == 0  # reload cleared it
    assert warehouse.scalar("select count(*) from raw.mseg") == lines


def test_an_unreadable_file_fails_its_day_and_the_good_day_of_the_range_flows_on(
    resource: WarehouseResource, demo_landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A single-run backfill of two days whose second file breaks midway (a SAP GUI "Unicode
    text" export, UTF-16, with a lone surrogate in its last line): the first day is loaded, the
    second keeps nothing of the broken file. Each day gets its own verdict: the broken day's
    blocking check fails, naming file, line and reason, and is alerted; the good day passes,
    and automation re-runs its downstream only. A verdict on the whole range held the good
    day back too, and Dagster counted it on no day at all."""
    sent: list[Alert] = []
    monkeypatch.setenv("SCP_ALERT_WEBHOOK_URL", "http://127.0.0.1:9/never-called")
    monkeypatch.setattr(assets_module, "send_alert", lambda _, alert: sent.append(alert) or ["x"])
    warehouse = resource.open()
    day = busiest_day(demo_landing)
    next_day = day + timedelta(days=1)
    load_table(warehouse, T001W, files_for_window(demo_landing, T001W, None), None, "load-t001w")
    landing = tmp_path / "landing"
    landing.mkdir()
    good = (demo_landing / f"MSEG_{day:%Y%m%d}.csv").read_text(encoding="utf-8-sig")
    (landing / f"MSEG_{day:%Y%m%d}.csv").write_text(good, encoding="utf-8")
    header, *rows = good.splitlines()
    broken = landing / f"MSEG_{next_day:%Y%m%d}.csv"
    moved = [
        row.replace(f"{day:%Y%m%d}", f"{next_day:%Y%m%d}").replace(";49", ";59") for row in rows
    ]
    broken.write_bytes(
        ("\ufeff" + "\n".join([header, *moved]) + "\n").encode("utf-16-le")
        + "caf".encode("utf-16-le")
        + b"\x00\xd8"  # a lone high surrogate: no UTF-16
        + "\n".encode("utf-16-le")
    )

    instance = dg.DagsterInstance.ephemeral()

    @dg.asset(
        deps=[raw_asset_key("MSEG")],
        partitions_def=daily_partitions,
        automation_condition=follow_any_partition(),
    )
    def goods_movements() -> None:
        """Stands in for the dbt facts that follow raw.mseg by automation."""

    defs = dg.Definitions(
        assets=[ASSETS["mseg"], goods_movements],
        asset_checks=[MSEG_CHECK],
        resources={"warehouse": resource, "landing": LandingZone(path=str(landing))},
    )
    baseline = dg.evaluate_automation_conditions(defs=defs, instance=instance).cursor
    result = dg.materialize(
        [ASSETS["mseg"], MSEG_CHECK],
        tags={
            "dagster/asset_partition_range_start": day.isoformat(),
            "dagster/asset_partition_range_end": next_day.isoformat(),
        },
        resources={"warehouse": resource, "landing": LandingZone(path=str(landing))},
        instance=instance,
        raise_on_error=False,
    )

    assert result.success  # the broken day kept its rows: nothing blocks the rest of the run
    loader = {
        e.partition: e
        for e in result.get_asset_check_evaluations()
        if e.check_name == "quarantine_share_below_threshold"
    }
    # the broken day fails its check; the good day passes, so its downstream can run
    assert {key: e.passed for key, e in loader.items()} == {
        day.isoformat(): True,
        next_day.isoformat(): False,
    }
    (reason,) = loader[next_day.isoformat()].metadata["refused_files"].value.values()
    assert reason.startswith(f"{broken.name}, line {len(rows) + 2}: cannot decode")
    ((name, alerted),) = [tuple(line.split(": ", 1)) for line in sent[0].error.splitlines()]
    assert (len(sent), name, alerted) == (1, broken.name, reason)
    suite = {
        e.partition: e.passed
        for e in result.get_asset_check_evaluations()
        if e.check_name == CHECK_NAME
    }
    assert suite == {day.isoformat(): True, next_day.isoformat(): True}  # raw's rows are good

    evaluated = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=baseline)
    assert evaluated.get_requested_partitions(goods_movements.key) == {day.isoformat()}
    assert warehouse.scalar("select count(*) from raw.mseg") == len(rows)
    assert warehouse.scalar("select count(distinct _source_file) from raw.mseg") == 1
    statuses = warehouse.read_sql(
        f"select canonical_name, status from {MANIFEST_TABLE} where table_name = 'MSEG' "
        "order by canonical_name"
    )
    assert statuses["status"].tolist() == ["loaded", "refused"]


def test_a_day_without_a_file_keeps_its_rows(
    resource: WarehouseResource, demo_landing: Path, tmp_path: Path
) -> None:
    """A backfill over days whose files are gone (or a table never delivered) changes nothing."""
    warehouse = resource.open()
    day = busiest_day(demo_landing)
    rows = load_demo(warehouse, demo_landing, day)
    (tmp_path / "landing").mkdir()

    result = dg.materialize(
        [ASSETS["mseg"]],
        partition_key=day.isoformat(),
        resources={"warehouse": resource, "landing": LandingZone(path=str(tmp_path / "landing"))},
    )

    (materialization,) = result.get_asset_materialization_events()
    metadata = materialization.materialization.metadata
    assert (metadata["files"].value, metadata["days_without_file"].value) == (0, 1)
    assert warehouse.scalar("select count(*) from raw.mseg") == rows

    # a range of two days, one with its file: the count was the length of a column list
    name = f"MSEG_{day:%Y%m%d}.csv"
    (tmp_path / "landing" / name).write_bytes((demo_landing / name).read_bytes())
    result = dg.materialize(
        [ASSETS["mseg"]],
        tags={
            "dagster/asset_partition_range_start": day.isoformat(),
            "dagster/asset_partition_range_end": (day + timedelta(days=1)).isoformat(),
        },
        resources={"warehouse": resource, "landing": LandingZone(path=str(tmp_path / "landing"))},
    )
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert (metadata["files"].value, metadata["days_without_file"].value) == (1, 1)


def test_duplicates_across_day_files_are_found_across_chunks(
    resource: WarehouseResource, demo_landing: Path, tmp_path: Path
) -> None:
    """The reader checks keys within one file; a key delivered again the next day reaches raw
    and only the window's suite sees it, however the window is cut into chunks."""
    warehouse = resource.open()
    day = busiest_day(demo_landing)
    landing = tmp_path / "landing"
    landing.mkdir()
    first_file = (demo_landing / f"MSEG_{day:%Y%m%d}.csv").read_text(encoding="utf-8-sig")
    header, *rows = first_file.splitlines()
    (landing / f"MSEG_{day:%Y%m%d}.csv").write_text(first_file, encoding="utf-8")
    next_day = day + timedelta(days=1)
    repeated = [row.replace(f"{day:%Y%m%d}", f"{next_day:%Y%m%d}") for row in rows[:3]]
    (landing / f"MSEG_{next_day:%Y%m%d}.csv").write_text(
        "\n".join([header, *repeated]) + "\n", encoding="utf-8"
    )
    load_table(warehouse, T001W, files_for_window(demo_landing, T001W, None), None, "load-t001w")
    window = (day, next_day + timedelta(days=1))
    load = load_table(warehouse, MSEG, files_for_window(landing, MSEG, window), window, "load")
    assert (load.rows_loaded, load.rows_quarantined) == (len(rows) + 3, 0)

    report = run_table_quality(warehouse, MSEG, window, "check", QualityRules(), chunk_rows=2)

    assert report.chunks > 1
    assert (report.rows_checked, report.rows_rejected) == (len(rows) + 3, 3)
    rejected = warehouse.read_sql(f"select source_file, source_line from {QUARANTINE_TABLE}")
    assert sorted(map(tuple, rejected.itertuples(index=False))) == [
        (f"MSEG_{next_day:%Y%m%d}.csv", line) for line in (2, 3, 4)
    ]
    assert warehouse.scalar("select count(*) from raw.mseg") == len(rows)

    # the same window as one single-run backfill: reload, and the check gets the whole range
    backfill = dg.materialize(
        [ASSETS["mseg"], MSEG_CHECK],
        tags={
            "dagster/asset_partition_range_start": day.isoformat(),
            "dagster/asset_partition_range_end": next_day.isoformat(),
        },
        resources={"warehouse": resource, "landing": LandingZone(path=str(landing))},
        raise_on_error=False,
    )
    evaluations = {
        e.partition: e for e in backfill.get_asset_check_evaluations() if e.check_name == CHECK_NAME
    }
    # one verdict per day: the day of the repeated keys fails, the first day passes
    assert {k: e.passed for k, e in evaluations.items()} == {
        day.isoformat(): True,
        next_day.isoformat(): False,
    }
    failed = evaluations[next_day.isoformat()]
    assert failed.metadata["failed_because"].value.startswith(f"MSEG_{next_day:%Y%m%d}.csv: 100")
    assert failed.metadata["rows_checked"].value == len(rows) + 3
    assert failed.metadata["rows_rejected"].value == 3
    assert warehouse.scalar(f"select count(*) from {QUARANTINE_TABLE}") == 3


def test_a_changed_po_item_on_a_later_day_is_a_new_version_not_a_duplicate(
    resource: WarehouseResource, tmp_path: Path
) -> None:
    """EKPO is partitioned by change date: the item changed on the 12th arrives again in that
    day's file. Both versions stay in raw (staging keeps the latest change date); the same
    key twice in one day is still a duplicate."""
    warehouse = resource.open()
    plants = tmp_path / "T001W.csv"
    plants.write_text("WERKS;NAME1;ORT01;LAND1\n1000;Werk;Hamburg;DE\n", encoding="utf-8")
    load_table(warehouse, T001W, [plants], None, "load-t001w")
    ekpo = TABLE_SPECS["EKPO"]
    header = "EBELN;EBELP;MATNR;WERKS;MENGE;MEINS;NETPR;PEINH;AEDAT"

    def deliver(day: date, *items: str) -> tuple[date, date]:
        path = tmp_path / f"EKPO_{day:%Y%m%d}.csv"
        path.write_text("\n".join([header, *items]) + "\n", encoding="utf-8")
        load_table(warehouse, ekpo, [path], window_of(day), f"load-{day}")
        return window_of(day)

    first = deliver(date(2025, 1, 10), "4500000001;10;1234;1000;100,000;ST;12,50;1;10.01.2025")
    assert run_table_quality(warehouse, ekpo, first, "check-10").passed
    changed = deliver(date(2025, 1, 12), "4500000001;10;1234;1000;80,000;ST;12,50;1;12.01.2025")

    report = run_table_quality(warehouse, ekpo, changed, "check-12")

    assert report.passed and report.rows_rejected == 0
    assert warehouse.scalar("select count(*) from raw.ekpo") == 2
    both = (date(2025, 1, 10), date(2025, 1, 13))
    with warehouse.transaction() as cur:  # the same item twice on the 12th
        cur.execute("insert into raw.ekpo select * from raw.ekpo where aedat = '2025-01-12'")
    again = run_table_quality(warehouse, ekpo, both, "check-both")
    assert again.rows_rejected == 1
    assert again.rejects_by_rule == {"unique(EBELN,EBELP,AEDAT)": 1}


def test_a_key_loaded_for_another_day_is_quarantined_by_the_later_days_check(
    resource: WarehouseResource, demo_landing: Path, tmp_path: Path
) -> None:
    """Days loaded and checked in runs of their own: the window's suite alone would pass both."""
    warehouse = resource.open()
    day = busiest_day(demo_landing)
    next_day = day + timedelta(days=1)
    first = (demo_landing / f"MSEG_{day:%Y%m%d}.csv").read_text(encoding="utf-8-sig")
    header, *rows = first.splitlines()
    (tmp_path / f"MSEG_{day:%Y%m%d}.csv").write_text(first, encoding="utf-8")
    repeated = [row.replace(f"{day:%Y%m%d}", f"{next_day:%Y%m%d}") for row in rows[:2]]
    (tmp_path / f"MSEG_{next_day:%Y%m%d}.csv").write_text(
        "\n".join([header, *repeated]) + "\n", encoding="utf-8"
    )
    load_table(warehouse, T001W, files_for_window(demo_landing, T001W, None), None, "load-t001w")
    for when in (day, next_day):
        window = window_of(when)
        load_table(warehouse, MSEG, files_for_window(tmp_path, MSEG, window), window, "load")
        report = run_table_quality(warehouse, MSEG, window, f"check-{when}", QualityRules())

    assert (report.rows_checked, report.rows_rejected) == (2, 2)
    assert report.rejects_by_rule == {"unique(MBLNR,MJAHR,ZEILE)": 2}
    assert [record[:4] for record in quarantine(warehouse)] == [
        (
            f"MSEG_{next_day:%Y%m%d}.csv",
            line,
            "MBLNR,MJAHR,ZEILE",
            f"key (MBLNR, MJAHR, ZEILE) already loaded from MSEG_{day:%Y%m%d}.csv",
        )
        for line in (2, 3)
    ]
    assert warehouse.scalar("select count(*) from raw.mseg") == len(rows)
    manifest = warehouse.read_sql(
        f"select canonical_name, rows_read, rows_loaded, rows_quarantined from {MANIFEST_TABLE} "
        "where table_name = 'MSEG' order by canonical_name"
    )
    assert manifest.values.tolist() == [
        [f"MSEG_{day:%Y%m%d}.csv", len(rows), len(rows), 0],
        [f"MSEG_{next_day:%Y%m%d}.csv", 2, 0, 2],  # the check's rejects are counted too
    ]
    again = run_table_quality(warehouse, MSEG, window_of(day), "again", QualityRules())
    assert (again.rows_checked, again.rows_rejected) == (len(rows), 0)


def test_master_table_check_warns_for_a_non_critical_table(resource: WarehouseResource) -> None:
    """MBEW is not critical: its check warns (non-blocking); BWKEY must be a known plant."""
    warehouse = resource.open()
    frames = {
        "raw.t001w": pd.DataFrame(
            {"werks": ["1000"], "_source_file": ["T001W.csv"], "_source_line": [2]}
        ),
        "raw.mbew": pd.DataFrame(
            {
                "matnr": ["000000000000000001", "000000000000000002"],
                "bwkey": ["1000", "2000"],
                "peinh": [1, 1],
                "_source_file": ["MBEW.csv", "MBEW.csv"],
                "_source_line": [2, 3],
            }
        ),
    }
    for table, frame in frames.items():
        spec = TABLE_SPECS[table.split(".")[1].upper()]
        warehouse.ensure_table(table, raw_table_columns(spec))
        with warehouse.transaction() as cur:
            warehouse.insert_frame(cur, table, frame)
    check = build_quality_check(TABLE_SPECS["MBEW"])
    assert not next(iter(check.check_specs)).blocking

    run = dg.materialize(
        [ASSETS["mbew"], check],
        selection=dg.AssetSelection.checks(check),
        resources={"warehouse": resource, "landing": LandingZone()},
    )

    assert run.success  # a warning does not fail the run
    (result,) = run.get_asset_check_evaluations()
    assert not result.passed
    assert result.severity == dg.AssetCheckSeverity.WARN
    assert result.metadata["rows_rejected"].value == 1
    assert quarantine(warehouse)[0][:4] == ("MBEW.csv", 3, "BWKEY", "plant '2000' not in raw.t001w")
