"""The OData sensor's feeds beyond deltas, and its tick budget, against the real test server.

Product plants and stock have no change timestamp: they are read in full once per day.
Material documents are read by posting day over a window re-read every day. Each lands as
landing files that `landing_sensor` loads, like the delta feeds.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from pipelines.ingest import sensors
from pipelines.ingest.landing import (
    ARCHIVE,
    DELTA_FEEDS,
    INCOMING,
    MANIFEST_TABLE,
    DeltaExtract,
    ODataCursor,
    ensure_manifest,
    extract_delta,
    held_snapshot,
    manifest_frame,
    next_start,
    posting_window,
    read_rows,
)
from pipelines.ingest.odata import (
    ODataAuthError,
    ODataError,
    SapODataClient,
    format_cursor,
    to_raw_table,
)
from pipelines.ingest.sensors import sap_odata_delta_sensor
from pipelines.ingest.specs import get_spec
from resources.odata import SapODataResource
from resources.warehouse import Warehouse
from tests.integration.test_landing_sensor import (
    KeyFilterServer,
    Landing,
    duckdb_held,
    duckdb_landing,
    engine_landing,
    requests_of,
)
from tests.integration.test_odata import resolver_answers
from tests.odata_server import read_since, wire_ms

DAY = date(2024, 1, 10)


class PostingServer(KeyFilterServer):
    """Plus `$filter=P ge datetime'...' and P lt datetime'...'`, as S/4 supports."""

    def page(self, entity_set: str, query: dict[str, str]) -> tuple[int, dict, bytes]:
        condition = query.get("$filter", "")
        match = re.fullmatch(r"(\w+) ge datetime'([^']+)' and \1 lt datetime'([^']+)'", condition)
        if match is None:
            return super().page(entity_set, query)
        prop, first, end = match[1], _ms(match[2]), _ms(match[3])
        rows = self.rows[entity_set]
        self.rows[entity_set] = [r for r in rows if first <= (wire_ms(r[prop]) or -1) < end]
        try:
            return super().page(entity_set, {k: v for k, v in query.items() if k != "$filter"})
        finally:
            self.rows[entity_set] = rows


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def _wire_day(day: date) -> str:
    return f"/Date({_ms(day.isoformat())})/"


@pytest.fixture
def odata_server() -> Iterator[PostingServer]:
    with PostingServer() as server:
        yield server


@pytest.fixture
def landing(tmp_path: Path) -> Landing:
    return duckdb_landing(tmp_path)


@pytest.fixture(params=["duckdb", "postgres"])
def any_landing(request: pytest.FixtureRequest, tmp_path: Path) -> Landing:
    return engine_landing(request, tmp_path)


@pytest.fixture
def today(monkeypatch: pytest.MonkeyPatch) -> list[date]:
    """The sensors' last complete day, settable: the server's documents are from January 2024."""
    current = [DAY]
    monkeypatch.setattr(sensors, "_last_partition_day", lambda: current[0])
    monkeypatch.setattr(sensors, "ODATA_LOOKBACK_DAYS", 3)
    return current


def delta_filter(cursor: str) -> str:
    """The `$filter` of a delta read from `cursor`: the resource's default overlap, 5 minutes
    before it, is read again."""
    return f"LastChangeDateTime gt datetimeoffset'{format_cursor(pd.Timestamp(cursor) - OVERLAP)}'"


OVERLAP = pd.Timedelta(minutes=5)


def resource(server: PostingServer, **options: object) -> SapODataResource:
    return SapODataResource(base_url=server.base_url, auth="none", page_size=25, **options)


def new_files(landing: Landing) -> list[str]:
    return sorted(n for n in landing.names(INCOMING) if n.endswith(".csv"))


def load_all(landing: Landing) -> None:
    """What landing_sensor does with the files: take them and run their raw partitions. The
    harness keeps one cursor, the OData sensor's here; files with `.done` markers need none."""
    odata_cursor, landing.cursor = landing.cursor, None
    for request in requests_of(landing.tick()):
        assert landing.run(request).success
    landing.cursor = odata_cursor


def file_rows(landing: Landing, name: str) -> pd.DataFrame:
    return read_rows(landing.root / INCOMING / name, get_spec(name[:4]))


def test_product_plants_and_stock_are_read_once_a_day_and_loaded(
    landing: Landing,
    odata_server: PostingServer,
    today: list[date],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sensors, "ODATA_FEEDS", "A_ProductPlant,A_MatlStkInAcctMod")
    odata = resource(odata_server)
    client = SapODataClient(odata_server.base_url, auth="none")
    planning = {
        (r["Product"], r["Plant"]): int(r["PlannedDeliveryDurationInDays"])
        for r in odata_server.rows["A_ProductSupplyPlanning"]
    }

    first = landing.tick(sap_odata_delta_sensor, sap_odata=odata)
    assert "Wrote 2 files" in str(first.skip_reason.skip_message)
    assert new_files(landing) == ["MARC__odata-20240110.csv", "MARD_20240110__odata-20240110.csv"]
    marc = file_rows(landing, "MARC__odata-20240110.csv")
    wire = {(r["Product"], r["Plant"]) for r in odata_server.rows["A_ProductPlant"]}
    _, expected_marc = to_raw_table("A_ProductPlant", client.fetch("A_ProductPlant"))
    assert len(marc) == len(wire) == 40
    assert sorted(zip(marc.MATNR, marc.WERKS, strict=True)) == sorted(
        zip(expected_marc.MATNR, expected_marc.WERKS, strict=True)
    )
    assert sorted(marc.PLIFZ.tolist()) == sorted(planning.values())  # the MRP view is joined
    mard = file_rows(landing, "MARD_20240110__odata-20240110.csv")
    _, expected_mard = to_raw_table(
        "A_MatlStkInAcctMod", client.fetch("A_MatlStkInAcctMod"), snapshot_date=DAY
    )
    assert len(mard) == len(expected_mard) == 12
    assert mard.DATUM.eq(pd.Timestamp(DAY)).all()
    assert mard.LABST.sum() == pytest.approx(expected_mard.LABST.sum())

    load_all(landing)
    assert landing.sql("select count(*) as n from raw.marc").n.item() == 40
    loaded = landing.sql("select datum, count(*) as n from raw.mard group by datum")
    assert loaded.to_dict("records") == [{"datum": DAY, "n": 12}]

    # the same day again: nothing is read
    before = len(odata_server.state.requests)
    again = landing.tick(sap_odata_delta_sensor, sap_odata=odata)
    assert "No changed rows" in str(again.skip_reason.skip_message)
    assert len(odata_server.state.requests) == before

    # the next day: stock for the new day; MARC unchanged, so no file
    plant_reads = len(odata_server.data_requests("A_ProductPlant"))
    today[0] = date(2024, 1, 11)
    odata_server.rows["A_MatlStkInAcctMod"][0]["MatlWrhsStkQtyInMatlBaseUnit"] = "99.5"
    landing.tick(sap_odata_delta_sensor, sap_odata=odata)
    assert new_files(landing) == ["MARD_20240111__odata-20240111.csv"]
    # read again: two pages, and the count that confirms nothing changed between them
    assert len(odata_server.data_requests("A_ProductPlant")) == plant_reads + 3
    load_all(landing)
    days = landing.sql("select datum, sum(labst) as labst from raw.mard group by datum")
    by_day = days.set_index("datum").labst
    assert by_day[date(2024, 1, 11)] == pytest.approx(by_day[DAY] + 99)


def test_material_documents_land_by_posting_day_and_late_postings_replace_their_day(
    landing: Landing,
    odata_server: PostingServer,
    today: list[date],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sensors, "ODATA_FEEDS", "A_MaterialDocumentHeader")
    odata = resource(odata_server)
    headers = odata_server.rows["A_MaterialDocumentHeader"]
    items = odata_server.rows["A_MaterialDocumentItem"]
    posted = {h["MaterialDocument"]: pd.Timestamp(wire_ms(h["PostingDate"]), unit="ms").date()
              for h in headers}  # fmt: skip

    def documents_of(day: date) -> list[str]:
        return sorted(doc for doc, when in posted.items() if when == day)

    landing.tick(sap_odata_delta_sensor, sap_odata=odata)
    window = ["20240108", "20240109", "20240110"]  # the last 3 days
    assert new_files(landing) == sorted(
        f"{t}_{d}__odata-20240110.csv" for t in ("MKPF", "MSEG") for d in window
    )
    for d in window:
        day = datetime.strptime(d, "%Y%m%d").date()
        mkpf = file_rows(landing, f"MKPF_{d}__odata-20240110.csv")
        assert mkpf.MBLNR.tolist() == documents_of(day) and len(mkpf) == 1
        mseg = file_rows(landing, f"MSEG_{d}__odata-20240110.csv")
        lines = [i for i in items if i["MaterialDocument"] in documents_of(day)]
        assert sorted(zip(mseg.MBLNR, mseg.ZEILE, strict=True)) == sorted(
            (i["MaterialDocument"], int(i["MaterialDocumentItem"])) for i in lines
        )
    [header_read] = odata_server.data_requests("A_MaterialDocumentHeader")
    assert header_read.query["$filter"] == (
        "PostingDate ge datetime'2024-01-08T00:00:00' "
        "and PostingDate lt datetime'2024-01-11T00:00:00'"
    )
    load_all(landing)
    assert landing.sql("select count(*) as n from raw.mseg").n.item() == 6

    # A document posted late into 01-09; another year's document with the number of 01-10's.
    late = headers[20]["MaterialDocument"]
    headers[20]["PostingDate"] = _wire_day(date(2024, 1, 9))
    posted[late] = date(2024, 1, 9)
    same_number = {**items[18], "MaterialDocumentYear": "2023", "MaterialDocumentItem": "7"}
    assert same_number["MaterialDocument"] in documents_of(DAY)
    items.append(same_number)
    today[0] = date(2024, 1, 11)
    item_reads = len(odata_server.data_requests("A_MaterialDocumentItem"))
    landing.tick(sap_odata_delta_sensor, sap_odata=odata)
    # 01-09 is replaced with the late document, 01-11 is new; 01-10 is unchanged: not written
    assert new_files(landing) == sorted(
        f"{t}_{d}__odata-20240111.csv" for t in ("MKPF", "MSEG") for d in ("20240109", "20240111")
    )
    assert file_rows(landing, "MKPF_20240109__odata-20240111.csv").MBLNR.tolist() == sorted(
        ["4900000008", late]
    )
    new_item_reads = odata_server.data_requests("A_MaterialDocumentItem")[item_reads:]
    assert new_item_reads and all(" or " in r.query["$filter"] for r in new_item_reads)
    load_all(landing)
    loaded = landing.sql(
        "select mblnr, mjahr, budat_mkpf from raw.mseg where mblnr = '" + late + "'"
    )
    assert loaded.budat_mkpf.tolist() == [date(2024, 1, 9)] * 2
    assert landing.sql("select count(*) as n from raw.mseg where mjahr = 2023").n.item() == 0
    assert landing.sql("select count(*) as n from raw.mkpf").n.item() == 5  # 01-08 .. 01-11


def test_posting_window_rereads_the_lookback_and_catches_up_in_steps() -> None:
    assert posting_window(None, DAY, 3) == (date(2024, 1, 8), DAY)
    assert posting_window("2024-01-10", DAY, 3) is None  # done for today
    assert posting_window("2024-01-09", DAY, 3) == (date(2024, 1, 8), DAY)
    assert posting_window("2023-12-01", DAY, 3) == (date(2023, 12, 2), date(2023, 12, 8))
    assert posting_window(None, DAY, 3, since="2024-01-01T00:00:00Z") == (
        date(2024, 1, 1),
        date(2024, 1, 7),
    )


def test_a_throttled_read_ends_the_tick_with_its_reason_and_keeps_the_cursor(
    landing: Landing, odata_server: PostingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a budget the client would sleep out the 120 s and Dagster kill the tick at 60 s
    with a timeout that names neither OData nor the throttling."""
    monkeypatch.setattr(sensors, "ODATA_FEEDS", "A_Product,A_SalesOrder")
    odata_server.add_fault("A_SalesOrder", "429", offset=0, retry_after="120")
    odata = resource(odata_server, tick_budget_s=3.0)
    started = time.monotonic()
    throttled = landing.tick(sap_odata_delta_sensor, sap_odata=odata)
    assert time.monotonic() - started < 3.0
    message = str(throttled.skip_reason.skip_message)
    assert "OData read of A_SalesOrder stopped within this tick's 3 s budget" in message
    assert "page 1 of A_SalesOrder" in message and "Retry-After 120 s" in message
    assert "Its cursor is kept; the next tick retries, starting with A_SalesOrder" in message
    assert "Wrote 1 files" in message  # A_Product, read first, is done and kept
    assert list(ODataCursor.from_json(landing.cursor).feeds) == ["A_Product"]

    # The next tick keeps to the 120 s SAP asked for: it asked again at once, every tick.
    state = ODataCursor.from_json(landing.cursor)
    until = state.not_before["A_SalesOrder"]
    asked = datetime.fromisoformat(until) - datetime.now(UTC)
    assert timedelta(seconds=100) < asked <= timedelta(seconds=120)
    orders_read = len(odata_server.data_requests("A_SalesOrder"))
    products_read = len(odata_server.data_requests("A_Product"))
    waiting = str(landing.tick(sap_odata_delta_sensor, sap_odata=odata).skip_reason)
    assert f"Not read, as SAP asked (Retry-After): A_SalesOrder before {until}" in waiting
    assert len(odata_server.data_requests("A_SalesOrder")) == orders_read
    assert len(odata_server.data_requests("A_Product")) > products_read  # the other is read
    state = ODataCursor.from_json(landing.cursor)
    state.not_before["A_SalesOrder"] = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    landing.cursor = state.to_json()  # 120 s later
    landing.tick(sap_odata_delta_sensor, sap_odata=odata)
    assert sorted(ODataCursor.from_json(landing.cursor).feeds) == ["A_Product", "A_SalesOrder"]
    assert ODataCursor.from_json(landing.cursor).not_before == {}
    assert any(n.startswith("VBAK_") for n in new_files(landing))


# -- each feed gets its turn -------------------------------------------------------------------


def test_a_feed_that_never_fits_the_budget_does_not_starve_the_feeds_after_it(
    landing: Landing, odata_server: PostingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S/4 throttles A_Product for good: before, every tick stopped there, and A_SalesOrder,
    after it in SCP_ODATA_FEEDS, was never read."""
    monkeypatch.setattr(sensors, "ODATA_FEEDS", "A_Product,A_SalesOrder")
    # a first page slower than the budget (a Retry-After would hold the feed back instead)
    odata_server.add_fault("A_Product", "timeout", offset=0, times=100, delay_s=5.0)
    odata = resource(odata_server, tick_budget_s=3.0)
    starts = []
    for _ in range(3):
        landing.tick(sap_odata_delta_sensor, sap_odata=odata)
        starts.append(ODataCursor.from_json(landing.cursor).start)

    assert any(n.startswith("VBAK_") for n in new_files(landing))
    assert list(ODataCursor.from_json(landing.cursor).feeds) == ["A_SalesOrder"]
    # A_Product is tried at every tick, and every other tick first, with the whole budget
    assert len(odata_server.data_requests("A_Product")) == 3
    assert starts == ["A_SalesOrder", "A_Product", "A_SalesOrder"]


def _reads(costs: dict[str, float], budget: float, ticks: int) -> dict[str, int]:
    """How often each feed is read over `ticks` ticks, each feed's read taking `costs` s."""
    state = ODataCursor()
    reads = dict.fromkeys(costs, 0)
    for _ in range(ticks):
        order, left, stopped = state.order(list(costs)), budget, None
        for name in order:
            if costs[name] > left:
                stopped = name
                break
            left -= costs[name]
            reads[name] += 1
        state.start = next_start(order, stopped)
    return reads


def test_every_feed_that_fits_the_budget_alone_is_read_and_none_blocks_the_others() -> None:
    # Restarting after the feed that stopped would put A, which needs most of the budget,
    # behind B and C at every tick: A stopping after them must start the next tick instead.
    assert min(_reads({"A": 40, "B": 10, "C": 10}, budget=45, ticks=6).values()) >= 3
    never = _reads({"A": float("inf"), "B": 10, "C": 10}, budget=45, ticks=6)
    assert never["A"] == 0 and never["B"] >= 3 and never["C"] >= 3
    assert next_start(["A", "B", "C"], None) is None  # all read: the next tick starts at A
    assert next_start(["A"], "A") == "A"


def test_a_cursor_of_the_earlier_form_is_continued(
    landing: Landing, odata_server: PostingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sensors, "ODATA_FEEDS", "A_SalesOrder,A_Product")
    newest = "2024-01-07T12:00:00.572Z"  # the last change of A_Product
    landing.cursor = json.dumps({"A_Product": newest})  # as sensors before this one kept it
    landing.tick(sap_odata_delta_sensor, sap_odata=resource(odata_server))
    [read] = odata_server.row_reads("A_Product")
    assert read_since(read.query["$filter"]) == delta_filter(newest)
    assert ODataCursor.from_json(landing.cursor).feeds["A_Product"] == newest

    state = ODataCursor({"A_Product": newest}, start="A_Product")
    assert ODataCursor.from_json(state.to_json()) == state
    names = ["A_SalesOrder", "A_Product", "A_ProductPlant"]
    assert state.order(names) == ["A_Product", "A_ProductPlant", "A_SalesOrder"]
    assert ODataCursor().order(names) == names


# -- stock is current-only: missed days are named, not invented ---------------------------------


def test_days_the_stock_was_not_read_on_are_named_in_a_warning(
    landing: Landing,
    odata_server: PostingServer,
    today: list[date],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(sensors, "ODATA_FEEDS", "A_MatlStkInAcctMod")
    odata = resource(odata_server)

    def tick_on(day: date) -> list[str]:
        """The warnings of a tick on `day`, as the sensor's log (a console logger) prints them."""
        today[0] = day
        capsys.readouterr()
        landing.tick(sap_odata_delta_sensor, sap_odata=odata)
        return re.findall(r" - WARNING - (.*)", capsys.readouterr().err)

    assert tick_on(DAY) == []  # the first snapshot: no day before it is expected
    assert tick_on(date(2024, 1, 11)) == []
    [warning] = tick_on(date(2024, 1, 14))
    assert warning.startswith(
        "A_MatlStkInAcctMod: no stock snapshot for 2024-01-12..2024-01-13 (2 days): the API "
        "serves the current stock only"
    )
    assert "fct_demand_daily marks them is_stock_observed = false (not stockouts)" in warning
    [warning] = tick_on(date(2024, 1, 16))
    assert warning.startswith("A_MatlStkInAcctMod: no stock snapshot for 2024-01-15: ")
    stock_days = [n.split("__")[0] for n in new_files(landing)]
    assert stock_days == ["MARD_20240110", "MARD_20240111", "MARD_20240114", "MARD_20240116"]


# -- the first full read: a job, and the sensor continues after it ------------------------------


FULL_READ = ["A_SalesOrder", "A_MaterialDocumentHeader", "A_MatlStkInAcctMod"]


def incoming_bytes(landing: Landing) -> dict[str, bytes]:
    return {name: (landing.root / INCOMING / name).read_bytes() for name in new_files(landing)}


def test_the_full_read_job_lands_what_the_sensor_would_and_the_sensor_continues_after_it(
    tmp_path: Path,
    odata_server: PostingServer,
    today: list[date],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    odata = resource(odata_server, tick_budget_s=30.0)
    job = duckdb_landing(tmp_path / "job")
    config = sensors.ODataFullReadConfig(feeds=FULL_READ, since="2024-01-02")
    result = sensors.sap_odata_full_read.execute_in_process(
        run_config=dg.RunConfig(ops={"read_odata_feeds_in_full": config}),
        resources={**job.resources, "sap_odata": odata},
        instance=job.instance,
    )
    assert result.success
    files = incoming_bytes(job)
    # material documents of 2024-01-02..10 (in two reads of a week), orders changed since
    assert [n for n in files if n.startswith("MKPF_")] == [
        f"MKPF_202401{d:02d}__odata-{'20240108' if d < 9 else '20240110'}.csv" for d in range(2, 11)
    ]
    assert "MARD_20240110__odata-20240110.csv" in files

    # byte for byte what the sensor writes over its ticks, from the same `since`
    sensor = duckdb_landing(tmp_path / "sensor")
    monkeypatch.setattr(sensors, "ODATA_FEEDS", ",".join(FULL_READ))
    monkeypatch.setattr(sensors, "ODATA_DELTA_SINCE", "2024-01-02T00:00:00Z")
    for _ in range(2):  # material documents: a week per tick
        sensor.tick(sap_odata_delta_sensor, sap_odata=odata)
    assert incoming_bytes(sensor) == files

    # the sensor, with no cursor of its own, continues where the run ended: only newer changes
    monkeypatch.setattr(sensors, "ODATA_DELTA_SINCE", None)
    requests = len(odata_server.state.requests)
    quiet = job.tick(sap_odata_delta_sensor, sap_odata=odata)
    assert "No changed rows" in str(quiet.skip_reason.skip_message)
    newest = "2024-01-08T12:00:00.108Z"  # order 37's LastChangeDateTime: the run's cursor
    assert ODataCursor.from_json(job.cursor).feeds == {
        "A_SalesOrder": newest,
        "A_MaterialDocumentHeader": "2024-01-10",
        "A_MatlStkInAcctMod": "2024-01-10",
    }
    read = [
        r
        for r in odata_server.state.requests[requests:]
        if "$metadata" not in r.path and r.query.get("$top") != "0"
    ]
    assert [(r.path.rsplit("/", 1)[-1], read_since(r.query.get("$filter"))) for r in read] == [
        ("A_SalesOrder", delta_filter(newest)),
        ("A_SalesOrderItem", "SalesOrder eq '37'"),  # order 37, in the overlap, read again
    ]
    assert incoming_bytes(job) == files

    odata_server.rows["A_SalesOrder"][20]["SoldToParty"] = "17100099"
    odata_server.touch("A_SalesOrder", 20, datetime(2024, 1, 9, tzinfo=UTC))
    job.tick(sap_odata_delta_sensor, sap_odata=odata)
    [changed] = set(new_files(job)) - set(files)
    assert changed == "VBAK_20240121__odata-20240109T000000000000Z.csv"  # order 21, of 01-21


def test_the_full_read_job_is_launchable_with_the_sensor_feeds_by_default() -> None:
    from pipelines.definitions import defs

    job = defs().resolve_job_def("sap_odata_full_read")
    assert {"sap_odata", "landing", "warehouse"} <= set(job.resource_defs)
    assert sensors.ODataFullReadConfig().feeds == sensors.odata_feeds()
    assert sensors.ODataFullReadConfig(since="2024-01-02").since == "2024-01-02T00:00:00Z"


def full_read(
    landing: Landing, odata: SapODataResource, capsys: pytest.CaptureFixture[str], **config: object
) -> tuple[dg.ExecuteInProcessResult, list[str]]:
    """A run of sap_odata_full_read into `landing`, and the lines its op logged."""
    capsys.readouterr()
    result = sensors.sap_odata_full_read.execute_in_process(
        run_config={"ops": {"read_odata_feeds_in_full": {"config": config}}},
        resources={**landing.resources, "sap_odata": odata},
        instance=landing.instance,
        raise_on_error=False,
    )
    logged = r" - (?:INFO|WARNING|ERROR) - .* - read_odata_feeds_in_full - (.*)"
    return result, re.findall(logged, capsys.readouterr().err)


def warnings_of(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return re.findall(r" - WARNING - (.*)", capsys.readouterr().err)


# -- a change committed late is read again; rows read again write nothing ---------------------


@pytest.fixture
def three_orders() -> Iterator[PostingServer]:
    """Orders 1-3 (created on three days) and their 6 items: loads that take a second."""
    with PostingServer(row_counts={"A_SalesOrder": 3, "A_SalesOrderItem": 6}) as server:
        yield server


def test_a_change_committed_late_lands_and_the_overlap_read_again_writes_nothing(
    landing: Landing, three_orders: PostingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S/4 stamps a change when its save starts: order 1, saved while a tick read, carries a
    stamp 2 s before the newest change that tick saw. Before, the next delta asked only for
    changes after that newest one, and order 1's change never reached raw.vbak."""
    monkeypatch.setattr(sensors, "ODATA_FEEDS", "A_SalesOrder")
    odata_server, odata = three_orders, resource(three_orders)
    landing.tick(sap_odata_delta_sensor, sap_odata=odata)
    cursor = ODataCursor.from_json(landing.cursor).feeds["A_SalesOrder"]
    load_all(landing)

    quiet = landing.tick(sap_odata_delta_sensor, sap_odata=odata)
    assert str(quiet.skip_reason.skip_message) == "No changed rows" and new_files(landing) == []

    late = pd.Timestamp(cursor) - pd.Timedelta(seconds=2)
    odata_server.touch("A_SalesOrder", 0, late.to_pydatetime(), SoldToParty="17100099")
    landing.tick(sap_odata_delta_sensor, sap_odata=odata)
    [vbak] = new_files(landing)  # order 1's day; its items did not change: no VBAP file
    assert vbak.startswith("VBAK_20240101__odata-")
    assert file_rows(landing, vbak).set_index("VBELN").KUNNR["0000000001"] == "0017100099"
    assert ODataCursor.from_json(landing.cursor).feeds["A_SalesOrder"] == cursor
    load_all(landing)
    orders = landing.sql("select vbeln, kunnr from raw.vbak")
    assert len(orders) == orders.vbeln.nunique() == 3
    assert orders.set_index("vbeln").kunnr["0000000001"] == "0017100099"
    assert landing.sql("select count(*) as n from raw.vbap").n.item() == 6

    again = landing.tick(sap_odata_delta_sensor, sap_odata=odata)  # order 1 is read again
    assert str(again.skip_reason.skip_message) == "No changed rows" and new_files(landing) == []
    last_read = odata_server.row_reads("A_SalesOrder")[-1]
    assert read_since(last_read.query["$filter"]) == delta_filter(cursor)


def test_an_order_stamped_in_the_future_is_counted_and_holds_the_cursor_at_the_read(
    landing: Landing,
    three_orders: PostingServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An application server writing local time (UTC+8) as UTC stamps order 3 8 h ahead. Before,
    the cursor moved there silently, and no change of the next 8 h was ever read. Now each
    delta reads up to its own start, and the sensor warns of the rows stamped ahead."""
    monkeypatch.setattr(sensors, "ODATA_FEEDS", "A_SalesOrder")
    odata_server, odata = three_orders, resource(three_orders)
    odata_server.touch("A_SalesOrder", 2, datetime.now(UTC) + timedelta(hours=8))
    cursors: list[str] = []
    for _ in range(2):
        capsys.readouterr()
        landing.tick(sap_odata_delta_sensor, sap_odata=odata)
        cursors.append(ODataCursor.from_json(landing.cursor).feeds["A_SalesOrder"])
        assert pd.Timestamp(cursors[-1]) <= pd.Timestamp.now(tz="UTC")
        assert warnings_of(capsys) == [
            "A_SalesOrder: 1 rows stamped LastChangeDateTime more than 5 minutes after this "
            "machine's clock. A clock ahead (an application server's) or local time written as "
            "UTC? Deltas read them only once their time comes; correct the clock or the stamps"
        ]
    assert cursors[1] == cursors[0]  # the first read took all three orders, the delta none
    [read] = [r for r in odata_server.row_reads("A_SalesOrder") if "$filter" in r.query]
    assert read_since(read.query["$filter"]) == delta_filter(cursors[0])


def test_many_changed_orders_read_their_items_by_key_batches_never_the_whole_item_set() -> None:
    """Before, above 400 changed orders the items were read by a scan of the whole item set:
    on a real system (millions of items) no tick holds it, and the feed never moved on."""
    with PostingServer(row_counts={"A_SalesOrder": 450, "A_SalesOrderItem": 1000}) as server:
        client = SapODataClient(server.base_url, auth="none")
        extract = extract_delta(client, DELTA_FEEDS["A_SalesOrder"], None)
        reads = server.data_requests("A_SalesOrderItem")
        orders = {r["SalesOrder"] for r in server.rows["A_SalesOrder"]}
        items = [r for r in server.rows["A_SalesOrderItem"] if r["SalesOrder"] in orders]
    assert len(reads) == 12  # 450 orders, 40 a request
    keys = [re.findall(r"SalesOrder eq '(\d+)'", r.query["$filter"]) for r in reads]
    assert [len(batch) for batch in keys] == [40] * 11 + [10]
    assert sorted(k for batch in keys for k in batch) == sorted(orders)
    assert len(extract.tables["VBAP"]) == len(items) < 1000


# -- a feed that fails is skipped; the others are read ------------------------------------------


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("403", "failed: HTTP 403: injected HTTP 403"),  # the user may not use this API
        ("503", "gave up after 2 attempts (max_retries=1); last error: HTTP 503"),
        ("429", "gave up after 2 attempts (max_retries=1); last error: HTTP 429"),
    ],
)
def test_a_feed_whose_read_fails_is_skipped_and_the_others_are_read(
    landing: Landing,
    odata_server: PostingServer,
    today: list[date],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    kind: str,
    error: str,
) -> None:
    """Before, the error ended the tick: no cursor was saved, the feeds before the failing one
    were read again at every tick and the ones after it never."""
    monkeypatch.setattr(sensors, "ODATA_FEEDS", "A_Product,A_MatlStkInAcctMod,A_SalesOrder")
    odata_server.add_fault("A_MatlStkInAcctMod", kind, times=100, retry_after="0")
    odata = resource(odata_server, max_retries=1)
    for _ in range(2):
        capsys.readouterr()
        message = str(landing.tick(sap_odata_delta_sensor, sap_odata=odata).skip_reason)
        assert "Not read this tick, tried again at the next: A_MatlStkInAcctMod: GET " in message
        assert error in message
        [warning] = warnings_of(capsys)
        assert warning.startswith("A_MatlStkInAcctMod: not read this tick: GET ")
        assert error in warning

    state = ODataCursor.from_json(landing.cursor)
    assert sorted(state.feeds) == ["A_Product", "A_SalesOrder"] and state.start is None
    assert any(n.startswith("VBAK_") for n in new_files(landing))
    assert not any(n.startswith("MARD_") for n in new_files(landing))
    # the second tick read the orders from the cursor the first one saved
    last = odata_server.row_reads("A_SalesOrder")[-1].query["$filter"]
    assert read_since(last) == delta_filter(state.feeds["A_SalesOrder"])


def test_stock_that_changes_under_every_read_is_not_read_this_tick_and_the_rest_is(
    landing: Landing,
    odata_server: PostingServer,
    today: list[date],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Before, a goods receipt posted between two pages of the stock read had a row read twice,
    and its stock summed twice into that day's MARD snapshot."""
    monkeypatch.setattr(sensors, "ODATA_FEEDS", "A_MatlStkInAcctMod,A_SalesOrder")
    rows = odata_server.rows["A_MatlStkInAcctMod"]

    def receipt_per_read(entity_set: str, query: dict[str, str]) -> None:
        if entity_set == "A_MatlStkInAcctMod" and query.get("$skip") == "0" != query["$top"]:
            rows.append({**rows[0], "Batch": f"B{len(rows)}"})

    odata_server.after_page = receipt_per_read
    capsys.readouterr()
    message = str(
        landing.tick(sap_odata_delta_sensor, sap_odata=resource(odata_server)).skip_reason
    )
    changed = (
        "A_MatlStkInAcctMod changed while it was read, twice running (the server counted 61 rows "
        "at the read's first page and 62 at its end, the pages held 61: rows were inserted or "
        "deleted while it was paged); the rows are not used, a later read tries again"
    )
    assert f"tried again at the next: A_MatlStkInAcctMod: {changed}" in message
    assert warnings_of(capsys)[-1] == f"A_MatlStkInAcctMod: not read this tick: {changed}"
    assert ODataCursor.from_json(landing.cursor).feeds.keys() == {"A_SalesOrder"}
    assert not any(n.startswith("MARD_") for n in new_files(landing))
    assert any(n.startswith("VBAK_") for n in new_files(landing))


@pytest.mark.parametrize("wrong", ["host", "login page"])
def test_a_wrong_host_or_a_login_page_fails_the_tick_at_once(
    landing: Landing, odata_server: PostingServer, monkeypatch: pytest.MonkeyPatch, wrong: str
) -> None:
    """Both were retried as outages, ~10 s per feed, and the tick ended with a skip reason: the
    sensor never showed the configuration problem."""
    monkeypatch.setattr(sensors, "ODATA_FEEDS", "A_Product,A_SalesOrder")
    resolver_answers(monkeypatch, socket.EAI_NONAME, "Name or service not known")
    odata_server.login_page = wrong == "login page"
    base_url = "http://sap-odata.invalid/sap" if wrong == "host" else odata_server.base_url
    odata = SapODataResource(base_url=base_url, auth="none", max_retries=5)
    started = time.monotonic()
    with pytest.raises(ODataError) as refused:
        landing.tick(sap_odata_delta_sensor, sap_odata=odata)
    assert time.monotonic() - started < 5.0  # not ~10 s of retries per feed
    message = str(refused.value)
    assert message.startswith("No OData feed could be read: A_Product: GET ")
    problem = (
        "name resolution failed for host 'sap-odata.invalid'"
        if wrong == "host"
        else "the server answered HTML, not OData: a login page?"
    )
    assert message.count(problem) == 2  # A_Product and A_SalesOrder


def test_a_tick_raises_only_when_no_feed_was_read_and_a_failure_is_not_one_of_the_moment(
    tmp_path: Path,
    today: list[date],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(sensors, "ODATA_FEEDS", "A_Product,A_SalesOrder")
    password = "Pw+/ä&=S3cr3t"
    landing = duckdb_landing(tmp_path)
    with PostingServer(auth="basic", password=password) as server:
        odata = SapODataResource(
            base_url=server.base_url,
            username="PLANNER",
            password=password,
            page_size=25,
            max_retries=1,
        )
        for name in ("A_Product", "A_SalesOrder"):
            server.add_fault(name, "503", times=2, retry_after="0")
        busy = str(landing.tick(sap_odata_delta_sensor, sap_odata=odata).skip_reason)
        assert "A_Product: GET " in busy and "; A_SalesOrder: GET " in busy  # skipped, no raise

        for name in ("A_Product", "A_SalesOrder"):
            server.add_fault(name, "403", times=1)
        with pytest.raises(ODataError) as refused:
            landing.tick(sap_odata_delta_sensor, sap_odata=odata)
        message = str(refused.value)
        assert message.startswith("No OData feed could be read: A_Product: GET ")
        assert "; A_SalesOrder: GET " in message and message.count("failed: HTTP 403") == 2

        server.add_fault("A_Product", "403", times=1)  # one refused, one read: no raise
        partly = str(landing.tick(sap_odata_delta_sensor, sap_odata=odata).skip_reason)
        assert "A_Product: GET " in partly and "HTTP 403" in partly and "Wrote " in partly
    assert list(ODataCursor.from_json(landing.cursor).feeds) == ["A_SalesOrder"]
    output = capsys.readouterr().err + busy + message + partly
    basic = base64.b64encode(f"PLANNER:{password}".encode()).decode()
    assert password not in output and basic not in output


def test_wrong_credentials_end_the_tick_at_the_first_refusal(
    tmp_path: Path, today: list[date], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each feed tried them again: five refused logons in one tick lock SAP's technical user
    (login/fails_to_user_lock is 5 by default), and every later tick kept it locked."""
    monkeypatch.setattr(sensors, "ODATA_FEEDS", "A_Product,A_ProductPlant,A_SalesOrder")
    landing = duckdb_landing(tmp_path)
    with PostingServer(auth="basic", password="right") as server:
        odata = SapODataResource(
            base_url=server.base_url, username="PLANNER", password="wrong", max_retries=3
        )
        with pytest.raises(ODataError) as refused:
            landing.tick(sap_odata_delta_sensor, sap_odata=odata)
        assert str(refused.value).startswith("No OData feed could be read: A_Product: GET ")
        assert "was rejected (HTTP 401); check the credentials" in str(refused.value)
        # the next ticks fail without a request: five ticks would have locked the user too
        for _ in range(2):
            with pytest.raises(ODataAuthError, match="SAP refused these credentials 0 min ago"):
                landing.tick(sap_odata_delta_sensor, sap_odata=odata)
        with server.lock:
            assert [r.status for r in server.state.requests].count(401) == 1
        # other credentials (a reload of the code location with the fixed password) are tried
        fixed = SapODataResource(base_url=server.base_url, username="PLANNER", password="right")
        landing.tick(sap_odata_delta_sensor, sap_odata=fixed)
    assert sorted(ODataCursor.from_json(landing.cursor).feeds) == [
        "A_Product",
        "A_ProductPlant",
        "A_SalesOrder",
    ]


def test_the_full_read_job_reads_the_other_feeds_when_one_fails(
    landing: Landing,
    odata_server: PostingServer,
    today: list[date],
    capsys: pytest.CaptureFixture[str],
) -> None:
    odata_server.add_fault("A_Product", "403", times=1)
    result, logs = full_read(
        landing, resource(odata_server), capsys, feeds=["A_Product", "A_SalesOrder"]
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    error = failure.step_failure_data.error
    assert error and "Feeds not read: A_Product: GET " in error.message
    assert sorted(p.name for p in (landing.root / "odata").iterdir()) == ["A_SalesOrder.json"]
    # the job's log names a few files, not all 74
    [orders] = [line for line in logs if line.startswith("A_SalesOrder: read to ")]
    assert orders == (
        "A_SalesOrder: read to 2024-01-08T12:00:00.108Z, 74 landing files (VBAK_20240101__odata-"
        "20240108T120000108000Z.csv, VBAK_20240102__odata-20240108T120000108000Z.csv, "
        "VBAK_20240103__odata-20240108T120000108000Z.csv and 71 more) written"
    )


def test_the_full_read_job_stops_at_the_first_refused_logon(
    landing: Landing, today: list[date], capsys: pytest.CaptureFixture[str]
) -> None:
    """It went on to the next feed after an HTTP 401 as after any feed's error: five feeds,
    five refused logons in one run, and SAP locked the technical user."""
    with PostingServer(auth="basic", password="right") as server:
        odata = SapODataResource(base_url=server.base_url, username="PLANNER", password="wrong")
        result, _ = full_read(landing, odata, capsys, feeds=["A_Product", "A_SalesOrder"])
        with server.lock:
            refusals = [r for r in server.state.requests if r.status == 401]
    assert not result.success and len(refusals) == 1


# -- nothing in the future, nothing unreadable, becomes a cursor --------------------------------


def test_the_full_read_job_refuses_a_since_in_the_future_and_no_feeds(
    landing: Landing,
    odata_server: PostingServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A `since` in the future became a watermark, and the sensor skipped every change until
    then, silently."""
    with pytest.raises(ValueError, match=r"since '2099-01-02' lies in the future \(now: 20"):
        sensors.ODataFullReadConfig(since="2099-01-02")
    with pytest.raises(ValueError, match=r"since 'last week' is not an ISO 8601 timestamp"):
        sensors.ODataFullReadConfig(since="last week")
    with pytest.raises(ValueError, match=r"feeds is empty: no feeds to read; known: \["):
        sensors.ODataFullReadConfig(feeds=[])
    assert sensors.ODataFullReadConfig(feeds=["A_Product", "A_Product"]).feeds == ["A_Product"]
    with pytest.raises(ValueError, match=r"SCP_ODATA_DELTA_SINCE '2099-01-02' lies in the future"):
        sensors.checked_since("2099-01-02", "SCP_ODATA_DELTA_SINCE")

    result, _ = full_read(landing, resource(odata_server), capsys, since="2099-01-02")
    assert not result.success
    assert not (landing.root / "odata").exists() and not odata_server.state.requests


@pytest.mark.parametrize(
    ("feed", "text", "problem"),
    [
        (
            "A_SalesOrder",
            '{"cursor": "2099-01-02T00:00:00Z", "run_id": "r"}',
            "cursor '2099-01-02T00:00:00Z' lies in the future (now: 20",
        ),
        (
            "A_MatlStkInAcctMod",
            '{"cursor": "2024-01-11", "run_id": "r"}',
            "cursor '2024-01-11' lies after the last complete day, 2024-01-10",
        ),
        (
            "A_SalesOrder",
            '{"cursor": "2024-01-08T12:00:00.108Z", "run_id": "ab',
            "not JSON (Unterminated string starting at: line 1 column 50",
        ),
        ("A_SalesOrder", "", "not JSON (Expecting value: line 1 column 1"),
        ("A_SalesOrder", '["2024-01-05T00:00:00Z"]', 'no "cursor" string in ["2024-01-05'),
        (
            "A_SalesOrder",
            '{"cursor": null, "run_id": "x"}',
            'no "cursor" string in {"cursor": null',
        ),
        (
            "A_SalesOrder",
            '{"cursor": "yesterday", "run_id": "x"}',
            "cursor 'yesterday' is not an ISO 8601 timestamp",
        ),
        (
            "A_SalesOrder",
            '{"cursor": "2024-01-08T12:00:00.108Z", "read_from": "last week"}',
            "read_from 'last week' is not an ISO 8601 timestamp",
        ),
        (
            "A_MatlStkInAcctMod",
            '{"cursor": "2024-01-09T00:00:00Z"}',
            "cursor '2024-01-09T00:00:00Z' is not an ISO 8601 date (YYYY-MM-DD)",
        ),
    ],
)
def test_an_unusable_watermark_is_ignored_with_a_warning_naming_it(
    landing: Landing,
    odata_server: PostingServer,
    today: list[date],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    feed: str,
    text: str,
    problem: str,
) -> None:
    """Before, such a file made every tick raise, for every feed, with an error that named
    neither the file nor the feed; a future cursor was taken and skipped all changes."""
    monkeypatch.setattr(sensors, "ODATA_FEEDS", f"{feed},A_Product")
    (landing.root / "odata").mkdir()
    (landing.root / "odata" / f"{feed}.json").write_text(text)
    capsys.readouterr()
    landing.tick(sap_odata_delta_sensor, sap_odata=resource(odata_server))
    [warning] = warnings_of(capsys)
    assert warning.startswith(f"{feed}: watermark {landing.root}/odata/{feed}.json ignored: ")
    assert problem in warning
    assert warning.endswith(
        f"{feed} starts as it would without one (from SCP_ODATA_DELTA_SINCE when set, else "
        "with the sensor's first read of it); fix or delete the file"
    )
    # the feed is read as if it had no watermark (in full); the other feed is not affected
    reads = odata_server.row_reads(feed)
    assert reads and all("$filter" not in read.query for read in reads)
    assert sorted(ODataCursor.from_json(landing.cursor).feeds) == sorted([feed, "A_Product"])


def test_a_hand_edited_watermark_needs_only_its_cursor(
    landing: Landing, odata_server: PostingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sensors, "ODATA_FEEDS", "A_SalesOrder")
    (landing.root / "odata").mkdir()
    mark = '{"cursor": "2024-01-05T00:00:00Z", "note": "set back by ops, ticket 4711"}'
    (landing.root / "odata" / "A_SalesOrder.json").write_text(mark)
    landing.tick(sap_odata_delta_sensor, sap_odata=resource(odata_server))
    read = odata_server.row_reads("A_SalesOrder")[0]
    assert read_since(read.query["$filter"]) == (
        "LastChangeDateTime gt datetimeoffset'2024-01-04T23:55:00Z'"
    )


def test_a_change_to_an_order_from_before_the_history_is_not_written(
    landing: Landing,
    odata_server: PostingServer,
    today: list[date],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Old open orders change every day (deliveries, billing). Each change was written as a
    landing file of its creation day, which the landing zone rejected as before the first
    partition, alerting as for a broken delivery."""
    monkeypatch.setattr(sensors, "ODATA_FEEDS", "A_SalesOrder")
    odata = resource(odata_server)
    landing.tick(sap_odata_delta_sensor, sap_odata=odata)
    written = set(new_files(landing))
    old = f"/Date({int(datetime(2021, 3, 15, tzinfo=UTC).timestamp() * 1000)})/"
    for row in (3, 4):
        odata_server.touch("A_SalesOrder", row, datetime(2024, 1, 9, tzinfo=UTC), CreationDate=old)
    odata_server.touch("A_SalesOrder", 20, datetime(2024, 1, 9, tzinfo=UTC), SoldToParty="1")
    capsys.readouterr()
    landing.tick(sap_odata_delta_sensor, sap_odata=odata)
    assert sorted(set(new_files(landing)) - written) == [
        "VBAK_20240121__odata-20240109T000000000000Z.csv"  # order 21's header, of 01-21
    ]
    assert (
        "A_SalesOrder: 2 VBAK rows dated before the first partition day 2024-01-01 "
        "(SCP_HISTORY_START) not written: no partition holds them"
    ) in capsys.readouterr().err


def test_a_full_read_takes_over_a_delta_no_tick_can_hold(
    landing: Landing,
    odata_server: PostingServer,
    today: list[date],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A mass change the tick budget cannot hold kept a feed's cursor for good (every tick read
    the same pages and stopped), and the full read the README offers for it changed nothing:
    the sensor took its watermark only for a feed without a cursor. It now takes the cursor of
    a run that read every change after its own; one that began later missed some, so not."""
    monkeypatch.setattr(sensors, "ODATA_FEEDS", "A_SalesOrder")
    odata = resource(odata_server)
    landing.tick(sap_odata_delta_sensor, sap_odata=odata)
    stuck = landing.cursor
    before = ODataCursor.from_json(stuck).feeds["A_SalesOrder"]
    for row in range(30):
        odata_server.touch("A_SalesOrder", row, datetime(2024, 1, 9, 6, row, tzinfo=UTC))
    newest = "2024-01-09T06:29:00Z"

    def next_read(since: str | None) -> str:
        landing.cursor = stuck  # the sensor's ticks never got past it
        result, _ = full_read(landing, odata, capsys, feeds=["A_SalesOrder"], since=since)
        assert result.success
        requests = len(odata_server.state.requests)
        landing.tick(sap_odata_delta_sensor, sap_odata=odata)
        [first, *_] = [
            r.query["$filter"]
            for r in odata_server.state.requests[requests:]
            if r.path.endswith("/A_SalesOrder") and r.query.get("$top") != "0"
        ]
        return read_since(first)

    assert next_read("2024-01-09T06:10:00Z") == delta_filter(before)  # missed 06:00-06:09
    assert next_read(before) == delta_filter(newest)
    assert next_read(None) == delta_filter(newest)
    mark = json.loads((landing.root / "odata" / "A_SalesOrder.json").read_text())
    assert (mark["cursor"], mark["read_from"]) == (newest, "start")


# -- a day of stock keeps its snapshot -----------------------------------------------------------


def test_the_full_read_job_keeps_the_snapshot_of_a_day_of_stock(
    landing: Landing,
    odata_server: PostingServer,
    today: list[date],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The sensor reads DAY's stock at the first tick after midnight; a run later that day read
    the stock of its own moment, dated it DAY too, and its file replaced the snapshot."""
    monkeypatch.setattr(sensors, "ODATA_FEEDS", "A_MatlStkInAcctMod")
    odata = resource(odata_server)
    landing.tick(sap_odata_delta_sensor, sap_odata=odata)
    snapshot = incoming_bytes(landing)
    assert list(snapshot) == ["MARD_20240110__odata-20240110.csv"]
    odata_server.rows["A_MatlStkInAcctMod"][0]["MatlWrhsStkQtyInMatlBaseUnit"] = "0"  # issued

    result, logs = full_read(landing, odata, capsys, feeds=["A_MatlStkInAcctMod"])
    assert result.success and incoming_bytes(landing) == snapshot  # waiting in incoming/
    assert logs[0] == (
        "A_MatlStkInAcctMod: stock of 2024-01-10 not written: incoming/MARD_20240110__odata-"
        "20240110.csv already holds that day's snapshot, and this reading, later, is not the "
        "stock at the end of that day"
    )

    load_all(landing)
    stock = "select datum, sum(labst) as labst from raw.mard group by datum"
    loaded = landing.sql(stock).to_dict("records")
    result, logs = full_read(landing, odata, capsys, feeds=["A_MatlStkInAcctMod"])
    assert result.success and new_files(landing) == []  # in place as the current file
    assert logs[0].startswith(
        "A_MatlStkInAcctMod: stock of 2024-01-10 not written: MARD_20240110.csv already holds"
    )
    load_all(landing)
    assert landing.sql(stock).to_dict("records") == loaded


def test_a_day_of_stock_keeps_its_loaded_snapshot_when_its_file_has_left_current(
    any_landing: Landing,
    odata_server: PostingServer,
    today: list[date],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Before, only current/ and incoming/ were asked: with the loaded snapshot's file archived
    by hand, a re-run of the full read, or a tick reading the day again, wrote the stock of its
    own moment for that day, and its load replaced the end-of-day stock."""
    landing = any_landing
    monkeypatch.setattr(sensors, "ODATA_FEEDS", "A_MatlStkInAcctMod")
    odata = resource(odata_server)
    landing.tick(sap_odata_delta_sensor, sap_odata=odata)
    load_all(landing)
    stock = "select datum, sum(labst) as labst from raw.mard group by datum"
    loaded = landing.sql(stock).to_dict("records")
    (landing.root / ARCHIVE).mkdir()
    (landing.root / "MARD_20240110.csv").rename(landing.root / ARCHIVE / "MARD_20240110.csv")
    odata_server.rows["A_MatlStkInAcctMod"][0]["MatlWrhsStkQtyInMatlBaseUnit"] = "0"  # issued

    result, logs = full_read(landing, odata, capsys, feeds=["A_MatlStkInAcctMod"])
    assert result.success and new_files(landing) == []
    assert logs[0] == (
        "A_MatlStkInAcctMod: stock of 2024-01-10 not written: MARD_20240110__odata-20240110.csv "
        "(loaded per raw.landing_manifest) already holds that day's snapshot, and this "
        "reading, later, is not the stock at the end of that day"
    )
    landing.cursor = None  # the sensor reads the day again: its cursor reset, no watermark
    (landing.root / "odata" / "A_MatlStkInAcctMod.json").unlink()
    again = landing.tick(sap_odata_delta_sensor, sap_odata=odata)
    assert str(again.skip_reason.skip_message) == "No changed rows" and new_files(landing) == []
    load_all(landing)
    assert landing.sql(stock).to_dict("records") == loaded


def test_the_manifest_holds_a_day_of_stock_for_any_delivery_received_but_a_refused_one(
    any_landing: Landing,
) -> None:
    landing = any_landing
    warehouse = landing.resources["warehouse"].open()
    stock = DeltaExtract(
        DELTA_FEEDS["A_MatlStkInAcctMod"], "2024-01-10", "MARD", complete=True, days=(DAY,)
    )

    def record(file_name: str, canonical: str, status: str) -> None:
        row = {"file_name": file_name, "canonical_name": canonical, "table_name": "MARD"}
        with warehouse.transaction() as cur:
            ensure_manifest(warehouse, cur)
            rows = [{**row, "status": status, "received_at": datetime(2024, 1, 11)}]
            warehouse.insert_frame(cur, MANIFEST_TABLE, manifest_frame(rows))

    def held() -> str | None:
        return held_snapshot(landing.store, stock, lambda: warehouse)

    assert held() is None  # a new warehouse: no manifest yet
    record("MARD_20240110__odata-20240110.csv", "MARD_20240110.csv", "refused")  # day kept as was
    record("MARD_20240111__odata-20240111.csv", "MARD_20240111.csv", "loaded")  # another day
    assert held() is None
    record("MARD_20240110.csv", "MARD_20240110.csv", "superseded")  # loaded, replaced since
    assert held() == "MARD_20240110.csv (superseded per raw.landing_manifest)"

    (landing.root / "MARD_20240110.csv").write_bytes(b"")

    def unused() -> Warehouse:
        raise AssertionError("the current file holds the day: the manifest is not asked")

    assert held_snapshot(landing.store, stock, unused) == "MARD_20240110.csv"


def test_a_busy_duckdb_warehouse_leaves_the_stock_to_the_next_tick(
    landing: Landing,
    odata_server: PostingServer,
    today: list[date],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whether the day has its snapshot cannot be asked while a run holds the DuckDB file:
    the tick neither waits for it nor writes the stock, and keeps the feed's cursor."""
    monkeypatch.setattr(sensors, "ODATA_FEEDS", "A_MatlStkInAcctMod")
    odata = resource(odata_server)
    with duckdb_held(landing):
        busy = landing.tick(sap_odata_delta_sensor, sap_odata=odata)
    assert str(busy.skip_reason.skip_message).startswith(
        "Warehouse busy, so whether a day of stock has its snapshot is not known; read again "
        "at the next tick: A_MatlStkInAcctMod: "
    )
    assert new_files(landing) == [] and ODataCursor.from_json(landing.cursor).feeds == {}
    landing.tick(sap_odata_delta_sensor, sap_odata=odata)
    assert new_files(landing) == ["MARD_20240110__odata-20240110.csv"]
