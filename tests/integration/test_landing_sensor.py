"""The landing and OData sensors, tick by tick, with real files, runs and warehouses.

Each sensor is evaluated with `build_sensor_context` and the cursor it returned last time; the
run requests it yields are executed with `dg.materialize`, as the daemon would launch them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from pipelines.demo import DemoConfig, generate
from pipelines.ingest import landing as landing_module
from pipelines.ingest import sensors
from pipelines.ingest.assets import raw_asset_key, raw_assets
from pipelines.ingest.landing import (
    ARCHIVE,
    CURRENT,
    INCOMING,
    MANIFEST_TABLE,
    LandingSetupError,
    landing_store,
)
from pipelines.ingest.load import files_for_window, load_table
from pipelines.ingest.odata import SapODataClient, to_raw_table
from pipelines.ingest.quality import run_table_quality
from pipelines.ingest.sensors import landing_sensor, sap_odata_delta_sensor
from pipelines.ingest.specs import TABLE_SPECS
from resources.dagster_resources import LandingZone, WarehouseResource
from resources.odata import SapODataResource
from tests.odata_server import ODataTestServer

DEMO = DemoConfig(materials=5, plants=1, customers=6, vendors=2, days=6, seed=3)
STAMP = r"\d{8}T\d{12}Z"


# -- harness -------------------------------------------------------------------------------------


class Landing:
    """A landing zone, its warehouse and the sensor state between ticks."""

    def __init__(self, location: Path | str, warehouse: WarehouseResource) -> None:
        """`location`: a local folder (tests write into `incoming` directly) or an fsspec URL."""
        if isinstance(location, Path):
            self.root, self.incoming = location, location / "incoming"
            self.incoming.mkdir(parents=True)
        self.store = landing_store(location)
        self.resources = {"landing": LandingZone(path=str(location)), "warehouse": warehouse}
        self.instance = dg.DagsterInstance.ephemeral()
        self.cursor: str | None = None

    def tick(
        self, sensor: dg.SensorDefinition = landing_sensor, **resources: object
    ) -> dg.SensorResult:
        with dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            resources={**self.resources, **resources},
        ) as context:
            result = sensor(context)
        self.cursor = result.cursor
        return result

    def run(self, request: dg.RunRequest, raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
        """Execute a run request as the daemon would: its asset, partition or partition range."""
        assets = [a for a in raw_assets if a.key in request.asset_selection]
        tags = {k: v for k, v in request.tags.items() if k.startswith("dagster/asset_partition")}
        return dg.materialize(
            assets,
            partition_key=request.partition_key,
            tags=tags,
            resources=self.resources,
            instance=self.instance,
            raise_on_error=raise_on_error,
        )

    def sql(self, query: str) -> pd.DataFrame:
        return self.resources["warehouse"].open().read_sql(query)

    def names(self, folder: str = "") -> list[str]:
        return [entry.name for entry in self.store.list(folder)]


def requests_of(result: dg.SensorResult) -> list[dg.RunRequest]:
    return list(result.run_requests or [])


def age_cursor(landing: Landing, hours: int) -> None:
    """As if `hours` had passed since each file in incoming/ was last seen to change."""
    state = json.loads(str(landing.cursor))
    for signature in state["seen"].values():
        signature[2] -= hours * 3600 * 10**9
    landing.cursor = json.dumps(state)


def without_stamp(names: list[str]) -> list[str]:
    """Names in rejected/ as delivered (made safe): without `<stamp>__<hash of the name>__`."""
    return sorted(re.sub(f"^{STAMP}__[0-9a-f]{{8}}__", "", name) for name in names)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    generate(DEMO, folder)
    return folder


def duckdb_landing(tmp_path: Path) -> Landing:
    warehouse = WarehouseResource(kind="duckdb", duckdb_path=str(tmp_path / "wh.duckdb"))
    return Landing(tmp_path / "landing", warehouse)


@pytest.fixture(autouse=True)
def no_quiet_period(monkeypatch: pytest.MonkeyPatch) -> None:
    """These ticks follow each other within milliseconds: a file unchanged over two of them is
    stable here. The quiet period (SCP_LANDING_QUIET_SECONDS) has a test of its own."""
    monkeypatch.setattr(sensors, "LANDING_QUIET", timedelta(0))


@pytest.fixture
def landing(tmp_path: Path) -> Landing:
    return duckdb_landing(tmp_path)


@pytest.fixture
def alerts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The text of each rejection alert the landing sensor sends (to a webhook never called)."""
    sent: list[str] = []
    monkeypatch.setenv("SCP_ALERT_WEBHOOK_URL", "http://127.0.0.1:9/never-called")
    monkeypatch.setattr(
        sensors, "send_alert", lambda settings, alert: sent.append(alert.error) or ["webhook"]
    )
    return sent


def engine_landing(request: pytest.FixtureRequest, tmp_path: Path) -> Landing:
    """A landing zone on the warehouse engine `request.param` names, for fixtures of both."""
    if request.param == "duckdb":
        return duckdb_landing(tmp_path)
    database = request.getfixturevalue("postgres_database")
    return Landing(tmp_path / "landing", WarehouseResource(kind="postgres", pg_database=database))


@pytest.fixture(params=["duckdb", "postgres"])
def any_landing(request: pytest.FixtureRequest, tmp_path: Path) -> Landing:
    return engine_landing(request, tmp_path)


def quantities_broken(day: bytes) -> tuple[str, list[str]]:
    """A day file's header and its records with every quantity (MENGE) replaced by `x`."""
    header, *lines = day.decode("utf-8-sig").split("\r\n")
    return header, [";".join([*ln.split(";")[:7], "x", *ln.split(";")[8:]]) for ln in lines[:-1]]


@contextmanager
def duckdb_held(landing: Landing) -> Iterator[None]:
    """Another process holds the DuckDB warehouse's file, as a run does, while the block runs."""
    path = landing.resources["warehouse"].duckdb_path
    landing.resources["warehouse"].open()  # create the file
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; con = duckdb.connect({path!r}); print('held', flush=True); "
            "time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.kill()
        holder.wait()


# -- the delivery life cycle -------------------------------------------------------------------


def test_a_file_without_a_marker_is_taken_only_after_the_quiet_period(
    landing: Landing, demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sensors, "LANDING_QUIET", timedelta(seconds=60))
    (landing.incoming / "MSEG_20240104.csv").write_bytes((demo / "MSEG_20240104.csv").read_bytes())
    assert requests_of(landing.tick()) == []
    assert requests_of(landing.tick()) == []  # unchanged, but for milliseconds only
    monkeypatch.setattr(sensors, "LANDING_QUIET", timedelta(0))
    assert [r.partition_key for r in requests_of(landing.tick())] == ["2024-01-04"]


def test_deliveries_load_once_and_corrections_replace_their_day(
    any_landing: Landing, demo: Path
) -> None:
    landing = any_landing
    day2 = (demo / "MSEG_20240102.csv").read_bytes()
    day4 = (demo / "MSEG_20240104.csv").read_bytes()

    # tick 1: a complete file and one still being written
    (landing.incoming / "MSEG_20240104.csv").write_bytes(day4)
    (landing.incoming / "MSEG_20240102.csv").write_bytes(day2[:200])
    assert requests_of(landing.tick()) == []  # nothing has been seen twice yet
    with (landing.incoming / "MSEG_20240102.csv").open("ab") as handle:
        handle.write(day2[200:])
    second = requests_of(landing.tick())  # day 4 is stable; day 2 grew since the last look
    assert [(r.partition_key, r.asset_selection) for r in second] == [
        ("2024-01-04", [dg.AssetKey(["raw", "mseg"])])
    ]
    assert re.fullmatch(f"{sha(day4)}:MSEG_20240104.csv:{STAMP}", second[0].run_key)
    third = requests_of(landing.tick())
    assert [r.partition_key for r in third] == ["2024-01-02"]
    assert third[0].run_key.startswith(f"{sha(day2)}:MSEG_20240102.csv:")
    assert landing.names() == ["MSEG_20240102.csv", "MSEG_20240104.csv"]
    assert landing.names("incoming") == []
    received = landing.sql(f"select status, run_key from {MANIFEST_TABLE} order by partition_key")
    assert received.values.tolist() == [
        ["received", third[0].run_key],
        ["received", second[0].run_key],
    ]

    first_run = landing.run(third[0])
    landing.run(second[0])
    day2_rows = len(day2.splitlines()) - 1
    assert (
        landing.sql("select count(*) as n from raw.mseg where budat_mkpf = '2024-01-02'").n.item()
        == day2_rows
    )

    # the same bytes again, under another spelling of the name: archived, not loaded
    (landing.incoming / "mseg_2024-01-02.csv").write_bytes(day2)
    assert requests_of(landing.tick()) == []
    assert requests_of(landing.tick()) == []
    assert landing.names("incoming") == []
    duplicate_name = next(n for n in landing.names("archive") if n.endswith("mseg_2024-01-02.csv"))
    assert re.fullmatch(f"{STAMP}__{sha(day2)[:12]}__mseg_2024-01-02.csv", duplicate_name)

    # a correction of day 2, announced by a marker: the first row's quantity, one row less
    lines = day2.decode("utf-8-sig").split("\r\n")
    first_row = lines[1].split(";")
    first_row[7] = "99,000-"
    corrected_text = "\r\n".join([lines[0], ";".join(first_row), *lines[2:-2], ""])
    corrected = ("\ufeff" + corrected_text).encode("utf-8")
    (landing.incoming / "MSEG_20240102.csv").write_bytes(corrected)
    (landing.incoming / "MSEG_20240102.csv.done").write_bytes(b"")
    fourth = requests_of(landing.tick())
    assert [r.partition_key for r in fourth] == ["2024-01-02"]  # exactly the corrected day
    assert (landing.root / "MSEG_20240102.csv").read_bytes() == corrected
    assert landing.names("incoming") == []  # the marker is gone with its file
    superseded_name = next(
        n for n in landing.names("archive") if n.endswith(f"{sha(day2)[:12]}__MSEG_20240102.csv")
    )
    assert (landing.root / "archive" / superseded_name).read_bytes() == day2

    before = landing.sql("select * from raw.mseg where budat_mkpf = '2024-01-04' order by mblnr")
    second_run = landing.run(fourth[0])
    rows = landing.sql(
        "select mblnr, zeile, menge from raw.mseg where budat_mkpf = '2024-01-02' "
        "order by mblnr, zeile"
    )
    assert len(rows) == day2_rows - 1
    assert len(rows.drop_duplicates(["mblnr", "zeile"])) == len(rows)
    assert rows.menge.iloc[0] == -99.0
    after = landing.sql("select * from raw.mseg where budat_mkpf = '2024-01-04' order by mblnr")
    pd.testing.assert_frame_equal(after, before)  # other days untouched

    manifest = landing.sql(
        "select file_name, canonical_name, checksum, status, archive_name, rows_read, "
        f"rows_loaded, rows_quarantined, run_id from {MANIFEST_TABLE} "
        "where canonical_name = 'MSEG_20240102.csv' "
        "order by case status when 'superseded' then 0 when 'duplicate' then 1 else 2 end"
    )
    expected = [
        ["MSEG_20240102.csv", sha(day2), "superseded", superseded_name, 5, 5, 0, first_run.run_id],
        ["mseg_2024-01-02.csv", sha(day2), "duplicate", duplicate_name, None, None, None, None],
        ["MSEG_20240102.csv", sha(corrected), "loaded", None, 4, 4, 0, second_run.run_id],
    ]
    got = manifest.drop(columns="canonical_name").astype(object)
    got = got.where(got.notna(), None).values.tolist()
    assert got == expected


def test_a_refused_redelivery_leaves_the_kept_delivery_loaded_in_the_manifest(
    any_landing: Landing, demo: Path
) -> None:
    landing = any_landing
    good = (demo / "MSEG_20240102.csv").read_bytes()
    (landing.incoming / "MSEG_20240102.csv").write_bytes(good)
    (landing.incoming / "MSEG_20240102.csv.done").write_bytes(b"")
    (first,) = requests_of(landing.tick())
    landing.run(first)
    rows = landing.sql("select * from raw.mseg order by mblnr, zeile")

    # a re-delivery whose every quantity is broken: refused, the day keeps the first one's rows
    header, broken = quantities_broken(good)
    (landing.incoming / "MSEG_20240102.csv").write_text("\r\n".join([header, *broken, ""]))
    (landing.incoming / "MSEG_20240102.csv.done").write_bytes(b"")
    (second,) = requests_of(landing.tick())
    refused = landing.run(second)  # the run goes on: raw kept the day's rows
    (verdict,) = [e for e in refused.get_asset_check_evaluations() if e.partition]
    assert (verdict.partition, verdict.passed) == ("2024-01-02", False)  # blocks this day

    pd.testing.assert_frame_equal(landing.sql("select * from raw.mseg order by mblnr, zeile"), rows)
    manifest = landing.sql(
        f"select checksum, status, archive_name is not null as archived, reason "
        f"from {MANIFEST_TABLE} order by received_at"
    )
    assert manifest[["checksum", "status", "archived"]].values.tolist() == [
        [sha(good), "loaded", True],  # its rows are in raw; its file in archive/
        [sha((landing.root / "MSEG_20240102.csv").read_bytes()), "refused", False],
    ]
    kept = landing.sql(
        f"select archive_name from {MANIFEST_TABLE} where status = 'loaded' and table_name = 'MSEG'"
    ).archive_name.item()
    assert manifest.reason.iloc[1] == (
        f"{len(broken)} of {len(broken)} rows rejected (100.00% > 1.00%); archive/{kept}, the "
        "delivery whose rows raw keeps, is dropped into incoming/ again, so that the landing "
        "zone holds what raw holds"
    )
    # the check judges the rows raw holds (the kept delivery's), not the refused one's rejects
    warehouse = landing.resources["warehouse"].open()
    plants = TABLE_SPECS["T001W"]
    load_table(warehouse, plants, files_for_window(demo, plants, None), None, "plants")
    day = (date(2024, 1, 2), date(2024, 1, 3))
    check = run_table_quality(warehouse, TABLE_SPECS["MSEG"], day, "check")
    assert check.passed and check.rows_quarantined_before == 0

    # The refused file was the day's current one, so a repair or backfill of the day read it
    # again and failed the day's check again. The kept delivery comes back and loads as it was.
    assert (landing.incoming / "MSEG_20240102.csv").read_bytes() == good
    (third,) = requests_of(landing.tick())
    reloaded = landing.run(third)
    (verdict,) = [e for e in reloaded.get_asset_check_evaluations() if e.partition]
    assert (verdict.partition, verdict.passed) == ("2024-01-02", True)
    assert (landing.root / "MSEG_20240102.csv").read_bytes() == good
    pd.testing.assert_frame_equal(
        landing.sql("select * from raw.mseg order by mblnr, zeile").drop(columns="_loaded_at"),
        rows.drop(columns="_loaded_at"),
    )
    statuses = landing.sql(
        f"select checksum, status, archive_name from {MANIFEST_TABLE} where table_name = 'MSEG' "
        "order by received_at"
    ).values.tolist()
    assert [status for _, status, _ in statuses] == ["superseded", "superseded", "loaded"]
    assert statuses[0][0] == statuses[2][0] == sha(good) and statuses[0][2] == kept
    assert landing.names(INCOMING) == []
    assert requests_of(landing.tick()) == []  # it comes back once


def test_a_refused_deliverys_rejects_stay_when_the_kept_one_comes_back(
    landing: Landing, demo: Path
) -> None:
    """The evidence of a refusal: reloading the kept delivery deleted the refused one's
    quarantine records a tick after the alert pointed to them."""
    good = (demo / "MSEG_20240102.csv").read_bytes()
    header, broken = quantities_broken(good)
    for data in (good, "\r\n".join([header, *broken, ""]).encode()):
        (landing.incoming / "MSEG_20240102.csv").write_bytes(data)
        (landing.incoming / "MSEG_20240102.csv.done").write_bytes(b"")
        (request,) = requests_of(landing.tick())
        landing.run(request)
    rejects = "select source_line, reason from quarantine.rejected_rows order by source_line"
    refused = landing.sql(rejects)
    assert len(refused) == len(broken)
    (comeback,) = requests_of(landing.tick())
    assert landing.run(comeback).success
    pd.testing.assert_frame_equal(landing.sql(rejects), refused)


def test_a_day_cut_from_an_undated_file_comes_back_under_its_days_name(
    landing: Landing, demo: Path
) -> None:
    """Brought back as `MSEG.csv`, the day read as undated, and a file of another day waiting
    in incoming/ blocked it for good: the refused file stayed the day's current one."""
    good = (demo / "MSEG_20240102.csv").read_bytes()
    header, broken = quantities_broken(good)
    for name, data in (
        ("MSEG.csv", good),
        ("MSEG_20240102.csv", "\r\n".join([header, *broken, ""]).encode()),
    ):
        (landing.incoming / name).write_bytes(data)
        (landing.incoming / f"{name}.done").write_bytes(b"")
        (request,) = requests_of(landing.tick())
        if name == "MSEG.csv":
            landing.run(request)
    other_day = (demo / "MSEG_20240103.csv").read_bytes()
    (landing.incoming / "MSEG_20240103.csv").write_bytes(other_day)
    landing.run(request)  # refused
    assert (landing.incoming / "MSEG_20240102.csv").read_bytes() == good
    for request in requests_of(landing.tick()):
        assert landing.run(request).success
    assert (landing.root / "MSEG_20240102.csv").read_bytes() == good


def test_refused_bytes_accepted_later_leave_one_record_per_rejected_line(
    landing: Landing, demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same refused bytes accepted on a re-run (threshold raised): the refusal's records
    were kept as evidence next to the new ones, each rejected line twice."""
    good = (demo / "MSEG_20240102.csv").read_bytes()
    header, *lines = good.decode("utf-8-sig").split("\r\n")
    half = [
        ";".join([*line.split(";")[:7], "x", *line.split(";")[8:]]) if i % 2 == 0 else line
        for i, line in enumerate(lines[:-1])
    ]
    for data in (good, "\r\n".join([header, *half, ""]).encode()):
        (landing.incoming / "MSEG_20240102.csv").write_bytes(data)
        (landing.incoming / "MSEG_20240102.csv.done").write_bytes(b"")
        (request,) = requests_of(landing.tick())
        landing.run(request)
    rejects = (
        "select source_line, count(*) as n from quarantine.rejected_rows group by 1 order by 1"
    )
    refused = landing.sql(rejects)
    monkeypatch.setenv("SCP_QUARANTINE_THRESHOLD", "0.9")
    landing.run(request)  # the same day and bytes again: accepted now
    pd.testing.assert_frame_equal(landing.sql(rejects), refused)
    assert (refused.n == 1).all()


def test_a_master_file_comes_back_under_its_dated_name(landing: Landing, demo: Path) -> None:
    """Brought back as MARA.csv, the kept extract lost its date, and a late extract older than
    it then replaced newer master data."""
    header, *rows = (demo / "MARA.csv").read_bytes().splitlines(keepends=True)
    for name, data in (
        ("MARA_20250115.csv", header + b"".join(rows)),
        ("MARA_20250116.csv", header),
    ):
        (landing.incoming / name).write_bytes(data)
        (landing.incoming / f"{name}.done").write_bytes(b"")
        (request,) = requests_of(landing.tick())
        landing.run(request, raise_on_error=False)  # the header-only extract is refused
    assert landing.names(INCOMING) == ["MARA_20250115.csv", "MARA_20250115.csv.done"]
    (comeback,) = requests_of(landing.tick())
    assert landing.run(comeback).success
    (landing.incoming / "MARA_20250114.csv").write_bytes(header + rows[0])
    (landing.incoming / "MARA_20250114.csv.done").write_bytes(b"")
    assert requests_of(landing.tick()) == []  # older than the current extract: rejected
    assert landing.sql("select count(*) as n from raw.mara").n.item() == len(rows)
    statuses = landing.sql(
        f"select file_name, status from {MANIFEST_TABLE} order by received_at"
    ).values.tolist()
    assert statuses == [
        ["MARA_20250115.csv", "superseded"],
        ["MARA_20250116.csv", "superseded"],
        ["MARA_20250115.csv", "loaded"],
        ["MARA_20250114.csv", "rejected"],
    ]


def test_a_refused_delivery_brings_nothing_back_while_a_newer_one_waits(
    landing: Landing, demo: Path
) -> None:
    """A newer delivery received while the refused one loaded (the sensor placed it after the
    loader had read its file) is the day's next file: the kept one must not come after it."""
    good = (demo / "MSEG_20240102.csv").read_bytes()
    header, broken = quantities_broken(good)
    for data in (good, "\r\n".join([header, *broken, ""]).encode()):
        (landing.incoming / "MSEG_20240102.csv").write_bytes(data)
        (landing.incoming / "MSEG_20240102.csv.done").write_bytes(b"")
        (request,) = requests_of(landing.tick())
        if data == good:
            landing.run(request)
    with closing(landing.resources["warehouse"].open().connect()) as con:
        con.execute(  # the newer delivery's row, as the sensor records one it placed
            f"insert into {MANIFEST_TABLE} select * replace ('newer' as checksum, "
            f"received_at + interval 1 second as received_at) from {MANIFEST_TABLE} "
            "where status = 'received'"
        )
    assert not landing.run(request).get_asset_check_evaluations()[0].passed
    assert landing.names(INCOMING) == []


def test_a_refused_redelivery_of_a_day_never_loaded_brings_back_the_one_it_replaced(
    landing: Landing, demo: Path
) -> None:
    """The first delivery's run still waited in the queue when a broken re-delivery came: the
    first was archived as superseded, the second refused, and the day held neither. The
    refused run drops the archived delivery into incoming/ again, naming it, and the next tick
    loads it, as if its run had come first; the archive keeps it, and it comes back once."""
    good = (demo / "MSEG_20240102.csv").read_bytes()
    (landing.incoming / "MSEG_20240102.csv").write_bytes(good)
    (landing.incoming / "MSEG_20240102.csv.done").write_bytes(b"")
    requests_of(landing.tick())  # its run waits behind others
    header, broken = quantities_broken(good)
    (landing.incoming / "MSEG_20240102.csv").write_text("\r\n".join([header, *broken, ""]))
    (landing.incoming / "MSEG_20240102.csv.done").write_bytes(b"")
    (second,) = requests_of(landing.tick())
    landing.run(second)

    manifest = landing.sql(
        f"select status, archive_name, reason from {MANIFEST_TABLE} order by received_at"
    )
    assert manifest.status.tolist() == ["superseded", "refused"]
    kept = manifest.archive_name.iloc[0]
    assert manifest.reason.iloc[1].endswith(
        f"; the delivery it replaced was never loaded: archive/{kept} is dropped into "
        "incoming/ again, to load in its place"
    )
    assert (landing.root / ARCHIVE / kept).read_bytes() == good
    assert (landing.incoming / "MSEG_20240102.csv").read_bytes() == good

    (third,) = requests_of(landing.tick())
    assert landing.run(third).success
    assert landing.sql("select count(*) as n from raw.mseg").n.item() == len(broken)
    statuses = landing.sql(f"select status from {MANIFEST_TABLE} order by received_at").status
    assert statuses.tolist() == ["superseded", "superseded", "loaded"]
    assert landing.names(INCOMING) == []


def test_a_brought_back_delivery_that_is_refused_too_comes_back_no_more(
    landing: Landing, demo: Path
) -> None:
    """Three broken deliveries, none loaded before the next came: each refused one brings back
    the latest delivery never loaded, and each comes back once, so bad files never take turns
    for ever."""
    header, *lines = (demo / "MSEG_20240102.csv").read_bytes().decode("utf-8-sig").split("\r\n")
    for bad in (7, 8, 10):  # a quantity, a unit, an amount that are wrong
        broken = [
            ";".join([*ln.split(";")[:bad], "x", *ln.split(";")[bad + 1 :]]) for ln in lines[:-1]
        ]
        (landing.incoming / "MSEG_20240102.csv").write_text("\r\n".join([header, *broken, ""]))
        (landing.incoming / "MSEG_20240102.csv.done").write_bytes(b"")
        requests = requests_of(landing.tick())
    runs = 0
    while requests and runs < 10:
        landing.run(requests[0])
        runs += 1
        requests = requests_of(landing.tick())
    assert runs == 3  # the last delivery, then the second, then the first: each once
    assert landing.names(INCOMING) == []
    assert landing.sql("select count(*) as n from raw.mseg").n.item() == 0


def test_two_versions_of_a_day_in_one_tick_run_once_with_the_newer(
    landing: Landing, demo: Path
) -> None:
    older = (demo / "MSEG_20240102.csv").read_bytes()
    newer = older.replace(b"12,000-", b"13,000-", 1)
    (landing.incoming / "MSEG_20240102.csv").write_bytes(older)
    (landing.incoming / "mseg_2024-01-02__v2.csv").write_bytes(newer)
    os.utime(landing.incoming / "MSEG_20240102.csv", ns=(1, 1_000_000_000))  # older mtime
    landing.tick()
    [request] = requests_of(landing.tick())
    assert request.partition_key == "2024-01-02"
    assert (landing.root / "MSEG_20240102.csv").read_bytes() == newer
    [archived] = landing.names("archive")
    assert archived.endswith(f"__{sha(older)[:12]}__MSEG_20240102.csv")
    manifest = landing.sql(
        f"select file_name, status, archive_name, run_key from {MANIFEST_TABLE} order by status"
    )
    assert manifest.values.tolist() == [
        ["mseg_2024-01-02__v2.csv", "received", None, request.run_key],
        ["MSEG_20240102.csv", "superseded", archived, manifest.run_key[1]],
    ]
    assert manifest.run_key[1] != request.run_key  # the older version gets no run


def test_bad_names_and_unreadable_files_are_rejected(landing: Landing, demo: Path) -> None:
    day4 = (demo / "MSEG_20240104.csv").read_bytes()
    (landing.root / "MSEG_20240104.csv").write_bytes(day4)  # the current delivery
    (landing.incoming / "XYZ_20240104.csv").write_bytes(day4)
    (landing.incoming / "MSEG 20240104.csv").write_bytes(day4)
    (landing.incoming / "MSEG_20230105.csv").write_bytes(day4)
    broken = b"MATERIAL;PLANT\r\n1;2\r\n"
    (landing.incoming / "MSEG_20240104__v2.csv").write_bytes(broken)
    landing.tick()
    assert requests_of(landing.tick()) == []

    assert landing.names("incoming") == []
    assert (landing.root / "MSEG_20240104.csv").read_bytes() == day4  # the good one stays
    assert without_stamp(landing.names("rejected")) == [
        "MSEG_20230105.csv",
        "MSEG_20240104.csv",  # "MSEG 20240104.csv", made safe
        "MSEG_20240104__v2.csv",
        "XYZ_20240104.csv",
    ]
    manifest = landing.sql(
        f"select file_name, checksum, reason from {MANIFEST_TABLE} where status = 'rejected' "
        "order by file_name"
    )
    reasons = dict(zip(manifest.file_name, manifest.reason, strict=True))
    checksums = dict(zip(manifest.file_name, manifest.checksum, strict=True))
    assert "characters outside [A-Za-z0-9._-]: ' '" in reasons["MSEG 20240104.csv"]
    assert "unknown SAP table 'XYZ'" in reasons["XYZ_20240104.csv"]
    assert "before the first partition day 2024-01-01" in reasons["MSEG_20230105.csv"]
    assert reasons["MSEG_20240104__v2.csv"].startswith("MSEG_20240104__v2.csv, line 1")
    assert "missing required columns" in reasons["MSEG_20240104__v2.csv"]
    # a bad name is rejected without reading the file; a bad header after reading it
    assert checksums["MSEG 20240104.csv"] is None and checksums["XYZ_20240104.csv"] is None
    assert checksums["MSEG_20240104__v2.csv"] == sha(broken)


def test_empty_and_temporary_named_files_are_rejected_after_an_hour_unchanged(
    landing: Landing, demo: Path, alerts: list[str]
) -> None:
    data = (demo / "MSEG_20240103.csv").read_bytes()
    (landing.incoming / "MSEG_20240103.csv").write_bytes(b"")
    (landing.incoming / "..MSEG_20240104.csv").write_bytes(data)
    (landing.incoming / "~MSEG_20240105.csv").write_bytes(data)
    writing = landing.incoming / ".MSEG_20240106.csv"
    writing.write_bytes(data[:100])
    for _ in range(3):
        assert requests_of(landing.tick()) == []
    assert len(landing.names("incoming")) == 4 and landing.names("rejected") == []

    age_cursor(landing, hours=1)
    with writing.open("ab") as handle:  # a transfer still under way: its hour starts again
        handle.write(data[100:200])
    assert requests_of(landing.tick()) == []
    assert landing.names("incoming") == [".MSEG_20240106.csv"]
    assert without_stamp(landing.names("rejected")) == [
        "MSEG_20240103.csv",
        "_MSEG_20240105.csv",  # names made safe
        "__MSEG_20240104.csv",
    ]
    manifest = landing.sql(
        f"select file_name, reason from {MANIFEST_TABLE} where status = 'rejected' "
        "order by file_name"
    )
    reasons = dict(zip(manifest.file_name, manifest.reason, strict=True))
    assert reasons["MSEG_20240103.csv"] == "MSEG_20240103.csv: empty file (0 bytes)"
    for name in ("..MSEG_20240104.csv", "~MSEG_20240105.csv"):
        assert reasons[name].startswith(f"{name!r}: a temporary name")
        assert "unchanged for 60 minutes" in reasons[name]
    [alert] = alerts
    assert sorted(alert.split("\n")) == sorted(reasons.values())

    age_cursor(landing, hours=1)
    landing.tick()
    assert landing.names("incoming") == []  # unchanged for an hour now: rejected too


def test_a_late_older_master_extract_is_rejected_not_loaded_over_the_newer(
    any_landing: Landing, demo: Path, alerts: list[str]
) -> None:
    landing = any_landing
    header, *rows = (demo / "MARA.csv").read_bytes().splitlines(keepends=True)
    newer, older = header + b"".join(rows), header + rows[0]
    for name, data in (("MARA_20250115.csv", newer), ("MARA_20250114.csv", older)):
        (landing.incoming / name).write_bytes(data)
        (landing.incoming / f"{name}.done").write_bytes(b"")
        for request in requests_of(landing.tick()):
            assert landing.run(request).success

    assert (landing.root / "MARA.csv").read_bytes() == newer
    assert landing.sql("select count(*) as n from raw.mara").n.item() == len(rows)
    assert without_stamp(landing.names("rejected")) == ["MARA_20250114.csv"]
    assert landing.names("incoming") == [] and landing.names("archive") == []
    manifest = landing.sql(
        f"select file_name, status, reason, run_key from {MANIFEST_TABLE} order by received_at"
    )
    reason = "MARA_20250114.csv is older than the current MARA extract (2025-01-15)"
    assert manifest.drop(columns="run_key").values.tolist() == [
        ["MARA_20250115.csv", "loaded", None],
        ["MARA_20250114.csv", "rejected", reason],
    ]
    assert manifest.run_key[1] is None
    assert alerts == [reason]

    # the date decides, not the content: a newer extract with fewer rows replaces it
    (landing.incoming / "MARA_20250116.csv").write_bytes(older)
    (landing.incoming / "MARA_20250116.csv.done").write_bytes(b"")
    [request] = requests_of(landing.tick())
    assert landing.run(request).success
    assert landing.sql("select count(*) as n from raw.mara").n.item() == 1


def test_the_newest_master_extract_of_a_tick_wins_whatever_the_mtimes(
    landing: Landing, demo: Path, alerts: list[str]
) -> None:
    header, *rows = (demo / "MARA.csv").read_bytes().splitlines(keepends=True)
    current, late, middle, newest = (header + b"".join(rows[:n]) for n in (4, 1, 2, 3))
    (landing.incoming / "MARA_20250115.csv").write_bytes(current)
    (landing.incoming / "MARA_20250115.csv.done").write_bytes(b"")
    landing.run(requests_of(landing.tick())[0])

    delivered = [  # mtime order: 18, 14, 17; date order: 14 (older than 15), 17, 18
        ("MARA_20250118.csv", newest, 1),
        ("MARA_20250114.csv", late, 2),
        ("MARA_20250117.csv", middle, 3),
    ]
    for name, data, second in delivered:
        (landing.incoming / name).write_bytes(data)
        os.utime(landing.incoming / name, ns=(second * 10**9, second * 10**9))
        (landing.incoming / f"{name}.done").write_bytes(b"")
    [request] = requests_of(landing.tick())
    assert (landing.root / "MARA.csv").read_bytes() == newest
    assert landing.run(request).success
    assert landing.sql("select count(*) as n from raw.mara").n.item() == 3

    assert without_stamp(landing.names("rejected")) == ["MARA_20250114.csv"]
    archived = {name.split("__")[1]: name for name in landing.names("archive")}
    assert set(archived) == {sha(current)[:12], sha(middle)[:12]}  # each replaced file kept
    assert (landing.root / "archive" / archived[sha(current)[:12]]).read_bytes() == current
    manifest = landing.sql(
        f"select file_name, status, archive_name from {MANIFEST_TABLE} order by file_name"
    )
    assert manifest.values.tolist() == [
        ["MARA_20250114.csv", "rejected", manifest.archive_name[0]],
        ["MARA_20250115.csv", "superseded", archived[sha(current)[:12]]],
        ["MARA_20250117.csv", "superseded", archived[sha(middle)[:12]]],
        ["MARA_20250118.csv", "loaded", None],
    ]
    assert alerts == ["MARA_20250114.csv is older than the current MARA extract (2025-01-15)"]


def test_a_marker_makes_a_file_ready_at_once(landing: Landing, demo: Path) -> None:
    data = (demo / "MARA.csv").read_bytes()
    (landing.incoming / "MARA.csv").write_bytes(data)
    (landing.incoming / "MARA.csv.done").write_bytes(b"")
    (landing.incoming / "MAKT.csv.done").write_bytes(b"")  # no file: a marker follows its file
    (landing.incoming / "MARC.csv.part").write_bytes(b"half")  # a transfer under way
    requests = requests_of(landing.tick())
    assert [(r.partition_key, r.asset_selection) for r in requests] == [
        (None, [dg.AssetKey(["raw", "mara"])])
    ]
    assert landing.names("incoming") == ["MARC.csv.part"]  # the orphan marker removed
    landing.run(requests[0])
    loaded = landing.sql(f"select status, rows_loaded, file_name from {MANIFEST_TABLE}")
    assert loaded.values.tolist() == [["loaded", len(data.splitlines()) - 1, "MARA.csv"]]


def test_a_marker_written_after_its_file_was_taken_readies_no_later_delivery(
    landing: Landing, demo: Path
) -> None:
    """A sender's marker arriving after the sensor took its file for being stable is removed
    at the next look; one still there when the next delivery of that name is being written,
    older than it, does not make that delivery ready: it waits until stable, and loads whole."""
    name = "MSEG_20240102.csv"
    path, marker = landing.incoming / name, landing.incoming / f"{name}.done"
    day2 = (demo / name).read_bytes()
    path.write_bytes(day2)
    landing.tick()
    [first] = requests_of(landing.tick())  # stable: taken without its marker
    landing.run(first)
    marker.write_bytes(b"")
    assert requests_of(landing.tick()) == []
    assert landing.names("incoming") == []  # its file is gone: removed

    corrected = day2.replace(b"12,000-", b"13,000-", 1)
    marker.write_bytes(b"")  # late again, and the correction starts before the next look
    path.write_bytes(corrected[: len(corrected) // 2])
    os.utime(marker, ns=(path.stat().st_mtime_ns - 10**9,) * 2)
    assert requests_of(landing.tick()) == []  # half written: not taken
    path.write_bytes(corrected)
    assert requests_of(landing.tick()) == []  # grew since the last look
    [second] = requests_of(landing.tick())
    assert landing.run(second).success
    assert landing.names("incoming") == []  # the marker went with its file
    quantities = landing.sql("select menge from raw.mseg order by mblnr, zeile").menge.tolist()
    assert len(quantities) == len(day2.splitlines()) - 1 and quantities[0] == -13.0


def test_names_made_safe_alike_are_rejected_apart_and_the_good_day_runs(
    landing: Landing, demo: Path
) -> None:
    """`Bestände Jan.csv` and `Bestände_Jan.csv` both become `Best_nde_Jan.csv`: rejected in
    the tick that places a good day, neither may stop the other's move, nor that day's run."""
    deliveries = [
        ("MSEG_20240103.csv", (demo / "MSEG_20240103.csv").read_bytes()),
        ("Bestände Jan.csv", b"x;y\r\n1;2\r\n"),
        ("Bestände_Jan.csv", b"x;y\r\n3;4\r\n"),
    ]
    for second, (name, data) in enumerate(deliveries, 1):  # the good day placed first
        (landing.incoming / name).write_bytes(data)
        os.utime(landing.incoming / name, ns=(second * 10**9,) * 2)
    landing.tick()
    [request] = requests_of(landing.tick())
    assert request.partition_key == "2024-01-03" and landing.run(request).success
    assert landing.names("incoming") == []
    rejected = landing.names("rejected")
    assert without_stamp(rejected) == ["Best_nde_Jan.csv"] * 2
    kept = sorted((landing.root / "rejected" / n).read_bytes() for n in rejected)
    assert kept == [data for _, data in deliveries[1:]]
    manifest = landing.sql(
        f"select archive_name from {MANIFEST_TABLE} where status = 'rejected' order by 1"
    )
    assert manifest.archive_name.tolist() == rejected


def test_a_resent_current_file_and_its_correction_in_one_tick_are_both_archived(
    landing: Landing, demo: Path
) -> None:
    """The re-sent file is a duplicate of the current one, which the correction then replaces:
    the same bytes under the same name archived twice in one tick, under two names."""
    name = "MSEG_20240102.csv"
    day2 = (demo / name).read_bytes()
    corrected = day2.replace(b"12,000-", b"13,000-", 1)
    (landing.incoming / name).write_bytes(day2)
    (landing.incoming / f"{name}.done").write_bytes(b"")
    landing.run(requests_of(landing.tick())[0])
    for second, (delivered, data) in enumerate(
        [(name, day2), ("mseg_2024-01-02__v2.csv", corrected)], 1
    ):
        (landing.incoming / delivered).write_bytes(data)
        os.utime(landing.incoming / delivered, ns=(second * 10**9,) * 2)  # the re-sent first
    landing.tick()
    [request] = requests_of(landing.tick())
    assert (landing.root / name).read_bytes() == corrected
    archived = landing.names("archive")
    assert len(archived) == 2
    for kept in archived:
        assert kept.endswith(f"__{sha(day2)[:12]}__{name}")
        assert (landing.root / "archive" / kept).read_bytes() == day2
    manifest = landing.sql(
        f"select status, archive_name from {MANIFEST_TABLE} order by received_at, status"
    )
    statuses = dict(manifest.values.tolist())
    assert statuses.keys() == {"superseded", "duplicate", "received"}
    assert {statuses["superseded"], statuses["duplicate"]} == set(archived)
    assert landing.run(request).success


def test_a_name_dated_after_tomorrow_is_rejected_and_blocks_nothing(
    landing: Landing, demo: Path, alerts: list[str]
) -> None:
    """A mistyped year (2052 for 2025): the master extract would make every correctly dated one
    after it "older" and rejected, the day's run would wait for its partition for years."""
    mara = (demo / "MARA.csv").read_bytes()
    typos = [
        ("MARA_20520115.csv", mara),
        ("MSEG_20520131.csv", (demo / "MSEG_20240102.csv").read_bytes()),
    ]
    for name, data in typos:
        (landing.incoming / name).write_bytes(data)
        (landing.incoming / f"{name}.done").write_bytes(b"")
    assert requests_of(landing.tick()) == []
    assert without_stamp(landing.names("rejected")) == [name for name, _ in typos]
    assert landing.names() == [] and '"deferred": []' in str(landing.cursor)
    [alert] = alerts
    assert re.fullmatch(
        r"MARA_20520115.csv: extraction date 2052-01-15 is in the future \(after [\d-]{10}\)\n"
        r"MSEG_20520131.csv: day 2052-01-31 is in the future \(after [\d-]{10}\)",
        alert,
    )

    (landing.incoming / "MARA_20250115.csv").write_bytes(mara)
    (landing.incoming / "MARA_20250115.csv.done").write_bytes(b"")
    [request] = requests_of(landing.tick())
    assert landing.run(request).success
    assert landing.sql("select count(*) as n from raw.mara").n.item() == len(mara.splitlines()) - 1


def test_an_object_store_landing_zone_takes_and_replaces_deliveries(
    tmp_path: Path, demo: Path
) -> None:
    """The landing zone at an fsspec URL (memory:// here; s3://, abfs://, sftp://... deployed):
    the sensor takes a delivery, the run reads it from the store, a correction replaces it and
    the first version is archived."""
    url = f"memory://scp-{uuid.uuid4().hex[:8]}/landing"
    warehouse = WarehouseResource(kind="duckdb", duckdb_path=str(tmp_path / "wh.duckdb"))
    landing = Landing(url, warehouse)
    first = (demo / "MSEG_20240104.csv").read_bytes()
    header, *items = first.splitlines(keepends=True)
    corrected = header + b"".join(items[:-1])

    for version in (first, corrected):
        landing.store.write(INCOMING, "MSEG_20240104.csv", version)
        landing.store.write(INCOMING, "MSEG_20240104.csv.done", b"")
        [request] = requests_of(landing.tick())
        assert request.partition_key == "2024-01-04"
        assert landing.run(request).success
        loaded = landing.sql("select count(*) as n from raw.mseg").n.item()
        assert loaded == len(version.splitlines()) - 1
        assert landing.names(INCOMING) == []

    with landing.store.open(CURRENT, "MSEG_20240104.csv") as current:
        assert current.read() == corrected
    [archived] = landing.names(ARCHIVE)
    assert archived.endswith(f"__{sha(first)[:12]}__MSEG_20240104.csv")
    with landing.store.open(ARCHIVE, archived) as kept:
        assert kept.read() == first
    statuses = landing.sql(f"select status from {MANIFEST_TABLE} order by received_at, status")
    assert sorted(statuses.status) == ["loaded", "superseded"]


def test_an_undated_file_is_split_by_day_and_loaded_as_one_range(
    landing: Landing, demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratches: list[str] = []  # temporary folders made during the tick
    make = tempfile.mkdtemp

    def mkdtemp(*args: object, **kwargs: object) -> str:
        scratches.append(make(*args, **kwargs))  # type: ignore[arg-type]
        return scratches[-1]

    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
    days = [date(2024, 1, d) for d in (2, 3, 4, 5)]
    header, bodies = b"", []
    for day in days:
        head, _, body = (demo / f"MSEG_{day:%Y%m%d}.csv").read_bytes().partition(b"\r\n")
        header = head + b"\r\n"
        bodies.append(body)
    undated = header + b"".join(bodies)
    (landing.incoming / "MSEG.csv").write_bytes(undated)
    (landing.incoming / "MSEG.csv.done").write_bytes(b"")

    with dg.build_sensor_context(
        instance=landing.instance,
        resources=landing.resources,
        repository_def=dg.Definitions(
            assets=raw_assets, sensors=[landing_sensor], resources=landing.resources
        ).get_repository_def(),
    ) as context:
        tick = landing_sensor.evaluate_tick(context)  # validated against the asset job
    [request] = tick.run_requests
    assert request.partition_key is None
    assert request.tags["dagster/asset_partition_range_start"] == "2024-01-02"
    assert request.tags["dagster/asset_partition_range_end"] == "2024-01-05"
    for day, body in zip(days, bodies, strict=True):  # byte for byte, header on each
        assert (landing.root / f"MSEG_{day:%Y%m%d}.csv").read_bytes() == header + body
    [archived] = landing.names("archive")
    assert archived.endswith(f"{sha(undated)[:12]}__MSEG.csv")
    assert landing.names("staging") == [] and landing.names("incoming") == []
    [scratch] = [Path(s) for s in scratches if Path(s).name.startswith("scp-split-")]
    assert not scratch.exists()  # the parts were cut in a temporary folder, removed since

    landing.run(request)
    per_day = landing.sql(
        "select budat_mkpf, count(*) as n from raw.mseg group by budat_mkpf order by budat_mkpf"
    )
    assert per_day.n.tolist() == [body.count(b"\r\n") for body in bodies]
    manifest = landing.sql(
        f"select status, canonical_name, run_key from {MANIFEST_TABLE} order by status, "
        "canonical_name"
    )
    assert manifest.status.tolist() == ["loaded"] * 4 + ["split"]
    assert set(manifest.run_key[:4]) == {request.run_key}


def test_an_undated_file_proven_day_first_after_the_sample_is_rejected_whole(
    landing: Landing, alerts: list[str]
) -> None:
    """A UK Excel re-save of an MB51 export sorted by date: its sample (2,000 lines) shows only
    days up to the 11th, which read month-first (1 February to 1 November); the 13th after it
    proves the file day-first. The delivery is rejected with that reason: no day of it placed."""

    def record(document: int, day: int) -> str:
        return f"{document};2025;1;601;M-1;1000;0001;5,000;ST;H;12,50;EUR;;;;;{day:02d}/01/2025"

    records = [record(4900000000 + n, 1 + n // 200) for n in range(2_010)]
    lines = [";".join(TABLE_SPECS["MSEG"].column_names), *records, record(4900002010, 13)]
    (landing.incoming / "MSEG.csv").write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    (landing.incoming / "MSEG.csv.done").write_bytes(b"")

    assert requests_of(landing.tick()) == []

    assert landing.names("incoming") == [] and landing.names("staging") == []
    assert [name for name in landing.names() if name.startswith("MSEG")] == []
    assert without_stamp(landing.names("rejected")) == ["MSEG.csv"]
    manifest = landing.sql(f"select status, canonical_name, reason from {MANIFEST_TABLE}")
    [(status, canonical, reason)] = manifest.values.tolist()
    assert (status, canonical) == ("rejected", None)
    assert reason.startswith(
        "MSEG.csv, line 2012, column BUDAT_MKPF: date '13/01/2025' is no MM/DD/YYYY date"
    )
    assert alerts == [reason]


def test_a_day_first_landing_zone_places_and_loads_an_excel_re_save_by_its_days(
    landing: Landing, demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SCP_DATE_ORDER=day-first: an undated MB51 re-save from Excel in a UK locale, whose dates
    never pass the 12th (02/01/2024, 03/01/2024), is split into 2 and 3 January and loaded so;
    month-first it would have been 1 February and 1 March."""
    monkeypatch.setenv("SCP_DATE_ORDER", "day-first")
    warehouse = landing.resources["warehouse"].open()
    plants = TABLE_SPECS["T001W"]
    load_table(warehouse, plants, files_for_window(demo, plants, None), None, "plants")
    column = TABLE_SPECS["MSEG"].column_names.index("BUDAT_MKPF")
    header, lines = "", []
    for day in (date(2024, 1, 2), date(2024, 1, 3)):
        header, *records = (demo / f"MSEG_{day:%Y%m%d}.csv").read_text("utf-8-sig").splitlines()
        for record in records:
            fields = record.split(";")
            assert fields[column] == f"{day:%Y%m%d}"
            fields[column] = f"{day:%d/%m/%Y}"
            lines.append(";".join(fields))
    (landing.incoming / "MSEG.csv").write_text("\n".join([header, *lines]) + "\n", "utf-8")
    (landing.incoming / "MSEG.csv.done").write_bytes(b"")

    (request,) = requests_of(landing.tick())
    landing.run(request)

    placed = landing.sql(
        f"select canonical_name, rows_loaded from {MANIFEST_TABLE} where table_name = 'MSEG' "
        "and status = 'loaded' order by canonical_name"
    ).values.tolist()
    days = landing.sql(
        "select budat_mkpf, count(*) from raw.mseg group by 1 order by 1"
    ).values.tolist()
    assert [name for name, _ in placed] == ["MSEG_20240102.csv", "MSEG_20240103.csv"]
    assert [count for _, count in days] == [count for _, count in placed]
    assert sum(count for _, count in days) == len(lines)
    assert [pd.Timestamp(day).date() for day, _ in days] == [date(2024, 1, 2), date(2024, 1, 3)]


def test_movements_of_a_new_plant_wait_for_the_plant_master_delivered_with_them(
    landing: Landing, demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plant opens: T001W with plant 2000 and the day's first movements there arrive in one
    tick. The MSEG run waits until the T001W delivery is loaded; started first, its load would
    have refused the day (2000 is not yet in raw.t001w). Then it loads the day whole. A T001W
    run that never ends holds nothing back longer than PLANTS_WAIT."""
    warehouse = landing.resources["warehouse"].open()
    plants = TABLE_SPECS["T001W"]
    load_table(warehouse, plants, files_for_window(demo, plants, None), None, "plants")
    master = (demo / "T001W.csv").read_text("utf-8-sig").rstrip("\r\n")
    (landing.incoming / "T001W.csv").write_text(
        master + "\r\n2000;DC Leipzig;Leipzig;DE;51,339700;12,373100\r\n", "utf-8"
    )
    header, *records = (demo / "MSEG_20240102.csv").read_text("utf-8-sig").splitlines()
    werks = header.split(";").index("WERKS")
    moved = []
    for record in records:
        fields = record.split(";")
        fields[werks] = "2000"
        moved.append(";".join(fields))
    (landing.incoming / "MSEG_20240102.csv").write_text("\n".join([header, *moved]) + "\n")
    for name in ("T001W.csv", "MSEG_20240102.csv"):
        (landing.incoming / f"{name}.done").write_bytes(b"")

    (plant_run,) = requests_of(landing.tick())
    assert plant_run.asset_selection == [raw_asset_key("T001W")]
    assert requests_of(landing.tick()) == []  # still waiting: T001W is not loaded yet
    landing.run(plant_run)
    (movements,) = requests_of(landing.tick())
    assert movements.partition_key == "2024-01-02"
    landing.run(movements)
    loaded = landing.sql("select werks, count(*) from raw.mseg group by 1").values.tolist()
    assert loaded == [["2000", len(moved)]]
    assert landing.sql("select count(*) from quarantine.rejected_rows").iloc[0, 0] == 0

    # a T001W delivery whose run died stays 'received': the runs wait PLANTS_WAIT, no longer
    (landing.incoming / "T001W.csv").write_text(master + "\r\n", "utf-8")
    fields = moved[0].split(";")
    fields[werks] = "1000"
    (landing.incoming / "MSEG_20240103.csv").write_text(f"{header}\n{';'.join(fields)}\n")
    for name in ("T001W.csv", "MSEG_20240103.csv"):
        (landing.incoming / f"{name}.done").write_bytes(b"")
    assert [r.asset_selection for r in requests_of(landing.tick())] == [[raw_asset_key("T001W")]]
    monkeypatch.setattr(landing_module, "PLANTS_WAIT", timedelta(0))
    (late,) = requests_of(landing.tick())
    assert late.partition_key == "2024-01-03"


def test_a_delivery_whose_tick_died_after_placing_it_is_requested_again(
    landing: Landing, demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tick that dies after it placed a correction (a sensor timeout while splitting a large
    file) loses its run request with its cursor: the file is current, the manifest says
    received, and no run ever loaded it. Once RUN_REQUEST_GRACE has passed without a run of
    its run key, the sensor requests it again; a run that was launched is never doubled."""
    for name in ("MSEG_20240102.csv", "MSEG_20240103.csv"):
        (landing.incoming / name).write_bytes((demo / name).read_bytes())
        (landing.incoming / f"{name}.done").write_bytes(b"")
    (lost,) = requests_of(landing.tick())
    landing.cursor = None  # the tick's result never reached the daemon
    assert requests_of(landing.tick()) == []  # within the grace: its run may be queued
    monkeypatch.setattr(sensors, "RUN_REQUEST_GRACE", timedelta(0))

    (again,) = requests_of(landing.tick())
    assert (again.run_key, again.tags) == (lost.run_key, lost.tags)
    launched = {**again.tags, "dagster/run_key": again.run_key}
    dg.materialize(  # a run of that key, which here found no file: the manifest still waits
        [a for a in raw_assets if a.key in again.asset_selection],
        tags=launched,
        resources={**landing.resources, "landing": LandingZone(path=str(landing.root / "x"))},
        instance=landing.instance,
    )
    waiting = landing.sql(f"select status from {MANIFEST_TABLE} where table_name = 'MSEG'")
    assert waiting.status.tolist() == ["received", "received"]
    assert requests_of(landing.tick()) == []
    landing.run(again)
    loaded = landing.sql(f"select status from {MANIFEST_TABLE} where table_name = 'MSEG'")
    assert loaded.status.tolist() == ["loaded", "loaded"]
    assert landing.sql("select count(distinct budat_mkpf) from raw.mseg").iloc[0, 0] == 2


def test_a_delivery_whose_run_failed_is_requested_again_twice_then_when_dropped_again(
    landing: Landing, demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that failed or was cancelled before it loaded its delivery (a code server killed
    mid-run, then the run terminated as the README advises) left the delivery received for
    good: its run key had a run, so it was never requested again."""
    name = "MSEG_20240102.csv"
    (landing.incoming / name).write_bytes((demo / name).read_bytes())
    (landing.incoming / f"{name}.done").write_bytes(b"")
    (first,) = requests_of(landing.tick())
    monkeypatch.setattr(sensors, "RUN_REQUEST_GRACE", timedelta(0))

    @dg.asset(name="dies")
    def dies() -> None:
        raise RuntimeError("the code server went away")

    def ends_unloaded(request: dg.RunRequest) -> None:
        tags = {**request.tags, "dagster/run_key": str(request.run_key)}
        dg.materialize([dies], tags=tags, instance=landing.instance, raise_on_error=False)

    ends_unloaded(first)
    (again,) = requests_of(landing.tick())
    assert again.run_key == f"{first.run_key}:retry-1"
    assert (again.partition_key, again.asset_selection) == (
        first.partition_key,
        first.asset_selection,
    )
    # until its run is launched, the same key: the daemon launches a run key once
    assert [r.run_key for r in requests_of(landing.tick())] == [again.run_key]
    ends_unloaded(again)
    (last,) = requests_of(landing.tick())
    assert last.run_key == f"{first.run_key}:retry-2"
    ends_unloaded(last)
    assert requests_of(landing.tick()) == []  # a failure that repeats: no more runs

    # Dropped again, the same file was archived as a duplicate of the current file, and never
    # loaded: now the current file's day is run again.
    (landing.incoming / name).write_bytes((demo / name).read_bytes())
    (landing.incoming / f"{name}.done").write_bytes(b"")
    (dropped,) = requests_of(landing.tick())
    assert dropped.run_key == f"{first.run_key}:retry-3"  # one of its runs, for _lost_runs
    assert dropped.partition_key == "2024-01-02"
    landing.run(dropped)
    statuses = landing.sql(
        f"select status from {MANIFEST_TABLE} where table_name = 'MSEG' order by status"
    )
    assert statuses.status.tolist() == ["duplicate", "loaded"]
    (landing.incoming / name).write_bytes((demo / name).read_bytes())  # loaded: a duplicate
    (landing.incoming / f"{name}.done").write_bytes(b"")
    assert requests_of(landing.tick()) == []


def test_a_delivery_dropped_again_after_its_run_failed_is_run_once(
    landing: Landing, demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dropped again before the sensor re-requested it, a delivery got a run for the drop and
    one more for its failed run: the drop's run is one of the delivery's runs now."""
    name = "MSEG_20240102.csv"

    def drop() -> list[dg.RunRequest]:
        (landing.incoming / name).write_bytes((demo / name).read_bytes())
        (landing.incoming / f"{name}.done").write_bytes(b"")
        return requests_of(landing.tick())

    @dg.asset(name="ends")
    def ends(context) -> None:  # unannotated: dagster cannot resolve a string annotation
        if context.run.tags["dagster/run_key"].endswith(":retry-1"):
            return  # still running, as far as the sensor can tell: not failed
        raise RuntimeError("the code server went away")

    def run_of(request: dg.RunRequest) -> None:
        tags = {**request.tags, "dagster/run_key": str(request.run_key)}
        dg.materialize([ends], tags=tags, instance=landing.instance, raise_on_error=False)

    (first,) = drop()
    run_of(first)
    (again,) = drop()
    assert again.run_key == f"{first.run_key}:retry-1"
    run_of(again)
    monkeypatch.setattr(sensors, "RUN_REQUEST_GRACE", timedelta(0))
    assert requests_of(landing.tick()) == []  # its last run did not fail
    assert drop() == []  # nor does a drop while it has one


def test_an_undated_delivery_accounts_for_rows_outside_the_history_and_unreadable_days(
    landing: Landing, demo: Path, alerts: list[str]
) -> None:
    """Days of an undated file before the first partition or after tomorrow are rejected naming
    their lines; a record without a readable day goes to the earliest day that is placed, where
    the load quarantines it. It went to the earliest day of all, here 2023-12-31, rejected whole,
    so it was in neither raw nor quarantine, and a year-2031 typo waited for its partition."""
    warehouse = landing.resources["warehouse"].open()
    plants = TABLE_SPECS["T001W"]
    load_table(warehouse, plants, files_for_window(demo, plants, None), None, "plants")
    header, first, *_ = (demo / "MSEG_20240102.csv").read_text("utf-8-sig").splitlines()
    fields = first.split(";")

    def record(document: int, day: str) -> str:
        return ";".join([str(document), *fields[1:-1], day])

    lines = [
        header,
        record(4900000101, "20240102"),
        record(4900000102, "20231231"),
        record(4900000103, "20240230"),  # no such day
        record(4900000104, "20310101"),
        record(4900000105, "20240103"),
    ]
    (landing.incoming / "MSEG.csv").write_text("\n".join(lines) + "\n", "utf-8")
    (landing.incoming / "MSEG.csv.done").write_bytes(b"")

    (request,) = requests_of(landing.tick())
    landing.run(request, raise_on_error=False)  # 1 of 3 rows: the pooled share fails

    rejected = landing.sql(
        f"select partition_key, reason from {MANIFEST_TABLE} where status = 'rejected' "
        "order by partition_key"
    ).values.tolist()
    assert [key for key, _ in rejected] == ["2023-12-31", "2031-01-01"]
    assert "before the first partition day 2024-01-01: 1 line (3) not loaded" in rejected[0][1]
    assert "is in the future" in rejected[1][1] and "1 line (5) not loaded" in rejected[1][1]
    assert len(alerts) == 1 and "1 line (3)" in alerts[0]
    quarantined = landing.sql(
        "select source_file, delivered_line, column_name from quarantine.rejected_rows"
    ).values.tolist()
    assert quarantined == [["MSEG_20240102.csv", 4, "BUDAT_MKPF"]]
    assert landing.sql("select count(*) from raw.mseg").iloc[0, 0] == 2


def test_a_delivery_in_a_subfolder_of_incoming_is_named_not_ignored(landing: Landing) -> None:
    """incoming/sub/MSEG_20240208.csv was neither loaded nor rejected nor named: the tick said
    "0 files in incoming/ not yet stable", and the delivery waited unseen."""
    (landing.incoming / "sub").mkdir(parents=True)
    (landing.incoming / "sub" / "MSEG_20240208.csv").write_text("MBLNR\n", "utf-8")
    reason = str(landing.tick().skip_reason)
    assert "incoming/sub/: not read, the landing zone takes only files placed directly" in reason


def test_extra_columns_load_without_them_or_refuse_the_file_as_configured(
    landing: Landing, demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A column the spec does not know (a customer Z-field) is named in the detected format and
    left out; SCP_EXTRA_COLUMNS=keep keeps it in raw's `_extra` (a JSON object per row), and
    =error rejects the delivery, naming line and column."""
    header, *records = (demo / "MSEG_20240102.csv").read_text("utf-8-sig").splitlines()
    extended = "\n".join([f"{header};ZZCOLOR", *(f"{r};blue" for r in records)]) + "\n"
    for setting, color in (("report", "blue"), ("keep", "green")):
        monkeypatch.setenv("SCP_EXTRA_COLUMNS", setting)
        delivery = extended.replace(";blue", f";{color}")
        (landing.incoming / "MSEG_20240102.csv").write_text(delivery, "utf-8")
        (landing.incoming / "MSEG_20240102.csv.done").write_bytes(b"")
        (request,) = requests_of(landing.tick())
        result = landing.run(request)
        kept = landing.sql("select distinct _extra from raw.mseg")._extra.tolist()
        assert kept == ([None] if setting == "report" else ['{"ZZCOLOR":"green"}'])
        went = "not loaded" if setting == "report" else "kept in raw.mseg._extra"
        warning = f"MSEG_20240102.csv: columns MSEG does not know, {went}: ZZCOLOR;"
        logs = landing.instance.all_logs(result.run_id)
        assert any(warning in entry.user_message for entry in logs)
    monkeypatch.setenv("SCP_EXTRA_COLUMNS", "error")
    (landing.incoming / "MSEG_20240103.csv").write_text(extended, "utf-8")
    (landing.incoming / "MSEG_20240103.csv.done").write_bytes(b"")
    assert requests_of(landing.tick()) == []

    manifest = landing.sql(
        f"select status, reason, detected_format from {MANIFEST_TABLE} order by received_at"
    ).values.tolist()
    assert [status for status, *_ in manifest] == ["superseded", "loaded", "rejected"]
    assert json.loads(manifest[0][2])["extra_columns"] == "ZZCOLOR"
    assert "line 1, column ZZCOLOR: unknown column(s) ['ZZCOLOR']" in manifest[2][1]
    assert landing.sql("select count(*) from raw.mseg").iloc[0, 0] == len(records)


def test_quarantine_names_the_line_of_a_split_delivery_as_delivered(
    any_landing: Landing, demo: Path
) -> None:
    """Days interleaved in one undated file: a bad quantity (reader) and an unknown plant
    (quality check) are quarantined with their part's file and line and the delivered ones."""
    landing = any_landing
    warehouse = landing.resources["warehouse"].open()
    plants = TABLE_SPECS["T001W"]
    load_table(warehouse, plants, files_for_window(demo, plants, None), None, "plants")
    header, *second = (demo / "MSEG_20240102.csv").read_text(encoding="utf-8-sig").splitlines()
    third = (demo / "MSEG_20240103.csv").read_text(encoding="utf-8-sig").splitlines()[1:]
    half = len(second) // 2
    fields = second[half].split(";")
    fields[7] = "abc"  # MENGE
    second[half] = ";".join(fields)
    fields = third[0].split(";")
    fields[5] = "9999"  # WERKS
    third[0] = ";".join(fields)
    lines = [header, *second[:half], *third, *second[half:]]
    (landing.incoming / "MSEG.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (landing.incoming / "MSEG.csv.done").write_bytes(b"")

    (request,) = requests_of(landing.tick())
    landing.run(request, raise_on_error=False)  # 1 of a few rows: the pooled share fails
    window = (date(2024, 1, 2), date(2024, 1, 4))
    run_table_quality(warehouse, TABLE_SPECS["MSEG"], window, "check")

    found = landing.sql(
        "select source_file, source_line, delivered_file, delivered_line, column_name "
        "from quarantine.rejected_rows order by delivered_line"
    ).values.tolist()
    assert found == [
        ["MSEG_20240103.csv", 2, "MSEG.csv", half + 2, "WERKS"],
        ["MSEG_20240102.csv", half + 2, "MSEG.csv", half + len(third) + 2, "MENGE"],
    ]
    assert lines[half + 1].split(";")[5] == "9999" and lines[half + len(third) + 1] == second[half]


def test_quarantine_names_the_delivered_line_of_a_day_cut_from_over_ten_thousand_runs(
    any_landing: Landing,
) -> None:
    """Days that alternate at every record, as in an extract partitioned by one column and
    sorted by another (EKPO: AEDAT, EBELN): each day part is cut from 10,002 runs. Before, a
    part of more than 10,000 runs kept no line map, and `delivered_line` was null."""
    landing = any_landing
    days = ("20240102", "20240103")
    records = [
        f"{4_900_000_000 + n};2024;1;601;M-1;1000;0001;5,000;ST;H;12,50;EUR;;;;;{days[n % 2]}"
        for n in range(20_004)
    ]
    records[19_999] = records[19_999].replace(";5,000;", ";abc;")  # MENGE, on day 2024-01-03
    header = ";".join(TABLE_SPECS["MSEG"].column_names)
    (landing.incoming / "MSEG.csv").write_text("\n".join([header, *records, ""]), encoding="utf-8")
    (landing.incoming / "MSEG.csv.done").write_bytes(b"")

    (request,) = requests_of(landing.tick())
    landing.run(request)
    found = landing.sql(
        "select source_file, source_line, delivered_file, delivered_line, column_name "
        "from quarantine.rejected_rows"
    ).values.tolist()
    assert found == [["MSEG_20240103.csv", 10_001, "MSEG.csv", 20_001, "MENGE"]]


def test_a_day_without_a_partition_yet_waits_in_the_cursor(
    landing: Landing, demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    last = sensors._last_partition_day()
    tomorrow = last + timedelta(days=1)
    name = f"MSEG_{tomorrow:%Y%m%d}.csv"
    (landing.incoming / name).write_bytes((demo / "MSEG_20240102.csv").read_bytes())
    (landing.incoming / f"{name}.done").write_bytes(b"")
    assert requests_of(landing.tick()) == []
    assert landing.names() == [name]  # placed: it is the current delivery of its day
    assert f'"first_day": "{tomorrow}"' in str(landing.cursor)

    monkeypatch.setattr(sensors, "_last_partition_day", lambda: tomorrow)
    [request] = requests_of(landing.tick())
    assert request.partition_key == tomorrow.isoformat()
    assert '"deferred": []' in str(landing.cursor)


def test_a_locked_duckdb_warehouse_postpones_the_tick(landing: Landing, demo: Path) -> None:
    with duckdb_held(landing):
        (landing.incoming / "MARA.csv").write_bytes((demo / "MARA.csv").read_bytes())
        (landing.incoming / "MARA.csv.done").write_bytes(b"")
        busy = landing.tick()
        assert requests_of(busy) == [] and "Warehouse busy" in str(busy.skip_reason)
        assert landing.names("incoming") == ["MARA.csv", "MARA.csv.done"]  # nothing moved
    assert [r.asset_selection for r in requests_of(landing.tick())] == [
        [dg.AssetKey(["raw", "mara"])]
    ]


# -- OData deltas through the landing zone -----------------------------------------------------


class KeyFilterServer(ODataTestServer):
    """The test server plus `$filter=Prop eq 'a' or Prop eq 'b'`, which S/4 supports."""

    def page(self, entity_set: str, query: dict[str, str]) -> tuple[int, dict, bytes]:
        condition = query.get("$filter", "")
        match = re.fullmatch(r"(\w+) eq '[^']*'(?: or \1 eq '[^']*')*", condition)
        if match is None:
            return super().page(entity_set, query)
        keys = set(re.findall(r"eq '([^']*)'", condition))
        rows = self.rows[entity_set]
        self.rows[entity_set] = [r for r in rows if str(r.get(match[1])) in keys]
        try:
            return super().page(entity_set, {k: v for k, v in query.items() if k != "$filter"})
        finally:
            self.rows[entity_set] = rows


@pytest.fixture
def odata_server() -> Iterator[KeyFilterServer]:
    with KeyFilterServer() as server:
        yield server


def test_odata_deltas_arrive_as_landing_files_and_load_per_day(
    landing: Landing, odata_server: KeyFilterServer
) -> None:
    odata = SapODataResource(base_url=odata_server.base_url, auth="none", page_size=25)
    client = SapODataClient(odata_server.base_url, auth="none")
    orders = client.fetch("A_SalesOrder")
    _, vbak = to_raw_table("A_SalesOrder", orders)
    _, vbap = to_raw_table(
        "A_SalesOrderItem", client.fetch("A_SalesOrderItem"), related={"A_SalesOrder": orders}
    )
    days = sorted(vbak.ERDAT.dt.date.unique())

    first = landing.tick(sap_odata_delta_sensor, sap_odata=odata)
    assert "Wrote" in str(first.skip_reason)
    written = landing.names("incoming")
    assert len([n for n in written if n.startswith("VBAK_") and n.endswith(".csv")]) == len(days)
    assert len([n for n in written if n.startswith("VBAP_") and n.endswith(".csv")]) == len(days)
    assert any(n.startswith("MARA__odata-") for n in written)

    requests = requests_of(landing.tick())
    by_table = {
        (r.asset_selection[0].path[-1], r.tags.get("dagster/asset_partition_range_start"))
        for r in requests
    }
    assert by_table == {("vbak", str(days[0])), ("vbap", str(days[0])), ("mara", None)}
    for request in requests:
        if request.asset_selection[0].path[-1] in ("vbak", "vbap"):
            landing.run(request)
    loaded = landing.sql("select vbeln, kunnr, erdat from raw.vbak order by vbeln")
    assert loaded.vbeln.tolist() == sorted(vbak.VBELN)
    expected = vbak.sort_values("VBELN")
    assert loaded.kunnr.tolist() == expected.KUNNR.tolist()
    assert landing.sql("select count(*) as n from raw.vbap").n.item() == len(vbap)

    # nothing changed: no files
    quiet = landing.tick(sap_odata_delta_sensor, sap_odata=odata)
    assert quiet.skip_reason and "No changed rows" in str(quiet.skip_reason.skip_message)

    # an edit without a change to VBAK/VBAP fields: the delta returns it, no file changes
    newest = pd.Timestamp(max(orders.LastChangeDateTime))
    odata_server.touch("A_SalesOrder", 0, (newest + timedelta(days=1)).to_pydatetime())
    assert "No changed rows" in str(
        landing.tick(sap_odata_delta_sensor, sap_odata=odata).skip_reason.skip_message
    )

    # a real change of order 3: only its day's VBAK file is written and reloaded
    odata_server.rows["A_SalesOrder"][2]["SoldToParty"] = "17100099"
    odata_server.touch("A_SalesOrder", 2, (newest + timedelta(days=2)).to_pydatetime())
    landing.tick(sap_odata_delta_sensor, sap_odata=odata)
    day = vbak.set_index("VBELN").ERDAT["0000000003"].date()
    name = landing.names("incoming")[0]
    assert landing.names("incoming") == [name, f"{name}.done"]
    assert name.startswith(f"VBAK_{day:%Y%m%d}__odata-")
    [request] = requests_of(landing.tick())
    assert request.partition_key == day.isoformat()
    landing.run(request)
    changed = landing.sql("select vbeln, kunnr from raw.vbak order by vbeln")
    assert changed.set_index("vbeln").kunnr["0000000003"] == "0017100099"
    assert (changed.kunnr != loaded.kunnr).sum() == 1


@pytest.mark.parametrize("location", ["folder", "bucket"])
def test_a_landing_zone_that_is_not_there_fails_the_tick_naming_the_setting(
    tmp_path: Path, location: str
) -> None:
    """A mistyped SCP_LANDING_DIR looked like a zone where nothing was delivered: the ticks
    skipped with "No new deliveries" while the extracts waited in the real folder. A URL's
    credentials are not shown."""
    missing = (
        str(tmp_path / "typo" / "landing")
        if location == "folder"
        else f"memory://sap:s3cret@nobucket-{uuid.uuid4().hex[:8]}/landing"
    )
    warehouse = WarehouseResource(kind="duckdb", duckdb_path=str(tmp_path / "wh.duckdb"))
    resources = {"landing": LandingZone(path=missing), "warehouse": warehouse}
    with (
        dg.build_sensor_context(
            instance=dg.DagsterInstance.ephemeral(), resources=resources
        ) as context,
        pytest.raises(LandingSetupError) as refused,
    ):
        landing_sensor(context)
    assert "does not exist (SCP_LANDING_DIR)" in str(refused.value)
    assert "s3cret" not in str(refused.value)
    assert not Path(missing).exists()  # nothing was created under the mistyped name
