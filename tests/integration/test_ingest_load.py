"""`load_table` on DuckDB and Postgres: idempotent windows, quarantine lineage, atomic failure,
and the manifest rows each load completes."""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

import pipelines.ingest.load as load_module
import pipelines.ingest.quality as quality_module
from pipelines.demo import DemoConfig, generate
from pipelines.ingest.landing import MANIFEST_TABLE
from pipelines.ingest.load import (
    FileLoad,
    ensure_raw_tables,
    files_for_window,
    load_table,
    raw_table_columns,
    replaced_ranges,
)
from pipelines.ingest.quality import run_table_quality
from pipelines.ingest.reader import ReaderSettings, SapFileError
from pipelines.ingest.specs import TABLE_SPECS
from resources.warehouse import (
    QUARANTINE_COLUMNS,
    QUARANTINE_TABLE,
    Warehouse,
    WarehouseSettings,
    create_table_sql,
)

MSEG = TABLE_SPECS["MSEG"]
HEADER = ";".join(MSEG.column_names)
DAY = date(2025, 1, 31)
WINDOW = (DAY, DAY + timedelta(days=1))


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Warehouse:
    if request.param == "duckdb":
        return WarehouseSettings(kind="duckdb", duckdb_path=str(tmp_path / "wh.duckdb")).open()
    database = request.getfixturevalue("postgres_database")
    return WarehouseSettings(kind="postgres", pg_database=database).open()


def mseg_line(document: int, day: str = "20250131", quantity: str = "5,000", bwart="601") -> str:
    return (
        f"{document};2025;1;{bwart};M-{document % 7};1000;0001;{quantity};ST;H;12,50;EUR;;;;;{day}"
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def data_lines(path: Path) -> int:
    return len(path.read_bytes().splitlines()) - 1


def table_rows(warehouse: Warehouse, sql: str) -> list[tuple]:
    frame = warehouse.read_sql(sql)
    return [tuple(row) for row in frame.itertuples(index=False)]


def test_reloading_a_window_gives_the_same_tables(warehouse: Warehouse, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    generate(DemoConfig(materials=5, plants=1, customers=6, vendors=2, days=6, seed=3), landing)
    spec = TABLE_SPECS["VBAP"]
    window = (date(2024, 1, 2), date(2024, 1, 5))
    files = files_for_window(landing, spec, window)
    assert [p.name for p in files] == [f"VBAP_2024010{d}.csv" for d in (2, 3, 4)]
    expected_rows = sum(data_lines(p) for p in files)

    first = load_table(warehouse, spec, files, window, "run-1", chunk_rows=7)
    second = load_table(warehouse, spec, files, window, "run-2", chunk_rows=7)

    for report in (first, second):
        assert report.rows_read == expected_rows
        assert report.rows_loaded + report.rows_quarantined == expected_rows
        assert report.checksums == {p.name: sha256(p) for p in files}
    assert (second.rows_loaded, second.rows_quarantined) == (
        first.rows_loaded,
        first.rows_quarantined,
    )
    count = "select count(*) from raw.vbap"
    assert warehouse.scalar(count) == second.rows_loaded
    assert warehouse.scalar("select count(distinct vbeln || '/' || posnr) from raw.vbap") == (
        second.rows_loaded
    )
    assert warehouse.scalar(f"select count(*) from {QUARANTINE_TABLE}") == second.rows_quarantined

    manifest = warehouse.read_sql(
        f"select canonical_name, checksum, status, partition_key, rows_read, rows_loaded, "
        f"rows_quarantined, run_id, detected_format from {MANIFEST_TABLE} order by canonical_name"
    )
    by_file = {load.name: load for load in second.file_loads}
    assert manifest["canonical_name"].tolist() == [p.name for p in files]  # one row per file
    for row in manifest.itertuples(index=False):
        load = by_file[row.canonical_name]
        assert (row.checksum, row.status, row.run_id) == (load.checksum, "loaded", "run-2")
        assert row.partition_key == f"2024-01-0{row.canonical_name[-5]}"
        assert (row.rows_read, row.rows_loaded, row.rows_quarantined) == (
            load.rows_read,
            load.rows_loaded,
            load.rows_quarantined,
        )
        assert json.loads(row.detected_format)["separator"] == ";"


def test_quarantined_rows_carry_reason_file_and_line(warehouse: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "MSEG_20250131.csv"
    lines = [
        HEADER,
        mseg_line(4900000001),
        mseg_line(4900000002, quantity="abc"),
        mseg_line(4900000001, quantity="9,000"),  # the key of line 2 again
        mseg_line(4900000003, day="20250130"),
        mseg_line(4900000004, bwart="999"),
        mseg_line(4900000005, quantity="1.234,500-"),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    report = load_table(warehouse, MSEG, [path], WINDOW, "run-q", threshold=1.0)

    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (6, 2, 4)
    allowed = ", ".join(MSEG.allowed_values["BWART"])
    assert table_rows(
        warehouse,
        "select table_name, source_file, source_line, column_name, reason, raw_record, run_id "
        f"from {QUARANTINE_TABLE} order by source_line",
    ) == [
        ("MSEG", path.name, 3, "MENGE", "non-numeric value 'abc'", lines[2], "run-q"),
        ("MSEG", path.name, 4, "MBLNR,MJAHR,ZEILE", "duplicate key", lines[3], "run-q"),
        (
            "MSEG",
            path.name,
            5,
            "BUDAT_MKPF",
            "date 2025-01-30 outside partition window [2025-01-31, 2025-02-01)",
            lines[4],
            "run-q",
        ),
        (
            "MSEG",
            path.name,
            6,
            "BWART",
            f"value '999' not in allowed values ({allowed})",
            lines[5],
            "run-q",
        ),
    ]
    assert table_rows(
        warehouse, "select mblnr, menge, _source_file, _source_line from raw.mseg order by mblnr"
    ) == [("4900000001", 5.0, path.name, 2), ("4900000005", -1234.5, path.name, 7)]


def write_mseg_day(folder: Path, day: date, lines: list[str]) -> Path:
    path = folder / f"MSEG_{day:%Y%m%d}.csv"
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def test_a_redelivery_without_its_quantity_column_is_refused_and_the_day_kept(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    """An MB51 layout saved without the Quantity column loaded every quantity as NULL over a
    good day, with no error. A quantity column must be in the file (`header_required`); a
    blank quantity in a record still reads as null (ALV hides zeros)."""
    path = write_mseg_day(tmp_path, DAY, [mseg_line(4900000000 + n) for n in range(5)])
    load_table(warehouse, MSEG, [path], WINDOW, "run-good")
    columns = HEADER.split(";")
    menge = columns.index("MENGE")

    def without_menge(line: str) -> str:
        return ";".join(v for i, v in enumerate(line.split(";")) if i != menge)

    lines = [without_menge(mseg_line(4900000000 + n)) for n in range(5)]
    path.write_text("\n".join([without_menge(HEADER), *lines]) + "\n", encoding="utf-8")
    report = load_table(warehouse, MSEG, [path], WINDOW, "run-no-quantity")

    (load,) = report.file_loads
    assert load.refused and "line 1, column MENGE: missing required column MENGE" in load.error
    assert table_rows(warehouse, "select count(*), sum(menge) from raw.mseg") == [(5, 25.0)]
    blank = [mseg_line(4900000000 + n, quantity="") for n in range(5)]
    path.write_text("\n".join([HEADER, *blank]) + "\n", encoding="utf-8")
    report = load_table(warehouse, MSEG, [path], WINDOW, "run-blank-quantities")
    assert report.rows_loaded == 5  # blank values read as null; the column is there
    assert table_rows(warehouse, "select count(menge) from raw.mseg") == [(0,)]


def test_an_empty_redelivery_of_a_day_with_postings_is_refused_and_the_day_kept(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    """A day without postings is a real day, so an empty day file loads; but an empty
    re-extract of a day raw holds rows for (a selection that found nothing) emptied it. It is
    refused now, in a range run after another day's rows too; a first empty day still loads."""
    day, next_day = DAY - timedelta(days=1), DAY
    window = (day, next_day + timedelta(days=1))
    first = write_mseg_day(
        tmp_path, day, [mseg_line(4900000000 + n, f"{day:%Y%m%d}") for n in range(3)]
    )
    load_table(warehouse, MSEG, [first], window, "run-first")
    second = write_mseg_day(tmp_path, next_day, [mseg_line(4900000100 + n) for n in range(2)])
    first.write_text(HEADER + "\n", encoding="utf-8")

    report = load_table(warehouse, MSEG, [second, first], window, "run-empty")

    refused = {load.name: load.error for load in report.file_loads if load.refused}
    assert list(refused) == [first.name]
    assert "holds 3 rows of this day from an earlier delivery" in str(refused[first.name])
    days = "select budat_mkpf, count(*) from raw.mseg group by 1 order by 1"
    assert [count for _, count in table_rows(warehouse, days)] == [3, 2]
    empty = write_mseg_day(tmp_path, DAY + timedelta(days=1), [])
    late = (DAY + timedelta(days=1), DAY + timedelta(days=2))
    assert not load_table(warehouse, MSEG, [empty], late, "run-no-postings").refused


def test_kept_extra_columns_land_in_raw_as_json(warehouse: Warehouse, tmp_path: Path) -> None:
    """ReaderSettings(extra_columns="keep") (SCP_EXTRA_COLUMNS=keep): a customer Z-field is
    kept in raw's `_extra`, one JSON object per row, which both engines' JSON functions read."""
    path = tmp_path / f"MSEG_{DAY:%Y%m%d}.csv"
    lines = [f"{HEADER};ZZCOLOR", *(f"{mseg_line(4900000000 + n)};blue" for n in range(3))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    load_table(warehouse, MSEG, [path], WINDOW, "run", ReaderSettings(extra_columns="keep"))
    if warehouse.kind == "postgres":
        color = "select distinct _extra::jsonb ->> 'ZZCOLOR' from raw.mseg"
    else:
        color = "select distinct json_extract_string(_extra, '$.ZZCOLOR') from raw.mseg"
    assert table_rows(warehouse, color) == [("blue",)]


def test_a_file_over_the_threshold_is_refused_and_its_day_keeps_its_rows(
    warehouse: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = DAY, DAY + timedelta(days=1)
    stamp = f"{second:%Y%m%d}"
    good = [
        write_mseg_day(tmp_path, first, [mseg_line(4900000001), mseg_line(4900000002)]),
        write_mseg_day(tmp_path, second, [mseg_line(4900000003, day=stamp)]),
    ]
    window = (first, second + timedelta(days=1))
    load_table(warehouse, MSEG, good, window, "run-good")
    kept = table_rows(warehouse, "select mblnr, _source_line from raw.mseg order by mblnr")

    # a re-delivery of the first day whose data rows are comma-separated, with a good second day
    commas = [mseg_line(document).replace(";", ",") for document in (4900000001, 4900000005)]
    broken = write_mseg_day(tmp_path, first, [*commas, mseg_line(4900000002)])
    corrected = write_mseg_day(
        tmp_path, second, [mseg_line(4900000003, day=stamp), mseg_line(4900000004, day=stamp)]
    )
    monkeypatch.setenv("SCP_QUARANTINE_THRESHOLD", "0.4")
    report = load_table(warehouse, MSEG, [broken, corrected], window, "run-bad")

    assert [(f.name, f.refused) for f in report.file_loads] == [
        (broken.name, True),  # 2 of 3 rows rejected: 67 % > 40 %
        (corrected.name, False),
    ]
    assert report.threshold == 0.4
    assert table_rows(warehouse, "select mblnr from raw.mseg order by mblnr") == [
        ("4900000001",),
        ("4900000002",),
        ("4900000003",),
        ("4900000004",),
    ]
    first_day = table_rows(
        warehouse, f"select mblnr, _source_line from raw.mseg where _source_file = '{broken.name}'"
    )
    assert sorted(first_day) == kept[:2]  # the good delivery's rows, not a mix
    assert table_rows(
        warehouse, f"select source_file, source_line, run_id from {QUARANTINE_TABLE}"
    ) == [(broken.name, 2, "run-bad"), (broken.name, 3, "run-bad")]
    assert table_rows(
        warehouse, f"select canonical_name, status from {MANIFEST_TABLE} where run_id = 'run-bad'"
    ) == [(broken.name, "refused"), (corrected.name, "loaded")]

    # with a laxer threshold the same file is loaded, and the manifest row says so
    load_table(warehouse, MSEG, [broken], window, "run-lax", threshold=0.7)
    assert table_rows(warehouse, "select mblnr from raw.mseg order by mblnr") == [
        ("4900000002",),
        ("4900000003",),
        ("4900000004",),
    ]
    assert table_rows(
        warehouse,
        f"select status, run_id from {MANIFEST_TABLE} "
        f"where canonical_name = '{broken.name}' and checksum = '{sha256(broken)}'",
    ) == [("loaded", "run-lax")]


def test_a_re_delivery_the_suite_would_half_empty_is_refused_and_its_day_keeps_its_rows(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    """Rows the reader takes but the quality suite rejects after the load (a plant not in
    raw.t001w, an unknown unit) count toward the file's refusal: before, such a correction
    replaced the good day and the check then moved half of it to quarantine."""
    plants = tmp_path / "T001W.csv"
    plants.write_text("WERKS;NAME1;ORT01;LAND1\n1000;Plant;Hamburg;DE\n", encoding="utf-8")
    load_table(warehouse, TABLE_SPECS["T001W"], [plants], None, "run-plants")
    good = write_mseg_day(tmp_path, DAY, [mseg_line(4900000000 + n) for n in range(20)])
    load_table(warehouse, MSEG, [good], WINDOW, "run-good")
    kept = table_rows(warehouse, "select mblnr, _loaded_at from raw.mseg order by mblnr")

    (tmp_path / "again").mkdir()
    lines = [mseg_line(4900000000 + n) for n in range(20)]
    lines[:8] = [line.replace(";1000;", ";2000;") for line in lines[:8]]  # an unknown plant
    lines[8:10] = [line.replace(";ST;", ";XX;") for line in lines[8:10]]  # an unknown unit
    correction = write_mseg_day(tmp_path / "again", DAY, lines)
    report = load_table(warehouse, MSEG, [correction], WINDOW, "run-correction", threshold=0.2)

    [load] = report.file_loads
    assert load.refused
    assert (load.rows_read, load.rows_quarantined, load.rows_failing_rules) == (20, 0, 10)
    assert load.refusal(report.threshold) == (
        "10 of 20 rows rejected (50.00% > 20.00%), 10 of them by the quality suite "
        "(in_set(MEINS) 2, in_set(WERKS) 8)"
    )
    assert table_rows(warehouse, "select mblnr, _loaded_at from raw.mseg order by mblnr") == kept
    assert table_rows(
        warehouse,
        f"select status from {MANIFEST_TABLE} where run_id = 'run-correction'",
    ) == [("refused",)]

    # below the threshold the file replaces the day; the suite's check quarantines the rows
    report = load_table(warehouse, MSEG, [correction], WINDOW, "run-lax", threshold=0.6)
    assert not report.file_loads[0].refused
    assert warehouse.scalar("select count(*) from raw.mseg") == 20
    assert run_table_quality(warehouse, MSEG, WINDOW, "check").rows_rejected == 10


def test_one_rejected_row_never_refuses_a_file_on_its_own() -> None:
    small = FileLoad("MSEG_20150114.csv", "0" * 64, 1, rows_read=35, rows_quarantined=1)
    assert small.refusal(0.01) is None  # 2.9 %, but a single row
    assert replace(small, rows_quarantined=2).refusal(0.01) == (
        "2 of 35 rows rejected (5.71% > 1.00%)"
    )
    assert replace(small, rows_read=1000, rows_quarantined=10).refusal(0.01) is None
    assert replace(small, rows_read=1000, rows_quarantined=11).refusal(0.01) is not None
    unreadable = replace(small, rows_quarantined=0, error="MSEG_20150114.csv, line 9: bad")
    assert unreadable.refusal(0.01) == "MSEG_20150114.csv, line 9: bad"


def test_a_day_without_a_file_keeps_its_rows(warehouse: Warehouse, tmp_path: Path) -> None:
    first, second = DAY, DAY + timedelta(days=1)
    stamp = f"{second:%Y%m%d}"
    window = (first, second + timedelta(days=1))
    files = [
        write_mseg_day(tmp_path, first, [mseg_line(4900000001)]),
        write_mseg_day(tmp_path, second, [mseg_line(4900000002, day=stamp)]),
    ]
    load_table(warehouse, MSEG, files, window, "run-1")
    again = write_mseg_day(tmp_path, second, [mseg_line(4900000003, day=stamp)])

    load_table(warehouse, MSEG, [again], window, "run-2")  # the first day's file is gone

    assert table_rows(warehouse, "select mblnr from raw.mseg order by mblnr") == [
        ("4900000001",),
        ("4900000003",),
    ]
    load_table(warehouse, MSEG, [], window, "run-3")
    assert warehouse.scalar("select count(*) from raw.mseg") == 2

    later = write_mseg_day(tmp_path, DAY + timedelta(days=2), [mseg_line(4900000004)])
    with pytest.raises(ValueError, match="window is required for the daily table MSEG"):
        load_table(warehouse, MSEG, [later], None, "run-4")  # would replace every day
    assert warehouse.scalar("select count(*) from raw.mseg") == 2


def test_a_row_of_another_day_is_rejected_in_a_range_run_as_in_a_run_of_its_day(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    """Accepted in a range that covers both days, the row would be deleted without a trace by
    the next load of the day it is dated on."""
    first, second = DAY, DAY + timedelta(days=1)
    stamp = f"{second:%Y%m%d}"
    window = (first, second + timedelta(days=1))
    files = [
        write_mseg_day(tmp_path, first, [mseg_line(4900000001), mseg_line(4900000003, day=stamp)]),
        write_mseg_day(tmp_path, second, [mseg_line(4900000002, day=stamp)]),
    ]

    report = load_table(warehouse, MSEG, files, window, "run-range")

    assert [(f.rows_loaded, f.rows_quarantined) for f in report.file_loads] == [(1, 1), (1, 0)]
    ((source_file, line, reason),) = table_rows(
        warehouse, f"select source_file, source_line, reason from {QUARANTINE_TABLE}"
    )
    assert (source_file, line) == (files[0].name, 3)
    assert f"outside partition window [{first}, {second})" in reason


def test_replaced_ranges_cover_the_delivered_days() -> None:
    window = (date(2025, 1, 1), date(2025, 2, 1))
    names = ["MSEG_20250103.csv", "MSEG_20250102.csv", "MSEG_20250110.csv"]
    assert replaced_ranges(names, window) == [
        (date(2025, 1, 2), date(2025, 1, 4)),
        (date(2025, 1, 10), date(2025, 1, 11)),
    ]
    assert replaced_ranges(["MSEG.csv", *names], window) == [window]  # one extract for all
    assert replaced_ranges([], window) == []


def big_file(
    path: Path, rows: int, tail: bytes = b"", day: date = DAY, codec: str = "utf-8"
) -> None:
    """A file with BOM (UTF-8, or `codec`), larger than the reader's 256 KB format sample;
    documents are numbered from the day, so files of two days share no key."""
    first = 4900000000 + day.toordinal() % 1000 * 100_000
    body = "\r\n".join(
        mseg_line(first + i, day=f"{day:%Y%m%d}", quantity=f"{i % 50},000") for i in range(rows)
    )
    path.write_bytes(("\ufeff" + HEADER + "\r\n" + body + "\r\n").encode(codec) + tail)


def broken_utf16_record(line: str) -> bytes:
    """`line` in UTF-16 (LE) with a lone high surrogate inside: no UTF-16 decoder reads it, so
    a SAP GUI "Unicode text" export broken there is unreadable from that line on."""
    return line.encode("utf-16-le") + b"\x00\xd8" + "\r\n".encode("utf-16-le")


def snapshot(warehouse: Warehouse) -> tuple[pd.DataFrame, int, pd.DataFrame]:
    raw = warehouse.read_sql("select * from raw.mseg order by mblnr")
    quarantined = warehouse.scalar(f"select count(*) from {QUARANTINE_TABLE}")
    manifest = warehouse.read_sql(f"select * from {MANIFEST_TABLE} order by checksum")
    return raw, quarantined, manifest


def before_each_append(
    monkeypatch: pytest.MonkeyPatch,
    warehouse: Warehouse,
    hook: Callable[[str, pa.Table], None],
) -> None:
    """Call `hook(table, frame)` before the loader appends each chunk (both engines)."""
    appender = warehouse.appender
    monkeypatch.setattr(warehouse, "bulk_insert_rows", 1)  # a chunk is appended once parsed

    @contextmanager
    def hooked(cur: object, table: str) -> Iterator[Callable[[pa.Table], None]]:
        with appender(cur, table) as append:

            def hooked_append(frame: pa.Table) -> None:
                hook(table, frame)
                append(frame)

            yield hooked_append

    monkeypatch.setattr(warehouse, "appender", hooked)


def test_a_file_unreadable_midway_is_refused_and_its_day_keeps_its_rows(
    warehouse: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "MSEG_20250131.csv"
    path.write_text(f"{HEADER}\n{mseg_line(1)}\n{mseg_line(2, quantity='x')}\n", encoding="utf-8")
    before = load_table(warehouse, MSEG, [path], WINDOW, "run-good")
    assert (before.rows_loaded, before.rows_quarantined) == (1, 1)
    raw, _, _ = snapshot(warehouse)

    # 20,000 good rows of a UTF-16 export, then a broken one: the reader raises late
    tail = broken_utf16_record(mseg_line(99, quantity="1,000") + ";caf")
    big_file(path, 20_000, tail=tail, codec="utf-16-le")
    assert path.stat().st_size > 256 * 1024
    inserted: list[int] = []

    def count(table: str, frame: pa.Table) -> None:
        if table == "raw.mseg":
            inserted.append(len(frame))

    before_each_append(monkeypatch, warehouse, count)
    report = load_table(warehouse, MSEG, [path], WINDOW, "run-bad", chunk_rows=500)

    assert sum(inserted) >= 3000  # chunks were written before the error ...
    (load,) = report.file_loads
    assert load.refused and report.rows_loaded == 0
    assert re.fullmatch(r"MSEG_20250131\.csv, line 20002: cannot decode .*", str(load.error))
    pd.testing.assert_frame_equal(snapshot(warehouse)[0], raw)  # ... and taken out again
    records = f"select source_line, run_id, reason from {QUARANTINE_TABLE} order by rejected_at"
    kept, refused = table_rows(warehouse, records)
    assert kept[:2] == (3, "run-good")  # the kept rows' reject stays with them
    assert refused[:2] == (20002, "run-bad") and refused[2].startswith("file refused: cannot")
    assert table_rows(
        warehouse,
        f"select status, reason, rows_loaded from {MANIFEST_TABLE} where run_id = 'run-bad'",
    ) == [("refused", load.error, 0)]

    load_table(warehouse, MSEG, [path], WINDOW, "run-retry", chunk_rows=500)  # the same bytes
    assert [row[:2] for row in table_rows(warehouse, records)] == [
        (3, "run-good"),
        (20002, "run-retry"),
    ]


def test_an_unreadable_file_does_not_hold_back_the_other_days_of_a_range(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    first, second = DAY, DAY + timedelta(days=1)
    window = (first, second + timedelta(days=1))
    good = write_mseg_day(tmp_path, first, [mseg_line(4900000001)])
    unreadable = tmp_path / f"MSEG_{second:%Y%m%d}.csv"
    unreadable.write_text("MBLNR;MJAHR\n4900000002;2025\n", encoding="utf-8")

    report = load_table(warehouse, MSEG, [good, unreadable], window, "run-range")

    assert [(f.name, f.refused) for f in report.file_loads] == [
        (good.name, False),
        (unreadable.name, True),
    ]
    assert "missing required column" in str(report.file_loads[1].error)
    assert table_rows(warehouse, "select mblnr, _source_file from raw.mseg") == [
        ("4900000001", good.name)
    ]
    ((source_file, reason),) = table_rows(
        warehouse, f"select source_file, reason from {QUARANTINE_TABLE}"
    )
    assert source_file == unreadable.name
    assert reason.startswith("file refused: missing required column")
    assert table_rows(
        warehouse, f"select canonical_name, status from {MANIFEST_TABLE} order by canonical_name"
    ) == [(good.name, "loaded"), (unreadable.name, "refused")]


def test_a_file_replaced_during_its_load_fails_the_load(
    warehouse: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "MSEG_20250131.csv"
    big_file(path, 50)
    newer = tmp_path / "newer.csv"
    big_file(newer, 60)

    def replace(table: str, frame: pa.Table) -> None:
        if newer.exists():
            os.replace(newer, path)  # the landing sensor placing a new delivery

    before_each_append(monkeypatch, warehouse, replace)
    with pytest.raises(SapFileError, match="replaced while it was being loaded"):
        load_table(warehouse, MSEG, [path], WINDOW, "run-race", chunk_rows=20)
    # the load's transaction was rolled back: nothing describes the wrong file (its tables
    # were created before it, in a transaction of their own, and stay empty)
    assert table_rows(warehouse, "select count(*) from raw.mseg") == [(0,)]
    assert table_rows(warehouse, f"select count(*) from {MANIFEST_TABLE}") == [(0,)]


def test_postgres_raw_tables_are_indexed_on_their_partition_column_and_analyzed(
    postgres_database: str, tmp_path: Path
) -> None:
    warehouse = WarehouseSettings(kind="postgres", pg_database=postgres_database).open()
    ensure_raw_tables(warehouse)
    ensure_raw_tables(warehouse)  # idempotent: the second run finds table and index in place
    indexes = warehouse.read_sql(
        "select tablename, indexdef from pg_indexes where schemaname = 'raw' order by tablename"
    )
    indexed = {
        row.tablename: re.findall(r"USING btree \((\w+)\)", row.indexdef)
        for row in indexes.itertuples(index=False)
    }
    assert indexed == {
        spec.raw_table: [spec.partition_column.lower()]
        for spec in TABLE_SPECS.values()
        if spec.partition_column is not None
    }

    path = tmp_path / "MSEG_20250131.csv"
    big_file(path, 300)
    load_table(warehouse, MSEG, [path], WINDOW, "run-stats")
    # only ANALYZE fills pg_stats and sets reltuples; a COPY alone leaves both as they were
    analysed = warehouse.read_sql(
        "select attname from pg_stats where schemaname = 'raw' and tablename = 'mseg'"
    )
    assert "budat_mkpf" in set(analysed["attname"])
    assert (
        warehouse.scalar("select reltuples from pg_class where oid = 'raw.mseg'::regclass") == 300
    )


def test_postgres_partition_index_is_built_after_a_first_load_and_kept_by_later_ones(
    postgres_database: str, tmp_path: Path
) -> None:
    """Into an empty table the index is dropped and built after the rows; a later load into a
    table with rows keeps it (its oid) and maintains it."""
    warehouse = WarehouseSettings(kind="postgres", pg_database=postgres_database).open()
    ensure_raw_tables(warehouse)

    def index_oid() -> int:
        return warehouse.scalar("select 'raw.mseg_budat_mkpf_idx'::regclass::oid")

    created = index_oid()
    january, february = tmp_path / "MSEG_20250131.csv", tmp_path / "MSEG_20250201.csv"
    big_file(january, 300)
    load_table(warehouse, MSEG, [january], WINDOW, "run-first")
    rebuilt = index_oid()
    assert rebuilt != created
    big_file(february, 200, day=date(2025, 2, 1))
    load_table(warehouse, MSEG, [february], (date(2025, 2, 1), date(2025, 2, 2)), "run-later")
    assert index_oid() == rebuilt
    used = warehouse.read_sql(
        "explain select count(*) from raw.mseg where budat_mkpf = '2025-02-01'"
    )
    assert "mseg_budat_mkpf_idx" in " ".join(used.iloc[:, 0])


def test_a_column_added_to_a_spec_is_added_to_an_existing_raw_table(warehouse: Warehouse) -> None:
    """A warehouse built before VBAP gained ABGRU keeps its rows and gets the new column."""
    columns = raw_table_columns(TABLE_SPECS["VBAP"])
    older = {name: sql_type for name, sql_type in columns.items() if name != "abgru"}
    with warehouse.transaction() as cur:
        cur.execute(create_table_sql("raw.vbap", older))
        cur.execute("insert into raw.vbap (vbeln, posnr) values ('0000000001', 10)")
    ensure_raw_tables(warehouse)
    ensure_raw_tables(warehouse)  # idempotent
    rows = warehouse.read_sql("select vbeln, posnr, abgru from raw.vbap")
    assert rows.to_dict("records") == [{"vbeln": "0000000001", "posnr": 10, "abgru": None}]


def test_quarantine_and_manifest_of_an_older_warehouse_get_the_delivered_columns(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    """Built before quarantine named delivered files and lines, and before the manifest kept
    split parts' line maps: both tables keep their rows and gain the columns."""
    from pipelines.ingest.landing import MANIFEST_COLUMNS

    older = {n: t for n, t in QUARANTINE_COLUMNS.items() if not n.startswith("delivered_")}
    with warehouse.transaction() as cur:
        cur.execute(f"drop table {QUARANTINE_TABLE}")
        cur.execute(create_table_sql(QUARANTINE_TABLE, older))
        cur.execute(f"insert into {QUARANTINE_TABLE} (table_name, reason) values ('X', 'old')")
        manifest = {n: t for n, t in MANIFEST_COLUMNS.items() if n != "source_lines"}
        cur.execute(create_table_sql(MANIFEST_TABLE, manifest))
    warehouse.ensure_schemas()  # as every open does
    reopened = warehouse
    path = write_mseg_day(tmp_path, DAY, [mseg_line(4900000001, quantity="x")])

    load_table(reopened, MSEG, [path], WINDOW, "run-new")

    assert table_rows(
        reopened,
        f"select reason, delivered_file, delivered_line is null from {QUARANTINE_TABLE} "
        "order by delivered_line nulls first",
    )[0] == ("old", None, True)
    assert table_rows(
        reopened,
        f"select delivered_file, delivered_line from {QUARANTINE_TABLE} where run_id = 'run-new'",
    ) == [(path.name, 2)]
    assert table_rows(reopened, f"select source_lines from {MANIFEST_TABLE}") == [(None,)]


@pytest.mark.postgres
def test_steps_creating_the_same_tables_at_once_all_succeed(postgres_database: str) -> None:
    """Parallel steps of a first run on an empty warehouse all create the schemas and raw
    tables at the same moment; `if not exists` alone lets one of them fail on Postgres'
    catalog (duplicate key in pg_type / pg_namespace)."""
    settings = WarehouseSettings(kind="postgres", pg_database=postgres_database)
    workers = 8
    start = threading.Barrier(workers)

    def first_step(_: int) -> None:
        start.wait()
        ensure_raw_tables(settings.open())

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(first_step, range(workers)))  # re-raises a worker's error
    warehouse = settings.open()
    for spec in TABLE_SPECS.values():
        assert warehouse.table_exists(f"raw.{spec.raw_table}"), spec.name


def _advisory_lock_waits(database: str) -> int:
    import psycopg

    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=database) as con:
        sql = "select count(*) from pg_locks where locktype = 'advisory' and not granted"
        return con.execute(sql).fetchone()[0]


def _hold_until(done: threading.Event, database: str) -> None:
    """Wait until the concurrent step has finished (it did not wait for this one) or waits for
    a lock: deterministic for the code with the table lock and without it."""
    while not done.is_set() and not _advisory_lock_waits(database):
        time.sleep(0.05)


def test_overlapping_loads_of_a_day_take_turns_on_postgres(
    postgres_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A correction's run that starts while the first delivery's run still loads the day (a
    backfill overlapping a sensor run): under read committed each load's delete saw only rows
    committed before it, so both copies of the day stayed. The first load here holds on before
    replacing the day until the second has passed that point too (the old code) or waits for
    the table's lock (the new)."""
    settings = WarehouseSettings(kind="postgres", pg_database=postgres_database)
    path = write_mseg_day(tmp_path, DAY, [mseg_line(4900000000 + n) for n in range(50)])
    load_table(settings.open(), MSEG, [path], WINDOW, "run-initial")

    replace_rows = load_module._replace_rows
    first_inside, second_inside = threading.Event(), threading.Event()

    def held(*args, **kwargs):
        if first_inside.is_set():
            second_inside.set()
        else:
            first_inside.set()
            _hold_until(second_inside, postgres_database)
        return replace_rows(*args, **kwargs)

    monkeypatch.setattr(load_module, "_replace_rows", held)

    def second_load() -> None:
        first_inside.wait()
        load_table(settings.open(), MSEG, [path], WINDOW, "run-second")

    with ThreadPoolExecutor(2) as pool:
        runs = [
            pool.submit(load_table, settings.open(), MSEG, [path], WINDOW, "run-first"),
            pool.submit(second_load),
        ]
        for run in runs:
            run.result()
    warehouse = settings.open()
    assert warehouse.scalar("select count(*) from raw.mseg") == 50
    assert warehouse.scalar("select count(distinct _loaded_at) from raw.mseg") == 1


def test_a_load_committed_during_a_check_waits_for_it_on_postgres(
    postgres_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check reads raw on a connection of its own and quarantines by row id in its
    transaction. A correction of the day committed in between left quarantine records
    without their row under the corrected file's name, and failed the correction's own check."""
    settings = WarehouseSettings(kind="postgres", pg_database=postgres_database)
    bad_unit = [mseg_line(4900000000 + n).replace(";ST;", ";XX;") for n in range(0, 50, 2)]
    good = [mseg_line(4900000000 + n) for n in range(1, 50, 2)]
    plants = tmp_path / "T001W.csv"
    plants.write_text("WERKS;NAME1;ORT01;LAND1\n1000;Plant;Hamburg;DE\n", encoding="utf-8")
    load_table(settings.open(), TABLE_SPECS["T001W"], [plants], None, "run-plants")
    (tmp_path / "first").mkdir()
    first = write_mseg_day(tmp_path / "first", DAY, [*bad_unit, *good])
    corrected = write_mseg_day(tmp_path, DAY, [mseg_line(4900000000 + n) for n in range(50)])
    load_table(settings.open(), MSEG, [first], WINDOW, "run-first", threshold=1.0)

    validate = quality_module.SuiteRunner.validate
    validated, corrected_loaded = threading.Event(), threading.Event()

    def held(self, frame):
        result = validate(self, frame)
        validated.set()
        _hold_until(corrected_loaded, postgres_database)
        return result

    monkeypatch.setattr(quality_module.SuiteRunner, "validate", held)

    def correction() -> None:
        validated.wait()
        load_table(settings.open(), MSEG, [corrected], WINDOW, "run-corrected")
        corrected_loaded.set()

    with ThreadPoolExecutor(2) as pool:
        check = pool.submit(run_table_quality, settings.open(), MSEG, WINDOW, "check-first")
        load = pool.submit(correction)
        assert check.result().rows_rejected == 25
        load.result()
    monkeypatch.setattr(quality_module.SuiteRunner, "validate", validate)
    warehouse = settings.open()
    orphans = f"select count(*) from {QUARANTINE_TABLE} where raw_record is null"
    assert warehouse.scalar(orphans) == 0
    assert warehouse.scalar("select count(*) from raw.mseg") == 50
    report = run_table_quality(warehouse, MSEG, WINDOW, "check-corrected")
    assert (report.passed, report.rows_rejected, report.quarantined_share) == (True, 0, 0.0)


def test_a_load_of_another_table_does_not_wait_for_a_long_first_load_on_postgres(
    postgres_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a fresh warehouse each first load creates its raw table. That DDL ran inside the load's
    transaction, whose DDL lock then stayed held until the load committed: the first load of
    MKPF waited for a whole backfill of MSEG. It must only wait for the MSEG load's DDL."""
    settings = WarehouseSettings(kind="postgres", pg_database=postgres_database)
    path = write_mseg_day(tmp_path, DAY, [mseg_line(4900000000 + n) for n in range(50)])
    headers = tmp_path / f"MKPF_{DAY:%Y%m%d}.csv"
    headers.write_text(f"MBLNR;MJAHR;BLDAT;BUDAT\n4900000000;2025;{DAY:%Y%m%d};{DAY:%Y%m%d}\n")
    replace_rows = load_module._replace_rows
    mseg_loading, mkpf_done = threading.Event(), threading.Event()
    mkpf_waited: list[bool] = []

    def held(warehouse, cur, spec, *args, **kwargs):
        if spec.name == "MSEG":
            mseg_loading.set()
            _hold_until(mkpf_done, postgres_database)
            mkpf_waited.append(not mkpf_done.is_set())
        return replace_rows(warehouse, cur, spec, *args, **kwargs)

    monkeypatch.setattr(load_module, "_replace_rows", held)

    def mkpf_load() -> int:
        mseg_loading.wait()
        try:
            load = load_table(settings.open(), TABLE_SPECS["MKPF"], [headers], WINDOW, "mkpf")
        finally:
            mkpf_done.set()
        return load.rows_loaded

    with ThreadPoolExecutor(2) as pool:
        mseg = pool.submit(load_table, settings.open(), MSEG, [path], WINDOW, "mseg")
        mkpf = pool.submit(mkpf_load)
        assert mkpf.result() == 1
        assert mseg.result().rows_loaded == 50
    assert mkpf_waited == [False]  # MKPF loaded while the MSEG load still held its transaction


@pytest.mark.postgres
@pytest.mark.parametrize("postgres_database", ["LATIN1", "SQL_ASCII"], indirect=True)
def test_a_postgres_database_not_in_utf8_is_refused_when_opened(
    postgres_database: str, request: pytest.FixtureRequest
) -> None:
    """LATIN1 stored SAP's UTF-8 texts as mojibake (größer as grÃ¶Ãer) without an error, and
    SQL_ASCII returned names as bytes, so every check failed with "lacks columns"."""
    encoding = request.node.callspec.params["postgres_database"]
    with pytest.raises(ValueError) as error:
        WarehouseSettings(kind="postgres", pg_database=postgres_database).open()
    assert f"Postgres database {postgres_database!r} has encoding {encoding}" in str(error.value)
    assert "createdb --encoding=UTF8 --template=template0" in str(error.value)


MARA_COLUMNS = ["MATNR", "MTART", "MATKL", "MEINS", "BRGEW", "GEWEI", "ERSDA", "LVORM"]


@pytest.mark.parametrize(
    "empty",
    [";".join(MARA_COLUMNS) + "\n", "|" + "|".join(MARA_COLUMNS) + "|\n|*||||10,000|KG|||\n"],
    ids=["header only", "ALV totals only"],
)
def test_a_master_extract_without_records_is_refused_and_the_table_kept(
    warehouse: Warehouse, tmp_path: Path, empty: str
) -> None:
    """A master extract replaces the whole table: one without records (an export whose selection
    found nothing, a list of totals only) emptied raw.mara, and every material vanished
    downstream. A day file without records is a day without postings, and is loaded."""
    path = tmp_path / "MARA.csv"
    header = ";".join(MARA_COLUMNS) + "\n"
    path.write_text(header + "M-1;FERT;;ST;;;;\nM-2;FERT;;ST;;;;\n", encoding="utf-8")
    load_table(warehouse, TABLE_SPECS["MARA"], [path], None, "run-good")
    path.write_text(empty, encoding="utf-8")

    report = load_table(warehouse, TABLE_SPECS["MARA"], [path], None, "run-empty")

    assert report.refused and report.file_loads[0].refusal(report.threshold) == (
        "MARA.csv: no records (a header only, or ALV totals only): a master extract replaces "
        "the whole table, and this one would empty raw.mara"
    )
    assert report.pooled_failure() is None  # refused, not loaded with too many rejects
    assert table_rows(warehouse, "select matnr from raw.mara order by matnr") == [
        ("M-1",),
        ("M-2",),
    ]
    assert table_rows(
        warehouse, f"select status from {MANIFEST_TABLE} where run_id = 'run-empty'"
    ) == [("refused",)]

    day_file = write_mseg_day(tmp_path, DAY, [])
    assert not load_table(warehouse, MSEG, [day_file], WINDOW, "run-quiet-day").refused
