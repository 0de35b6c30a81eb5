"""The SAP flat-file reader against files written here in every format real extracts use."""

from __future__ import annotations

import codecs
import csv
import io
import json
import tracemalloc
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.ingest.reader import (
    CUT_SHORT,
    DATE_FORMATS,
    DetectedFormat,
    ReaderSettings,
    SapFileError,
    SapFileReader,
    alpha_too_long,
    normalize_alpha,
    parse_sap_date,
    parse_sap_number,
    rows_schema,
    safe_landing_name,
)
from pipelines.ingest.specs import TABLE_SPECS, Column, TableSpec

#: A small spec with every column kind, a required date partition column and allowed values.
SPEC = TableSpec(
    "ZTEST",
    "Reader test table",
    (
        Column("DOCNR", "alpha", "Document", "Document number", True, 10),
        Column("POSNR", "integer", "Item", "Item", True),
        Column("MATNR", "alpha", "Material", "Material", False, 18),
        Column("NAME1", "text", "Name", "Free text"),
        Column("MENGE", "decimal", "Quantity", "Quantity"),
        Column("BUDAT", "date", "Posting Date", "Posting date", True),
        Column("BLDAT", "date", "Document Date", "Optional date"),
        Column("BWART", "text", "Movement Type", "Movement type"),
    ),
    key=("DOCNR", "POSNR"),
    partition_column="BUDAT",
    allowed_values={"BWART": ("101", "601")},
)
TECHNICAL = SPEC.column_names
GOOD = ["4711", "10", "1234", "Müller", "1.234,50", "20250115", "00000000", "101"]

ROWS = [
    # typed values, rendered in every format; the ALPHA columns read back as EXPECTED_ALPHA
    dict(DOCNR="4711", POSNR=10, MATNR="1234", NAME1="Müller & Söhne", MENGE=1234.5,
         BUDAT=date(2025, 1, 15), BLDAT=date(2025, 1, 14), BWART="101"),
    dict(DOCNR="ab-1", POSNR=20, MATNR="mat-x", NAME1=None, MENGE=-1234567.25,
         BUDAT=date(2024, 2, 29), BLDAT=None, BWART="601"),
    dict(DOCNR="0000004712", POSNR=30, MATNR=None, NAME1="plain", MENGE=None,
         BUDAT=date(2025, 12, 31), BLDAT=None, BWART=None),
    dict(DOCNR="9", POSNR=1, MATNR="000000000000000042", NAME1="x", MENGE=0.001,
         BUDAT=date(2025, 1, 1), BLDAT=date(2000, 1, 1), BWART="101"),
]  # fmt: skip
EXPECTED_ALPHA = {
    "DOCNR": ["0000004711", "AB-1", "0000004712", "0000000009"],
    "MATNR": ["000000000000001234", "MAT-X", None, "000000000000000042"],
}

NUMBER_STYLES = {
    # name: (decimal, thousands, minus at the end)
    "de": (",", ".", True),
    "en": (".", ",", False),
    "de-plain": (",", "", True),
    "space": (",", " ", True),
}


def render_number(value: float | None, style: str) -> str:
    if value is None:
        return ""
    decimal, thousands, trailing = NUMBER_STYLES[style]
    text = f"{abs(value):,.3f}".rstrip("0").rstrip(".")
    whole, _, fraction = text.partition(".")
    whole = whole.replace(",", thousands)
    body = whole + (decimal + fraction if fraction else "")
    if value >= 0:
        return body
    return body + "-" if trailing else "-" + body


def render_date(value: date | None, fmt: str) -> str:
    if value is None:
        return "00000000" if fmt == "YYYYMMDD" else ""
    if fmt == "ISO":
        return value.isoformat()
    return value.strftime(fmt.replace("YYYY", "%Y").replace("MM", "%m").replace("DD", "%d"))


def write_extract(
    path: Path,
    header: list[str],
    records: list[list[str]],
    separator: str = ";",
    encoding: str = "utf-8",
    newline: str = "\n",
) -> Path:
    """Write like SAP GUI does: csv quoting only where needed, the given encoding/newline."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=separator, lineterminator=newline)
    writer.writerow(header)
    writer.writerows(records)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def write_lines(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_bytes("".join(line + "\n" for line in lines).encode(encoding))
    return path


def read_all(path: Path, spec: TableSpec = SPEC, **kwargs) -> tuple[pd.DataFrame, pd.DataFrame]:
    chunks = list(SapFileReader(path, spec, **kwargs).chunks())
    rows = [c.rows for c in chunks]
    rejects = [c.rejects for c in chunks]
    return (
        pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(),
        pd.concat(rejects, ignore_index=True) if rejects else pd.DataFrame(),
    )


def good_file(tmp_path: Path, records: list[list[str]], name: str = "ZTEST_20250115.csv") -> Path:
    return write_lines(tmp_path / name, [";".join(TECHNICAL), *(";".join(r) for r in records)])


def with_value(column: str, value: str, base: list[str] = GOOD) -> list[str]:
    record = list(base)
    record[TECHNICAL.index(column)] = value
    return record


def only_reject(rejects: pd.DataFrame) -> pd.Series:
    assert len(rejects) == 1, rejects.to_dict("records")
    return rejects.iloc[0]


# -- round trip of every format variant ------------------------------------------------------


def expected_frame(file_name: str, lines: list[int]) -> pd.DataFrame:
    frame = pd.DataFrame(ROWS).astype(object)
    for column, values in EXPECTED_ALPHA.items():
        frame[column] = values
    frame["_source_file"] = file_name
    frame["_source_line"] = lines
    frame = frame.where(frame.notna(), None)
    return frame.astype(rows_schema(SPEC))


@pytest.mark.parametrize("header", ["technical", "label"])
@pytest.mark.parametrize("date_format", ["YYYYMMDD", "DD.MM.YYYY", "ISO"])
@pytest.mark.parametrize("style", list(NUMBER_STYLES))
@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "cp1252"])
@pytest.mark.parametrize("separator", [";", ",", "\t", "|"])
def test_round_trip_every_format_variant(
    tmp_path: Path, separator: str, encoding: str, style: str, date_format: str, header: str
) -> None:
    names = TECHNICAL if header == "technical" else [c.label for c in SPEC.columns]
    records = [
        [
            row["DOCNR"],
            str(row["POSNR"]),
            row["MATNR"] or "",
            row["NAME1"] or "",
            render_number(row["MENGE"], style),
            render_date(row["BUDAT"], date_format),
            render_date(row["BLDAT"], date_format),
            row["BWART"] or "",
        ]
        for row in ROWS
    ]
    newline = "\r\n" if encoding == "cp1252" else "\n"  # SAP GUI on Windows writes CRLF
    path = write_extract(
        tmp_path / "ZTEST_x.csv", names, records, separator, encoding, newline=newline
    )

    reader = SapFileReader(path, SPEC)
    rows, rejects = read_all(path)

    decimal, thousands, _ = NUMBER_STYLES[style]
    assert reader.detected == DetectedFormat(
        separator=separator,
        encoding=encoding,
        decimal=decimal,
        thousands=thousands or ("." if decimal == "," else ","),  # none seen: the usual mark
        date_format=date_format,
        header=header,
        extra_columns=(),
    )
    assert rejects.empty, rejects.to_dict("records")
    pd.testing.assert_frame_equal(rows, expected_frame("ZTEST_x.csv", [2, 3, 4, 5]))

    configured = ReaderSettings(
        separator=separator,
        encoding=encoding,
        decimal=decimal,
        thousands=thousands,
        date_format=date_format,
        header=header,
    )
    again, _ = read_all(path, settings=configured)
    pd.testing.assert_frame_equal(again, rows)


def test_detected_format_as_metadata_is_readable(tmp_path: Path) -> None:
    path = write_extract(tmp_path / "Z.csv", [*TECHNICAL, "ZZEXTRA"], [[*GOOD, "1"]], "\t")
    assert SapFileReader(path, SPEC).detected.as_metadata() == {
        "separator": "tab",
        "encoding": "utf-8",
        "decimal": ",",
        "thousands": ".",
        "date_format": "YYYYMMDD",
        "header": "technical",
        "extra_columns": "ZZEXTRA",
        "missing_columns": "none",
        "literal_quotes": "none",
        "title_lines": "none",
        "repeated_headers": "none",
        "totals_lines": "none",
        "trailing_separators": "none",
    }


# -- value formats ---------------------------------------------------------------------------


def test_numbers_with_thousands_marks_and_either_minus() -> None:
    values = pd.Series(["1.234,50", "1.234,50-", "-1.234,50", "12,5", "7", ",5", "", None])
    numbers, invalid = parse_sap_number(values, decimal=",", thousands=".")
    assert numbers.tolist()[:6] == [1234.5, -1234.5, -1234.5, 12.5, 7.0, 0.5]
    assert numbers.iloc[6:].isna().all()
    assert not invalid.any()

    english, invalid = parse_sap_number(pd.Series(["1,234.50", "1,234.50-", "-0.25"]), ".", ",")
    assert english.tolist() == [1234.5, -1234.5, -0.25]
    assert not invalid.any()

    spaced, invalid = parse_sap_number(pd.Series(["1 234,50", "1\u00a0234\u00a0567,5-"]), ",", " ")
    assert spaced.tolist() == [1234.5, -1234567.5]
    assert not invalid.any()


@pytest.mark.parametrize(
    "bad", ["12x", "1.2.3", "1.23,4", "--5", "-5-", "1e5", "inf", "nan", "1,2,3", "-", "5 5"]
)
def test_malformed_numbers_are_invalid_and_do_not_disturb_the_rest(bad: str) -> None:
    """One bad value sends the column down the checked path; both paths give equal results."""
    good = ["1.234,50-", "0,001", "12.345.678,9", "+3"]
    numbers, invalid = parse_sap_number(pd.Series([*good, bad]), ",", ".")
    assert invalid.tolist() == [False, False, False, False, True]
    assert np.isnan(numbers.iloc[4])
    fast, fast_invalid = parse_sap_number(pd.Series(good), ",", ".")
    assert numbers.iloc[:4].tolist() == fast.tolist() == [-1234.5, 0.001, 12345678.9, 3.0]
    assert not fast_invalid.any()


@pytest.mark.parametrize("separator", [";", "\t"])
def test_numbers_that_fit_either_format_refuse_the_file_without_evidence(
    tmp_path: Path, separator: str
) -> None:
    """`1.000` and `2.500` are a thousand or one. The separator does not tell (an English logon
    writes `;` files too, and a guess is off by a factor of 1,000), so without a value or SAP
    decimals to tell (MENGE of this spec has none), the file is refused; configuration decides."""
    records = [
        with_value("MENGE", "1.000"),
        with_value("POSNR", "20", with_value("MENGE", "2.500")),
    ]
    path = write_extract(tmp_path / "Z.csv", TECHNICAL, records, separator)
    with pytest.raises(
        SapFileError, match=r"'1.000' is 1000 if '.' groups thousands, 1 if"
    ) as error:
        SapFileReader(path, SPEC)
    assert (error.value.line, error.value.column) == (2, "MENGE")
    assert "ReaderSettings(decimal=',', thousands='.')" in str(error.value)
    assert "SCP_DECIMAL_NOTATION" in str(error.value)
    for decimal, readings in [(",", [1000.0, 2500.0]), (".", [1.0, 2.5])]:
        rows, rejects = read_all(path, settings=ReaderSettings(decimal=decimal))
        assert rejects.empty and rows["MENGE"].tolist() == readings


def test_the_site_notation_decides_only_what_a_file_does_not_show(tmp_path: Path) -> None:
    """SCP_DECIMAL_NOTATION (the exporting user's SU01 default) reads an unclear file; a file
    whose numbers show their decimal mark is read as they show."""
    unclear = write_extract(
        tmp_path / "Z.csv",
        TECHNICAL,
        [with_value("MENGE", "1.000"), with_value("POSNR", "20", with_value("MENGE", "2.500"))],
    )
    german = ReaderSettings.from_env({"SCP_DECIMAL_NOTATION": "1.234.567,89"})
    english = ReaderSettings.from_env({"SCP_DECIMAL_NOTATION": "1,234,567.89"})
    assert read_all(unclear, settings=german)[0]["MENGE"].tolist() == [1000.0, 2500.0]
    assert read_all(unclear, settings=english)[0]["MENGE"].tolist() == [1.0, 2.5]
    clear = write_extract(
        tmp_path / "Y.csv",
        TECHNICAL,
        [with_value("MENGE", "1.000"), with_value("POSNR", "20", with_value("MENGE", "2,5"))],
    )
    assert read_all(clear, settings=english)[0]["MENGE"].tolist() == [1000.0, 2.5]
    assert ReaderSettings.from_env({}) == ReaderSettings()
    with pytest.raises(ValueError, match="SCP_DECIMAL_NOTATION must be one of .*got '1234,5'"):
        ReaderSettings.from_env({"SCP_DECIMAL_NOTATION": "1234,5"})


def test_one_value_showing_the_decimal_comma_reads_points_as_thousands(tmp_path: Path) -> None:
    """What a `;` file's `1.000` is when the sample shows it: `2,5` makes ',' the decimal."""
    records = [
        with_value("MENGE", "1.000"),
        with_value("POSNR", "20", with_value("MENGE", "2,5")),
    ]
    rows, rejects = read_all(write_extract(tmp_path / "Z.csv", TECHNICAL, records))
    assert rejects.empty and rows["MENGE"].tolist() == [1000.0, 2.5]


def test_dates_in_every_format_with_zero_and_empty_as_null() -> None:
    cases = {
        "YYYYMMDD": ["20250115", "00000000", "", "20240229"],
        "DD.MM.YYYY": ["15.01.2025", "00.00.0000", "", "29.02.2024"],
        "ISO": ["2025-01-15", "0000-00-00", "", "2024-02-29"],
    }
    for fmt, values in cases.items():
        dates, invalid = parse_sap_date(pd.Series(values), fmt)
        assert dates.dtype == "datetime64[ns]"
        assert dates.iloc[0] == pd.Timestamp(2025, 1, 15)
        assert pd.isna(dates.iloc[1]) and pd.isna(dates.iloc[2])
        assert dates.iloc[3] == pd.Timestamp(2024, 2, 29)
        assert not invalid.any(), fmt
    with_time, invalid = parse_sap_date(pd.Series(["2025-01-15T10:30:00", "2025-01-16"]), "ISO")
    assert with_time.tolist() == [pd.Timestamp(2025, 1, 15), pd.Timestamp(2025, 1, 16)]
    assert not invalid.any()


def written_as(fmt: str, year: str, month: str, day: str) -> str:
    """A date of any digits (`13` as month) in the shape of `fmt`."""
    pattern = "YYYY-MM-DD" if fmt == "ISO" else fmt
    return pattern.replace("YYYY", year).replace("MM", month).replace("DD", day)


@pytest.mark.parametrize("fmt", DATE_FORMATS)
def test_saps_initial_date_00000000_is_null_in_every_format(fmt: str) -> None:
    """SAP writes "no date" as 00000000 whatever its user's date format (a US logon's LIKP:
    WADAT_IST `00000000` beside `01/16/2025`); the format's own zeros and blank are null too."""
    values = [render_date(date(2025, 1, 16), fmt), "00000000", written_as(fmt, "0000", "00", "00")]
    dates, invalid = parse_sap_date(pd.Series([*values, ""]), fmt)
    assert dates.tolist() == [pd.Timestamp(2025, 1, 16), pd.NaT, pd.NaT, pd.NaT]
    assert not invalid.any()


def test_initial_dates_do_not_decide_the_date_format(tmp_path: Path) -> None:
    """`00000000` shows no format: an optional date left initial in every record (BLDAT
    here) does not outvote the dates that show MM/DD/YYYY."""
    records = [with_value("POSNR", posnr, with_value("BUDAT", "01/16/2025")) for posnr in "12"]
    path = good_file(tmp_path, records)  # BLDAT 00000000
    rows, rejects = read_all(path)
    assert SapFileReader(path, SPEC).detected.date_format == "MM/DD/YYYY"
    assert rejects.empty, rejects.to_dict("records")
    assert rows["BUDAT"].tolist() == [pd.Timestamp(2025, 1, 16)] * 2
    assert rows["BLDAT"].isna().all()


@pytest.mark.parametrize("fmt", DATE_FORMATS)
def test_every_date_format_reads_the_same_on_the_fast_and_the_checked_path(fmt: str) -> None:
    """Each format's own digit order: `12/01/2025` is 1 December as MM/DD/YYYY, 12 January as
    DD/MM/YYYY; all zeros and blank are null. A malformed value sends the column through the
    checked path, which reads the others the same."""
    days = [date(2025, 12, 1), date(2024, 2, 29), date(1999, 1, 31), date(2025, 1, 12), None]
    values = [render_date(day, fmt) for day in days] + [written_as(fmt, "0000", "00", "00")]
    expected = [pd.Timestamp(day) if day else pd.NaT for day in days] + [pd.NaT]
    fast, fast_invalid = parse_sap_date(pd.Series(values), fmt)
    assert fast.tolist() == expected and not fast_invalid.any()
    bad = ["1.1.25", written_as(fmt, "2025", "13", "01")]
    checked, checked_invalid = parse_sap_date(pd.Series(values + bad), fmt)
    assert checked.tolist() == expected + [pd.NaT, pd.NaT]
    assert checked_invalid.tolist() == [False] * len(values) + [True, True]


@pytest.mark.parametrize(
    ("dates", "fmt"),
    [
        (["1/5/2025", "12/31/2025", "2/3/2025"], "MM/DD/YYYY"),
        (["5.1.2025", "31.12.2025", "03.2.2025"], "DD.MM.YYYY"),
        (["2025-1-5", "2025-12-31", "2025-2-03"], "ISO"),
    ],
)
def test_dates_with_a_one_digit_day_or_month_are_read(
    tmp_path: Path, dates: list[str], fmt: str
) -> None:
    """Excel writes dates without leading zeros in some locales (US: 1/5/2025)."""
    records = [with_value("POSNR", str(i), with_value("BUDAT", d)) for i, d in enumerate(dates)]
    path = good_file(tmp_path, records)
    rows, rejects = read_all(path)
    assert SapFileReader(path, SPEC).detected.date_format == fmt
    assert rejects.empty, rejects.to_dict("records")
    expected = [(2025, 1, 5), (2025, 12, 31), (2025, 2, 3)]
    assert rows["BUDAT"].tolist() == [pd.Timestamp(*day) for day in expected]


def test_a_configured_day_first_format_reads_one_digit_months(tmp_path: Path) -> None:
    records = [
        with_value("POSNR", str(i), with_value("BUDAT", d))
        for i, d in enumerate(["15/3/2025", "1/4/2025"])
    ]
    path = good_file(tmp_path, records)
    rows, rejects = read_all(path, settings=ReaderSettings(date_format="DD/MM/YYYY"))
    assert rejects.empty, rejects.to_dict("records")
    assert rows["BUDAT"].tolist() == [pd.Timestamp(2025, 3, 15), pd.Timestamp(2025, 4, 1)]


def test_a_file_whose_sampled_dates_have_no_known_format_is_refused(tmp_path: Path) -> None:
    records = [with_value("POSNR", "1", with_value("BUDAT", "Jan 15, 2025"))]
    with pytest.raises(SapFileError) as refused:
        SapFileReader(good_file(tmp_path, records), SPEC)
    assert "date 'Jan 15, 2025' has none of the date formats read (YYYYMMDD, " in str(refused.value)
    assert (refused.value.line, refused.value.column) == (2, "BUDAT")


@pytest.mark.parametrize("fmt", ["MM/DD/YYYY", "MM-DD-YYYY", "YYYY.MM.DD", "YYYY/MM/DD"])
def test_sap_user_date_formats_are_detected(tmp_path: Path, fmt: str) -> None:
    """SU01 date formats 2 to 5: how a US (or other) SAP logon exports dates."""
    records = [
        [row["DOCNR"], str(row["POSNR"]), row["MATNR"] or "", row["NAME1"] or "",
         render_number(row["MENGE"], "de"), render_date(row["BUDAT"], fmt),
         render_date(row["BLDAT"], fmt), row["BWART"] or ""]
        for row in ROWS
    ]  # fmt: skip
    path = write_extract(tmp_path / "ZTEST_x.csv", TECHNICAL, records)
    reader = SapFileReader(path, SPEC)
    rows, rejects = read_all(path)
    assert reader.detected.date_format == fmt
    assert rejects.empty, rejects.to_dict("records")
    pd.testing.assert_frame_equal(rows, expected_frame("ZTEST_x.csv", [2, 3, 4, 5]))


@pytest.mark.parametrize("mark", ["/", "-"])
def test_a_day_first_excel_file_is_refused_unless_configured(tmp_path: Path, mark: str) -> None:
    """Excel in a UK locale writes 13/01/2025. SAP never does, so it is never detected: a
    sampled date that only day-first reads refuses the file, naming how to read it."""
    month_first, day_first = f"MM{mark}DD{mark}YYYY", f"DD{mark}MM{mark}YYYY"
    undated = with_value("BLDAT", "")
    records = [
        with_value("BUDAT", written_as(day_first, "2025", "01", "05"), undated),
        with_value(
            "POSNR", "20", with_value("BUDAT", written_as(day_first, "2025", "01", "13"), undated)
        ),
    ]
    path = good_file(tmp_path, records)
    with pytest.raises(SapFileError) as error:
        SapFileReader(path, SPEC)
    assert (error.value.line, error.value.column) == (3, "BUDAT")
    assert f"date '13{mark}01{mark}2025' is no {month_first} date" in str(error.value)
    assert f"but {day_first}, which Excel writes" in str(error.value)
    assert f"set date_format '{day_first}'" in str(error.value)
    rows, rejects = read_all(path, settings=ReaderSettings(date_format=day_first))
    assert rejects.empty, rejects.to_dict("records")
    assert rows["BUDAT"].tolist() == [pd.Timestamp(2025, 1, 5), pd.Timestamp(2025, 1, 13)]
    assert rows["BLDAT"].isna().all()


@pytest.mark.parametrize(("mark", "column"), [("/", "BUDAT"), ("-", "BLDAT")])
def test_a_day_first_date_after_the_sample_refuses_the_file(
    tmp_path: Path, mark: str, column: str
) -> None:
    """An Excel UK re-save sorted by date whose sample (2,000 lines) shows only days up to the
    11th, which read month-first: the first `13/01/2025` after it proves the whole file
    day-first, so it is refused (every earlier date had day and month swapped), not rejected
    as one impossible date; in any date column, and after chunks were already read."""
    day_first = f"DD{mark}MM{mark}YYYY"

    def record(posnr: int, day: int, late_day: int | None = None) -> list[str]:
        """A record of January `day`, and of `late_day` in `column` if given."""
        dates = {"BUDAT": day, "BLDAT": None} | ({column: late_day} if late_day else {})
        values = with_value("POSNR", str(posnr))
        for name, of_january in dates.items():
            text = written_as(day_first, "2025", "01", f"{of_january:02d}") if of_january else ""
            values = with_value(name, text, values)
        return values

    records = [record(n, 1 + n // 200) for n in range(2_010)] + [record(2_010, 11, late_day=13)]
    path = good_file(tmp_path, records)
    reader = SapFileReader(path, SPEC, chunk_rows=500)
    assert reader.detected.date_format == f"MM{mark}DD{mark}YYYY"
    chunks = reader.chunks()
    assert len(next(chunks).rows) == 500  # read month-first, until the file shows otherwise
    with pytest.raises(SapFileError) as error:
        list(chunks)
    assert (error.value.line, error.value.column) == (2_012, column)
    assert f"date '13{mark}01{mark}2025' is no MM{mark}DD{mark}YYYY date" in str(error.value)
    assert f"set date_format '{day_first}'" in str(error.value)
    rows, rejects = read_all(path, settings=ReaderSettings(date_format=day_first))
    assert rejects.empty, rejects.to_dict("records")
    assert rows["BUDAT"].dt.month.unique().tolist() == [1]


@pytest.mark.parametrize("mark", ["/", "-"])
def test_a_day_first_date_order_reads_excel_files_and_refuses_saps_month_first(
    tmp_path: Path, mark: str
) -> None:
    """SCP_DATE_ORDER=day-first (a landing zone fed by Excel in a UK locale): `05/01/2025` is
    5 January without any date of the file showing it; a file that proves itself month-first
    (`01/13/2025`, SAP's US format), in the sample or after it, is refused the other way round.
    Formats that show their order are read as before."""
    day_first = ReaderSettings.from_env({"SCP_DATE_ORDER": "day-first"})
    assert day_first == ReaderSettings(date_order="day-first")
    undated = with_value("BLDAT", "")
    ambiguous = good_file(
        tmp_path,
        [
            with_value("BUDAT", f"05{mark}01{mark}2025", undated),
            with_value("POSNR", "20", with_value("BUDAT", f"12{mark}11{mark}2025", undated)),
        ],
    )
    assert SapFileReader(ambiguous, SPEC, day_first).detected.date_format == (
        f"DD{mark}MM{mark}YYYY"
    )
    rows, rejects = read_all(ambiguous, settings=day_first)
    assert rejects.empty, rejects.to_dict("records")
    assert rows["BUDAT"].tolist() == [pd.Timestamp(2025, 1, 5), pd.Timestamp(2025, 11, 12)]
    assert read_all(ambiguous)[0]["BUDAT"].tolist() == [
        pd.Timestamp(2025, 5, 1),
        pd.Timestamp(2025, 12, 11),
    ]

    def record(posnr: int, day: int, month: int = 1) -> list[str]:
        values = with_value("POSNR", str(posnr), undated)
        return with_value("BUDAT", f"{month:02d}{mark}{day:02d}{mark}2025", values)

    us_export = tmp_path / "us"
    us_export.mkdir()
    late = good_file(
        us_export, [record(n, 1 + n // 200) for n in range(2_010)] + [record(2_010, 13)]
    )
    reader = SapFileReader(late, SPEC, day_first, chunk_rows=500)
    assert len(next(reader.chunks()).rows) == 500
    with pytest.raises(SapFileError) as error:
        list(SapFileReader(late, SPEC, day_first, chunk_rows=500).chunks())
    assert (error.value.line, error.value.column) == (2_012, "BUDAT")
    message = str(error.value)
    assert f"date '01{mark}13{mark}2025' is no DD{mark}MM{mark}YYYY date" in message
    assert "SCP_DATE_ORDER=day-first" in message
    assert f"set date_format 'MM{mark}DD{mark}YYYY'" in message
    rows, rejects = read_all(late)
    assert rejects.empty and rows["BUDAT"].dt.month.unique().tolist() == [1]

    clear = good_file(tmp_path, [with_value("BUDAT", "31.01.2025", undated)], "ZTEST_x.csv")
    assert read_all(clear, settings=day_first)[0]["BUDAT"].tolist() == [pd.Timestamp(2025, 1, 31)]
    with pytest.raises(ValueError, match="SCP_DATE_ORDER must be one of month-first, day-first"):
        ReaderSettings.from_env({"SCP_DATE_ORDER": "DMY"})
    with pytest.raises(ValueError, match="settings.date_order must be one of"):
        SapFileReader(clear, SPEC, ReaderSettings(date_order="dmy"))


def test_slash_dates_that_could_be_either_read_as_saps_month_first(tmp_path: Path) -> None:
    """No sampled part above 12: SAP has no day-first format, so `01/02/2025` is 2 January."""
    records = [
        with_value("BUDAT", "01/02/2025", with_value("BLDAT", "")),
        with_value("POSNR", "20", with_value("BUDAT", "12/11/2025", with_value("BLDAT", ""))),
    ]
    path = good_file(tmp_path, records)
    rows, rejects = read_all(path)
    assert SapFileReader(path, SPEC).detected.date_format == "MM/DD/YYYY"
    assert rejects.empty, rejects.to_dict("records")
    assert rows["BUDAT"].tolist() == [pd.Timestamp(2025, 1, 2), pd.Timestamp(2025, 12, 11)]


def test_impossible_and_malformed_dates_are_invalid() -> None:
    values = pd.Series(["20250231", "20230229", "20251301", "2025011", "15.01.2025", "99991230"])
    dates, invalid = parse_sap_date(values, "YYYYMMDD")
    assert invalid.all()
    assert dates.isna().all()


def test_sap_open_date_is_no_date_unless_the_date_is_required(tmp_path: Path) -> None:
    """SAP writes 9999-12-31 for "unlimited": beyond datetime64[ns], it once rejected the row.
    An optional date reads it as null; a required one (the posting date) rejects it, naming it."""
    dates, invalid = parse_sap_date(pd.Series(["99991231", "31.12.9999"]), "YYYYMMDD")
    assert dates.isna().all() and invalid.tolist() == [False, True]
    assert not parse_sap_date(pd.Series(["31.12.9999"]), "DD.MM.YYYY")[1].any()
    records = [
        with_value("POSNR", "1", with_value("BLDAT", "99991231")),
        with_value("POSNR", "2", with_value("BUDAT", "99991231")),
    ]
    rows, rejects = read_all(good_file(tmp_path, records))
    assert rows["POSNR"].tolist() == [1] and rows["BLDAT"].isna().all()
    reject = only_reject(rejects)
    assert (reject.column_name, reject.reason) == (
        "BUDAT",
        "SAP's open date '99991231' where a date is required",
    )


def test_every_date_of_the_supported_range_reads_as_itself(tmp_path: Path) -> None:
    """The range's ends fit datetime64[ns] to the day; a date taken through ns to days once
    turned 1677-09-22 into 2262-04-11."""
    dates, invalid = parse_sap_date(pd.Series(["16770922", "22620411", "16770921"]))
    assert dates.tolist()[:2] == [pd.Timestamp(1677, 9, 22), pd.Timestamp(2262, 4, 11)]
    assert invalid.tolist() == [False, False, True]
    records = [with_value("POSNR", str(i), with_value("BLDAT", d)) for i, d in
               enumerate(["16770922", "16770923", "22620411", "16770921"], 1)]  # fmt: skip
    rows, rejects = read_all(good_file(tmp_path, records))
    assert rows["BLDAT"].tolist() == [
        pd.Timestamp(1677, 9, 22), pd.Timestamp(1677, 9, 23), pd.Timestamp(2262, 4, 11)
    ]  # fmt: skip
    assert only_reject(rejects).reason == (
        "date '16770921' outside the supported range 1677-09-22..2262-04-11"
    )


def test_normalize_alpha_pads_numbers_and_uppercases_the_rest() -> None:
    values = pd.Series([" 1234 ", "000000000000001234", "ab-12", "", None, "12a"], name="MATNR")
    result = normalize_alpha(values, 18)
    assert result.tolist() == [
        "000000000000001234",
        "000000000000001234",
        "AB-12",
        None,
        None,
        "12A",
    ]
    assert result.name == "MATNR"
    assert normalize_alpha(pd.Series(["12", "x"]), None).tolist() == ["12", "X"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("\u00a0müller-1\u3000", "MÜLLER-1"),  # NBSP and ideographic space trimmed, ü upper-cased
        ("\t42\x0b", "0000000042"),
        ("ÄBC", "ÄBC"),
        ("é", "É"),
        ("plain", "PLAIN"),
    ],
)
def test_alpha_trims_unicode_padding_and_uppercases_non_ascii(raw: str, expected: str) -> None:
    """Each value alone, so the fast tests (no padding, no lower case) see it in the block."""
    assert normalize_alpha(pd.Series([raw]), 10).tolist() == [expected]


def test_normalize_alpha_drops_surplus_zeros_and_never_truncates() -> None:
    cases = [  # raw, key, too long for ALPHA length 18
        ("0" * 35 + "12345", "000000000000012345", False),  # S/4's 40-character MATNR
        (" 00000000000000001234 ", "000000000000001234", False),
        ("0" * 40, "0" * 18, False),
        ("0" + "1" * 19, "1" * 19, True),  # 19 significant digits: kept whole, never cut
        ("1" * 18, "1" * 18, False),
        ("HT-1000-" + "X" * 32, "HT-1000-" + "X" * 32, False),  # S/4 MATNR(40), not a number
        ("Ä" * 19, "Ä" * 19, False),
    ]
    keys = normalize_alpha(pd.Series([raw for raw, _, _ in cases]), 18)
    assert keys.tolist() == [key for _, key, _ in cases]
    assert alpha_too_long(keys, 18).tolist() == [long for _, _, long in cases]
    assert not alpha_too_long(keys, None).any()


def test_long_alpha_keys_read_as_their_short_form_and_overlong_ones_are_quarantined(
    tmp_path: Path,
) -> None:
    """S/4HANA sends MATNR in 40 characters and other keys with surplus zeros: they must give
    the key of the short form, or the two never join. A key with more significant digits than
    its ALPHA length is not cut (that would be another key) but quarantined."""
    tail = "1000;1;ST;H;20250115"
    lines = [
        "MBLNR;MJAHR;ZEILE;BWART;MATNR;WERKS;MENGE;MEINS;SHKZG;BUDAT_MKPF;EBELN;LIFNR",
        f"1;2025;1;601;{'0' * 35}12345;{tail};0000004500000001;00000000000000001234",
        f"2;2025;1;601;12345;{tail};4500000001;1234",
        f"3;2025;1;601;abc;{tail};4500000001;1234",
        f"4;2025;1;601;{'9' * 19};{tail};4500000001;1234",
    ]
    rows, rejects = read_all(write_lines(tmp_path / "MSEG.csv", lines), TABLE_SPECS["MSEG"])
    assert rows["MATNR"].tolist() == ["000000000000012345"] * 2 + ["ABC"]
    assert rows["EBELN"].tolist() == ["4500000001"] * 3
    assert rows["LIFNR"].tolist() == ["0000001234"] * 3
    reject = only_reject(rejects)
    assert (reject.source_line, reject.column_name) == (5, "MATNR")
    assert reject.reason == f"value {'9' * 19!r} is longer than its ALPHA length 18"


def test_keys_excel_damaged_are_quarantined(tmp_path: Path) -> None:
    """Excel shows a long numeric key in scientific notation and saves it so, or saves its
    error values: the key is lost and would join nothing, so the row goes to quarantine."""
    tail = "1000;1;ST;H;20250115"
    damaged = ["4,00638E+12", "4.00638e+12", "#NV", "#N/A", "#WERT!"]
    lines = [
        "MBLNR;MJAHR;ZEILE;BWART;MATNR;WERKS;MENGE;MEINS;SHKZG;BUDAT_MKPF;EBELN",
        f"1;2025;1;601;4006381333931;{tail};4500000001",
        f"2;2025;1;601;E-1000;{tail};4500000001",
        *(f"{3 + i};2025;1;601;{key};{tail};4500000001" for i, key in enumerate(damaged)),
        f"9;2025;1;601;12345;{tail};4,5E+09",
    ]
    rows, rejects = read_all(write_lines(tmp_path / "MSEG.csv", lines), TABLE_SPECS["MSEG"])
    assert rows["MATNR"].tolist() == ["000004006381333931", "E-1000"]
    assert rejects["source_line"].tolist() == [4, 5, 6, 7, 8, 9]
    assert rejects["column_name"].tolist() == ["MATNR"] * 5 + ["EBELN"]
    assert rejects["reason"].iloc[0] == (
        "key '4,00638E+12' was changed by Excel (a number in scientific notation or an error "
        "value); export the column as text"
    )


def test_alpha_columns_are_normalised_in_rows(tmp_path: Path) -> None:
    rows, _ = read_all(good_file(tmp_path, [with_value("MATNR", " 42 ")]))
    assert rows.loc[0, "MATNR"] == "000000000000000042"
    assert rows.loc[0, "DOCNR"] == "0000004711"


def test_rows_have_spec_columns_lineage_and_dtypes(tmp_path: Path) -> None:
    rows, rejects = read_all(good_file(tmp_path, [GOOD, with_value("POSNR", "20")]))
    assert rejects.empty
    assert list(rows.columns) == [*TECHNICAL, "_source_file", "_source_line"]
    assert rows.dtypes.astype(str).to_dict() == rows_schema(SPEC)
    assert rows["_source_file"].tolist() == ["ZTEST_20250115.csv"] * 2
    assert rows["_source_line"].tolist() == [2, 3]
    assert rows.loc[0, "NAME1"] == "Müller"
    assert rows.loc[0, "MENGE"] == 1234.5
    assert pd.isna(rows.loc[0, "BLDAT"])


# -- headers -----------------------------------------------------------------------------------


def test_se16n_labels_match_case_and_space_insensitively(tmp_path: Path) -> None:
    labels = ["DOCUMENT", "item", "Material", " name ", "Quantity", "posting  date",
              "Document Date", "Movement Type"]  # fmt: skip
    path = write_lines(tmp_path / "Z.csv", [";".join(labels), ";".join(GOOD)])
    reader = SapFileReader(path, SPEC)
    assert reader.detected.header == "label"
    rows, _ = read_all(path)
    assert rows.loc[0, "BUDAT"] == pd.Timestamp(2025, 1, 15)


def test_repeated_se16n_labels_map_to_spec_columns_in_order(tmp_path: Path) -> None:
    """EKBE has two columns labelled 'Item' (EBELP and BUZEI)."""
    spec = TABLE_SPECS["EKBE"]
    labels = [c.label for c in spec.columns]
    assert labels.count("Item") == 2
    record = ["4500000001", "10", "1", "2025", "5000000001", "3", "101", "15.01.2025",
              "5,000", "12,50", "EUR", "1234", "1000"]  # fmt: skip
    path = write_lines(tmp_path / "EKBE_20250115.csv", [";".join(labels), ";".join(record)])
    rows, rejects = read_all(path, spec)
    assert rejects.empty
    assert rows.loc[0, "EBELP"] == 10 and rows.loc[0, "BUZEI"] == 3
    assert rows.loc[0, "EBELN"] == "4500000001" and rows.loc[0, "MATNR"] == "000000000000001234"
    assert rows.loc[0, "MENGE"] == 5.0


def test_real_mseg_se16n_export_with_labels_bom_and_trailing_minus(tmp_path: Path) -> None:
    spec = TABLE_SPECS["MSEG"]
    header = ";".join(c.label for c in spec.columns)
    record = ("4900000001;2025;1;601;1234;1000;0001;1.234,500-;ST;H;12,50-;EUR;;4711;;;"
              "15.01.2025")  # fmt: skip
    path = tmp_path / "MSEG_20250115.csv"
    path.write_bytes(f"{header}\r\n{record}\r\n".encode("utf-8-sig"))
    reader = SapFileReader(path, spec, partition_window=(date(2025, 1, 15), date(2025, 1, 16)))
    rows, rejects = read_all(path, spec)
    assert reader.detected.encoding == "utf-8-sig" and reader.detected.header == "label"
    assert rejects.empty
    row = rows.iloc[0]
    assert (row.MBLNR, row.MATNR, row.KUNNR) == ("4900000001", "000000000000001234", "0000004711")
    assert (row.MENGE, row.DMBTR, row.LIFNR) == (-1234.5, -12.5, None)
    assert pd.Timestamp(2025, 1, 15) == row.BUDAT_MKPF


EKBE = TABLE_SPECS["EKBE"]
#: An EKBE record in spec order: EBELP 10, BUZEI 3.
EKBE_RECORD = ["4500000001", "10", "1", "2025", "5000000001", "3", "101", "15.01.2025", "5,000",
               "12,50", "EUR", "1234", "1000"]  # fmt: skip
#: An ALV layout that moves the material document (BELNR, its Item BUZEI, GJAHR) first.
REORDERED = [4, 5, 3, 0, 1, 2, 6, 7, 8, 9, 10, 11, 12]


@pytest.mark.parametrize("style", ["label", "label_de"])
def test_a_shared_label_out_of_the_spec_order_refuses_the_file(tmp_path: Path, style: str) -> None:
    """EKBE's two 'Item' columns are told apart only by position; in a reordered layout that
    would swap EBELP and BUZEI silently, so the file is refused with what to do."""
    labels = [getattr(EKBE.columns[i], style) for i in REORDERED]
    record = [EKBE_RECORD[i] for i in REORDERED]
    path = write_lines(tmp_path / "EKBE_20250115.csv", [";".join(labels), ";".join(record)])
    with pytest.raises(SapFileError, match="told apart only by position") as error:
        SapFileReader(path, EKBE)
    label = "Item" if style == "label" else "Position"
    assert (error.value.line, error.value.column) == (1, label)
    assert f"label {label!r} stands for EBELP and BUZEI" in error.value.problem
    assert "technical names" in error.value.problem


def test_a_shared_label_is_resolved_by_the_other_columns_technical_name(tmp_path: Path) -> None:
    """ALV shows a column without heading by its technical name: BUZEI named so, the one
    'Item' left is EBELP, whatever the order."""
    labels = [EKBE.columns[i].label for i in REORDERED]
    labels[1] = "BUZEI"
    record = [EKBE_RECORD[i] for i in REORDERED]
    path = write_lines(tmp_path / "EKBE_20250115.csv", [";".join(labels), ";".join(record)])
    rows, rejects = read_all(path, EKBE)
    assert rejects.empty and (rows.loc[0, "EBELP"], rows.loc[0, "BUZEI"]) == (10, 3)


def test_a_shared_label_heading_fewer_fields_than_its_columns_refuses_the_file(
    tmp_path: Path,
) -> None:
    labels = [c.label for c in EKBE.columns]
    labels[5] = "Document Item"  # BUZEI under another heading: one 'Item' left for two
    path = write_lines(tmp_path / "EKBE_20250115.csv", [";".join(labels), ";".join(EKBE_RECORD)])
    with pytest.raises(SapFileError, match="it heads 1 field for 2 of them"):
        SapFileReader(path, EKBE)


def test_a_label_heading_more_fields_than_its_columns_leaves_the_later_ones_extra(
    tmp_path: Path,
) -> None:
    """SE16N labels other fields alike (a full EKBE export has more 'Item's): in the spec's
    order, the first fields a label heads are its columns, and the rest are extra."""
    labels = [c.label for c in EKBE.columns]
    path = write_lines(
        tmp_path / "EKBE_20250115.csv",
        [";".join([*labels, "Item"]), ";".join([*EKBE_RECORD, "7"])],
    )
    reader = SapFileReader(path, EKBE)
    rows, rejects = read_all(path, EKBE)
    assert reader.detected.extra_columns == ("Item",)
    assert rejects.empty and (rows.loc[0, "EBELP"], rows.loc[0, "BUZEI"]) == (10, 3)


def test_a_technical_name_in_a_label_header_names_its_column(tmp_path: Path) -> None:
    """ALV shows the field name of a column without heading: `MENGE` among labels is the
    quantity, not an extra column (which left MENGE all null), unless it is another
    column's label."""
    labels = [c.label for c in SPEC.columns]
    labels[TECHNICAL.index("MENGE")] = "MENGE"
    path = write_lines(tmp_path / "Z.csv", [";".join(labels), ";".join(GOOD)])
    reader = SapFileReader(path, SPEC)
    rows, rejects = read_all(path)
    assert reader.detected.header == "label" and reader.detected.extra_columns == ()
    assert reader.detected.missing_columns == ()
    assert rejects.empty and rows.loc[0, "MENGE"] == 1234.5

    # With `MENGE` as NAME1's label, the label wins over MENGE's technical name.
    relabelled = [replace(c, label="MENGE") if c.name == "NAME1" else c for c in SPEC.columns]
    spec = replace(SPEC, columns=tuple(relabelled))
    labels[TECHNICAL.index("NAME1")], labels[TECHNICAL.index("MENGE")] = "MENGE", "Quantity"
    path = write_lines(tmp_path / "Z.csv", [";".join(labels), ";".join(GOOD)])
    rows, _ = read_all(path, spec)
    assert (rows.loc[0, "NAME1"], rows.loc[0, "MENGE"]) == ("Müller", 1234.5)


def test_column_map_maps_source_headers_to_spec_columns(tmp_path: Path) -> None:
    header = ["Belegnummer", "Position", *TECHNICAL[2:]]
    path = write_lines(tmp_path / "Z.csv", [";".join(header), ";".join(GOOD)])
    settings = ReaderSettings(column_map={"belegnummer": "DOCNR", "Position": "POSNR"})
    rows, rejects = read_all(path, settings=settings)
    assert rejects.empty and rows.loc[0, "DOCNR"] == "0000004711" and rows.loc[0, "POSNR"] == 10


def test_alv_list_export_with_frame_and_rule_lines(tmp_path: Path) -> None:
    rule = "-" * 60
    lines = [
        rule,
        "|" + "|".join(f" {name:<8}" for name in TECHNICAL) + "|",
        rule,
        "|" + "|".join(f" {value:<8}" for value in GOOD) + "|",
        "|" + "|".join(f" {value:<8}" for value in with_value("POSNR", "20")) + "|",
        rule,
    ]
    path = write_lines(tmp_path / "Z.txt", lines)
    reader = SapFileReader(path, SPEC)
    rows, rejects = read_all(path)
    assert reader.detected.separator == "|" and reader.detected.extra_columns == ()
    assert rejects.empty
    assert rows["POSNR"].tolist() == [10, 20]
    assert rows["_source_line"].tolist() == [4, 5]
    assert rows.loc[0, "NAME1"] == "Müller"


def test_missing_optional_column_is_null_and_reported(tmp_path: Path) -> None:
    keep = [i for i, name in enumerate(TECHNICAL) if name != "BLDAT"]
    path = write_lines(
        tmp_path / "Z.csv",
        [";".join(TECHNICAL[i] for i in keep), ";".join(GOOD[i] for i in keep)],
    )
    reader = SapFileReader(path, SPEC)
    rows, _ = read_all(path)
    assert reader.detected.missing_columns == ("BLDAT",)
    assert list(rows.columns[:8]) == TECHNICAL and pd.isna(rows.loc[0, "BLDAT"])


# -- quoting and line numbers --------------------------------------------------------------------


def test_quoted_fields_with_separators_and_newlines_keep_line_numbers(tmp_path: Path) -> None:
    records = [
        with_value("NAME1", "a;b"),
        with_value("POSNR", "20", with_value("NAME1", 'two\nlines; and "quotes"')),
        with_value("POSNR", "30"),
        with_value("POSNR", "40", with_value("MENGE", "bad")),
    ]
    path = write_extract(tmp_path / "Z.csv", TECHNICAL, records)
    rows, rejects = read_all(path)
    assert rows["NAME1"].tolist() == ["a;b", 'two\nlines; and "quotes"', "Müller"]
    assert rows["_source_line"].tolist() == [2, 3, 5]
    reject = only_reject(rejects)
    assert reject.source_line == 6 and reject.column_name == "MENGE"


def test_quoted_record_spanning_a_chunk_boundary(tmp_path: Path) -> None:
    records = [with_value("POSNR", str(i)) for i in range(1, 6)]
    records[2] = with_value("POSNR", "3", with_value("NAME1", "x\ny\nz"))
    path = write_extract(tmp_path / "Z.csv", TECHNICAL, records)
    chunks = list(SapFileReader(path, SPEC, chunk_rows=3).chunks())
    rows = pd.concat([c.rows for c in chunks], ignore_index=True)
    assert all(len(c.rows) <= 3 for c in chunks)
    assert rows["POSNR"].tolist() == [1, 2, 3, 4, 5]
    assert rows["_source_line"].tolist() == [2, 3, 4, 7, 8]
    assert rows.loc[2, "NAME1"] == "x\ny\nz"


def quoted_record(record: list[str]) -> str:
    """A record as BODS writes it: every field CSV-quoted."""
    return ";".join(f'"{value}"' for value in record)


def test_unterminated_quote_rejects_its_line_and_parsing_resumes(tmp_path: Path) -> None:
    bad = quoted_record(GOOD).removesuffix('"')  # the last field's closing quote lost
    path = write_lines(
        tmp_path / "Z.csv",
        [";".join(TECHNICAL), ";".join(GOOD), bad, ";".join(with_value("POSNR", "30"))],
    )
    rows, rejects = read_all(path)
    assert rows["_source_line"].tolist() == [2, 4]
    reject = only_reject(rejects)
    assert reject.source_line == 3 and "quoted" in reject.reason and reject.raw_record == bad


def test_fully_quoted_bods_export_with_doubled_quotes(tmp_path: Path) -> None:
    quoted = ['"' + value.replace('"', '""') + '"' for value in GOOD]
    lines = [";".join(f'"{name}"' for name in TECHNICAL)]
    lines += [";".join(with_value("POSNR", f'"{i}"', quoted)) for i in range(1, 4)]
    lines[2] = lines[2].replace('"Müller"', '"say ""hi""; bye"')
    rows, rejects = read_all(write_lines(tmp_path / "Z.csv", lines))
    assert rejects.empty
    assert rows["NAME1"].tolist() == ["Müller", 'say "hi"; bye', "Müller"]
    assert rows["_source_line"].tolist() == [2, 3, 4]
    assert rows["MENGE"].tolist() == [1234.5] * 3


def test_literal_quote_inside_an_unquoted_field_is_kept(tmp_path: Path) -> None:
    rows, rejects = read_all(good_file(tmp_path, [with_value("NAME1", 'PIPE 1/2" STEEL')]))
    assert rejects.empty and rows.loc[0, "NAME1"] == 'PIPE 1/2" STEEL'


def test_malformed_quoting_is_rejected(tmp_path: Path) -> None:
    bad = quoted_record(GOOD).replace('"Müller"', '"abc"def')
    path = write_lines(
        tmp_path / "Z.csv", [";".join(TECHNICAL), bad, ";".join(with_value("POSNR", "20"))]
    )
    rows, rejects = read_all(path)
    assert rows["_source_line"].tolist() == [3]
    reject = only_reject(rejects)
    assert reject.source_line == 2 and reject.reason.startswith("malformed record")


@pytest.mark.parametrize("chunk_rows", [100_000, 2, 1])
def test_se16n_text_starting_with_a_quote_is_read_literally(
    tmp_path: Path, chunk_rows: int
) -> None:
    """SE16N does not quote: `"Premium" bolt` and `"Open quote` are descriptions, not broken CSV
    fields, when the line split plainly has the header's width."""
    texts = ['Screw 3/4" steel', '"Premium" bolt', '"Open quote', "normal", 'ok "x" y']
    lines = ["MATNR;SPRAS;MAKTX", *(f"{i};EN;{text}" for i, text in enumerate(texts, 1))]
    reader = SapFileReader(
        write_lines(tmp_path / "MAKT.csv", lines), TABLE_SPECS["MAKT"], chunk_rows=chunk_rows
    )
    chunks = list(reader.chunks())
    rows = pd.concat([c.rows for c in chunks], ignore_index=True)
    assert all(c.rejects.empty for c in chunks)
    assert rows["MAKTX"].tolist() == texts
    assert rows["_source_line"].tolist() == [2, 3, 4, 5, 6]
    assert reader.detected.as_metadata()["literal_quotes"] == "2 records"


@pytest.mark.parametrize("cut", ['2;EN;"Premium bo', '2;EN;"Premium\nbo'])
def test_quote_left_open_where_a_file_is_cut_off_is_still_rejected(
    tmp_path: Path, cut: str
) -> None:
    """Without a final line break an open quote is a truncated field, whatever its width."""
    path = tmp_path / "MAKT.csv"
    path.write_text(f"MATNR;SPRAS;MAKTX\n1;EN;normal\n{cut}")
    rows, rejects = read_all(path, TABLE_SPECS["MAKT"])
    assert rows["_source_line"].tolist() == [2]
    reject = rejects.iloc[0]
    assert (reject.source_file, reject.source_line) == ("MAKT.csv", 3)
    assert reject.reason == "unterminated quoted field"


@pytest.mark.parametrize("fillers", [["", "   "], [""], ["   "]])
@pytest.mark.parametrize("quote", [False, True])
def test_blank_lines_are_skipped_but_counted(tmp_path: Path, quote: bool, fillers: list) -> None:
    name = '"a;b"' if quote else "plain"
    lines = [";".join(TECHNICAL), ";".join(with_value("NAME1", name)), *fillers,
             ";".join(with_value("POSNR", "20")), ""]  # fmt: skip
    rows, rejects = read_all(write_lines(tmp_path / "Z.csv", lines))
    assert rejects.empty
    assert rows["_source_line"].tolist() == [2, 3 + len(fillers)]


@pytest.mark.parametrize("quote", [False, True])
def test_a_lone_cr_inside_a_field_rejects_only_its_record(tmp_path: Path, quote: bool) -> None:
    name = '"a;b"' if quote else "plain"
    records = [with_value("NAME1", name), with_value("POSNR", "20", with_value("NAME1", "x\ry")),
               with_value("POSNR", "30")]  # fmt: skip
    text = "\r\n".join([";".join(TECHNICAL), *(";".join(r) for r in records)]) + "\r\n"
    path = tmp_path / "Z.csv"
    path.write_bytes(text.encode("utf-8"))
    rows, rejects = read_all(path)
    assert rows["_source_line"].tolist() == [2, 4]
    reject = only_reject(rejects)
    assert reject.source_line == 3
    assert reject.reason == "malformed record: a carriage return (CR) inside an unquoted field"
    assert reject.raw_record == ";".join(records[1])


def test_cr_only_line_breaks_raise_naming_the_header_line(tmp_path: Path) -> None:
    path = tmp_path / "Z.csv"
    path.write_bytes("\r".join([";".join(TECHNICAL), ";".join(GOOD)]).encode("utf-8") + b"\r")
    with pytest.raises(SapFileError, match=r"Z\.csv, line 1: .*CR-only line breaks"):
        SapFileReader(path, SPEC)


# -- row-level problems go to rejects ------------------------------------------------------------


def test_non_numeric_quantity_is_rejected(tmp_path: Path) -> None:
    rows, rejects = read_all(good_file(tmp_path, [GOOD, with_value("POSNR", "20", with_value(
        "MENGE", "12x"))]))  # fmt: skip
    assert len(rows) == 1
    reject = only_reject(rejects)
    assert (reject.source_line, reject.column_name) == (3, "MENGE")
    assert reject.reason == "non-numeric value '12x'"
    assert reject.table == "ZTEST" and reject.source_file == "ZTEST_20250115.csv"
    assert reject.raw_record == ";".join(with_value("POSNR", "20", with_value("MENGE", "12x")))


def test_impossible_date_is_rejected(tmp_path: Path) -> None:
    _, rejects = read_all(good_file(tmp_path, [with_value("BLDAT", "20250231")]))
    reject = only_reject(rejects)
    assert (reject.column_name, reject.reason) == ("BLDAT", "impossible date '20250231'")


def test_date_outside_partition_window_is_rejected(tmp_path: Path) -> None:
    path = good_file(tmp_path, [GOOD, with_value("POSNR", "20", with_value("BUDAT", "20250116"))])
    rows, rejects = read_all(path, partition_window=(date(2025, 1, 15), date(2025, 1, 16)))
    assert rows["POSNR"].tolist() == [10]
    reject = only_reject(rejects)
    assert reject.column_name == "BUDAT" and "partition window" in reject.reason


def test_missing_required_value_is_rejected(tmp_path: Path) -> None:
    records = [with_value("BUDAT", "00000000"), with_value("POSNR", "")]
    _, rejects = read_all(good_file(tmp_path, records))
    assert rejects[["source_line", "column_name", "reason"]].values.tolist() == [
        [2, "BUDAT", "missing required value"],
        [3, "POSNR", "missing required value"],
    ]


def test_wrong_field_count_and_truncated_last_line_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "Z.csv"
    lines = [";".join(TECHNICAL), ";".join(GOOD), ";".join([*GOOD, "extra"]),
             ";".join(with_value("POSNR", "30"))]  # fmt: skip
    path.write_text("\n".join(lines) + "\n" + ";".join(GOOD[:4]), encoding="utf-8")
    rows, rejects = read_all(path)
    assert rows["_source_line"].tolist() == [2, 4]
    assert rejects[["source_line", "reason"]].values.tolist() == [
        [3, "wrong field count: 9 fields, expected 8"],
        [5, "wrong field count: 4 fields, expected 8"],
    ]
    assert rejects["raw_record"].tolist()[1] == ";".join(GOOD[:4])


def test_a_last_record_cut_short_is_rejected_though_it_still_reads(tmp_path: Path) -> None:
    """`1.234,50-` cut to `1.234,5` still has the record's width and reads as a number, with
    its sign flipped: the missing line break after it is what shows the cut."""
    path = tmp_path / "Z.csv"
    cut = ";".join(with_value("POSNR", "30"))[:-2]  # BWART 101 cut to 1
    lines = [";".join(TECHNICAL), ";".join(GOOD), cut]
    path.write_text("\r\n".join(lines), encoding="utf-8")
    rows, rejects = read_all(path)
    assert rows["_source_line"].tolist() == [2]
    assert rejects[["source_line", "column_name", "reason"]].values.tolist() == [
        [3, "BWART", CUT_SHORT],
        [3, "BWART", "value '1' not in allowed values (101, 601)"],
    ]
    assert rejects["raw_record"].iloc[0] == cut
    whole = ";".join(with_value("POSNR", "30"))
    path.write_text("\r\n".join([*lines[:2], whole]), encoding="utf-8")
    rows, rejects = read_all(path)
    assert rows["_source_line"].tolist() == [2]
    assert rejects[["source_line", "reason"]].values.tolist() == [[3, CUT_SHORT]]
    path.write_text("\r\n".join([*lines[:2], whole]) + "\r\n", encoding="utf-8")
    rows, rejects = read_all(path)
    assert rows["_source_line"].tolist() == [2, 3] and rejects.empty
    # a quoted record over two lines is judged by the line it ends on, not the one it starts on
    spread = ";".join(with_value("NAME1", '"Müller\r\nund Söhne"', with_value("POSNR", "30")))
    path.write_text("\r\n".join([*lines[:2], spread[:-2]]), encoding="utf-8")
    rows, rejects = read_all(path)
    assert rows["_source_line"].tolist() == [2]
    assert rejects[["source_line", "reason"]].values.tolist()[0] == [3, CUT_SHORT]


def test_numbers_no_sap_field_holds_are_rejected_not_rounded(tmp_path: Path) -> None:
    """MSEG-MENGE is QUAN 13,3 and DMBTR CURR 13: a value beyond them, or a quantity with a
    fourth decimal, is a shifted or corrupted record. Loaded, it became 1e14 or -1.2345."""
    header = ";".join(TABLE_SPECS["MSEG"].column_names)

    def line(document: int, quantity: str, amount: str = "12,50") -> str:
        return f"{document};2025;1;601;M-1;1000;0001;{quantity};ST;H;{amount};EUR;;;;;20250115"

    path = tmp_path / "MSEG.csv"
    lines = [
        line(1, "9.999.999.999,999-"),  # the largest QUAN 13,3
        line(2, "99999999999999,999"),
        line(3, "1,2345-"),
        line(6, "2.500.000,1234"),  # a fourth decimal on a large quantity too
        line(4, "1,000", "9.999.999.999.999"),  # CURR 13 in a currency without decimals
        line(5, "1,000", "10.000.000.000.000,00"),
    ]
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    rows, rejects = read_all(path, TABLE_SPECS["MSEG"])
    assert rows["MBLNR"].tolist() == ["0000000001", "0000000004"]
    assert rows["MENGE"].tolist() == [-9999999999.999, 1.0]
    assert rejects[["source_line", "column_name", "reason"]].values.tolist() == [
        [3, "MENGE", "'99999999999999,999' exceeds QUAN 13,3 (at most 9,999,999,999.999)"],
        [4, "MENGE", "'1,2345-' has more than the 3 decimals SAP keeps for a quantity"],
        [5, "MENGE", "'2.500.000,1234' has more than the 3 decimals SAP keeps for a quantity"],
        [7, "DMBTR", "'10.000.000.000.000,00' exceeds CURR 13 (at most 9,999,999,999,999)"],
    ]


def test_an_item_changed_on_several_days_is_one_version_per_day(tmp_path: Path) -> None:
    """EKPO is partitioned by change date: one extract of a window holds an item's versions."""
    path = tmp_path / "EKPO.csv"
    header = "EBELN;EBELP;MATNR;WERKS;MENGE;MEINS;NETPR;PEINH;AEDAT"
    versions = ["100,000;ST;12,50;1;10.01.2025", "80,000;ST;12,50;1;12.01.2025"]
    lines = [f"4500000001;10;1234;1000;{v}" for v in [*versions, versions[1]]]
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    rows, rejects = read_all(path, TABLE_SPECS["EKPO"])
    assert rows["MENGE"].tolist() == [100.0, 80.0]
    assert rejects[["source_line", "column_name", "reason"]].values.tolist() == [
        [4, "EBELN,EBELP,AEDAT", "duplicate key"]
    ]


def test_duplicate_key_second_occurrence_rejected_across_chunks(tmp_path: Path) -> None:
    records = [with_value("POSNR", str(i)) for i in range(1, 6)]
    records.append(with_value("DOCNR", "0000004711", with_value("POSNR", "2")))  # same key
    records.append(with_value("POSNR", "5"))
    path = good_file(tmp_path, records)
    rows, rejects = read_all(path, chunk_rows=2)
    assert rows["POSNR"].tolist() == [1, 2, 3, 4, 5]
    assert rejects[["source_line", "column_name", "reason"]].values.tolist() == [
        [7, "DOCNR,POSNR", "duplicate key"],
        [8, "DOCNR,POSNR", "duplicate key"],
    ]


def test_a_chunk_of_only_duplicate_keys_is_quarantined(tmp_path: Path) -> None:
    """An export appended twice: the second copy fills whole chunks with duplicates."""
    records = [with_value("POSNR", str(i)) for i in [1, 2, 1, 2, 3]]
    rows, rejects = read_all(good_file(tmp_path, records), chunk_rows=2)
    assert rows["POSNR"].tolist() == [1, 2, 3]
    assert rejects[["source_line", "reason"]].values.tolist() == [
        [4, "duplicate key"],
        [5, "duplicate key"],
    ]


def test_a_spec_without_key_has_no_duplicate_check(tmp_path: Path) -> None:
    rows, rejects = read_all(good_file(tmp_path, [GOOD, GOOD]), replace(SPEC, key=()))
    assert rejects.empty and rows["_source_line"].tolist() == [2, 3]


def test_value_outside_allowed_values_is_rejected(tmp_path: Path) -> None:
    _, rejects = read_all(good_file(tmp_path, [with_value("BWART", "999")]))
    reject = only_reject(rejects)
    assert reject.column_name == "BWART" and reject.reason.startswith("value '999' not in")


def test_a_record_with_two_problems_is_listed_once_per_problem(tmp_path: Path) -> None:
    _, rejects = read_all(good_file(tmp_path, [with_value("MENGE", "x", with_value("BWART", "9"))]))
    assert sorted(rejects["column_name"]) == ["BWART", "MENGE"]
    assert rejects["source_line"].nunique() == 1


# -- file-level problems raise -------------------------------------------------------------------


def test_empty_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "ZTEST_20250115.csv"
    path.write_bytes(b"")
    with pytest.raises(SapFileError, match="empty file") as error:
        SapFileReader(path, SPEC)
    assert error.value.file.endswith("ZTEST_20250115.csv")


def test_missing_required_column_is_named(tmp_path: Path) -> None:
    header = [name for name in TECHNICAL if name != "BUDAT"]
    path = write_lines(tmp_path / "Z.csv", [";".join(header)])
    with pytest.raises(SapFileError, match="missing required column BUDAT") as error:
        SapFileReader(path, SPEC)
    assert (error.value.line, error.value.column) == (1, "BUDAT")
    assert "Z.csv" in str(error.value)


def test_header_only_file_is_not_an_error(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "Z.csv", [";".join(TECHNICAL)])
    reader = SapFileReader(path, SPEC)
    assert list(reader.chunks()) == []
    assert reader.detected.separator == ";" and reader.detected.header == "technical"


def test_wrong_separator_is_named(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "Z.csv", [",".join(TECHNICAL), ",".join(GOOD)])
    with pytest.raises(SapFileError, match="separator looks like ',', but ';' is configured"):
        SapFileReader(path, SPEC, ReaderSettings(separator=";"))


def test_configured_encoding_that_cannot_decode_raises_with_line(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "Z.csv", [";".join(TECHNICAL), ";".join(GOOD)], "cp1252")
    with pytest.raises(SapFileError, match="cannot decode") as error:
        SapFileReader(path, SPEC, ReaderSettings(encoding="utf-8"))
    assert error.value.line == 2


def test_configured_encoding_error_after_the_sample_raises_while_streaming(tmp_path: Path) -> None:
    ascii_record = with_value("NAME1", "Mueller")
    records = [with_value("POSNR", str(i), ascii_record) for i in range(1, 6001)]
    records.append(with_value("POSNR", "9999"))  # "Müller" in cp1252, beyond the 256 KiB sample
    path = write_lines(tmp_path / "Z.csv", [";".join(TECHNICAL), *map(";".join, records)], "cp1252")
    assert path.stat().st_size > 256 * 1024
    reader = SapFileReader(path, SPEC, ReaderSettings(encoding="utf-8"), chunk_rows=1000)
    with pytest.raises(SapFileError, match="cannot decode") as error:
        list(reader.chunks())
    assert error.value.line == 6002


def test_detected_utf8_falls_back_to_cp1252_when_only_ascii_came_before(tmp_path: Path) -> None:
    ascii_record = with_value("NAME1", "Mueller")
    records = [with_value("POSNR", str(i), ascii_record) for i in range(1, 6001)]
    records.append(with_value("POSNR", "9999"))
    path = write_lines(tmp_path / "Z.csv", [";".join(TECHNICAL), *map(";".join, records)], "cp1252")
    reader = SapFileReader(path, SPEC, chunk_rows=1000)
    assert reader.detected.encoding == "utf-8"
    rows = pd.concat([c.rows for c in reader.chunks()])
    assert rows["NAME1"].iloc[-1] == "Müller" and len(rows) == 6001
    assert reader.detected.encoding == "cp1252"


def write_byte_lines(path: Path, lines: list[bytes], bom: bool = False) -> Path:
    path.write_bytes((codecs.BOM_UTF8 if bom else b"") + b"".join(line + b"\n" for line in lines))
    return path


def stray_byte_record(posnr: str) -> bytes:
    """A record of a UTF-8 file with 'Köln' typed in Latin-1: its 'ö' is byte 0xF6."""
    return (
        ";".join(with_value("POSNR", posnr, with_value("NAME1", "K?ln")))
        .encode()
        .replace(b"?", b"\xf6")
    )


@pytest.mark.parametrize("bom", [False, True])
def test_a_stray_latin1_byte_in_a_utf8_file_rejects_only_its_record(
    tmp_path: Path, bom: bool
) -> None:
    """UTF-8 'Müller & Söhne' proves the file UTF-8: the stray byte's record is quarantined
    naming byte and column, and the rest is not read as cp1252 ('MÃ¼ller')."""
    lines = [";".join(TECHNICAL).encode(), ";".join(GOOD).encode(), stray_byte_record("20")]
    path = write_byte_lines(tmp_path / "Z.csv", lines, bom)
    reader = SapFileReader(path, SPEC)
    rows, rejects = read_all(path)
    assert reader.detected.encoding == ("utf-8-sig" if bom else "utf-8")
    assert rows["NAME1"].tolist() == ["Müller"]
    reject = only_reject(rejects)
    assert (reject.source_line, reject.column_name) == (3, "NAME1")
    assert reject.reason == (
        "byte 0xF6 in column NAME1 is no UTF-8, though the file is (in cp1252 it would be 'ö')"
    )
    assert reject.raw_record.split(";")[3] == "K\ufffdln"


def test_a_cp1252_file_with_one_pair_that_reads_as_utf8_stays_cp1252(tmp_path: Path) -> None:
    """One `KÃ¶ln` (bytes C3 B6, well-formed UTF-8) among 300 records with cp1252's `ü` made
    the file UTF-8: its 300 other records were rejected and the file refused."""
    records = [
        ";".join(with_value("POSNR", str(n), with_value("NAME1", "Süd"))).encode("cp1252")
        for n in range(1, 301)
    ]
    garbled = ";".join(with_value("POSNR", "301", with_value("NAME1", "KÃ¶ln")))
    lines = [";".join(TECHNICAL).encode(), *records, garbled.encode("cp1252")]
    path = write_byte_lines(tmp_path / "Z.csv", lines)
    reader = SapFileReader(path, SPEC)
    rows, rejects = read_all(path)
    assert reader.detected.encoding == "cp1252" and rejects.empty
    assert rows["NAME1"].tolist() == ["Süd"] * 300 + ["KÃ¶ln"]  # byte for byte, as it came
    # a few Latin-1 bytes beside UTF-8 text keep the file UTF-8: their record is quarantined
    utf8 = [";".join(with_value("POSNR", str(n), with_value("NAME1", "Köln"))) for n in (1, 2)]
    latin1 = ";".join(with_value("POSNR", "3", with_value("NAME1", "Müller Söhne Düsseldorf")))
    lines = [";".join(TECHNICAL).encode(), *(r.encode() for r in utf8), latin1.encode("cp1252")]
    rows, rejects = read_all(write_byte_lines(tmp_path / "Y.csv", lines))
    assert rows["NAME1"].tolist() == ["Köln", "Köln"] and set(rejects["source_line"]) == {4}


def test_after_an_ascii_sample_the_first_block_above_ascii_decides_the_encoding(
    tmp_path: Path,
) -> None:
    """The 256 KiB sample is ASCII; the block holding UTF-8 'Müller' is UTF-8, so its stray
    byte rejects its record instead of switching the rest of the file to cp1252."""
    ascii_record = with_value("NAME1", "Mueller")
    records = [";".join(with_value("POSNR", str(i), ascii_record)) for i in range(1, 6001)]
    lines = [";".join(TECHNICAL), *records, ";".join(with_value("POSNR", "9998"))]
    path = write_byte_lines(
        tmp_path / "Z.csv", [*map(str.encode, lines), stray_byte_record("9999")]
    )
    assert path.stat().st_size > 256 * 1024
    reader = SapFileReader(path, SPEC, chunk_rows=1000)
    chunks = list(reader.chunks())
    rows = pd.concat([c.rows for c in chunks])
    rejects = pd.concat([c.rejects for c in chunks])
    assert reader.detected.encoding == "utf-8"
    assert len(rows) == 6001 and rows["NAME1"].iloc[-1] == "Müller"
    reject = only_reject(rejects)
    assert (reject.source_line, reject.column_name) == (6003, "NAME1")


def test_a_comma_separated_export_with_decimal_commas_is_refused_naming_why(
    tmp_path: Path,
) -> None:
    """Excel in a German locale saving "CSV (comma delimited)": `12,5` becomes two fields, so
    every record was rejected as of the wrong width, and the file refused as "5 of 5 rows
    rejected" without a word on the cause. Quoted decimals are a valid comma-separated file."""
    records = [with_value("POSNR", str(10 * n), with_value("MENGE", "12,5")) for n in range(1, 6)]
    lines = [",".join(TECHNICAL), *(",".join(r) for r in records)]
    path = write_lines(tmp_path / "Z.csv", lines)
    with pytest.raises(SapFileError) as error:
        SapFileReader(path, SPEC)
    assert error.value.line == 2
    assert "5 of 5 sampled records have more fields than the header" in str(error.value)
    assert "decimal commas" in str(error.value)
    quoted = write_extract(tmp_path / "Y.csv", TECHNICAL, records, separator=",")
    rows, rejects = read_all(quoted)
    assert rejects.empty and rows["MENGE"].tolist() == [12.5] * 5


def test_unknown_extra_column_is_reported_or_an_error(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "Z.csv", [";".join([*TECHNICAL, "ZZNEW"]), ";".join([*GOOD, "x"])]
    )
    reader = SapFileReader(path, SPEC)
    assert reader.detected.extra_columns == ("ZZNEW",)
    rows, rejects = read_all(path)
    assert "ZZNEW" not in rows.columns and rejects.empty
    with pytest.raises(SapFileError, match="unknown column.*ZZNEW") as error:
        SapFileReader(path, SPEC, ReaderSettings(extra_columns="error"))
    assert error.value.column == "ZZNEW"
    # the landing zone's setting (SCP_EXTRA_COLUMNS), refused when it names no choice
    assert ReaderSettings.from_env({"SCP_EXTRA_COLUMNS": "error"}).extra_columns == "error"
    assert ReaderSettings.from_env({}).extra_columns == "report"
    with pytest.raises(ValueError, match="SCP_EXTRA_COLUMNS must be one of report, keep, error"):
        ReaderSettings.from_env({"SCP_EXTRA_COLUMNS": "drop"})
    # kept: the values of every extra column as one JSON object per row, null when blank
    path = write_lines(
        tmp_path / "Z.csv",
        [
            ";".join([*TECHNICAL, "ZZNEW", 'ZZ "Q"']),
            ";".join([*GOOD, "x", 'say ""hi""\\']),
            ";".join([*with_value("POSNR", "20"), "", "y"]),
        ],
    )
    rows, rejects = read_all(path, settings=ReaderSettings(extra_columns="keep"))
    assert rejects.empty
    assert [json.loads(v) for v in rows["_extra"]] == [
        {"ZZNEW": "x", 'ZZ "Q"': 'say ""hi""\\'},  # unquoted: its quotes are data
        {"ZZNEW": None, 'ZZ "Q"': "y"},
    ]


def test_duplicate_header_column_raises(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "Z.csv", [";".join([*TECHNICAL, "MATNR"])])
    with pytest.raises(SapFileError, match="MATNR appears twice"):
        SapFileReader(path, SPEC)


def test_configured_formats_that_contradict_the_file_raise(tmp_path: Path) -> None:
    path = good_file(tmp_path, [GOOD])
    with pytest.raises(SapFileError, match="dates look like YYYYMMDD.*ISO is configured"):
        SapFileReader(path, SPEC, ReaderSettings(date_format="ISO"))
    with pytest.raises(SapFileError, match="numbers look like decimal ','") as error:
        SapFileReader(path, SPEC, ReaderSettings(decimal=".", thousands=","))
    assert (error.value.line, error.value.column) == (2, "MENGE")


def test_invalid_settings_name_the_parameter(tmp_path: Path) -> None:
    path = good_file(tmp_path, [GOOD])
    with pytest.raises(ValueError, match="settings.separator"):
        SapFileReader(path, SPEC, ReaderSettings(separator=":"))
    with pytest.raises(ValueError, match="settings.column_map"):
        SapFileReader(path, SPEC, ReaderSettings(column_map={"x": "NOPE"}))
    with pytest.raises(ValueError, match="partition_window is half-open"):
        SapFileReader(path, SPEC, partition_window=(date(2025, 1, 15), date(2025, 1, 15)))


@pytest.mark.parametrize(
    "name", ["../MARA.csv", "a/b.csv", "a\\b.csv", "MARA\n.csv", "MARA 1.csv", "Mära.csv", ".."]
)
def test_safe_landing_name_refuses_odd_names(name: str) -> None:
    with pytest.raises(SapFileError):
        safe_landing_name(name)


def test_safe_landing_name_accepts_plain_names() -> None:
    assert safe_landing_name("MSEG_20250131.csv") == "MSEG_20250131.csv"


# -- bounded memory ------------------------------------------------------------------------------


def test_memory_is_bounded_by_chunk_rows_not_file_size(tmp_path: Path) -> None:
    """300k rows (~22 MB). Anything that holds the whole file needs at least its size (its text
    alone); streaming in 10k-row chunks must stay well under that, even with the 8 bytes a row
    the duplicate-key check keeps. Reading it whole with pandas shows the bound would fail."""
    path = tmp_path / "ZTEST_big.csv"
    with path.open("w", encoding="utf-8") as handle:
        handle.write(";".join(TECHNICAL) + "\n")
        for i in range(300_000):
            handle.write(
                f"{4_000_000 + i};{i % 9 + 1};{i % 50_000};Material description {i % 977};"
                f"{i % 5000},{i % 1000:03d}-;2025{i % 12 + 1:02d}{i % 28 + 1:02d};00000000;601\n"
            )
    size = path.stat().st_size
    assert size > 20_000_000
    bound = int(size * 0.6)

    tracemalloc.start()
    try:
        reader = SapFileReader(path, SPEC, chunk_rows=10_000)
        rows = max_rows = 0
        for chunk in reader.chunks():
            rows += len(chunk.rows)
            max_rows = max(max_rows, len(chunk.rows))
        streamed = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        whole = len(pd.read_csv(path, sep=";", dtype=str))
        loaded = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert rows == whole == 300_000 and max_rows == 10_000
    assert streamed < bound, f"peak {streamed:,} bytes streaming a {size:,}-byte file"
    assert loaded > 3 * bound, f"reading whole peaked at only {loaded:,} bytes"


def test_all_specs_can_be_read_from_their_technical_header(tmp_path: Path) -> None:
    for spec in TABLE_SPECS.values():
        path = write_lines(tmp_path / f"{spec.name}.csv", [";".join(spec.column_names)])
        reader = SapFileReader(path, spec)
        assert reader.detected.header == "technical" and reader.detected.missing_columns == ()


def test_many_rows_take_the_fast_path_and_keep_exact_line_numbers(tmp_path: Path) -> None:
    records = [with_value("POSNR", str(i)) for i in range(1, 2001)]
    records[999] = with_value("POSNR", "1000", with_value("MENGE", "?"))  # forces checked path
    path = good_file(tmp_path, records)
    rows, rejects = read_all(path, chunk_rows=500)
    assert len(rows) == 1999
    assert rows["_source_line"].tolist() == [i + 2 for i in range(2000) if i != 999]
    assert rows["POSNR"].tolist() == [i for i in range(1, 2001) if i != 1000]
    assert only_reject(rejects).source_line == 1001


# -- German SE16N labels ---------------------------------------------------------------------------

#: MSEG as SE16N exports it from a system logged on in German (Materialbeleg ... Buchungsdatum).
GERMAN_MSEG_HEADER = (
    "Materialbeleg;Materialbelegjahr;Position;Bewegungsart;Material;Werk;Lagerort;Menge;"
    "Basismengeneinheit;Soll/Haben-Kennz.;Betrag in HW;Währung;Lieferant;Kunde;Einkaufsbeleg;"
    "Kundenauftrag;Buchungsdatum"
)
MSEG_RECORDS = [
    "4900000001;2025;1;601;1234;1000;0001;1.234,500-;ST;H;12,50-;EUR;;4711;;;15.01.2025",
    "5000000001;2025;1;101;1234;1000;0001;10,000;ST;S;125,00;EUR;100200;;4500000001;;15.01.2025",
]


def _mseg_file(folder: Path, header: str, encoding: str = "utf-8") -> Path:
    folder.mkdir()
    path = folder / "MSEG_20250115.csv"
    path.write_bytes("".join(f"{line}\r\n" for line in [header, *MSEG_RECORDS]).encode(encoding))
    return path


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252"])
def test_german_se16n_mseg_export_reads_like_the_technical_one(
    tmp_path: Path, encoding: str
) -> None:
    spec = TABLE_SPECS["MSEG"]
    german = _mseg_file(tmp_path / "de", GERMAN_MSEG_HEADER, encoding)
    technical = _mseg_file(tmp_path / "technical", ";".join(spec.column_names))

    reader = SapFileReader(german, spec)
    rows, rejects = read_all(german, spec)

    assert reader.detected.header == "label_de" and reader.detected.encoding == encoding
    assert reader.detected.missing_columns == () and reader.detected.extra_columns == ()
    assert reader.detected.as_metadata()["header"] == "label_de"
    assert rejects.empty, rejects.to_dict("records")
    expected, _ = read_all(technical, spec)
    assert len(rows) == 2 and rows["WAERS"].tolist() == ["EUR", "EUR"]
    pd.testing.assert_frame_equal(rows, expected)
    configured, _ = read_all(german, spec, settings=ReaderSettings(header="label_de"))
    pd.testing.assert_frame_equal(configured, expected)


def test_german_labels_match_with_transliterated_umlauts_case_and_spacing(tmp_path: Path) -> None:
    header = GERMAN_MSEG_HEADER.replace("Währung", "WAEHRUNG").replace(
        "Betrag in HW", "betrag  inHW"
    )
    path = _mseg_file(tmp_path / "de", header)
    reader = SapFileReader(path, TABLE_SPECS["MSEG"])
    rows, rejects = read_all(path, TABLE_SPECS["MSEG"])
    assert reader.detected.header == "label_de" and reader.detected.extra_columns == ()
    assert rejects.empty and rows["WAERS"].tolist() == ["EUR", "EUR"]
    assert rows["DMBTR"].tolist() == [-12.5, 125.0]


@pytest.mark.parametrize("spec", TABLE_SPECS.values(), ids=list(TABLE_SPECS))
def test_every_spec_detects_its_english_and_german_label_headers(
    tmp_path: Path, spec: TableSpec
) -> None:
    """Each style wins on its own header, and every column (repeated labels too) is found."""
    for style, names in [
        ("label", [c.label for c in spec.columns]),
        ("label_de", [c.label_de for c in spec.columns]),
    ]:
        path = write_lines(tmp_path / f"{spec.name}_{style}.csv", [";".join(names)], "cp1252")
        detected = SapFileReader(path, spec).detected
        assert (detected.header, detected.missing_columns) == (style, ()), names
        assert detected.extra_columns == ()
