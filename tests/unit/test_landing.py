"""Pure landing-zone functions: names, readiness, splitting, run grouping, CSV round trips."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import uuid
from dataclasses import replace
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.ingest import landing
from pipelines.ingest.landing import (
    ARCHIVE,
    CURRENT,
    DELTA_FEEDS,
    INCOMING,
    MAX_NAME_BYTES,
    STAGING,
    Decision,
    DeltaExtract,
    FsspecLandingStore,
    LandingCursor,
    LandingEntry,
    LandingName,
    LandingNameError,
    LandingStore,
    LocalLandingStore,
    Origin,
    RunPlan,
    archive_name,
    delivery_order,
    extraction_date,
    in_spec_columns,
    landing_store,
    merge_rows,
    oldest_extracts_first,
    orphan_markers,
    parse_landing_name,
    plan_runs,
    plan_tick,
    read_rows,
    ready_files,
    rejected_name,
    split_available,
    split_by_day,
    to_landing_csv,
    write_delta_files,
)
from pipelines.ingest.reader import CUT_SHORT, SapFileError, SapFileReader
from pipelines.ingest.specs import TABLE_SPECS

MSEG_HEADER = ";".join(TABLE_SPECS["MSEG"].column_names)
AT = datetime(2025, 2, 1, 6, 30, 15, 123456)


def mseg_line(document: int, day: str, quantity: str = "5,000", text_plant: str = "1000") -> str:
    """One MSEG record in SE16N style (`day` as written in the file)."""
    return f"{document};2025;1;601;M-1;{text_plant};0001;{quantity};ST;H;12,50;EUR;;;;;{day}"


# -- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "table", "day", "canonical"),
    [
        ("MSEG_20250131.csv", "MSEG", date(2025, 1, 31), "MSEG_20250131.csv"),
        ("mseg_2025-01-31.csv", "MSEG", date(2025, 1, 31), "MSEG_20250131.csv"),
        ("Mseg-20250131.CSV", "MSEG", date(2025, 1, 31), "MSEG_20250131.csv"),
        ("MSEG_31.01.2025.txt", "MSEG", date(2025, 1, 31), "MSEG_20250131.csv"),
        ("VBAK_20240103__odata-20240217T120000822Z.csv", "VBAK", date(2024, 1, 3), None),
        ("MARA.csv", "MARA", None, "MARA.csv"),
        ("mara_20250131.csv", "MARA", None, "MARA.csv"),  # extraction date of master data
        ("T001W.csv", "T001W", None, "T001W.csv"),
        ("MSEG.csv", "MSEG", None, None),  # undated: the day comes from the content
    ],
)
def test_parse_landing_name_accepts_common_spellings(
    name: str, table: str, day: date | None, canonical: str | None
) -> None:
    parsed = parse_landing_name(name)
    assert (parsed.table, parsed.day) == (table, day)
    assert extraction_date(name) == (date(2025, 1, 31) if name == "mara_20250131.csv" else None)
    if canonical is not None:
        assert parsed.canonical == canonical
    elif day is not None:
        assert parsed.canonical == f"{table}_{day:%Y%m%d}.csv"
    else:
        assert parsed.canonical is None


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("XYZ_20250131.csv", "unknown SAP table 'XYZ'"),
        ("MSEG_20250231.csv", "'20250231' is not a valid date"),
        ("MSEG_20250131.xlsx", "expected <TABLE>[_<YYYYMMDD>]"),
        ("MSEG 20250131.csv", "characters outside [A-Za-z0-9._-]"),
        ("..MSEG.csv", "must not be empty or contain '..'"),
        ("MSEG_2025013.csv", "expected <TABLE>[_<YYYYMMDD>]"),
    ],
)
def test_parse_landing_name_rejects_with_a_reason(name: str, message: str) -> None:
    with pytest.raises(LandingNameError, match=re.escape(message)):
        parse_landing_name(name)


def test_archive_and_rejected_names_are_unique_sortable_and_safe() -> None:
    checksum = hashlib.sha256(b"x").hexdigest()
    assert archive_name("MSEG_20250131.csv", checksum, AT) == (
        f"20250201T063015123456Z__{checksum[:12]}__MSEG_20250131.csv"
    )
    digest = hashlib.sha256("bad name/../ü.csv".encode()).hexdigest()[:8]
    assert rejected_name("bad name/../ü.csv", AT) == (
        f"20250201T063015123456Z__{digest}__bad_name_____.csv"
    )
    assert LandingName("MSEG", date(2025, 1, 31)).canonical == "MSEG_20250131.csv"


def test_archive_and_rejected_names_of_long_names_fit_a_file_system() -> None:
    """A legal 250-byte delivery name plus the prefix passed 255 bytes: the move failed and
    every later tick with it, so nothing else in the landing zone loaded."""
    checksum = hashlib.sha256(b"x").hexdigest()
    long = "MSEG_20240102__" + "ü" * 115 + ".csv"  # 250 bytes
    archived = archive_name(long, checksum, AT)
    rejected = {rejected_name(name, AT) for name in ("X" * 240 + ".csv", "X" * 241 + ".csv")}
    for name in [archived, *rejected]:
        assert len(name.encode()) <= MAX_NAME_BYTES and name.endswith("~.csv"), name
    assert archived.startswith(f"20250201T063015123456Z__{checksum[:12]}__MSEG_20240102__ü")
    assert len(rejected) == 2  # the hash of the original keeps them apart


def test_rejected_names_of_names_made_safe_alike_differ() -> None:
    """Both go to rejected/ in one tick: the second move must not find the first's name."""
    names = {rejected_name(name, AT) for name in ("Bestände Jan.csv", "Bestände_Jan.csv")}
    assert len(names) == 2 and all(n.endswith("__Best_nde_Jan.csv") for n in names)


def test_a_name_dated_after_tomorrow_is_rejected_with_its_date(tmp_path: Path) -> None:
    """Tomorrow (UTC) is allowed, as the day in SCP_TIMEZONE may be ahead; later is a typo."""
    store = landing_store(tmp_path)
    mara = ";".join(TABLE_SPECS["MARA"].column_names) + "\r\n"
    deliveries = {
        "MSEG_20250202.csv": "\r\n".join([MSEG_HEADER, mseg_line(1, "20250202"), ""]),
        "MSEG_20250203.csv": "\r\n".join([MSEG_HEADER, mseg_line(2, "20250203"), ""]),
        "MARA_20250202.csv": mara,
        "MARA_20520115.csv": mara,
    }
    for name, text in deliveries.items():
        store.write(INCOMING, name, text.encode())
    plan = plan_tick(store, store.list(INCOMING), datetime(2025, 2, 1, 23, 30))
    decided = {d.file_name: (d.status, d.reason) for d in plan.decisions}
    assert decided == {
        "MSEG_20250202.csv": ("received", None),
        "MSEG_20250203.csv": (
            "rejected",
            "MSEG_20250203.csv: day 2025-02-03 is in the future (after 2025-02-02)",
        ),
        "MARA_20250202.csv": ("received", None),
        "MARA_20520115.csv": (
            "rejected",
            "MARA_20520115.csv: extraction date 2052-01-15 is in the future (after 2025-02-02)",
        ),
    }
    assert {(r.table, r.first_day) for r in plan.runs} == {
        ("MSEG", date(2025, 2, 2)),
        ("MARA", None),
    }


# -- readiness -----------------------------------------------------------------------------------


def test_a_file_is_ready_when_unchanged_for_two_looks_or_marked() -> None:
    first = [
        LandingEntry("MSEG_20250131.csv", 100, 1),
        LandingEntry("MARA.csv", 50, 1),
        LandingEntry("MARA.csv.done", 0, 1),
        LandingEntry("EKKO_20250131.csv.part", 10, 1),
        LandingEntry(".VBAK_20250131.csv.tmp", 10, 1),
        LandingEntry("EMPTY_FILE.csv", 0, 1),
    ]
    ready, seen = ready_files(first, {}, now_ns=10)
    assert [e.name for e in ready] == ["MARA.csv"]  # the marker makes it ready at once
    assert set(seen) == {e.name for e in first} - {"MARA.csv.done"}  # markers are not aged

    growing = [LandingEntry("MSEG_20250131.csv", 180, 2), LandingEntry("EMPTY_FILE.csv", 0, 1)]
    ready, seen = ready_files(growing, seen, now_ns=20)
    assert ready == []  # still growing; an empty file is not taken at its second look
    ready, seen = ready_files(growing, seen, now_ns=30)
    assert [e.name for e in ready] == ["MSEG_20250131.csv"]
    assert seen["MSEG_20250131.csv"] == [180, 2, 20]  # size, mtime, unchanged since
    assert seen["EMPTY_FILE.csv"] == [0, 1, 10]


HOUR_NS = 3600 * 10**9
SECOND_NS = 10**9


def test_a_file_without_a_marker_waits_for_the_quiet_period() -> None:
    """A writer that paused longer than the sensor's interval had its file taken after the
    first piece: one unchanged look was enough, and the rest of the rows were never loaded."""
    quiet = timedelta(seconds=60)
    piece = [LandingEntry("MSEG_20250122.csv", 111_038, 1), LandingEntry("MARA.csv", 9, 1)]
    marked = [*piece, LandingEntry("MARA.csv.done", 0, 1)]
    ready, seen = ready_files(marked, {}, now_ns=0, quiet=quiet)
    assert [e.name for e in ready] == ["MARA.csv"]  # a marker needs no quiet period
    ready, seen = ready_files(piece, seen, now_ns=45 * SECOND_NS, quiet=quiet)
    assert ready == []  # unchanged over two looks, but only for 45 s
    grown = [LandingEntry("MSEG_20250122.csv", 222_076, 2)]
    ready, seen = ready_files(grown, seen, now_ns=50 * SECOND_NS, quiet=quiet)
    assert ready == []  # the writer came back
    ready, seen = ready_files(grown, seen, now_ns=109 * SECOND_NS, quiet=quiet)
    assert ready == []
    ready, seen = ready_files(grown, seen, now_ns=110 * SECOND_NS, quiet=quiet)
    assert [e.name for e in ready] == ["MSEG_20250122.csv"]


def test_an_empty_or_temporary_named_file_is_taken_once_unchanged_for_an_hour() -> None:
    """Taken to be rejected (`plan_tick` gives the reason), so it cannot wait unreported; one
    still being written is never taken, however long the transfer runs."""
    files = [
        LandingEntry("MSEG_20250117.csv", 0, 1),
        LandingEntry("..MSEG_20250120.csv", 90, 1),
        LandingEntry("~MARA.csv", 90, 1),
        LandingEntry("MARC.csv.part", 90, 1),
    ]
    writing = LandingEntry(".MSEG_20250121.csv", 10, 1)
    ready, seen = ready_files([*files, writing], {}, now_ns=0)
    assert ready == []
    writing = replace(writing, size=20, mtime_ns=2)
    ready, seen = ready_files([*files, writing], seen, now_ns=HOUR_NS - 1)
    assert ready == []  # unchanged, but not for an hour yet
    writing = replace(writing, size=30, mtime_ns=3)
    ready, seen = ready_files([*files, writing], seen, now_ns=HOUR_NS)
    assert [e.name for e in ready] == [e.name for e in sorted(files, key=lambda e: e.name)]
    assert seen[writing.name] == [30, 3, HOUR_NS]  # it changed: its hour starts again

    marked = [LandingEntry("MSEG.csv.part", 9, 1), LandingEntry("MSEG.csv.part.done", 0, 1)]
    assert ready_files(marked, {}, now_ns=0)[0] == []  # a marker does not complete a .part


def test_a_marker_older_than_its_file_makes_it_wait_until_stable() -> None:
    """A marker left by an earlier delivery of that name says nothing of this one, which may
    still be being written; a store without mtimes (0) keeps taking marked files at once."""
    stale = [
        LandingEntry("MSEG_20250131.csv", 100, 20),
        LandingEntry("MSEG_20250131.csv.done", 0, 19),
    ]
    ready, seen = ready_files(stale, {}, now_ns=30)
    assert ready == []
    ready, _ = ready_files(stale, seen, now_ns=40)
    assert [e.name for e in ready] == ["MSEG_20250131.csv"]  # stable now

    for mtime in (20, 0):  # written with its file, or no mtimes at all
        marked = [replace(e, mtime_ns=mtime) for e in stale]
        assert [e.name for e in ready_files(marked, {}, now_ns=30)[0]] == ["MSEG_20250131.csv"]


def test_orphan_markers_are_the_markers_listed_without_their_file() -> None:
    listed = [
        LandingEntry("MARA.csv", 5, 1),
        LandingEntry("MARA.csv.done", 0, 2),
        LandingEntry("MAKT.csv.done", 0, 2),  # its file taken at an earlier look
        LandingEntry("MARC.csv.part", 5, 1),
        LandingEntry("MARC.csv.part.done", 0, 2),
        LandingEntry("MSEG_20250131.csv.done.done", 0, 2),
    ]
    assert orphan_markers(listed) == ["MAKT.csv.done", "MSEG_20250131.csv.done.done"]


def test_a_cursor_without_since_starts_the_hour_at_this_look() -> None:
    """Cursors written before files were aged hold (size, mtime) only."""
    empty = [LandingEntry("MSEG_20250117.csv", 0, 1), LandingEntry("MSEG_20250118.csv", 5, 1)]
    old = {"MSEG_20250117.csv": [0, 1], "MSEG_20250118.csv": [5, 1]}
    ready, seen = ready_files(empty, old, now_ns=HOUR_NS)
    assert [e.name for e in ready] == ["MSEG_20250118.csv"]  # stable as before
    assert seen["MSEG_20250117.csv"] == [0, 1, HOUR_NS]
    ready, _ = ready_files(empty, seen, now_ns=2 * HOUR_NS)
    assert [e.name for e in ready] == ["MSEG_20250117.csv", "MSEG_20250118.csv"]


def test_dated_master_extracts_are_taken_oldest_first_whatever_their_mtimes() -> None:
    ready = [
        LandingEntry("MARA_20250116.csv", 5, 1),
        LandingEntry("MSEG_20250101.csv", 5, 2),
        LandingEntry("mara_2025-01-14.csv", 5, 3),
        LandingEntry("MARA.csv", 5, 4),  # undated: keeps its place
        LandingEntry("MAKT_20250110.csv", 5, 5),
        LandingEntry("MARA_20250115.csv", 5, 6),
        LandingEntry("MAKT_20250109.csv", 5, 7),
        LandingEntry("XYZ_20250101.csv", 5, 8),
    ]
    assert [e.name for e in oldest_extracts_first(ready)] == [
        "mara_2025-01-14.csv",
        "MSEG_20250101.csv",
        "MARA_20250115.csv",
        "MARA.csv",
        "MAKT_20250109.csv",
        "MARA_20250116.csv",
        "MAKT_20250110.csv",
        "XYZ_20250101.csv",
    ]


def test_cursor_round_trips_and_deferred_runs_wait_for_their_partition() -> None:
    runs = [
        RunPlan("MSEG", "k1", date(2025, 1, 30), date(2025, 2, 2), ("a",)),
        RunPlan("MARA", "k2"),
        RunPlan("VBAK", "k3", date(2025, 2, 5), date(2025, 2, 5)),
    ]
    ready, waiting = split_available(runs, date(2025, 1, 31))
    assert ready == [
        RunPlan("MSEG", "k1", date(2025, 1, 30), date(2025, 1, 31), ("a",)),
        RunPlan("MARA", "k2"),
    ]
    assert waiting == [
        RunPlan("MSEG", "k1:2025-02-01", date(2025, 2, 1), date(2025, 2, 2), ("a",)),
        RunPlan("VBAK", "k3", date(2025, 2, 5), date(2025, 2, 5)),
    ]
    cursor = LandingCursor(seen={"x.csv": [1, 2]}, deferred=waiting)
    assert LandingCursor.from_json(cursor.to_json()) == cursor
    assert LandingCursor.from_json(None) == LandingCursor()


def _placed(table: str, day: date | None, checksum: str) -> Decision:
    canonical = f"{table}_{day:%Y%m%d}.csv" if day else f"{table}.csv"
    return Decision(
        "received",
        canonical,
        (INCOMING, canonical),
        table=table,
        canonical_name=canonical,
        day=day,
        checksum=checksum,
        run_key=f"{checksum}:{canonical}",
    )


def test_runs_cover_contiguous_days_of_a_table_in_one_range() -> None:
    placed = [
        _placed("MSEG", date(2025, 1, 3), "c3"),
        _placed("MSEG", date(2025, 1, 1), "c1"),
        _placed("MSEG", date(2025, 1, 2), "c2"),
        _placed("MSEG", date(2025, 1, 7), "c7"),
        _placed("MARA", None, "m"),
    ]
    runs = plan_runs(placed, AT)
    digest = hashlib.sha256(b"c1c2c3").hexdigest()
    assert runs == [
        RunPlan(
            "MSEG",
            f"{digest}:MSEG_20250101-20250103:20250201T063015123456Z",
            date(2025, 1, 1),
            date(2025, 1, 3),
            ("MSEG_20250101.csv", "MSEG_20250102.csv", "MSEG_20250103.csv"),
        ),
        RunPlan(
            "MSEG",
            "c7:MSEG_20250107.csv",
            date(2025, 1, 7),
            date(2025, 1, 7),
            ("MSEG_20250107.csv",),
        ),
        RunPlan("MARA", "m:MARA.csv", files=("MARA.csv",)),
    ]
    assert runs[0].is_range and runs[0].partition_key is None
    assert runs[1].partition_key == "2025-01-07" and not runs[1].is_range
    assert {d.run_key for d in placed[:3]} == {runs[0].run_key}  # the manifest records it


# -- splitting undated files --------------------------------------------------------------------


def test_split_by_day_keeps_records_byte_for_byte(tmp_path: Path) -> None:
    lines = [
        "",  # a blank line before the header belongs to the header block
        MSEG_HEADER,
        mseg_line(4900000001, "20250102"),
        mseg_line(4900000002, "20250101"),
        mseg_line(4900000003, "20250102", quantity="7,000-"),
        # a quoted plant spanning two lines, and a record whose day cannot be read
        mseg_line(4900000004, "20250101", text_plant='"10\n00"'),
        mseg_line(4900000005, "2025XX01"),
        mseg_line(4900000006, "20250103"),
    ]
    text = "\r\n".join(lines)  # no newline at the very end
    path = tmp_path / "MSEG.csv"
    path.write_bytes(text.encode("cp1252"))

    parts = split_by_day(path, TABLE_SPECS["MSEG"], tmp_path / "parts")
    head = "\r\n" + MSEG_HEADER + "\r\n"
    expected = {
        date(2025, 1, 1): head
        + mseg_line(4900000002, "20250101")
        + "\r\n"
        + mseg_line(4900000004, "20250101", text_plant='"10\n00"')
        + "\r\n"
        + mseg_line(4900000005, "2025XX01")  # unreadable day: earliest day, quarantined there
        + "\r\n",
        date(2025, 1, 2): head
        + mseg_line(4900000001, "20250102")
        + "\r\n"
        + mseg_line(4900000003, "20250102", quantity="7,000-")
        + "\r\n",
        # the last record keeps its missing line break: the load judges it cut short
        date(2025, 1, 3): head + mseg_line(4900000006, "20250103"),
    }
    assert {day: p.path.read_bytes().decode("cp1252") for day, p in parts.items()} == expected
    # each part's lines map back to the delivered file's: header 1-2, records from 3
    first = parts[date(2025, 1, 1)].origin
    assert (first.file_name, first.first) == ("MSEG.csv", 3)
    assert first.runs.tolist() == [[4, 1], [6, 2], [8, 1]]  # the unreadable day: a run of its own
    assert first.lines([1, 2, 3, 4, 5, 6, 7, None]).tolist() == [1, 2, 4, 6, 7, 8, pd.NA, pd.NA]
    assert parts[date(2025, 1, 2)].origin.lines([3, 4]).tolist() == [3, 5]
    assert parts[date(2025, 1, 3)].origin.lines([3]).tolist() == [9]

    # every part reads back with the full spec: the day of each row is its file's day
    for day, part in parts.items():
        reader = SapFileReader(
            part.path, TABLE_SPECS["MSEG"], partition_window=(day, day + timedelta(days=1))
        )
        chunks = list(reader.chunks())
        rows = pd.concat([c.rows for c in chunks])
        rejects = pd.concat([c.rejects for c in chunks])
        if day == date(2025, 1, 3):
            assert rows.empty and rejects["reason"].tolist() == [CUT_SHORT]
            continue
        assert set(rows["BUDAT_MKPF"].dt.date) == {day}
        if day == date(2025, 1, 1):
            assert rows["WERKS"].tolist() == ["1000", "10\n00"]
            assert rejects["reason"].tolist() == ["invalid date '2025XX01', expected YYYYMMDD"]


def test_split_by_day_of_a_utf16_export_writes_utf8_parts(tmp_path: Path) -> None:
    """SAP GUI's 'Unicode text' is UTF-16: cut at its line-break bytes it would be garbage."""
    records = [
        mseg_line(4900000001, "20250102"),
        mseg_line(4900000002, "20250101"),
        mseg_line(4900000003, "20250102", quantity="7,000-"),
    ]
    path = tmp_path / "MSEG.csv"
    path.write_bytes("\r\n".join([MSEG_HEADER, *records]).encode("utf-16"))  # BOM, no last CRLF

    parts = split_by_day(path, TABLE_SPECS["MSEG"], tmp_path / "parts")

    head = MSEG_HEADER + "\r\n"
    assert {day: p.path.read_bytes().decode("utf-8") for day, p in parts.items()} == {
        date(2025, 1, 1): head + records[1] + "\r\n",
        date(2025, 1, 2): head + records[0] + "\r\n" + records[2],  # as it ends
    }
    assert parts[date(2025, 1, 2)].origin.lines([2, 3]).tolist() == [2, 4]


def test_split_by_day_of_a_file_without_readable_days_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "MSEG.csv"
    path.write_text(f"{MSEG_HEADER}\n{mseg_line(1, '00000000')}\n", encoding="utf-8")
    assert split_by_day(path, TABLE_SPECS["MSEG"], tmp_path / "parts") == {}


def test_split_by_day_of_a_file_proven_day_first_after_the_sample_places_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A UK Excel re-save whose sample (2,000 lines) shows only days up to the 11th: month-first
    they would be 1 February to 1 November. The 13th after the sample refuses the file, found
    in the reader's pass (here after four chunks were read), before any part is written."""
    monkeypatch.setattr(landing, "SapFileReader", partial(SapFileReader, chunk_rows=500))
    records = [mseg_line(4900000000 + n, f"{1 + n // 200:02d}/01/2025") for n in range(2_010)]
    records.append(mseg_line(4900002010, "13/01/2025"))
    path = tmp_path / "MSEG.csv"
    path.write_text("\r\n".join([MSEG_HEADER, *records]) + "\r\n", encoding="utf-8")
    into = tmp_path / "parts"

    with pytest.raises(SapFileError) as error:
        split_by_day(path, TABLE_SPECS["MSEG"], into)

    assert (error.value.line, error.value.column) == (2_012, "BUDAT_MKPF")
    assert "date '13/01/2025' is no MM/DD/YYYY date" in str(error.value)
    assert not into.exists() or not any(into.iterdir())


def test_split_by_day_of_a_file_proven_day_first_in_another_date_column_places_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The split parses only the partition column as dates. A UK Excel re-save whose creation
    days (ERDAT) never pass the 12th, and whose only proof is a requested delivery date (VDATU)
    after the sample, is refused whole too: month-first, every day would be swapped."""
    monkeypatch.setattr(landing, "SapFileReader", partial(SapFileReader, chunk_rows=500))
    header = "VBELN;AUART;ERDAT;KUNNR;VKORG;VDATU;WAERK"
    records = [
        f"{10_000 + n};TA;{1 + n // 500:02d}/01/2025;C1;1000;01/02/2025;EUR" for n in range(2_010)
    ]
    records.append("12010;TA;05/01/2025;C1;1000;13/02/2025;EUR")
    path = tmp_path / "VBAK.csv"
    path.write_text("\r\n".join([header, *records]) + "\r\n", encoding="utf-8")
    into = tmp_path / "parts"

    with pytest.raises(SapFileError) as error:
        split_by_day(path, TABLE_SPECS["VBAK"], into)

    assert (error.value.line, error.value.column) == (2_012, "VDATU")
    assert "date '13/02/2025' is no MM/DD/YYYY date" in str(error.value)
    assert not into.exists() or not any(into.iterdir())


def test_split_by_day_keeps_interleaved_days_and_records_across_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Days that alternate, runs of a day that cross the reader's chunks (7 records here) and
    the part buffers' flushes (500 bytes here), quoted multi-line records: each part holds its
    day's records in file order, the unreadable days in the earliest day's part even though
    that day comes last, and the cut-off last record keeps its missing line break (the load
    judges it)."""
    monkeypatch.setattr(landing, "_PART_BUFFER", 500)
    monkeypatch.setattr(landing, "SapFileReader", partial(SapFileReader, chunk_rows=7))
    days = [date(2025, 3, d) for d in (5, 6, 7, 8)] + [date(2025, 3, 1)]
    header = f"{MSEG_HEADER}\n"
    expected = dict.fromkeys(days, header)
    records = []
    for i in range(200):
        day = days[(i // 3) % 4] if i < 190 else days[4]
        plant = '"10\n00"' if i % 11 == 5 else "1000"
        written = "2025XX01" if i % 13 == 7 else "00000000" if i % 17 == 3 else f"{day:%Y%m%d}"
        record = mseg_line(4900000000 + i, written, text_plant=plant)
        records.append(record)
        expected[days[4] if written != f"{day:%Y%m%d}" else day] += record + "\n"
    expected[days[4]] = expected[days[4]].removesuffix("\n")  # the file's last record
    path = tmp_path / "MSEG.csv"
    path.write_text(header + "\n".join(records), encoding="utf-8")  # no line break at the end

    parts = split_by_day(path, TABLE_SPECS["MSEG"], tmp_path / "parts")
    assert list(parts) == sorted(days)
    assert {day: p.path.read_text(encoding="utf-8") for day, p in parts.items()} == expected
    # every part line maps back to the delivered line that holds the same text
    delivered = path.read_text(encoding="utf-8").split("\n")
    for part in parts.values():
        text = part.path.read_text(encoding="utf-8").removesuffix("\n").split("\n")
        mapped = part.origin.lines(range(1, len(text) + 1)).tolist()
        assert [delivered[line - 1] for line in mapped] == text

    monkeypatch.setattr(landing, "MAX_LINE_RUNS", 5)  # more runs than kept: records unknown
    kept = split_by_day(path, TABLE_SPECS["MSEG"], tmp_path / "capped")[days[0]].origin
    assert kept.runs is None and kept.lines([1, 2]).tolist() == [1, pd.NA]


def test_a_day_part_of_an_extract_sorted_by_another_key_keeps_its_line_map(
    tmp_path: Path,
) -> None:
    """EKPO is partitioned by its change date AEDAT but exported sorted by EBELN, so its days
    alternate at nearly every record: each part here is cut from 12,500 runs. Before, a part
    of more than 10,000 runs kept no map, and quarantine could not name its lines."""
    days = ("20250102", "20250103")
    header = ";".join(TABLE_SPECS["EKPO"].column_names)
    records = [
        f"{4_500_000_000 + n // 4};{n % 4 + 1}0;M-{n % 7};1000;5,000;ST;12,50;1;{days[n % 2]}"
        for n in range(25_000)
    ]
    path = tmp_path / "EKPO.csv"
    path.write_text("\n".join([header, *records, ""]), encoding="utf-8")

    parts = split_by_day(path, TABLE_SPECS["EKPO"], tmp_path / "parts")
    delivered = path.read_text(encoding="utf-8").split("\n")
    for part in parts.values():
        assert part.origin.runs is not None and len(part.origin.runs) == 12_500
        kept = Origin.of_manifest("EKPO.csv", part.origin.as_manifest())  # via the manifest
        text = part.path.read_text(encoding="utf-8").removesuffix("\n").split("\n")
        mapped = kept.lines(range(1, len(text) + 1)).tolist()
        assert [delivered[line - 1] for line in mapped] == text


def test_a_line_map_of_a_million_runs_is_kept_compact_and_read_back() -> None:
    """A part whose day takes about a record in ten, at random: a run of about one record
    after about ten of other days. Written as [line, count] pairs, as before, its map took
    11 bytes a run in the manifest."""
    assert landing.MAX_LINE_RUNS >= 1_000_000
    rng = np.random.default_rng(7)
    counts, gaps = rng.geometric(0.9, 1_000_000), rng.geometric(0.1, 1_000_000)
    ends = 1 + np.cumsum(gaps + counts)
    origin = Origin("EKPO.csv", 2, np.stack([ends - counts, counts], axis=1))

    stored = origin.as_manifest()
    kept = Origin.of_manifest("EKPO.csv", stored)
    assert len(stored) < 1_500_000  # 1.5 bytes a run
    assert kept.runs is not None and np.array_equal(kept.runs, origin.runs)
    last = 1 + int(counts.sum())  # the part's last line, the last record of the last run
    assert kept.lines([1, 2, last, last + 1]).tolist() == [
        1,
        ends[0] - counts[0],
        ends[-1] - 1,
        pd.NA,
    ]


def test_a_line_map_written_before_runs_were_packed_is_read() -> None:
    pairs = Origin.of_manifest("MSEG.csv", '{"first":3,"runs":[[4,1],[6,2],[8,1]]}')
    assert pairs.lines([1, 2, 3, 4, 5, 6, 7]).tolist() == [1, 2, 4, 6, 7, 8, pd.NA]
    not_kept = Origin.of_manifest("MSEG.csv", '{"first":3,"runs":null}')
    assert not_kept.runs is None and not_kept.lines([2, 3]).tolist() == [2, pd.NA]


_SPLIT_UNDER_A_CAP = """
import json, resource, sys
from functools import partial
from pathlib import Path
from pipelines.ingest import landing
from pipelines.ingest.specs import TABLE_SPECS

big, small, out = map(Path, sys.argv[1:4])
headroom = int(sys.argv[4])
landing.SapFileReader = partial(landing.SapFileReader, chunk_rows=2_000)  # a chunk fits the cap
landing.split_by_day(small, TABLE_SPECS["MSEG"], out / "warm-up")  # every code path, uncapped
with open("/proc/self/status") as status:
    mapped = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (mapped + headroom, mapped + headroom))
parts = landing.split_by_day(big, TABLE_SPECS["MSEG"], out / "parts")
print(json.dumps({str(day): part.path.stat().st_size for day, part in parts.items()}))
"""


def test_split_by_day_streams_a_file_several_times_larger_than_its_memory_cap(
    tmp_path: Path,
) -> None:
    """A subprocess splits a 25 MB file with its address space capped at 8 MB above what it
    had mapped after a warm-up split. Holding the file, as the split did in the sensor's
    process before, needs its size and more: MemoryError."""
    days = [date(2025, 1, 1) + timedelta(days=d) for d in range(30)]
    per_day = 12_000
    header = MSEG_HEADER + "\r\n"
    path, small = tmp_path / "MSEG.csv", tmp_path / "small" / "MSEG.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(header)
        for n, day in enumerate(days):
            stamp = f"{day:%Y%m%d}"
            handle.writelines(
                mseg_line(4_900_000_000 + n * per_day + i, stamp) + "\r\n" for i in range(per_day)
            )
    size = path.stat().st_size
    headroom = 8 << 20
    assert size > 3 * headroom
    small.parent.mkdir()
    with path.open("rb") as handle:
        small.write_bytes(b"".join(handle.readlines(4 << 20)))  # its first 4 MB

    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _SPLIT_UNDER_A_CAP,
            str(path),
            str(small),
            str(tmp_path),
            str(headroom),
        ],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[2],
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    sizes = json.loads(done.stdout)
    assert list(sizes) == [str(day) for day in days]
    assert sum(sizes.values()) == size + (len(days) - 1) * len(header)  # a header on each


# -- landing CSV writer and merge ----------------------------------------------------------------


def test_landing_csv_round_trips_through_the_reader(tmp_path: Path) -> None:
    spec = TABLE_SPECS["VBAP"]
    frame = pd.DataFrame(
        {
            "VBELN": ["0000000001", "0000000001", "SO-X"],
            "POSNR": pd.array([10, 20, 10], dtype="Int64"),
            "MATNR": ["000000000000000042", "AB;C", 'QU"OTE'],
            "WERKS": ["1010", "1020", "1010"],
            "KWMENG": [1234.5, -0.125, np.nan],
            "VRKME": ["ST", None, "KG"],
            "NETWR": [1e-3, 1_000_000.0, 3.0],
            "WAERK": ["EUR", "EUR", "USD"],
            "ERDAT": pd.to_datetime(["2024-01-03", "2024-01-03", "2024-01-03"]),
        }
    )
    data = to_landing_csv(frame, spec)
    text = data.decode("utf-8")
    assert text.startswith("\ufeff" + ";".join(spec.column_names) + "\r\n")
    assert "0000000001;10;000000000000000042;1010;1234,5;ST;0,001;EUR;20240103;\r\n" in text
    assert "0000000001;20;AB;C" not in text and '"AB;C"' in text
    assert ";0,125-;" in text

    path = tmp_path / "VBAP_20240103.csv"
    path.write_bytes(data)
    back = read_rows(path, spec)
    expected = in_spec_columns(frame, spec)
    assert expected["ABGRU"].isna().all()  # the optional column the frame lacks is null
    expected["ABGRU"] = None  # as the reader returns an empty text field
    pd.testing.assert_frame_equal(back, expected, check_dtype=False)


def test_merge_replaces_changed_headers_and_all_items_of_changed_headers() -> None:
    vbak, vbap = TABLE_SPECS["VBAK"], TABLE_SPECS["VBAP"]
    day = pd.Timestamp("2024-01-03")

    def items(rows: list[tuple[str, int, float]]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "VBELN": [r[0] for r in rows],
                "POSNR": pd.array([r[1] for r in rows], dtype="Int64"),
                "MATNR": "M",
                "WERKS": "1010",
                "KWMENG": [r[2] for r in rows],
                "VRKME": "ST",
                "NETWR": 1.0,
                "WAERK": "EUR",
                "ERDAT": day,
            }
        )

    base = items([("0000000001", 10, 1.0), ("0000000001", 20, 2.0), ("0000000002", 10, 3.0)])
    changed = items([("0000000001", 10, 5.0)])  # order 1 now has one item only
    replaced = pd.DataFrame({"VBELN": ["0000000001"]})
    merged = merge_rows(vbap, base, changed, ["VBELN"], replaced)
    assert merged[["VBELN", "POSNR", "KWMENG"]].values.tolist() == [
        ["0000000001", 10, 5.0],
        ["0000000002", 10, 3.0],
    ]

    headers = pd.DataFrame(
        {c: ["0000000002", "0000000001"] if c == "VBELN" else ["A", "B"] for c in vbak.column_names}
    )
    new = headers.iloc[[1]].assign(AUART="ZOR")
    merged = merge_rows(vbak, headers, new, ["VBELN"], new[["VBELN"]])
    assert merged[["VBELN", "AUART"]].values.tolist() == [
        ["0000000001", "ZOR"],
        ["0000000002", "A"],
    ]


def test_a_delta_builds_on_the_newest_waiting_delivery_whatever_its_cursor(
    store: LandingStore,
) -> None:
    """A cursor without milliseconds was written `T120000Z`, which sorted above the later
    `T120000500Z`: the third delta built on the first delivery, and order 2 was lost."""
    spec = TABLE_SPECS["VBAK"]

    def order(number: str) -> pd.DataFrame:
        day = pd.Timestamp("2024-01-05")
        values = {"VBELN": number, "AUART": "OR", "ERDAT": day, "KUNNR": "0000000001"}
        return pd.DataFrame([{**values, "VKORG": "1010", "VDATU": day, "WAERK": "EUR"}])

    cursors = {
        "1": "2024-01-05T12:00:00Z",
        "2": "2024-01-05T12:00:00.500Z",
        "3": "2024-01-05T12:05:00.250Z",
    }
    written = [
        write_delta_files(
            store,
            DeltaExtract(
                DELTA_FEEDS["A_SalesOrder"], cursor, "VBAK", {"VBAK": order(f"000000000{no}")}
            ),
        )
        for no, cursor in cursors.items()
    ]
    with store.local_file(INCOMING, written[-1][0]) as path:
        assert read_rows(path, spec).VBELN.tolist() == ["0000000001", "0000000002", "0000000003"]
    tag = "VBAK_20240105__odata-20240105T{}Z.csv"
    assert written == [
        [tag.format("120000000000")],
        [tag.format("120000500000")],
        [tag.format("120500250000")],
    ]


def test_waiting_deliveries_named_before_tags_had_a_fixed_width_sort_in_time() -> None:
    names = [
        f"VBAK_20240105__odata-20240105T{t}Z.csv"
        for t in ("120000500", "120000", "120000250000", "115959999", "120000500001")
    ]
    assert [n[30:-5] for n in sorted(names, key=delivery_order)] == [
        "115959999",
        "120000",
        "120000250000",
        "120000500",
        "120000500001",
    ]
    days = ["MARD_20240110__odata-20240111.csv", "MARD_20240110__odata-20240109.csv"]
    assert max(days, key=delivery_order) == days[0]  # a daily feed's tag is a day


# -- stores --------------------------------------------------------------------------------------


@pytest.fixture(params=["folder", "fsspec-url"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> LandingStore:
    """The same contract on a local folder and on an fsspec URL (memory:// stands in for s3://)."""
    if request.param == "folder":
        return landing_store(tmp_path)
    return landing_store(f"memory://scp-{uuid.uuid4().hex[:8]}/landing")


def read(store: LandingStore, folder: str, name: str) -> bytes:
    with store.open(folder, name) as handle:
        return handle.read()


def test_landing_store_never_overwrites_and_keeps_the_replaced_file(store: LandingStore) -> None:
    store.write(INCOMING, "MARA.csv", b"new")
    store.write(CURRENT, "MARA.csv", b"old")
    assert [e.name for e in store.list(INCOMING)] == ["MARA.csv"]  # no temporary left behind
    assert [(e.name, e.size) for e in store.list(CURRENT)] == [("MARA.csv", 3)]  # no folders
    store.write(ARCHIVE, "kept.csv", b"x")
    with pytest.raises(FileExistsError):
        store.move(INCOMING, "MARA.csv", ARCHIVE, "kept.csv")
    with pytest.raises(FileExistsError):
        store.replace(INCOMING, "MARA.csv", CURRENT, "MARA.csv", keep_old_as=None)
    store.replace(INCOMING, "MARA.csv", CURRENT, "MARA.csv", keep_old_as="old-MARA.csv")
    assert read(store, CURRENT, "MARA.csv") == b"new"
    assert read(store, ARCHIVE, "old-MARA.csv") == b"old"
    assert store.list(INCOMING) == [] and store.list("missing") == []
    with store.local_file(CURRENT, "MARA.csv") as local:
        assert local.name == "MARA.csv" and local.read_bytes() == b"new"
    store.remove(ARCHIVE, "kept.csv")
    assert not store.exists(ARCHIVE, "kept.csv") and store.exists(ARCHIVE, "old-MARA.csv")


def test_a_store_puts_a_local_file_in_place(store: LandingStore, tmp_path: Path) -> None:
    local = tmp_path / "part.csv"
    local.write_bytes(b"h\r\n1\r\n")
    store.put(STAGING, "MSEG_20250101.csv", local)
    local.write_bytes(b"h\r\n2\r\n")
    store.put(STAGING, "MSEG_20250101.csv", local)  # a staged part is replaced, not refused
    assert read(store, STAGING, "MSEG_20250101.csv") == b"h\r\n2\r\n"
    assert [e.name for e in store.list(STAGING)] == ["MSEG_20250101.csv"]


def test_a_store_names_the_folders_a_drop_folder_holds(store: LandingStore) -> None:
    """A delivery dropped into incoming/sub/ was never read and never named: listings show
    files only. The sensor names such folders (`_nested_warning`)."""
    store.write(INCOMING, "MSEG.csv", b"h\r\n")
    assert store.folders(INCOMING) == [] and store.folders("missing") == []
    store.write(f"{INCOMING}/sub", "MSEG_20250101.csv", b"h\r\n")
    assert store.folders(INCOMING) == ["sub"]
    assert [e.name for e in store.list(INCOMING)] == ["MSEG.csv"]


def test_a_store_listing_changes_when_a_file_grows(store: LandingStore) -> None:
    """Readiness compares (size, mtime) between looks; both stores must expose a change."""
    store.write(INCOMING, "MSEG.csv", b"part")
    before = store.list(INCOMING)
    store.write(INCOMING, "MSEG.csv", b"partial and more")
    after = store.list(INCOMING)
    assert [(e.size, e.mtime_ns) for e in before] != [(e.size, e.mtime_ns) for e in after]
    assert after[0].mtime_ns > 0


def test_landing_store_picks_the_store_by_location(tmp_path: Path) -> None:
    assert isinstance(landing_store(tmp_path), LocalLandingStore)
    assert isinstance(landing_store(f"file://{tmp_path}"), LocalLandingStore)
    assert landing_store(f"file://{tmp_path}").path(INCOMING) == tmp_path / INCOMING
    assert isinstance(landing_store("memory://drop/landing"), FsspecLandingStore)
