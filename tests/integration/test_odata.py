"""The OData client against a real HTTP server on 127.0.0.1 (tests/odata_server.py).

Expected values are computed from the server's wire rows and the shared metadata listing
(edmx_properties.csv), never from the client's own parsing.
"""

from __future__ import annotations

import base64
import csv
import http.server
import logging
import os
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.ingest.odata import (
    EdmProperty,
    EntityType,
    ODataAuthError,
    ODataError,
    ODataRetryLater,
    ODataUnavailable,
    SapODataClient,
    count_stamped_ahead,
    fetch_delta,
    load_edmx,
    parse_retry_after,
    parse_rows,
    to_raw_table,
    unique_rows,
)
from pipelines.ingest.reader import SapFileReader
from pipelines.ingest.specs import TABLE_SPECS
from tests.odata_server import (
    DEFAULT_ROW_COUNTS,
    METADATA_DIR,
    ODataTestServer,
    RequestRecord,
    material_document_edmx,
    read_since,
    wire_ms,
)

PASSWORD = "Pa55-w0rd!sEcReT"
CLIENT_SECRET = "cl1ent-S3cret-value"


@pytest.fixture
def server() -> Iterator[ODataTestServer]:
    with ODataTestServer() as srv:
        yield srv


def client_for(srv: ODataTestServer, **kwargs: object) -> SapODataClient:
    options: dict = {"auth": "none", "page_size": 10, "backoff_base_s": 0.01, "max_retries": 3}
    options.update(kwargs)
    return SapODataClient(srv.base_url, **options)


#: The query counting a read's rows at its end.
COUNT = {"$format": "json", "$top": "0", "$skip": "0", "$inlinecount": "allpages"}


def page_requests(srv: ODataTestServer, entity_set: str) -> list[RequestRecord]:
    """The requests for pages of rows, without the counts at the end of reads."""
    return [r for r in srv.data_requests(entity_set) if r.query.get("$top") != "0"]


def keys_of(srv: ODataTestServer, entity_set: str) -> list[str]:
    return [p.name for p in srv.props[entity_set] if p.is_key]


def assert_every_row_once(srv: ODataTestServer, entity_set: str, frame: pd.DataFrame) -> None:
    keys = keys_of(srv, entity_set)
    got = [tuple(r) for r in frame[keys].itertuples(index=False)]
    expected = [tuple(row[k] for k in keys) for row in srv.rows[entity_set]]
    assert len(got) == len(expected) == DEFAULT_ROW_COUNTS[entity_set]
    assert len(set(got)) == len(got), "duplicate rows"
    assert set(got) == set(expected)


# -- metadata and value conversion ---------------------------------------------------------


def test_edmx_parser_matches_the_property_listing_of_every_shared_edmx() -> None:
    with open(METADATA_DIR / "edmx_properties.csv", newline="", encoding="utf-8") as fh:
        listing = list(csv.DictReader(fh))
    for path in sorted(METADATA_DIR.glob("*.edmx")):
        expected = {
            (r["entity_type"], r["property"]): (
                r["edm_type"],
                int(r["max_length"]) if r["max_length"] else None,
                int(r["precision"]) if r["precision"] else None,
                int(r["scale"]) if r["scale"] else None,
                r["is_key"] == "X",
                r["sap_label"] or None,
            )
            for r in listing
            if r["file"] == path.name
        }
        got = {
            (et.name, p.name): (p.edm_type, p.max_length, p.precision, p.scale, p.is_key, p.label)
            for et in load_edmx(path).entity_sets.values()
            for p in et.properties
        }
        assert got == expected, path.name


def test_edmx_errors_name_the_source_and_line(tmp_path) -> None:
    broken = tmp_path / "API_X_SRV.edmx"
    broken.write_text('<?xml version="1.0"?>\n<edmx:Edmx>\n<oops>\n')
    with pytest.raises(ODataError, match=r"API_X_SRV\.edmx: invalid EDMX at line \d+"):
        load_edmx(broken)


def test_parse_rows_converts_by_metadata_and_drops_links() -> None:
    entity = load_edmx(METADATA_DIR / "API_SALES_ORDER_SRV.edmx").entity_sets["A_SalesOrder"]
    created = 1704067200000  # 2024-01-01T00:00:00Z
    changed = 1704164645123  # 2024-01-02T03:04:05.123Z
    rows = [
        {
            "__metadata": {"uri": "x", "type": "API_SALES_ORDER_SRV.A_SalesOrderType"},
            "SalesOrder": "1",
            "CreationDate": f"/Date({created})/",
            "LastChangeDateTime": f"/Date({changed}+0000)/",
            "TotalNetAmount": "2656.24",
            "AccountingExchangeRate": "-1.50000",
            "CompleteDeliveryIsDefined": True,
            "RequestedDeliveryDate": "/Date(253402214400000)/",  # SAP's "open" 9999-12-31
            "to_Item": {"__deferred": {"uri": "x/to_Item"}},
        },
        {"SalesOrder": "2", "CreationDate": None, "LastChangeDateTime": None},
        {"SalesOrder": "3", "LastChangeDateTime": "2024-01-02T03:04:05.1234567Z"},  # ISO form
    ]
    frame = parse_rows(entity, rows, source="A_SalesOrder")
    assert "to_Item" not in frame and "__metadata" not in frame
    assert list(frame.columns) == [p.name for p in entity.properties]
    assert frame.loc[0, "CreationDate"] == pd.Timestamp("2024-01-01")
    assert frame.loc[0, "LastChangeDateTime"] == pd.Timestamp("2024-01-02T03:04:05.123Z")
    assert frame.loc[0, "RequestedDeliveryDate"] == pd.Timestamp("9999-12-31")
    assert frame.loc[0, "TotalNetAmount"] == pytest.approx(2656.24)
    assert frame.loc[0, "AccountingExchangeRate"] == pytest.approx(-1.5)
    assert bool(frame.loc[0, "CompleteDeliveryIsDefined"]) is True
    assert pd.isna(frame.loc[1, "CreationDate"]) and pd.isna(frame.loc[1, "TotalNetAmount"])
    assert str(frame["LastChangeDateTime"].dtype) == "datetime64[ms, UTC]"
    assert frame.loc[2, "LastChangeDateTime"] == pd.Timestamp("2024-01-02T03:04:05.123Z")

    bad = [{"SalesOrder": "3", "TotalNetAmount": "12,50"}]
    with pytest.raises(ODataError, match=r"TotalNetAmount \(Edm.Decimal\) in row 1 .*'12,50'"):
        parse_rows(entity, bad, source="A_SalesOrder")
    with pytest.raises(ODataError, match=r"CreationDate \(Edm.DateTime\) in row 2"):
        parse_rows(entity, [rows[1], {"CreationDate": "/Date(soon)/"}], source="A_SalesOrder")


def test_int64_values_convert_exactly_and_a_bad_one_names_its_property() -> None:
    """Before, Int64 strings beside a null went through float64: 9007199254740993 (2**53 + 1)
    came back as ...992."""
    entity = EntityType(
        "T", (EdmProperty("K", "Edm.String", is_key=True), EdmProperty("N", "Edm.Int64"))
    )
    rows = [{"K": "1", "N": "9007199254740993"}, {"K": "2", "N": None}, {"K": "3", "N": -7}]
    frame = parse_rows(entity, rows, source="T")
    assert str(frame.N.dtype) == "Int64"
    assert frame.N.tolist() == [9007199254740993, pd.NA, -7]
    for values in (["1.5"], ["1", "12abc"], [True]):
        bad = [{"K": str(i), "N": value} for i, value in enumerate(values)]
        row = len(values)
        with pytest.raises(ODataError, match=rf"T: property N \(Edm.Int64\) in row {row} "):
            parse_rows(entity, bad, source="T")
    with pytest.raises(ODataError, match=r"^T: property N \(Edm.Int64\): "):
        parse_rows(entity, [{"K": "1", "N": str(2**70)}], source="T")  # beyond Int64


def test_parse_retry_after_seconds_and_http_date() -> None:
    now = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after("Fri, 01 Mar 2024 12:00:42 GMT", now) == 42.0
    assert parse_retry_after("Fri, 01 Mar 2024 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_material_document_metadata_is_served_and_parsed(server: ODataTestServer) -> None:
    client = client_for(server)
    item = client.entity_type("A_MaterialDocumentItem")
    assert item.keys == ["MaterialDocumentYear", "MaterialDocument", "MaterialDocumentItem"]
    assert item.get("QuantityInBaseUnit").edm_type == "Edm.Decimal"
    assert "to_MaterialDocumentHeader" in item.navigation
    assert material_document_edmx().count("<Property ") == len(
        server.props["A_MaterialDocumentHeader"]
    ) + len(server.props["A_MaterialDocumentItem"])


# -- paging: every row exactly once, values as the wire says -------------------------------


def _expected_value(edm_type: str, wire: object) -> object:
    if wire is None:
        return None
    if edm_type == "Edm.Decimal":
        return float(str(wire))
    if edm_type == "Edm.DateTime":
        return pd.Timestamp(wire_ms(wire), unit="ms")
    if edm_type == "Edm.DateTimeOffset":
        return pd.Timestamp(wire_ms(wire), unit="ms", tz="UTC")
    if edm_type == "Edm.Time":
        return pd.Timedelta(str(wire))
    return wire


@pytest.mark.parametrize("max_page_size", [None, 7], ids=["client-paging", "server-paging"])
def test_every_entity_set_arrives_complete_and_typed(max_page_size: int | None) -> None:
    with ODataTestServer(max_page_size=max_page_size) as srv:
        client = client_for(srv)
        for entity_set in DEFAULT_ROW_COUNTS:
            frame = client.fetch(entity_set)
            assert_every_row_once(srv, entity_set, frame)
            keys = keys_of(srv, entity_set)
            by_key = {tuple(r[k] for k in keys): r for r in srv.rows[entity_set]}
            for row in frame.head(12).to_dict("records"):
                wire = by_key[tuple(row[k] for k in keys)]
                for prop in srv.props[entity_set]:
                    expected = _expected_value(prop.edm_type, wire[prop.name])
                    if expected is None:
                        assert pd.isna(row[prop.name]), (entity_set, prop.name)
                    else:
                        assert row[prop.name] == expected, (entity_set, prop.name)
        *queries, count = [r.query for r in srv.state.requests if r.path.endswith("/A_Product")]
        assert count == COUNT  # a read of several pages is counted again at its end
        if max_page_size is None:
            assert [q["$skip"] for q in queries] == [str(10 * i) for i in range(6)]
            assert all(q["$orderby"] == "Product" for q in queries)
        else:  # each $top=10 window is cut at 7 rows and completed through __next
            offsets = [q.get("$skiptoken", q.get("$skip")) for q in queries]
            assert offsets == ["0", "7", "10", "17", "20", "27", "30", "37", "40", "47", "50"]


def test_select_fetches_only_the_named_properties(server: ODataTestServer) -> None:
    frame = client_for(server).fetch("A_Product", select=["Product", "GrossWeight"])
    assert list(frame.columns) == ["Product", "GrossWeight"]
    assert len(frame) == 53
    with pytest.raises(ValueError, match=r"A_Product has no properties \['Nope'\]"):
        client_for(server).fetch("A_Product", select=["Product", "Nope"])


@pytest.mark.parametrize("inline_count", [True, False], ids=["counted", "not-counted"])
def test_a_server_that_cuts_pages_short_without_a_next_link_is_refused(
    inline_count: bool,
) -> None:
    """Before, the first page, 3 rows where $top asked 10, was taken for the last: 3 of 53 rows
    were returned and the other 50 lost without a word."""
    capped = ODataTestServer(max_page_size=3, next_links=False, inline_count=inline_count)
    with capped as srv, pytest.raises(ODataError) as refused:
        client_for(srv).fetch("A_Product")
    counted = " of the 53 it counted" if inline_count else ""
    assert str(refused.value) == (
        "A_Product: the server answered $top=10 with 3 rows and no __next link, yet $skip=3 "
        f"holds more (read so far: 3{counted}): it cuts its pages short, and rows would be "
        "lost; set the page size to at most 3"
    )
    assert not isinstance(refused.value, ODataUnavailable)  # a setting to change, not a fault


def test_a_short_last_page_is_confirmed_by_the_count_or_by_one_more_request() -> None:
    for inline_count in (True, False):
        with ODataTestServer(inline_count=inline_count) as srv:
            assert_every_row_once(srv, "A_Product", client_for(srv).fetch("A_Product"))
            windows = [(r.query["$skip"], r.query["$top"]) for r in srv.data_requests("A_Product")]
        # 50..52 were the last rows, as the count says (counted again at the end); a server
        # that does not count is asked $skip=53, empty
        last = [("0", "0")] if inline_count else [("53", "1")]
        assert windows == [(str(10 * i), "10") for i in range(6)] + last


def test_next_links_to_the_same_origin_are_followed_however_spelled() -> None:
    """Before, `__next` to the same host in capitals, or with its default port written, was
    refused as another host's."""
    with ODataTestServer(max_page_size=7) as srv:
        port = srv.origin.rsplit(":", 1)[1]
        client = SapODataClient(f"http://localhost:{port}/sap/opu/odata/sap", auth="none")
        srv.next_origin = f"HTTP://LOCALHOST:{port}"
        assert_every_row_once(srv, "A_Product", client.fetch("A_Product"))
        srv.next_origin = srv.origin  # 127.0.0.1: the same server, but not the host we trust
        with pytest.raises(ODataError, match=r"__next link 'http://127\.0\.0\.1:.* refusing it"):
            client.fetch("A_Product")
    s4 = SapODataClient("https://S4.example.com/sap/opu/odata/sap", auth="none")
    current = "https://S4.example.com/sap/opu/odata/sap/API_PRODUCT_SRV/A_Product?$top=10"
    for same in ("https://s4.example.com/sap/x", "https://S4.EXAMPLE.COM:443/sap/x"):
        assert s4._same_origin(current, same) == same
    for other in ("https://other.example.com/x", "http://s4.example.com/x",
                  "https://s4.example.com:8443/x", "https://s4.example.com:44x/x"):  # fmt: skip
        with pytest.raises(ODataError, match="refusing it"):
            s4._same_origin(current, other)


# -- paging over a set that changes -------------------------------------------------------


def stock_keys(srv: ODataTestServer) -> list[tuple]:
    keys = keys_of(srv, "A_MatlStkInAcctMod")
    return sorted(tuple(row[k] for k in keys) for row in srv.rows["A_MatlStkInAcctMod"])


def reads_of(srv: ODataTestServer, entity_set: str) -> tuple[int, int]:
    """(reads begun, counts at a read's end): first pages, and `$top=0` requests."""
    requests = srv.data_requests(entity_set)
    first = [r for r in requests if r.query.get("$skip") == "0" and r.query["$top"] != "0"]
    return len(first), len(requests) - len(page_requests(srv, entity_set))


def test_a_row_inserted_ahead_between_pages_is_neither_read_twice_nor_summed_twice(
    server: ODataTestServer,
) -> None:
    """A goods receipt into a new batch of the first material, posted while page 1 was read,
    moved every row one place on: the last row of page 1 came again on page 2. Before, it was
    read twice and its stock summed twice into MARD."""
    rows = server.rows["A_MatlStkInAcctMod"]
    receipt = {**rows[0], "Batch": "B0", "MatlWrhsStkQtyInMatlBaseUnit": "5.00000000000000"}

    def post_receipt(entity_set: str, query: dict[str, str]) -> None:
        if query.get("$skip") == "0" and receipt not in rows:
            rows.append(receipt)

    server.after_page = post_receipt
    frame = client_for(server).fetch("A_MatlStkInAcctMod")
    keys = keys_of(server, "A_MatlStkInAcctMod")
    assert sorted(frame[keys].itertuples(index=False, name=None)) == stock_keys(server)
    assert reads_of(server, "A_MatlStkInAcctMod") == (2, 2)  # counted 60, then 61: read again
    _, mard = to_raw_table("A_MatlStkInAcctMod", frame, snapshot_date=date(2024, 1, 5))
    own = [r for r in rows if r["InventorySpecialStockType"] == "" and r["StorageLocation"]]
    unrestricted = sum(
        float(r["MatlWrhsStkQtyInMatlBaseUnit"]) for r in own if r["InventoryStockType"] == "01"
    )
    assert mard.LABST.sum() == pytest.approx(unrestricted)


def test_a_row_deleted_ahead_between_pages_does_not_hide_the_next_one(
    server: ODataTestServer,
) -> None:
    """Before, a row gone while page 1 was read moved the rows after it one place back: the
    first row of page 2 was never read, and no error said so."""
    sorted_first = min(server.rows["A_Product"], key=lambda r: r["Product"])

    def delete_once(entity_set: str, query: dict[str, str]) -> None:
        if sorted_first in server.rows["A_Product"]:
            server.rows["A_Product"].remove(sorted_first)

    server.after_page = delete_once
    frame = client_for(server).fetch("A_Product")
    assert sorted(frame.Product) == sorted(r["Product"] for r in server.rows["A_Product"])
    assert len(frame) == 52
    assert reads_of(server, "A_Product") == (2, 1)  # counted 53, held 52: read again


def test_a_set_that_changes_under_every_read_fails_after_a_second_read(
    server: ODataTestServer,
) -> None:
    rows = server.rows["A_Product"]

    def insert_ahead(entity_set: str, query: dict[str, str]) -> None:
        if query.get("$skip") == "0" and query["$top"] != "0":
            rows.append({**rows[0], "Product": f"0{len(rows)}"})

    server.after_page = insert_ahead
    with pytest.raises(ODataUnavailable) as changing:  # of the moment: a later read may pass
        client_for(server).fetch("A_Product")
    assert str(changing.value) == (
        "A_Product changed while it was read, twice running (the server counted 54 rows at the "
        "read's first page and 55 at its end, the pages held 54: rows were inserted or deleted "
        "while it was paged); the rows are not used, a later read tries again"
    )
    assert reads_of(server, "A_Product") == (2, 2)


def test_rows_read_twice_are_kept_once_as_read_last() -> None:
    first, again = {"K": "1", "Q": "1"}, {"K": "1", "Q": "2"}
    assert unique_rows([first, {"K": "2"}, again], ["K"]) == [again, {"K": "2"}]
    assert unique_rows([first, again], []) == [first, again]  # no key: nothing to go by


# -- deltas ---------------------------------------------------------------------------------


def test_delta_cursor_round_trip(server: ODataTestServer) -> None:
    client = client_for(server, delta_overlap_s=0)  # exactly the rows after the cursor
    stamps = [wire_ms(r["LastChangeDateTime"]) for r in server.rows["A_Product"]]
    newest = pd.Timestamp(max(s for s in stamps if s is not None), unit="ms", tz="UTC")

    frame, cursor = fetch_delta(client, "A_Product", None)
    assert len(frame) == 53
    assert pd.Timestamp(cursor) == newest

    frame, again = fetch_delta(client, "A_Product", cursor)
    assert frame.empty and again == cursor
    assert read_since(server.data_requests("A_Product")[-1].query["$filter"]) == (
        f"LastChangeDateTime gt datetimeoffset'{cursor}'"
    )

    edited = {
        3: timedelta(days=40),
        17: timedelta(days=41, milliseconds=250),
        44: timedelta(days=39),
    }
    for index, delta in edited.items():
        server.touch("A_Product", index, newest.to_pydatetime() + delta)
    frame, latest = fetch_delta(client, "A_Product", cursor)
    assert sorted(frame["Product"]) == sorted(
        server.rows["A_Product"][i]["Product"] for i in edited
    )
    assert pd.Timestamp(latest) == newest + timedelta(days=41, milliseconds=250)
    assert latest == "2024-02-17T12:00:00.822Z"  # newest (01-07T12:00:00.572) + 41 d 250 ms

    midpoint = "2024-01-05T00:00:00Z"
    frame, _ = fetch_delta(client, "A_Product", midpoint)
    since = pd.Timestamp(midpoint)
    expected = {
        r["Product"]
        for r in server.rows["A_Product"]
        if r["LastChangeDateTime"] is not None
        and pd.Timestamp(wire_ms(r["LastChangeDateTime"]), unit="ms", tz="UTC") > since
    }
    assert set(frame["Product"]) == expected and len(frame) == len(expected)


def test_a_change_committed_late_is_read_again_within_the_overlap(
    server: ODataTestServer,
) -> None:
    """S/4 stamps LastChangeDateTime when a save starts: a change saved while we read, stamped
    before the newest change we saw, was behind the cursor when it became visible. Before, a
    `gt <cursor>` filter never read it."""
    client = client_for(server)
    frame, cursor = fetch_delta(client, "A_SalesOrder", None)
    late = pd.Timestamp(cursor) - pd.Timedelta(seconds=2)
    server.touch("A_SalesOrder", 0, late.to_pydatetime(), SoldToParty="17100099")
    too_late = pd.Timestamp(cursor) - pd.Timedelta(seconds=301)  # before the overlap: missed
    server.touch("A_SalesOrder", 1, too_late.to_pydatetime(), SoldToParty="17100098")

    frame, again = fetch_delta(client, "A_SalesOrder", cursor)
    assert again == cursor  # nothing newer than the cursor
    newest = max(server.rows["A_SalesOrder"], key=lambda r: wire_ms(r["LastChangeDateTime"]))
    assert sorted(frame["SalesOrder"]) == sorted(["1", newest["SalesOrder"]])
    assert frame.set_index("SalesOrder").SoldToParty["1"] == "17100099"
    assert read_since(server.data_requests("A_SalesOrder")[-1].query["$filter"]) == (
        "LastChangeDateTime gt datetimeoffset'2024-01-08T11:55:00.108Z'"  # 5 min before 12:00
    )
    assert client.delta_overlap_s == 300.0
    with pytest.raises(ValueError, match="delta_overlap_s must be >= 0, got -1"):
        client_for(server, delta_overlap_s=-1)


def test_delta_needs_a_change_timestamp_and_a_valid_cursor(server: ODataTestServer) -> None:
    client = client_for(server)
    with pytest.raises(ValueError, match="A_ProductPlant has no LastChangeDateTime"):
        fetch_delta(client, "A_ProductPlant", None)
    with pytest.raises(ValueError, match="cursor 'yesterday' is not an ISO 8601 timestamp"):
        fetch_delta(client, "A_SalesOrder", "yesterday")


def test_a_row_stamped_in_the_future_does_not_move_the_cursor_past_the_read(
    server: ODataTestServer,
) -> None:
    """An application server writing local time (UTC+8) as UTC stamps a change 8 h ahead.
    Before, the cursor moved there, and every change made in those 8 h was filtered away. Now
    a delta reads up to its own start: the row waits for its time, and is counted meanwhile."""
    client = client_for(server, delta_overlap_s=0)
    _, cursor = fetch_delta(client, "A_Product", None)
    ahead = datetime.now(UTC) + timedelta(hours=8)
    server.touch("A_Product", 1, ahead)

    started = pd.Timestamp.now(tz="UTC").floor("ms")
    frame, held = fetch_delta(client, "A_Product", cursor)
    read = server.data_requests("A_Product")[-1].query["$filter"]
    upper = pd.Timestamp(read.split(" le datetimeoffset'")[1].rstrip("'"))
    assert frame.empty and held == cursor
    assert started <= upper <= pd.Timestamp.now(tz="UTC")  # the read's start
    assert count_stamped_ahead(client, "A_Product") == 1

    changed = pd.Timestamp(cursor).to_pydatetime() + timedelta(milliseconds=1)
    server.touch("A_Product", 2, changed)
    frame, moved = fetch_delta(client, "A_Product", held)  # the next change is read
    assert frame.Product.tolist() == ["102"] and pd.Timestamp(moved) == pd.Timestamp(changed)


def test_a_change_saved_while_a_delta_pages_waits_for_the_next_read(
    server: ODataTestServer,
) -> None:
    """A change saved between two pages of a delta read (a busy system) entered the read's rows
    and shifted its `$skip` pages: the counts disagreed twice running and the feed was skipped,
    tick after tick. Bounded by its start, the read keeps its rows; the change comes next."""
    client = client_for(server, delta_overlap_s=0, page_size=10)
    _, cursor = fetch_delta(client, "A_SalesOrder", None)
    for row in range(25):  # 25 changed orders: three pages
        server.touch("A_SalesOrder", row, pd.Timestamp(cursor).to_pydatetime() + timedelta(1))
    saved: list[str] = []

    def save_a_change(entity_set: str, query: dict[str, str]) -> None:
        first_page = query.get("$skip", "0") == "0" and query.get("$top") != "0"
        if entity_set == "A_SalesOrder" and first_page:  # every read sees a new change
            row = 30 + len(saved)
            server.touch("A_SalesOrder", row, datetime.now(UTC))
            saved.append(server.rows["A_SalesOrder"][row]["SalesOrder"])

    server.after_page = save_a_change
    frame, moved = fetch_delta(client, "A_SalesOrder", cursor)
    server.after_page = None
    assert len(frame) == 25 and not set(saved) & set(frame.SalesOrder)
    later, _ = fetch_delta(client, "A_SalesOrder", moved)
    assert set(saved) <= set(later.SalesOrder)


# -- retries --------------------------------------------------------------------------------


def test_429_retry_after_is_honoured(server: ODataTestServer) -> None:
    server.add_fault("A_SalesOrder", "429", offset=10, retry_after="1")
    frame = client_for(server).fetch("A_SalesOrder")
    assert_every_row_once(server, "A_SalesOrder", frame)
    at_10 = [r for r in server.data_requests("A_SalesOrder") if r.query.get("$skip") == "10"]
    assert [r.status for r in at_10] == [429, 200]
    waited = at_10[1].at - at_10[0].at
    assert 1.0 <= waited < 2.0, waited  # the client backoff alone would be ~0.01 s


def test_5xx_timeouts_and_broken_pages_are_retried_without_losing_rows(
    server: ODataTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.add_fault("A_Product", "500", offset=0, times=2)
    server.add_fault("A_Product", "503", offset=20)
    server.add_fault("A_Product", "timeout", offset=30, delay_s=2.0)
    server.add_fault("A_Product", "broken", offset=40)
    caplog.set_level(logging.WARNING, logger="pipelines.ingest.odata")
    frame = client_for(server, timeout_s=1.0).fetch("A_Product")
    assert_every_row_once(server, "A_Product", frame)
    attempts: dict[str, int] = {}
    for record in page_requests(server, "A_Product"):
        attempts[record.query["$skip"]] = attempts.get(record.query["$skip"], 0) + 1
    assert (
        attempts["0"] == 3 and attempts["20"] == 2 and attempts["40"] == 2 and attempts["10"] == 1
    )
    assert attempts["30"] >= 2
    messages = caplog.text
    assert "HTTP 500; retry 1/3" in messages and "HTTP 503; retry 1/3" in messages
    assert "ReadTimeout" in messages and "invalid JSON" in messages


def test_gives_up_after_max_retries_with_a_clear_error(server: ODataTestServer) -> None:
    server.add_fault("A_SalesOrder", "500", offset=10, times=99)
    with pytest.raises(ODataUnavailable) as excinfo:  # of the moment: a later read may pass
        client_for(server, max_retries=2).fetch("A_SalesOrder")
    message = str(excinfo.value)
    assert "page 2 of A_SalesOrder" in message
    assert (
        f"{server.base_url}/API_SALES_ORDER_SRV/A_SalesOrder?" in message and "$skip=10" in message
    )
    assert "gave up after 3 attempts (max_retries=2); last error: HTTP 500" in message
    at_10 = [r for r in server.data_requests("A_SalesOrder") if r.query.get("$skip") == "10"]
    assert len(at_10) == 3


def test_a_retry_after_past_the_deadline_stops_the_read_at_once(server: ODataTestServer) -> None:
    """A sensor tick has 60 s: a 120 s Retry-After must end the read with a reason, not the tick."""
    server.add_fault("A_SalesOrder", "429", offset=10, retry_after="120")
    client = client_for(server)
    started = time.monotonic()
    with pytest.raises(ODataRetryLater) as excinfo, client.deadline(5.0):
        client.fetch("A_SalesOrder")
    assert time.monotonic() - started < 2.0  # neither the 120 s nor the rest of the 5 s waited
    message = str(excinfo.value)
    assert "page 2 of A_SalesOrder" in message and "HTTP 429 with Retry-After 120 s" in message
    assert "would pass the 5 s deadline" in message
    assert excinfo.value.retry_after == 120.0
    assert [r.status for r in server.data_requests("A_SalesOrder")] == [200, 429]

    assert_every_row_once(server, "A_SalesOrder", client.fetch("A_SalesOrder"))  # no deadline


def test_a_retry_after_longer_than_the_client_waits_stops_the_read_at_once(
    server: ODataTestServer,
) -> None:
    """Without a deadline (the full-read job) a 3600 s Retry-After was cut to 300 s three
    times: the server was called again inside the window it asked for, then the feed failed."""
    server.add_fault("A_SalesOrder", "429", offset=10, retry_after="3600")
    client = client_for(server, max_wait_s=2.0)
    with pytest.raises(ODataRetryLater) as excinfo:
        client.fetch("A_SalesOrder")
    message = str(excinfo.value)
    assert "page 2 of A_SalesOrder" in message
    assert message.endswith(
        "HTTP 429 with Retry-After 3600 s, longer than the client waits (max_wait_s=2 s), so "
        "the read stops here"
    )
    assert excinfo.value.retry_after == 3600.0
    assert [r.status for r in server.data_requests("A_SalesOrder")] == [200, 429]


def test_a_slow_answer_is_cut_at_the_deadline_not_at_the_request_timeout(
    server: ODataTestServer,
) -> None:
    server.add_fault("A_Product", "timeout", offset=0, delay_s=4.0)
    client = client_for(server, timeout_s=60.0)
    started = time.monotonic()
    with (
        pytest.raises(
            ODataRetryLater, match=r"\(page 1 of A_Product\): ReadTimeout \(timeout 0\.\d+ s\)"
        ),
        client.deadline(1.0),
    ):
        client.fetch("A_Product")
    assert time.monotonic() - started < 2.5


@pytest.mark.parametrize("timeout_s", [0.5, 60.0], ids=["request-timeout", "deadline"])
def test_a_body_that_arrives_too_slowly_is_cut_in_time(
    server: ODataTestServer, timeout_s: float
) -> None:
    """requests' read timeout bounds each socket read: a body in 20 pieces 0.2 s apart passed
    a 0.5 s timeout and a 1 s deadline alike, and each read took 4 s (a byte every 1.5 s,
    as long as the server liked). The bounds below leave a loaded machine room and still
    tell the two apart."""
    client = client_for(server, timeout_s=timeout_s, max_retries=1)
    client.metadata("API_PRODUCT_SRV")
    server.add_fault("A_Product", "drip", offset=0, times=2, delay_s=0.2)
    started = time.monotonic()
    with pytest.raises(ODataUnavailable) as cut, client.deadline(1.0 if timeout_s > 1 else None):
        client.fetch("A_Product")
    elapsed = time.monotonic() - started
    message = str(cut.value)
    assert "(page 1 of A_Product)" in message
    if timeout_s < 1:  # a timeout, retried as one
        assert 1.0 <= elapsed < 3.0 and not isinstance(cut.value, ODataRetryLater)
        assert message.endswith(
            "gave up after 2 attempts (max_retries=1); last error: answer not complete within "
            "0.5 s (its body still arriving)"
        )
    else:  # the deadline: the next tick reads it again
        assert 1.0 <= elapsed < 2.5 and isinstance(cut.value, ODataRetryLater)
        assert message.endswith(
            "answer not complete within 1 s (its body still arriving); the 1 s deadline has "
            "passed, so the read stops here"
        )
    assert len(server.data_requests("A_Product")) == (2 if timeout_s < 1 else 1)


def resolver_answers(monkeypatch: pytest.MonkeyPatch, errno: int, message: str) -> list[str]:
    """Name resolution of hosts under `.invalid` (RFC 6761: never resolvable) fails with
    `errno`, as a resolver's answer would, whatever resolver the machine has or lacks. Returns
    the hosts asked for, one per connection attempt."""
    resolve = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> list:
        if str(host).endswith(".invalid"):
            asked.append(str(host))
            raise socket.gaierror(errno, message)
        return resolve(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def test_a_host_name_that_does_not_resolve_is_refused_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before: five retries over ~10 s, then ODataUnavailable, `ConnectionError (timeout 60
    s)`: a typo in the URL looked like an outage, and the sensor tick never failed."""
    asked = resolver_answers(monkeypatch, socket.EAI_NONAME, "Name or service not known")
    client = SapODataClient(
        "https://sap-odata.invalid/sap/opu/odata/sap", auth="basic", username="PLANNER",
        password=PASSWORD, backoff_base_s=0.01,
    )  # fmt: skip
    with pytest.raises(ODataError) as refused:
        client.fetch("A_Product")
    assert asked == ["sap-odata.invalid"] and not isinstance(refused.value, ODataUnavailable)
    assert str(refused.value) == (
        "GET https://sap-odata.invalid/sap/opu/odata/sap/API_PRODUCT_SRV/$metadata failed: name "
        "resolution failed for host 'sap-odata.invalid' (Name or service not known); check the URL"
    )


def test_an_untrusted_tls_certificate_is_refused_at_once(tmp_path: Path) -> None:
    """A self-signed certificate, or a company CA missing from the bundle: no retry mends it.
    Before, it was retried like an outage and the sensor tick never failed."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out",
         cert, "-days", "1", "-subj", "/CN=127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = SapODataClient(
            f"https://127.0.0.1:{server.server_port}/sap/opu/odata/sap", auth="basic",
            username="PLANNER", password=PASSWORD, max_retries=2, backoff_base_s=0.01,
        )  # fmt: skip
        with pytest.raises(ODataError) as refused:
            client.fetch("A_Product")
    finally:
        server.shutdown()
        server.server_close()
    assert not isinstance(refused.value, ODataUnavailable)
    message = str(refused.value)
    assert "the TLS certificate of host '127.0.0.1' is not trusted" in message
    assert "REQUESTS_CA_BUNDLE" in message and PASSWORD not in message


def test_a_name_resolution_that_fails_for_now_is_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """EAI_AGAIN, the resolver's "try again": a DNS server out for a moment, not a wrong URL."""
    resolver_answers(monkeypatch, socket.EAI_AGAIN, "Temporary failure in name resolution")
    client = SapODataClient(
        "https://sap-odata.invalid/sap/opu/odata/sap", auth="none", max_retries=1,
        backoff_base_s=0.01,
    )  # fmt: skip
    with pytest.raises(ODataUnavailable, match=(
        r"gave up after 2 attempts \(max_retries=1\); last error: name resolution failed for "
        r"host 'sap-odata\.invalid' for now \(Temporary failure in name resolution\)"
    )):  # fmt: skip
        client.fetch("A_Product")


@pytest.mark.parametrize("auth", ["basic", "oauth2"])
def test_an_html_login_page_is_refused_at_once(auth: str) -> None:
    """An identity provider in front of the gateway answers 200 with its login form. Before:
    `invalid JSON` (or `no EntitySet found` for $metadata), retried for ~10 s, then
    ODataUnavailable: a configuration problem looked like an outage."""
    credentials = {
        "basic": {"username": "PLANNER", "password": PASSWORD},
        "oauth2": {"client_id": "app", "client_secret": CLIENT_SECRET},
    }[auth]
    with ODataTestServer(auth=auth, **credentials) as srv:
        extra = {"token_url": srv.token_url} if auth == "oauth2" else {}
        client = client_for(srv, auth=auth, **credentials, **extra)
        client.metadata("API_PRODUCT_SRV")  # the page appears later, e.g. once a session ends
        srv.login_page = True
        for read in (
            lambda: client.fetch("A_Product"),
            lambda: client.metadata("API_SALES_ORDER_SRV"),
        ):
            before = len(srv.state.requests)
            with pytest.raises(ODataError) as refused:
                read()
            assert not isinstance(refused.value, ODataUnavailable)
            assert str(refused.value).endswith(
                ": the server answered HTML, not OData: a login page? Check the URL and the "
                "authentication"
            )
            assert len(srv.state.requests) == before + 1  # not retried
        assert PASSWORD not in str(refused.value) and CLIENT_SECRET not in str(refused.value)


@pytest.mark.parametrize(
    ("answer_as", "sent"),
    [
        ("atom", "XML (Atom), not JSON: request JSON from it ($format=json and Accept: "
                 "application/json were sent; does a proxy drop them?) or check the service URL"),
        ("v1", 'JSON shaped {"d": [...]}, not OData V2\'s {"d": {"results": [...]}}: check that '
               "the service URL is an OData V2 service"),
        ("v4", 'JSON shaped {"@odata.context": ..., "value": [...]}, not OData V2\'s {"d": '
               '{"results": [...]}}: check that the service URL is an OData V2 service'),
    ],
)  # fmt: skip
def test_an_answer_in_another_format_is_refused_at_once_saying_what_came(
    server: ODataTestServer, answer_as: str, sent: str
) -> None:
    """Before: `invalid JSON` or `JSON without the OData V2 shape`, retried for ~12 s as a
    broken page, then ODataUnavailable, which never fails a tick."""
    server.answer_as = answer_as
    with pytest.raises(ODataError) as refused:
        client_for(server, max_retries=5).fetch("A_Product")
    assert not isinstance(refused.value, ODataUnavailable)
    assert str(refused.value).endswith(f"(page 1 of A_Product): the server answered {sent}")
    assert len(server.data_requests("A_Product")) == 1  # not retried


def test_refused_connections_are_retried_then_reported() -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = SapODataClient(
        f"http://127.0.0.1:{port}/sap/opu/odata/sap", auth="none", max_retries=2,
        backoff_base_s=0.01, timeout_s=1.0,
    )  # fmt: skip
    with pytest.raises(ODataError, match=r"gave up after 3 attempts .*ConnectionError"):
        client.fetch("A_Product")


def test_a_page_that_stays_broken_is_named_in_the_error(server: ODataTestServer) -> None:
    server.add_fault("A_MatlStkInAcctMod", "broken", offset=20, times=99)
    with pytest.raises(
        ODataError, match=r"\$skip=20 \(page 3 of A_MatlStkInAcctMod\).*invalid JSON"
    ):
        client_for(server, max_retries=1).fetch("A_MatlStkInAcctMod")


def test_client_errors_are_not_retried(server: ODataTestServer) -> None:
    client = client_for(server)
    with pytest.raises(ODataError, match=r"HTTP 400: unsupported \$filter"):
        client.fetch("A_Product", filter="Product eq 'X'")
    assert len(server.data_requests("A_Product")) == 1


# -- authentication and secrets -------------------------------------------------------------


def test_basic_auth_never_reveals_the_password(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    encoded = base64.b64encode(f"PLANNER:{PASSWORD}".encode()).decode()
    with ODataTestServer(auth="basic", password=PASSWORD) as srv:
        srv.add_fault("A_Product", "500", offset=0)
        client = client_for(srv, auth="basic", username="PLANNER", password=PASSWORD)
        assert_every_row_once(srv, "A_Product", client.fetch("A_Product"))
        srv.add_fault("A_SalesOrder", "503", offset=0, times=99)
        with pytest.raises(ODataError) as gave_up:
            client.fetch("A_SalesOrder")
        wrong = client_for(srv, auth="basic", username="PLANNER", password=PASSWORD + "x")
        with pytest.raises(ODataAuthError, match=r"rejected \(HTTP 401\)") as rejected:
            wrong.fetch("A_Product")
        texts = [caplog.text, str(gave_up.value), str(rejected.value), repr(client), repr(wrong)]
        for text in texts:
            assert PASSWORD not in text and encoded not in text
        assert "password='***'" in repr(client)


@pytest.mark.parametrize("auth", ["basic", "oauth2"])
def test_credentials_beyond_latin_1_are_sent_as_utf_8_and_never_shown(
    auth: str, caplog: pytest.LogCaptureFixture
) -> None:
    """RFC 7617: requests alone raises UnicodeEncodeError naming the password's '€' and where."""
    secret = "Geh€im-Pw"
    caplog.set_level(logging.DEBUG)
    user = {"basic": {"username": "PLANNER", "password": secret},
            "oauth2": {"client_id": "planner-app", "client_secret": secret}}[auth]  # fmt: skip
    with ODataTestServer(auth=auth, **user) as srv:  # it compares UTF-8 base64 credentials
        extra = {"token_url": srv.token_url} if auth == "oauth2" else {}
        client = client_for(srv, auth=auth, **user, **extra)
        assert_every_row_once(srv, "A_Product", client.fetch("A_Product"))
        wrong = {k: v + "ü" if v == secret else v for k, v in user.items()}
        with pytest.raises(ODataAuthError) as rejected:
            client_for(srv, auth=auth, **wrong, **extra).fetch("A_Product")
    name = next(iter(user.values()))
    encoded = base64.b64encode(f"{name}:{secret}".encode()).decode()
    for text in (caplog.text, str(rejected.value), repr(rejected.value), repr(client)):
        assert secret not in text and encoded not in text and "€" not in text


def test_oauth2_token_is_cached_refreshed_on_401_and_expiry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    oauth = {"client_id": "planner-app", "client_secret": CLIENT_SECRET}
    with ODataTestServer(auth="oauth2", **oauth) as srv:
        client = client_for(srv, auth="oauth2", token_url=srv.token_url, **oauth)
        assert_every_row_once(srv, "A_Product", client.fetch("A_Product"))
        assert srv.state.token_requests == 1  # one token for $metadata and six pages

        srv.revoke_tokens()
        assert_every_row_once(srv, "A_SalesOrder", client.fetch("A_SalesOrder"))
        assert srv.state.token_requests == 2
        assert [r.status for r in srv.state.requests if r.status == 401] == [401]

        issued = list(srv.state.issued)
        assert len(issued) == 2
        wrong = client_for(srv, auth="oauth2", token_url=srv.token_url, client_id="planner-app",
                           client_secret=CLIENT_SECRET + "x")  # fmt: skip
        with pytest.raises(ODataAuthError, match="OAuth2 token request to .* was rejected"):
            wrong.fetch("A_Product")
        for text in (caplog.text, repr(client), repr(wrong)):
            assert CLIENT_SECRET not in text
            assert not any(token in text for token in issued)

    with ODataTestServer(auth="oauth2", token_ttl_s=2.0, **oauth) as srv:
        client = client_for(srv, auth="oauth2", token_url=srv.token_url, **oauth)
        client.fetch("A_MaterialDocumentHeader")
        assert srv.state.token_requests == 1
        time.sleep(2.0)  # past the token's lifetime: the client renews before the server says 401
        client.fetch("A_MaterialDocumentHeader")
        assert srv.state.token_requests == 2
        assert all(r.status != 401 for r in srv.state.requests)


@pytest.mark.parametrize(
    ("status", "payload"),
    [
        (400, {"error": "invalid_client", "error_description": "Bad client credentials"}),
        (200, {"error": "invalid_client", "error_description": "Bad client credentials"}),
    ],
)
def test_a_token_endpoint_refusing_the_client_is_an_auth_error_at_once(
    status: int, payload: dict
) -> None:
    """RFC 6749's 400 invalid_client was a plain error, and a refusal with 200 was retried as
    a broken answer and ended as "unavailable", which the delta sensor does not fail on."""
    oauth = {"client_id": "planner-app", "client_secret": CLIENT_SECRET}
    with ODataTestServer(auth="oauth2", **oauth) as srv:
        srv.issue_token = lambda header, body: (status, payload)
        client = client_for(srv, auth="oauth2", token_url=srv.token_url, max_retries=3, **oauth)
        with pytest.raises(ODataAuthError) as refused:
            client.fetch("A_Product")
    assert "invalid_client: Bad client credentials" in str(refused.value)
    assert CLIENT_SECRET not in str(refused.value)


def test_the_sap_client_goes_with_every_odata_request() -> None:
    """Before, there was no way to name the SAP client, and `?sap-client=100` in the base URL
    built `.../sap?sap-client=100/API_PRODUCT_SRV/$metadata`."""
    oauth = {"client_id": "planner-app", "client_secret": CLIENT_SECRET}
    with ODataTestServer(auth="oauth2", max_page_size=7, **oauth) as srv:
        srv.sap_client_in_next = False  # a gateway may leave it out of __next links
        client = client_for(srv, auth="oauth2", token_url=srv.token_url, sap_client="100", **oauth)
        assert_every_row_once(srv, "A_Product", client.fetch("A_Product"))
        gets = [r for r in srv.state.requests if r.method == "GET"]
        assert any(r.path.endswith("/$metadata") for r in gets)
        assert any("$skiptoken" in r.query for r in gets)  # __next links, sap-client added
        assert all(r.query.get("sap-client") == "100" for r in gets)
        [token] = [r for r in srv.state.requests if r.method == "POST"]
        assert "sap-client" not in token.query  # the token endpoint is no OData service
        assert "sap_client='100'" in repr(client)
        with pytest.raises(ValueError, match="sap_client must be three digits .*got '10'"):
            client_for(srv, sap_client="10")
        for query in ("?sap-client=100", "#top"):
            with pytest.raises(
                ValueError, match=r"base_url must have no query string .* as sap_client"
            ):
                SapODataClient(srv.base_url + query, auth="none")


def test_a_short_secret_is_redacted_as_a_whole_word_only() -> None:
    """A client secret `s` was masked inside every word: `/***ap/opu/odata/***ap/A_Sale***Order`
    was unreadable and showed what the secret was. A long one is masked wherever it stands."""
    short = SapODataClient(
        "http://h/sap/opu/odata/sap", auth="oauth2", client_id="app", client_secret="s",
        token_url="http://h/token",
    )  # fmt: skip
    url = "GET http://h/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder"
    assert short.redact(f"{url}?x=s failed") == f"{url}?x=*** failed"
    long = SapODataClient("http://h/sap", auth="basic", username="PLANNER", password=PASSWORD)
    assert PASSWORD not in long.redact(f"{PASSWORD}X and x{PASSWORD}")


def test_resource_redacts_secrets_and_builds_a_working_client(
    server: ODataTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dagster as dg

    from resources.odata import SapODataResource

    monkeypatch.setenv("TEST_SAP_PASSWORD", PASSWORD)
    resource = SapODataResource(
        base_url=server.base_url, auth="none", password=dg.EnvVar("TEST_SAP_PASSWORD"), page_size=25
    )
    with dg.build_resources({"sap": resource}) as built:
        client = built.sap.get_client()
        assert client is built.sap.get_client()
        assert len(client.fetch("A_SalesOrder")) == 37
        for text in (repr(built.sap), str(built.sap), repr(client)):
            assert PASSWORD not in text and "password='***'" in text


def test_client_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from resources.dagster_resources import sap_odata_from_env

    monkeypatch.setenv("SCP_ODATA_AUTH", "none")
    assert sap_odata_from_env().delta_overlap_s == 300.0  # unset: 5 minutes
    settings = {"PAGE_SIZE": "250", "TIMEOUT": "20", "MAX_RETRIES": "0", "TICK_BUDGET": "30",
                "DELTA_OVERLAP": "120"}  # fmt: skip
    for name, value in settings.items():
        monkeypatch.setenv(f"SCP_ODATA_{name}", value)
    resource = sap_odata_from_env()
    assert (resource.page_size, resource.timeout_s) == (250, 20.0)
    assert (resource.max_retries, resource.tick_budget_s) == (0, 30.0)
    client = resource.get_client()
    assert (client.page_size, client.timeout_s, client.max_retries) == (250, 20.0, 0)
    assert client.delta_overlap_s == 120.0
    monkeypatch.setenv("SCP_ODATA_DELTA_OVERLAP", "-5")
    with pytest.raises(ValueError, match="DELTA_OVERLAP must be a finite number of at least 0.0"):
        sap_odata_from_env()
    for text in ("nan", "inf"):  # float() reads both; a NaN overlap broke every delta read
        monkeypatch.setenv("SCP_ODATA_DELTA_OVERLAP", text)
        with pytest.raises(ValueError, match=f"at least 0.0, got '{text}'"):
            sap_odata_from_env()
    monkeypatch.setenv("SCP_ODATA_DELTA_OVERLAP", "5min")
    with pytest.raises(ValueError, match="SCP_ODATA_DELTA_OVERLAP must be a number, got '5min'"):
        sap_odata_from_env()
    monkeypatch.setenv("SCP_ODATA_DELTA_OVERLAP", "0")  # off: trust the stamps
    assert sap_odata_from_env().delta_overlap_s == 0.0
    monkeypatch.setenv("SCP_ODATA_PAGE_SIZE", "1k")
    with pytest.raises(ValueError, match="SCP_ODATA_PAGE_SIZE must be an integer, got '1k'"):
        sap_odata_from_env()
    monkeypatch.setenv("SCP_ODATA_PAGE_SIZE", "100")
    monkeypatch.setenv("SCP_ODATA_TICK_BUDGET", "0")
    with pytest.raises(ValueError, match="TICK_BUDGET must be a finite number of at least 1.0"):
        sap_odata_from_env()


def test_missing_credentials_fail_loading_naming_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without them every tick failed with `auth='oauth2' needs client_id, ...`, naming no
    variable; doctor said nothing."""
    from pipelines.doctor import check_configuration
    from resources.dagster_resources import sap_odata_from_env

    for name in ("USER", "PASSWORD", "CLIENT_ID", "CLIENT_SECRET", "TOKEN_URL"):
        monkeypatch.delenv(f"SCP_ODATA_{name}", raising=False)
    monkeypatch.setenv("SCP_ODATA_AUTH", "oauth2")
    sap_odata_from_env()  # no base URL: the sensor is off and needs nothing
    monkeypatch.setenv("SCP_ODATA_BASE_URL", "https://s4.example.com/sap/opu/odata/sap")
    monkeypatch.setenv("SCP_ODATA_CLIENT_ID", "planner")
    message = "SCP_ODATA_AUTH=oauth2 needs SCP_ODATA_CLIENT_SECRET and SCP_ODATA_TOKEN_URL"
    with pytest.raises(ValueError, match=message):
        sap_odata_from_env()
    findings = check_configuration(dict(os.environ))
    assert any(message in finding.message for finding in findings)
    monkeypatch.setenv("SCP_ODATA_AUTH", "basic")
    monkeypatch.setenv("SCP_ODATA_USER", "PLANNER")
    with pytest.raises(ValueError, match="SCP_ODATA_AUTH=basic needs SCP_ODATA_PASSWORD, unset"):
        sap_odata_from_env()
    monkeypatch.setenv("SCP_ODATA_PASSWORD", "s3cret")
    assert sap_odata_from_env().auth == "basic"


def test_the_sap_client_setting_and_a_base_url_with_a_query_are_checked_on_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pipelines.doctor import check_configuration
    from resources.dagster_resources import sap_odata_from_env

    monkeypatch.setenv("SCP_ODATA_AUTH", "none")
    assert sap_odata_from_env().sap_client is None  # unset: the system's default client
    monkeypatch.setenv("SCP_ODATA_SAP_CLIENT", "100")
    resource = sap_odata_from_env()
    assert resource.sap_client == resource.get_client().sap_client == "100"
    assert "sap_client='100'" in repr(resource)
    problems = {
        "SCP_ODATA_SAP_CLIENT": (
            "1OO",
            "SCP_ODATA_SAP_CLIENT must be three digits (the SAP client, e.g. 100), got '1OO'",
        ),
        "SCP_ODATA_BASE_URL": (
            "https://s4.example.com/sap/opu/odata/sap?sap-client=100",
            "SCP_ODATA_BASE_URL must have no query string or fragment (after '?' or '#'): "
            "service paths are appended to it; give the SAP client (sap-client) as "
            "SCP_ODATA_SAP_CLIENT",
        ),
    }
    for name, (value, message) in problems.items():
        with monkeypatch.context() as env:
            env.setenv(name, value)
            with pytest.raises(ValueError) as refused:
                sap_odata_from_env()
            assert str(refused.value) == message
            checked = {name: value, "SCP_ODATA_AUTH": "none"}
            doctor = [f for f in check_configuration(checked) if f.status == "fail"]
            assert [f.message for f in doctor] == [message]


# -- raw SAP tables -------------------------------------------------------------------------


def _alpha(value: str, length: int) -> str:
    return value.zfill(length) if value.isdigit() else value.upper()


def _day(wire_date: object) -> pd.Timestamp:
    return pd.Timestamp(wire_ms(wire_date), unit="ms")


def test_a_property_the_service_lacks_is_named_and_fails_its_feed_alone(
    server: ODataTestServer,
) -> None:
    """An older release's A_ProductPlant without ProfileCode raised a KeyError, which is no
    feed error: the delta sensor's tick failed and the feeds read before lost their cursors."""
    client = client_for(server, page_size=100)
    plants = client.fetch("A_ProductPlant").drop(columns=["ProfileCode"])
    planning = {"A_ProductSupplyPlanning": client.fetch("A_ProductSupplyPlanning")}
    with pytest.raises(ValueError) as refused:
        to_raw_table("A_ProductPlant", plants, related=planning)
    assert str(refused.value).startswith(
        "A_ProductPlant: the service's rows have no property 'ProfileCode'"
    )


def test_to_raw_table_maps_entities_onto_spec_columns(server: ODataTestServer) -> None:
    client = client_for(server, page_size=100)
    frames = {es: client.fetch(es) for es in DEFAULT_ROW_COUNTS}
    wire = server.rows

    name, mara = to_raw_table("A_Product", frames["A_Product"])
    assert name == "MARA"
    assert list(mara.columns) == ["MATNR", "MTART", "MATKL", "MEINS", "BRGEW", "GEWEI", "ERSDA",
                                  "LVORM"]  # fmt: skip
    products = {_alpha(r["Product"], 18): r for r in wire["A_Product"]}
    assert {"000000000000000100", "TG-001"} <= set(products)
    assert sorted(mara["MATNR"]) == sorted(products)
    for raw in mara.to_dict("records"):
        row = products[raw["MATNR"]]
        assert raw["LVORM"] == ("X" if row["IsMarkedForDeletion"] else None)
        assert raw["ERSDA"] == _day(row["CreationDate"])
        assert raw["BRGEW"] == float(row["GrossWeight"])
        assert raw["MTART"] == "HAWA" and raw["MEINS"] == "ST"

    name, marc = to_raw_table(
        "A_ProductPlant",
        frames["A_ProductPlant"],
        related={"A_ProductSupplyPlanning": frames["A_ProductSupplyPlanning"]},
    )
    assert name == "MARC" and len(marc) == 40
    plants = {(_alpha(r["Product"], 18), r["Plant"]): r for r in wire["A_ProductPlant"]}
    planning = {(_alpha(r["Product"], 18), r["Plant"]): r for r in wire["A_ProductSupplyPlanning"]}
    for raw in marc.to_dict("records"):
        row, sp = plants[(raw["MATNR"], raw["WERKS"])], planning[(raw["MATNR"], raw["WERKS"])]
        assert raw["PLIFZ"] == int(sp["PlannedDeliveryDurationInDays"])
        assert raw["EISBE"] == float(sp["SafetyStockQuantity"])
        assert raw["BSTRF"] == float(sp["LotSizeRoundingQuantity"])
        assert raw["DISMM"] == (row["MRPType"] or sp["MRPType"])
        assert raw["MMSTA"] == (row["ProfileCode"] or None)

    name, mard = to_raw_table(
        "A_MatlStkInAcctMod", frames["A_MatlStkInAcctMod"], snapshot_date=date(2024, 5, 1)
    )
    expected: dict[tuple[str, str, str], list[float]] = {}
    for r in wire["A_MatlStkInAcctMod"]:
        if r["InventorySpecialStockType"] or not r["StorageLocation"]:
            continue
        key = (_alpha(r["Material"], 18), r["Plant"], r["StorageLocation"])
        sums = expected.setdefault(key, [0.0, 0.0, 0.0])
        column = {"01": 0, "02": 1, "07": 2}.get(r["InventoryStockType"])
        if column is not None:
            sums[column] += float(r["MatlWrhsStkQtyInMatlBaseUnit"])
    assert name == "MARD" and len(mard) == len(expected) == 12
    for raw in mard.to_dict("records"):
        sums = expected[(raw["MATNR"], raw["WERKS"], raw["LGORT"])]
        assert [raw["LABST"], raw["INSME"], raw["SPEME"]] == pytest.approx(sums)
        assert raw["DATUM"] == pd.Timestamp("2024-05-01")

    name, vbak = to_raw_table("A_SalesOrder", frames["A_SalesOrder"])
    orders = {r["SalesOrder"].zfill(10): r for r in wire["A_SalesOrder"]}
    assert name == "VBAK" and sorted(vbak["VBELN"]) == sorted(orders)
    for raw in vbak.to_dict("records"):
        row = orders[raw["VBELN"]]
        assert raw["KUNNR"] == _alpha(row["SoldToParty"], 10)
        assert raw["ERDAT"] == _day(row["CreationDate"])
        assert raw["AUART"] == "OR" and raw["WAERK"] == "EUR"
    assert set(vbak["KUNNR"]) >= {"CUST-A", "0017100001"}

    name, vbap = to_raw_table(
        "A_SalesOrderItem",
        frames["A_SalesOrderItem"],
        related={"A_SalesOrder": frames["A_SalesOrder"]},
    )
    items = {
        (r["SalesOrder"].zfill(10), int(r["SalesOrderItem"])): r for r in wire["A_SalesOrderItem"]
    }
    assert name == "VBAP" and len(vbap) == len(items) == 70
    assert vbap["POSNR"].dtype == "Int64"
    for raw in vbap.to_dict("records"):
        row = items[(raw["VBELN"], raw["POSNR"])]
        assert raw["ERDAT"] == _day(orders[raw["VBELN"]]["CreationDate"])
        assert raw["KWMENG"] == float(row["RequestedQuantity"])
        assert (
            raw["MATNR"] == _alpha(row["Material"], 18) and raw["WERKS"] == row["ProductionPlant"]
        )

    headers = frames["A_MaterialDocumentHeader"]
    name, mseg = to_raw_table(
        "A_MaterialDocumentItem",
        frames["A_MaterialDocumentItem"],
        related={"A_MaterialDocumentHeader": headers},
    )
    posted = {
        r["MaterialDocument"]: _day(r["PostingDate"]) for r in wire["A_MaterialDocumentHeader"]
    }
    lines = {
        (r["MaterialDocument"], int(r["MaterialDocumentItem"])): r
        for r in wire["A_MaterialDocumentItem"]
    }
    assert name == "MSEG" and len(mseg) == len(lines) == 50
    for raw in mseg.to_dict("records"):
        row = lines[(raw["MBLNR"], raw["ZEILE"])]
        sign = -1.0 if row["DebitCreditCode"] == "H" else 1.0
        assert raw["MENGE"] == sign * float(row["QuantityInBaseUnit"])
        assert raw["DMBTR"] == sign * float(row["GdsMvtExtAmtInCoCodeCrcy"])
        assert raw["SHKZG"] == row["DebitCreditCode"] and raw["BWART"] == row["GoodsMovementType"]
        assert raw["BUDAT_MKPF"] == posted[raw["MBLNR"]] and raw["MJAHR"] == 2024
        assert raw["EBELN"] == (row["PurchaseOrder"].zfill(10) if row["PurchaseOrder"] else None)
    assert (mseg["MENGE"] < 0).sum() == sum(
        r["DebitCreditCode"] == "H" and float(r["QuantityInBaseUnit"]) > 0 for r in lines.values()
    )

    name, mkpf = to_raw_table("A_MaterialDocumentHeader", headers)
    assert name == "MKPF" and sorted(mkpf["MBLNR"]) == sorted(posted)
    assert mkpf["MJAHR"].tolist() == [2024] * 25
    assert [posted[m] for m in mkpf["MBLNR"]] == list(mkpf["BUDAT"])


def test_to_raw_table_errors_are_explicit(server: ODataTestServer) -> None:
    client = client_for(server, page_size=100)
    items = client.fetch("A_SalesOrderItem")
    with pytest.raises(ValueError, match=r"needs related=\{'A_SalesOrder': DataFrame\}"):
        to_raw_table("A_SalesOrderItem", items)
    orders = client.fetch("A_SalesOrder")
    with pytest.raises(ValueError, match=r"A_SalesOrderItem: \d+ rows have no header row"):
        to_raw_table("A_SalesOrderItem", items, related={"A_SalesOrder": orders.iloc[:5]})
    with pytest.raises(ValueError, match="needs snapshot_date"):
        to_raw_table("A_MatlStkInAcctMod", client.fetch("A_MatlStkInAcctMod"))
    with pytest.raises(ValueError, match="No raw table mapping for 'A_ProductSupplyPlanning'"):
        to_raw_table("A_ProductSupplyPlanning", pd.DataFrame())
    long = client.fetch("A_Product").head(1).assign(Product="1" * 19)
    with pytest.raises(
        ValueError, match=r"MARA.MATNR: row 1 value '1{19}' is longer than its ALPHA length 18"
    ):
        to_raw_table("A_Product", long)


def test_to_raw_table_keys_are_the_flat_file_readers_keys(
    server: ODataTestServer, tmp_path: Path
) -> None:
    """One ALPHA for OData and extracts: the same material gives the same key whichever way it
    came (here S/4's 40-character form), and a key too long for its column is refused by both."""
    sent = ["0" * 35 + "12345", " 00000000000000000042 ", "tg-7"]
    too_long = "0" + "1" * 19
    products = client_for(server, page_size=100).fetch("A_Product").head(3).copy()
    _, mara = to_raw_table("A_Product", products.assign(Product=sent))
    path = tmp_path / "MARA.csv"
    path.write_text(
        "".join(f"{line}\n" for line in ["MATNR;MTART", *(f"{m};HAWA" for m in [*sent, too_long])])
    )
    chunks = list(SapFileReader(path, TABLE_SPECS["MARA"]).chunks())
    expected = ["000000000000012345", "000000000000000042", "TG-7"]
    assert list(mara["MATNR"]) == list(pd.concat([c.rows for c in chunks])["MATNR"]) == expected
    reason = "is longer than its ALPHA length 18"
    assert [r.endswith(reason) for r in pd.concat([c.rejects for c in chunks])["reason"]] == [True]
    with pytest.raises(ValueError, match=reason):
        to_raw_table("A_Product", products.assign(Product=too_long))


def test_to_raw_table_takes_internal_keys_and_nulls_open_dates(
    server: ODataTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    orders = client_for(server, page_size=100).fetch("A_SalesOrder").head(3).copy()
    orders["SalesOrder"] = ["0000000042", "42x", " 7 "]
    orders["SoldToParty"] = ["0" * 30 + "17100001", None, ""]  # 40-character internal form
    open_ended = np.array(["9999-12-31", "2024-02-29", "NaT"], dtype="datetime64[ms]")
    orders["RequestedDeliveryDate"] = open_ended  # as parsed from /Date(253402214400000)/
    caplog.set_level(logging.WARNING, logger="pipelines.ingest.odata")
    _, vbak = to_raw_table("A_SalesOrder", orders)
    assert list(vbak["VBELN"]) == ["0000000042", "42X", "0000000007"]
    assert list(vbak["KUNNR"]) == ["0017100001", None, None]
    assert vbak["VDATU"].dtype == "datetime64[ns]"
    assert pd.isna(vbak.loc[0, "VDATU"]) and vbak.loc[1, "VDATU"] == pd.Timestamp("2024-02-29")
    assert "VBAK.VDATU: 1 dates outside 1677-09-22..2262-04-11" in caplog.text
