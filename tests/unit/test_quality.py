"""The raw quality suites as pure functions: rules read from the specs, GX verdicts on known
frames, and the chunking that keeps key groups whole."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from pipelines.ingest.load import read_ahead
from pipelines.ingest.quality import (
    DEFAULT_UNITS,
    QualityError,
    QualityReport,
    QualityRules,
    Rule,
    SuiteRunner,
    failing_rows,
    split_sorted_chunks,
    table_rules,
    validate_frame,
)
from pipelines.ingest.specs import TABLE_SPECS

MSEG = TABLE_SPECS["MSEG"]
DAY = date(2025, 1, 31)
WINDOW = (DAY, date(2025, 2, 1))
RULES = QualityRules(known_plants=("1000", "1010"))


def mseg_frame(rows: list[dict]) -> pd.DataFrame:
    """Rows in raw shape: a valid goods issue, updated by each dict."""
    base = {
        "mblnr": "4900000001",
        "mjahr": 2025,
        "zeile": 1,
        "bwart": "601",
        "matnr": "000000000000100001",
        "werks": "1000",
        "lgort": "0001",
        "menge": -5.0,
        "meins": "ST",
        "shkzg": "H",
        "dmbtr": -12.5,
        "waers": "EUR",
        "lifnr": None,
        "kunnr": "0000100001",
        "ebeln": None,
        "kdauf": None,
        "budat_mkpf": pd.Timestamp(DAY),
        "_source_file": "MSEG_20250131.csv",
    }
    frame = pd.DataFrame([base | row for row in rows])
    frame["_source_line"] = np.arange(2, len(frame) + 2)
    return frame


def rejects(frame: pd.DataFrame) -> list[tuple[int, str, str]]:
    result = validate_frame(frame, MSEG, RULES, WINDOW)
    assert result.problems == []
    return sorted(
        (int(r.row), r.column_name, r.reason) for r in result.rejects.itertuples(index=False)
    )


def test_rules_are_read_from_the_spec_and_the_business_rules() -> None:
    labels = [rule.label for rule in table_rules(MSEG, RULES, WINDOW)]
    assert labels == [
        "not_null(MBLNR)",
        "not_null(MJAHR)",
        "not_null(ZEILE)",
        "not_null(BWART)",
        "not_null(MATNR)",
        "not_null(WERKS)",
        "not_null(BUDAT_MKPF)",
        "not_null(_source_file)",
        "not_null(_source_line)",
        "unique(MBLNR,MJAHR,ZEILE)",
        "numeric(MJAHR)",
        "numeric(ZEILE)",
        "numeric(MENGE)",
        "numeric(DMBTR)",
        "in_window(BUDAT_MKPF)",
        "in_set(BWART)",
        "in_set(SHKZG)",
        "in_set(MEINS)",
        "in_set(WERKS)",
    ]
    # no window: no date rule; plants not looked up: no plant rule; T001W never checks itself
    assert "in_window(BUDAT_MKPF)" not in [r.label for r in table_rules(MSEG, QualityRules(), None)]
    assert "in_set(WERKS)" not in [r.label for r in table_rules(MSEG, QualityRules(), WINDOW)]
    assert [r.label for r in table_rules(TABLE_SPECS["T001W"], RULES, None)] == [
        "not_null(WERKS)",
        "not_null(_source_file)",
        "not_null(_source_line)",
        "unique(WERKS)",
        "numeric(LATITUDE)",
        "numeric(LONGITUDE)",
    ]
    mbew = [r.label for r in table_rules(TABLE_SPECS["MBEW"], RULES, None)]
    assert "in_set(BWKEY)" in mbew
    assert "in_set(VRKME)" in [r.label for r in table_rules(TABLE_SPECS["VBAP"], RULES, None)]


def test_rules_from_the_environment() -> None:
    assert QualityRules.from_env({}) == QualityRules(DEFAULT_UNITS, None, 0.01)
    custom = QualityRules.from_env(
        {"SCP_QUARANTINE_THRESHOLD": "0.05", "SCP_KNOWN_UNITS": "st, kg"}
    )
    assert (custom.threshold, custom.known_units) == (0.05, ("ST", "KG"))
    with pytest.raises(QualityError, match="SCP_QUARANTINE_THRESHOLD must be a number.*'lots'"):
        QualityRules.from_env({"SCP_QUARANTINE_THRESHOLD": "lots"})
    with pytest.raises(QualityError, match=r"SCP_QUARANTINE_THRESHOLD must be in \[0, 1\]"):
        QualityRules.from_env({"SCP_QUARANTINE_THRESHOLD": "5"})
    with pytest.raises(QualityError, match="SCP_KNOWN_UNITS"):
        QualityRules.from_env({"SCP_KNOWN_UNITS": " , "})
    with pytest.raises(QualityError, match="threshold"):
        QualityRules(threshold=float("nan"))


def test_a_clean_frame_passes() -> None:
    frame = mseg_frame([{"zeile": 1}, {"zeile": 2, "bwart": "101", "shkzg": "S", "menge": 3.0}])
    assert rejects(frame) == []


def test_each_business_rule_rejects_its_rows_with_a_reason() -> None:
    frame = mseg_frame(
        [
            {"zeile": 1},
            {"zeile": 2, "bwart": "999"},
            {"zeile": 3, "werks": "9999"},
            {"zeile": 4, "meins": "XX"},
            {"zeile": 5, "budat_mkpf": pd.Timestamp("2025-02-01")},
            {"zeile": 6, "shkzg": "X"},
            {"zeile": 7, "matnr": None},
            {"zeile": 1},  # the key of row 0 again
        ]
    )
    allowed = ", ".join(MSEG.allowed_values["BWART"])
    units = ", ".join(DEFAULT_UNITS)
    assert rejects(frame) == [
        (1, "BWART", f"value '999' not in allowed values ({allowed})"),
        (2, "WERKS", "plant '9999' not in raw.t001w"),
        (3, "MEINS", f"unit 'XX' not in known units ({units})"),
        (4, "BUDAT_MKPF", "date 2025-02-01 outside partition window [2025-01-31, 2025-02-01)"),
        (5, "SHKZG", "value 'X' not in allowed values (S, H)"),
        (6, "MATNR", "missing required value"),
        (7, "MBLNR,MJAHR,ZEILE", "duplicate key (MBLNR, MJAHR, ZEILE) in the checked window"),
    ]


def test_of_duplicate_keys_the_first_valid_row_is_kept() -> None:
    frame = mseg_frame(
        [
            {"zeile": 1, "werks": "9999"},  # first, but rejected for its plant ...
            {"zeile": 1},  # ... so this one is the key's valid row and stays
            {"zeile": 1},
            {"zeile": 2},
            {"zeile": 2},
        ]
    )
    dup = "duplicate key (MBLNR, MJAHR, ZEILE) in the checked window"
    assert rejects(frame) == [
        (0, "WERKS", "plant '9999' not in raw.t001w"),
        (2, "MBLNR,MJAHR,ZEILE", dup),
        (4, "MBLNR,MJAHR,ZEILE", dup),
    ]


def test_a_row_with_several_problems_is_reported_once_per_problem() -> None:
    frame = mseg_frame([{"bwart": "999", "werks": "9999", "_source_file": None}])
    assert [(row, column) for row, column, _ in rejects(frame)] == [
        (0, "BWART"),
        (0, "WERKS"),
        (0, "_source_file"),
    ]


def test_a_non_numeric_quantity_column_fails_the_table_not_rows() -> None:
    frame = mseg_frame([{"zeile": 1}, {"zeile": 2}])
    frame["menge"] = ["5,000-", "3"]  # text where the raw DDL promises DOUBLE
    result = validate_frame(frame, MSEG, RULES, WINDOW)
    assert len(result.rejects) == 0
    assert result.problems == ["column MENGE is not numeric (dtype object)"]


def test_a_suite_is_reused_across_chunks() -> None:
    runner = SuiteRunner(MSEG, table_rules(MSEG, RULES, WINDOW))
    first = runner.validate(mseg_frame([{"zeile": 1}, {"zeile": 2, "bwart": "999"}]))
    second = runner.validate(mseg_frame([{"zeile": 3, "werks": "2000"}, {"zeile": 4}]))
    assert first.rejects["row"].tolist() == [1] and first.unexpected["in_set(BWART)"] == 1
    assert second.rejects["row"].tolist() == [0] and second.unexpected["in_set(WERKS)"] == 1
    assert second.unexpected["in_set(BWART)"] == 0


def test_sorted_chunks_never_split_a_key_group() -> None:
    keys = [1, 1, 2, 2, 2, 3, 4, 4, None, None]
    schema = pa.schema({"k": pa.int64(), "v": pa.int64()})
    batches = [
        pa.RecordBatch.from_pydict({"k": keys[i : i + 2], "v": [i, i + 1]}, schema=schema)
        for i in range(0, len(keys), 2)
    ]
    chunks = list(split_sorted_chunks(batches, ["k"], chunk_rows=2))
    assert [chunk.column("k").to_pylist() for chunk in chunks] == [
        [1, 1],
        [2, 2, 2],
        [3],
        [4, 4, None, None],  # null keys are rejected anyway: no group to wait for
    ]
    assert sum(c.num_rows for c in chunks) == len(keys)
    whole = list(split_sorted_chunks(batches, ["k"], chunk_rows=100))
    assert [c.num_rows for c in whole] == [10]
    assert list(split_sorted_chunks([], ["k"], chunk_rows=2)) == []


def test_read_ahead_prepares_the_next_item_while_this_one_is_handled() -> None:
    """The check validates a chunk while the next is read on a thread; errors surface in turn."""
    made: list[int] = []
    second_ready = threading.Event()

    def items() -> Iterator[int]:
        for n in (1, 2, 3):
            made.append(n)
            if n == 2:
                second_ready.set()
            if n == 3:
                raise RuntimeError("chunk 3 unreadable")
            yield n

    seen: list[int] = []
    with ThreadPoolExecutor(1) as thread, pytest.raises(RuntimeError, match="chunk 3"):
        for item in read_ahead(items(), thread):
            if item == 1:
                assert second_ready.wait(5), "item 2 was not read while item 1 was handled"
            seen.append(item)
    assert seen == [1, 2]
    assert made == [1, 2, 3]


def test_the_loaders_check_fails_a_refused_files_day_and_the_pooled_share_every_day() -> None:
    """A refused file fails its own day only: its rows never reached raw, and the days loaded
    beside it in a range run must flow downstream. Many files with a rejected row each fail
    every day of the load."""
    from pipelines.ingest.assets import _check_results
    from pipelines.ingest.load import FileLoad, LoadReport

    good = [FileLoad(f"MSEG_2025010{d}.csv", "0" * 64, 10, {}, 1000, 1000, 0) for d in (6, 7)]
    broken = FileLoad("MSEG_20250108.csv", "1" * 64, 10, {}, 10, 0, 10, refused=True)
    report = LoadReport("raw.mseg", [*good, broken], 0.01)
    assert report.failures() == {"2025-01-08": "10 of 10 rows rejected (100.00% > 1.00%)"}
    assert report.accepted_share == 0.0
    (check,) = _check_results(report)
    assert not check.passed
    assert check.metadata["quarantined_share"].value == round(10 / 2010, 6)
    assert check.metadata["refused_files"].value == {
        "MSEG_20250108.csv": "10 of 10 rows rejected (100.00% > 1.00%)"
    }
    assert LoadReport("raw.mseg", good, 0.01).failures() == {}
    one_bad_each = [FileLoad(f"MSEG_2025010{d}.csv", "2" * 64, 10, {}, 20, 19, 1) for d in (6, 7)]
    pooled = LoadReport("raw.mseg", one_bad_each, 0.01).failures()
    assert pooled == {None: "5.00% of the rows of the files loaded were rejected (threshold 1.00%)"}


def test_a_window_fails_on_one_broken_file_however_good_the_rest() -> None:
    report = QualityReport("raw.mseg", None, [], 0.01, rows_checked=10_000, rows_rejected=40)
    report.rows_by_file = {"MSEG_20250106.csv": 9_950, "MSEG_20250107.csv": 50}
    report.rejected_by_file = {"MSEG_20250107.csv": 40}
    assert report.quarantined_share == 0.004  # pooled: under 1 %
    assert report.files_over_threshold == {"MSEG_20250107.csv": 0.8}
    assert not report.passed
    report.rejected_by_file = {"MSEG_20250107.csv": 1}  # one row of a small day is tolerated
    report.rows_rejected = 1
    assert report.passed


def test_failing_rows_counts_each_row_once_and_a_null_as_no_value() -> None:
    """What a load adds to a file's rejected rows (`load_table`'s refusal): rows outside any
    value set, once however many sets they miss; a null is for not-null rules to judge."""
    chunk = pa.table(
        {
            "WERKS": pa.array(["1000", "9999", None, "9999"]),
            "MEINS": pa.array(["ST", "ST", "XX", "XX"]),
        }
    )
    rules = [
        Rule("in_set", ("WERKS",), ("1000",), source="raw.t001w"),
        Rule("in_set", ("MEINS",), ("ST", "KG"), source="SCP_KNOWN_UNITS"),
    ]
    assert failing_rows(chunk, rules) == (3, {"in_set(WERKS)": 2, "in_set(MEINS)": 2})
    assert failing_rows(chunk, []) == (0, {})
