"""The reader against real-world export shapes a user review found mishandled: ALV lists with
titles, page headers and totals; Excel's separator-only rows; numbers whose decimal mark only
SAP's decimals tell; control characters; lines over pyarrow's block size; UTF-16 files."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from pipelines.ingest import reader as reader_module
from pipelines.ingest.reader import ReaderSettings, SapFileError, SapFileReader
from pipelines.ingest.specs import TABLE_SPECS

MSEG = TABLE_SPECS["MSEG"]
KEYLESS = ["", "", ""]  # MBLNR, MJAHR, ZEILE


def mseg(n: int, menge: str = "5,000-", dmbtr: str = "12,50-", waers: str = "EUR") -> list[str]:
    """One MB51-style goods issue: document 49..n, quantity and amount as given."""
    return [f"49{n:08d}", "2025", "1", "601", "1234", "1000", "0001", menge, "ST", "H", dmbtr,
            waers, "", "4711", "", "", "15.01.2025"]  # fmt: skip


def write(path: Path, lines: list[str], encoding: str = "utf-8", newline: str = "\r\n") -> Path:
    path.write_bytes("".join(line + newline for line in lines).encode(encoding))
    return path


def read_all(path: Path, **kwargs) -> tuple[SapFileReader, pd.DataFrame, pd.DataFrame]:
    reader = SapFileReader(path, MSEG, **kwargs)
    chunks = list(reader.chunks())
    rows = pd.concat([c.rows for c in chunks], ignore_index=True)
    rejects = pd.concat([c.rejects for c in chunks], ignore_index=True)
    return reader, rows, rejects


# -- ALV list exports ---------------------------------------------------------------------------


def alv(values: list[str]) -> str:
    return "|" + "|".join(f" {value:<10}" for value in values) + "|"


HEADER = alv(MSEG.column_names)
RULE = "-" * len(HEADER)


def alv_page(page: int, documents: range) -> list[str]:
    title = f"15.01.2025      Dynamic List Display      {page}"
    return [title, "", RULE, HEADER, RULE, *(alv(mseg(n)) for n in documents), RULE]


@pytest.mark.parametrize("chunk_rows", [4, 100_000])
def test_alv_list_skips_titles_page_headers_and_totals_and_counts_them(
    tmp_path: Path, chunk_rows: int
) -> None:
    totals = ["*", *KEYLESS[1:], "", "", "", "", "15,000-", "ST", "", "62,50-", "EUR", "", "", "",
              "", ""]  # fmt: skip
    subtotal = ["**", *totals[1:]]
    lines = [*alv_page(1, range(3)), *alv_page(2, range(3, 5)), alv(totals), alv(subtotal), RULE]
    path = write(tmp_path / "MSEG_20250115.txt", lines)

    reader, rows, rejects = read_all(path, chunk_rows=chunk_rows)

    assert rejects.empty, rejects.to_dict("records")
    assert rows["_source_line"].tolist() == [6, 7, 8, 15, 16]
    assert rows["MBLNR"].tolist() == [f"49{n:08d}" for n in range(5)]
    assert (reader.detected.title_lines, reader.detected.repeated_headers) == (2, 1)
    assert reader.detected.totals_lines == 2
    metadata = reader.detected.as_metadata()
    assert (metadata["title_lines"], metadata["totals_lines"]) == ("2 lines", "2 lines")
    assert metadata["repeated_headers"] == "1 lines"


def test_a_title_line_that_differs_on_a_later_page_is_still_rejected(tmp_path: Path) -> None:
    """Only a repeat of a title line (numbers aside) is a title; other text is no record."""
    lines = [*alv_page(1, range(2)), "Report finished by JSMITH", *alv_page(2, range(2, 3))]
    _, rows, rejects = read_all(write(tmp_path / "MSEG_20250115.txt", lines))
    assert len(rows) == 3
    assert rejects.source_line.tolist() == [9]
    assert rejects.reason.tolist() == ["wrong field count: 1 fields, expected 19"]


def test_keyless_rows_are_totals_only_in_framed_alv_lists(tmp_path: Path) -> None:
    """A `;` record without key values is a broken record, not a totals line: quarantined."""
    path = write(tmp_path / "MSEG_20250115.csv", [
        ";".join(MSEG.column_names), ";".join(mseg(1)), ";".join([*KEYLESS, *mseg(2)[3:]]),
    ])  # fmt: skip
    reader, rows, rejects = read_all(path)
    assert len(rows) == 1 and reader.detected.totals_lines == 0
    assert set(rejects.source_line) == {3}
    assert set(rejects.column_name) == {"MBLNR", "MJAHR", "ZEILE"}
    assert set(rejects.reason) == {"missing required value"}


@pytest.mark.parametrize("chunk_rows", [2, 100_000])
def test_a_keyless_record_in_a_framed_list_is_quarantined_unless_it_proves_a_total(
    tmp_path: Path, chunk_rows: int
) -> None:
    """A movement whose document cells are blank is a record that lost its key: quarantined.
    A line without the mark is a total only if nothing but numbers is filled."""
    header = alv(MSEG.column_names)
    unmarked_total = ["", "", "", "", "", "", "", "15,000-", "", "", "62,50-", "", "", "", "",
                      "", ""]  # fmt: skip
    lines = [header, alv(mseg(1)), alv([*KEYLESS, *mseg(2)[3:]]), alv(unmarked_total)]
    reader, rows, rejects = read_all(
        write(tmp_path / "MSEG_20250115.txt", lines), chunk_rows=chunk_rows
    )
    assert rows["_source_line"].tolist() == [2] and reader.detected.totals_lines == 1
    assert set(rejects.source_line) == {3}
    assert set(rejects.column_name) == {"MBLNR", "MJAHR", "ZEILE"}
    assert set(rejects.reason) == {"missing required value"}


MARD = TABLE_SPECS["MARD"]  # key MATNR, WERKS, LGORT, DATUM


def test_a_title_line_naming_labels_does_not_hide_the_header(tmp_path: Path) -> None:
    """An ALV title may mention labels ('Material', 'Storage Location'): the header is the line
    naming most spec columns, not the first naming any."""
    lines = ["Stock overview by Material, Storage Location", "", ";".join(MARD.column_names),
             "1234;1000;0001;15.01.2025;5,000;0,000;0,000"]  # fmt: skip
    reader = SapFileReader(write(tmp_path / "MARD_20250115.csv", lines), MARD)
    rows = pd.concat([c.rows for c in reader.chunks()])
    assert reader.detected.header == "technical" and reader.detected.title_lines == 1
    assert rows["LABST"].tolist() == [5.0] and rows["_source_line"].tolist() == [4]


@pytest.mark.parametrize("chunk_rows", [3, 100_000])
def test_alv_subtotals_that_keep_a_key_value_are_totals_lines(
    tmp_path: Path, chunk_rows: int
) -> None:
    """A subtotal per plant keeps WERKS; ALV marks it with `*` in a cell. A line that lacks a
    key value without such a mark is a broken record: quarantined with its reason."""
    header = alv(MARD.column_names)
    stock = [["1234", "1000", "0001", "15.01.2025", "10,000", "", ""],
             ["1235", "1000", "0002", "15.01.2025", "20,000", "", ""],
             ["1234", "2000", "0001", "15.01.2025", "5,000", "", ""]]  # fmt: skip
    keyless = ["", "2000", "0002", "15.01.2025", "1,000", "", ""]
    lines = [
        "-" * len(header), header, "-" * len(header), *(alv(row) for row in stock[:2]),
        alv(["*", "1000", "", "", "30,000", "", ""]),  # the mark in a key column
        alv(stock[2]), alv(keyless),
        alv(["", "2000", "*", "", "6,000", "", ""]),  # the mark in another text cell
        alv(["**", "", "", "", "36,000", "", ""]),  # the grand total: every key empty
    ]  # fmt: skip
    path = write(tmp_path / "MARD_20250115.txt", lines)

    reader = SapFileReader(path, MARD, chunk_rows=chunk_rows)
    chunks = list(reader.chunks())
    rows = pd.concat([c.rows for c in chunks], ignore_index=True)
    rejects = pd.concat([c.rejects for c in chunks], ignore_index=True)

    assert rows["_source_line"].tolist() == [4, 5, 7]
    assert reader.detected.totals_lines == 3
    assert rejects.source_line.tolist() == [8]
    assert (rejects.column_name[0], rejects.reason[0]) == ("MATNR", "missing required value")


def test_a_keyless_record_whose_number_overflowed_is_no_totals_line(tmp_path: Path) -> None:
    """ALV prints a number too wide for its column as `*`s: data, not the totals mark, which
    only text cells carry. The record lacking MATNR is quarantined with both its reasons."""
    header = alv(MARD.column_names)
    lines = [
        "-" * len(header), header, "-" * len(header),
        alv(["1234", "1000", "0001", "15.01.2025", "10,000", "", ""]),
        alv(["", "2000", "0002", "15.01.2025", "**********", "", ""]),  # overflowed
        alv(["*", "2000", "", "", "10,000", "", ""]),  # a subtotal
        alv(["**", "", "", "", "**********", "", ""]),  # the grand total: every key empty
    ]  # fmt: skip
    reader = SapFileReader(write(tmp_path / "MARD_20250115.txt", lines), MARD)
    chunks = list(reader.chunks())
    rejects = pd.concat([c.rejects for c in chunks], ignore_index=True)
    assert [line for c in chunks for line in c.rows["_source_line"]] == [4]
    assert reader.detected.totals_lines == 2
    assert rejects.source_line.tolist() == [5, 5]
    assert sorted(zip(rejects.column_name, rejects.reason, strict=True)) == [
        ("LABST", "non-numeric value '**********'"),
        ("MATNR", "missing required value"),
    ]


@pytest.mark.parametrize("separator", [";", "\t"])
def test_a_marked_totals_line_is_skipped_in_any_export_an_unmarked_one_in_lists_only(
    tmp_path: Path, separator: str
) -> None:
    """ALV's "Text with Tabs" export, and Excel's re-save of it as `;`, keep the list's totals
    line with its `*` mark: it was quarantined as a record without keys, and refused a small
    file. A line of numbers alone stays a record outside a `|`-framed list (its reasons)."""
    records = ["1234;1000;0001;15.01.2025;10,000;;", "*;1000;;;10,000;;", ";;;;20,000;;"]
    lines = [separator.join(MARD.column_names), *(r.replace(";", separator) for r in records)]
    reader = SapFileReader(write(tmp_path / "MARD_20250115.csv", lines), MARD)
    chunks = list(reader.chunks())
    rows = pd.concat([c.rows for c in chunks], ignore_index=True)
    rejects = pd.concat([c.rejects for c in chunks], ignore_index=True)
    assert reader.detected.totals_lines == 1
    assert rows["_source_line"].tolist() == [2]
    assert set(rejects.source_line) == {4}
    # outside a framed list a `*` must sit in a key cell: a record without MBLNR whose
    # storage location is `*` is quarantined, not skipped
    starred = mseg(2)
    starred[0], starred[6] = "", "*"
    lines = [separator.join(MSEG.column_names), *(separator.join(r) for r in [mseg(1), starred])]
    reader, rows, rejects = read_all(write(tmp_path / "MSEG_20250115.csv", lines))
    assert reader.detected.totals_lines == 0 and set(rejects.source_line) == {3}


@pytest.mark.parametrize("quoted", [False, True])
def test_a_repeated_header_in_a_semicolon_file_is_skipped_and_counted(
    tmp_path: Path, quoted: bool
) -> None:
    header = ";".join(MSEG.column_names)
    records = [mseg(n) for n in range(6)]
    records[1][6] = "MBLNR"  # a value equal to the header's first name is still a record
    if quoted:
        records[0][6] = '"00;1"'
    lines = [header, *(";".join(r) for r in records[:3]), f" {header} ",
             *(";".join(r) for r in records[3:])]  # fmt: skip
    reader, rows, rejects = read_all(write(tmp_path / "MSEG_20250115.csv", lines))
    assert rejects.empty, rejects.to_dict("records")
    assert rows["_source_line"].tolist() == [2, 3, 4, 6, 7, 8]
    assert rows["LGORT"].tolist()[:2] == ["00;1" if quoted else "0001", "MBLNR"]
    assert reader.detected.repeated_headers == 1


# -- Excel's separator-only rows ----------------------------------------------------------------


@pytest.mark.parametrize("short", [[], [" ; ;;  ;"]])
@pytest.mark.parametrize("quoted", [False, True])
def test_separator_only_rows_are_blank_lines(tmp_path: Path, quoted: bool, short: list) -> None:
    """Excel saves a sheet's empty rows as `;;;;` (of the full width or shorter)."""
    empty = ";" * (len(MSEG.columns) - 1)
    first = mseg(0)
    if quoted:
        first[6] = '"00;1"'
    lines = [";".join(MSEG.column_names), ";".join(first), empty, ";".join(mseg(1)), *short,
             empty, empty]  # fmt: skip
    _, rows, rejects = read_all(write(tmp_path / "MSEG_20250115.csv", lines, "cp1252"))
    assert rejects.empty, rejects.to_dict("records")
    assert rows["_source_line"].tolist() == [2, 4]


# -- decimal separators: SAP's decimals decide ----------------------------------------------------


def mseg_file(path: Path, separator: str, records: list[list[str]]) -> Path:
    return write(path, [separator.join(MSEG.column_names), *(separator.join(r) for r in records)])


def test_german_tab_export_with_yen_amounts_reads_quantities_by_their_3_decimals(
    tmp_path: Path,
) -> None:
    """`5,000` of MENGE (3 decimals) shows the decimal comma; `1.500` of DMBTR in JPY (no
    decimals) groups thousands. Both say decimal ',': 5 pieces for 1,500 yen."""
    records = [mseg(1, "5,000", "1.500", "JPY"), mseg(2, "12,000", "18.000", "JPY")]
    reader, rows, rejects = read_all(mseg_file(tmp_path / "MSEG_20250115.csv", "\t", records))
    assert (reader.detected.decimal, reader.detected.thousands) == (",", ".")
    assert rejects.empty
    assert rows["MENGE"].tolist() == [5.0, 12.0] and rows["DMBTR"].tolist() == [1500.0, 18000.0]


def test_english_semicolon_export_reads_quantities_by_their_3_decimals(tmp_path: Path) -> None:
    records = [mseg(1, "5.000", ""), mseg(2, "120.000", "")]
    reader, rows, rejects = read_all(mseg_file(tmp_path / "MSEG_20250115.csv", ";", records))
    assert (reader.detected.decimal, reader.detected.thousands) == (".", ",")
    assert rejects.empty and rows["MENGE"].tolist() == [5.0, 120.0]


def test_numbers_contradicting_sap_decimals_refuse_the_file(tmp_path: Path) -> None:
    """Quantity `5.000` shows '.', amount `12,50` shows ',': one of them is misread whatever
    is chosen, so the file must say its format."""
    path = mseg_file(tmp_path / "MSEG_20250115.csv", ";", [mseg(1, "5.000", "12,50")])
    with pytest.raises(SapFileError, match="disagree on the decimal separator") as error:
        SapFileReader(path, MSEG)
    assert (error.value.line, error.value.column) == (2, "MENGE")
    assert "ReaderSettings(decimal=',', thousands='.')" in str(error.value)
    _, rows, _ = read_all(path, settings=ReaderSettings(decimal=",", thousands="."))
    assert rows[["MENGE", "DMBTR"]].values.tolist() == [[5000.0, 12.5]]


def test_text_in_a_number_column_proves_no_decimal_mark(tmp_path: Path) -> None:
    """`ca. 5` typed into a quantity (a sheet edited in Excel) is no number: its `.` used to
    count as a decimal point against `5,000`'s comma and refuse the file; now only its row
    goes."""
    records = [mseg(1, "5,000", "12,50"), mseg(2, "ca. 5", "1,00"), mseg(3, "2,500", "3,00")]
    reader, rows, rejects = read_all(mseg_file(tmp_path / "MSEG_20250115.csv", ";", records))
    assert reader.detected.decimal == ","
    assert rows["MENGE"].tolist() == [5.0, 2.5]
    assert rejects[["source_line", "column_name"]].values.tolist() == [[3, "MENGE"]]


@pytest.mark.parametrize(("currency", "amount"), [("JPY", 1500.0), ("KWD", None)])
def test_amounts_tell_the_format_unless_a_currency_has_3_decimals(
    tmp_path: Path, currency: str, amount: float | None
) -> None:
    """`1.500` yen is 1,500; `1.500` Kuwaiti dinar may be 1.5 (TCURX: 3 decimals): refused."""
    records = [mseg(1, "", "1.500", currency), mseg(2, "", "2.000", currency)]
    path = mseg_file(tmp_path / "MSEG_20250115.csv", "\t", records)
    if amount is None:
        with pytest.raises(SapFileError, match="cannot tell the decimal separator") as error:
            SapFileReader(path, MSEG)
        assert (error.value.line, error.value.column) == (2, "DMBTR")
    else:
        _, rows, _ = read_all(path)
        assert rows["DMBTR"].tolist() == [amount, 2000.0]


def test_amounts_with_3_decimals_follow_the_values_that_show_the_mark(tmp_path: Path) -> None:
    """Amounts computed outside SAP (a mapping's price conversion) may have 3 decimals: their
    `1,125` decides nothing when `12,5` shows the decimal comma."""
    records = [mseg(1, "", "1,125"), mseg(2, "", "12,5")]
    reader, rows, rejects = read_all(mseg_file(tmp_path / "MSEG_20250115.csv", "\t", records))
    assert reader.detected.decimal == "," and rejects.empty
    assert rows["DMBTR"].tolist() == [1.125, 12.5]


def test_values_after_the_sample_that_the_format_may_misread_are_rejected(tmp_path: Path) -> None:
    """The sample (2,000 lines) decides; later a quantity without decimals (`1.000`, read as
    a thousand) or, with nothing proven, any `d.ddd` value is quarantined, never guessed."""
    proven = [mseg(n, "5,000", "12,50") for n in range(2100)] + [mseg(2100, "1.000")]
    _, rows, rejects = read_all(mseg_file(tmp_path / "MSEG_20250115.csv", ";", proven))
    assert len(rows) == 2100 and rejects.source_line.tolist() == [2102]
    assert rejects.reason.tolist() == [
        "quantity '1.000' has no decimals, though SAP writes 3: is '.' its decimal separator? "
        "(read as thousands separator)"
    ]

    unproven = [mseg(n, "5", "") for n in range(2100)] + [mseg(2100, "5", "1.500")]
    _, rows, rejects = read_all(mseg_file(tmp_path / "MSEG_20250116.csv", ";", unproven))
    assert len(rows) == 2100 and rejects.column_name.tolist() == ["DMBTR"]
    assert rejects.reason.str.startswith("ambiguous number '1.500'").all()


# -- control characters ---------------------------------------------------------------------------


@pytest.mark.parametrize("quoted", [False, True])
def test_control_characters_reject_their_record(tmp_path: Path, quoted: bool) -> None:
    records = [mseg(n) for n in range(4)]
    records[1][4] = "12\x0034"  # MATNR with NUL: Postgres COPY fails on it
    records[2][6] = "00\x1a1"  # LGORT with SUB (a DOS end-of-file mark)
    records[3][6] = "0\t1"  # a tab inside a field of a `;` file is text
    if quoted:
        records[0][6] = '"00;1"'
    _, rows, rejects = read_all(mseg_file(tmp_path / "MSEG_20250115.csv", ";", records))
    assert rows["_source_line"].tolist() == [2, 5]
    assert rejects.source_line.tolist() == [3, 4]
    assert rejects.reason.tolist() == [
        "control character U+0000 in column MATNR",
        "control character U+001A in column LGORT",
    ]
    assert "12\u240034" in rejects.raw_record[0] and "\x00" not in rejects.raw_record[0]


# -- long lines -----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad_width", [False, True])
def test_a_line_longer_than_pyarrows_block_is_read(tmp_path: Path, bad_width: bool) -> None:
    """pyarrow's CSV reader fails ("straddling object") on a line over its block size."""
    records = [mseg(n) for n in range(3)]
    records[1][6] = "L" * 3_000_000
    lines = [";".join(r) for r in records] + (["too;few"] if bad_width else [])
    path = write(tmp_path / "MSEG_20250115.csv", [";".join(MSEG.column_names), *lines])
    _, rows, rejects = read_all(path)
    assert rows["_source_line"].tolist() == [2, 3, 4]
    assert len(rows["LGORT"][1]) == 3_000_000
    assert rejects.source_line.tolist() == ([5] if bad_width else [])


@pytest.mark.parametrize("long_text", ["line of a long text\n" * 10_000, "L" * 200_000])
def test_a_quoted_field_longer_than_the_csv_modules_default_limit_is_read(
    tmp_path: Path, long_text: str
) -> None:
    """SAP long texts: a quoted field over 128 KiB (csv.field_size_limit's default), over many
    lines, or in one beside a record whose quote breaks CSV: both go through the csv module."""
    records = [mseg(n) for n in range(4)]
    records[1][6] = '"' + long_text + '"'
    records[2][0] = '"4900000002'  # a broken quote, read as SE16N writes it
    lines = [";".join(MSEG.column_names), *(";".join(r) for r in records)]
    _, rows, rejects = read_all(write(tmp_path / "MSEG_20250115.csv", lines, newline="\n"))
    assert rejects.empty, rejects.reason.tolist()
    assert rows["LGORT"][1] == long_text
    after = 3 + long_text.count("\n")
    assert rows["_source_line"].tolist() == [2, 3, after + 1, after + 2]


def test_a_long_text_of_more_lines_than_a_block_is_read_wherever_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quoted long text is bounded by the field limit, not by lines: 1,500 lines crossing
    blocks of 100 read as one field. The open record is carried on unparsed while a block
    cannot end it, so it is parsed once, not again in each of the 15 blocks it spans."""
    long_text = "\n".join(f"Zeile {k} des Langtextes" for k in range(1_500))
    records = [mseg(n) for n in range(300)]
    records[150][6] = f'"{long_text}"'
    lines = [";".join(MSEG.column_names), *(";".join(r) for r in records)]
    reader = SapFileReader(write(tmp_path / "MSEG_20250115.csv", lines), MSEG, chunk_rows=100)
    parsed: list[int] = []  # lines handed to the csv module, per block
    split_quoted = SapFileReader._split_quoted

    def counted(self: SapFileReader, lines: list[str], *args: object) -> object:
        parsed.append(len(lines))
        return split_quoted(self, lines, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(SapFileReader, "_split_quoted", counted)

    chunks = list(reader.chunks())

    rows = pd.concat([c.rows for c in chunks], ignore_index=True)
    rejects = pd.concat([c.rejects for c in chunks], ignore_index=True)
    assert rejects.empty, rejects.reason.value_counts().to_dict()
    assert rows["LGORT"][150] == long_text
    assert rows["_source_line"].tolist() == [*range(2, 153), *range(1_652, 1_801)]
    assert sum(parsed) < 2 * 1_800  # re-parsed in each block it spans: some 12,800 lines


def test_a_quote_left_open_is_bounded_by_the_field_limit_across_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quote never closed is carried from block to block only while its record fits the
    field limit (20,000 characters here, some 250 lines): then the csv module refuses it, and
    the lines after it are records again."""
    limit = 20_000
    monkeypatch.setattr(reader_module, "_MAX_FIELD_CHARS", limit)
    records = [";".join(mseg(n)) for n in range(1_500)]
    records[0] = records[0].replace(";1234;", ';"1234;')  # a quote left open, never closed
    path = write(tmp_path / "MSEG_20250115.csv", [";".join(MSEG.column_names), *records])
    default_limit = csv.field_size_limit(limit)
    try:
        _, rows, rejects = read_all(path, chunk_rows=100)
    finally:
        csv.field_size_limit(default_limit)
    assert rejects.source_line.tolist() == [2]
    assert rejects.reason.tolist() == [
        f"malformed record: a field longer than {limit:,} characters"
    ]
    assert rows["_source_line"].tolist() == list(range(3, 1_502))


def test_a_quote_left_open_does_not_swallow_the_file(tmp_path: Path) -> None:
    """Lines after an open quote are records again once it is held to be a broken record."""
    records = [";".join(mseg(n)) for n in range(1_500)]
    records[0] = ";".join(f'"{value}"' for value in mseg(0)).removesuffix('"')  # BODS, cut
    path = write(tmp_path / "MSEG_20250115.csv", [";".join(MSEG.column_names), *records])
    _, rows, rejects = read_all(path, chunk_rows=400)
    assert rejects.source_line.tolist() == [2]
    assert rejects.reason.tolist() == ["unterminated quoted field"]
    assert rows["_source_line"].tolist() == list(range(3, 1_502))


def test_a_pyarrow_error_names_the_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = mseg_file(tmp_path / "MSEG_20250115.csv", ";", [mseg(n) for n in range(5)])

    def fail(*args: object) -> None:
        raise pa.ArrowTypeError("a kernel failed")

    monkeypatch.setattr(SapFileReader, "_convert", fail)
    with pytest.raises(SapFileError, match=r"csv, line 2: cannot read lines 2-3: a kernel failed"):
        list(SapFileReader(path, MSEG, chunk_rows=2).chunks())


# -- UTF-16 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_unicode_text_export_reads_like_utf8(tmp_path: Path, encoding: str) -> None:
    """SAP GUI's "Unicode text": UTF-16 with a byte-order mark, tab separated, CRLF."""
    records = [mseg(n) for n in range(5)]
    records[2][6] = "Lä€𝄞"
    lines = ["\t".join(MSEG.column_names), *("\t".join(r) for r in records)]
    (tmp_path / "utf8").mkdir()
    utf8 = write(tmp_path / "utf8" / "MSEG_20250115.csv", lines)
    utf16 = tmp_path / "MSEG_20250115.csv"
    utf16.write_bytes(
        "\ufeff".encode(encoding) + "".join(f"{x}\r\n" for x in lines).encode(encoding)
    )

    reader, rows, rejects = read_all(utf16, chunk_rows=2)
    _, expected, _ = read_all(utf8)

    assert reader.detected.encoding == "utf-16" and rejects.empty
    pd.testing.assert_frame_equal(rows, expected)
    again = SapFileReader(utf16, MSEG, ReaderSettings(encoding="UTF-16"))
    assert sum(c.table.num_rows for c in again.chunks()) == 5


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_byte_order_mark_is_named_as_such(tmp_path: Path, encoding: str) -> None:
    """Its CRLF reads as CR, NUL, LF: the CR-only line-break error came first and told the user
    to fix line breaks that were fine."""
    lines = ["\t".join(MSEG.column_names), *("\t".join(mseg(n)) for n in range(3))]
    path = tmp_path / "MSEG_20250115.csv"
    path.write_bytes("".join(f"{x}\r\n" for x in lines).encode(encoding))
    with pytest.raises(SapFileError, match="NUL bytes: UTF-16 without a byte-order mark"):
        SapFileReader(path, MSEG)


def test_broken_utf16_names_its_line(tmp_path: Path) -> None:
    lines = ["\t".join(MSEG.column_names), *("\t".join(mseg(n)) for n in range(3))]
    data = "".join(f"{x}\r\n" for x in lines).encode("utf-16")  # with BOM
    path = tmp_path / "MSEG_20250115.csv"
    path.write_bytes(data + "\t".join(mseg(3)).encode("utf-16-le") + b"\x00\xdc")  # lone surrogate
    with pytest.raises(SapFileError, match=r"line 5: cannot decode as UTF-16"):
        list(SapFileReader(path, MSEG).chunks())
    with pytest.raises(SapFileError, match="UTF-16 byte-order mark but encoding cp1252"):
        SapFileReader(path, MSEG, ReaderSettings(encoding="cp1252"))


# -- a trailing separator more or less --------------------------------------------------------


@pytest.mark.parametrize("separator", ["\t", ";"])
@pytest.mark.parametrize("chunk_rows", [3, 100_000])
def test_records_ending_in_a_separator_the_header_lacks_are_read(
    tmp_path: Path, separator: str, chunk_rows: int
) -> None:
    """Some exports end every record with a separator and the header not: the empty field
    more is no column. A record with a real field more is still rejected."""
    records = [separator.join(mseg(n, "5.000-", "12.50-")) + separator for n in range(1, 8)]
    records.insert(4, separator.join(mseg(9, "1.000-", "2.00-")) + f"{separator}x{separator}")
    lines = [separator.join(MSEG.column_names), *records]
    reader, rows, rejects = read_all(write(tmp_path / "MSEG.csv", lines), chunk_rows=chunk_rows)
    assert rows["MBLNR"].tolist() == [f"49{n:08d}" for n in range(1, 8)]
    assert rows["MENGE"].tolist() == [-5.0] * 7
    assert rejects["source_line"].tolist() == [6]
    assert rejects["reason"].tolist() == ["wrong field count: 19 fields, expected 17"]
    assert reader.detected.trailing_separators == 7
    assert reader.detected.as_metadata()["trailing_separators"] == "7 records"


def test_a_comma_separated_file_one_field_wider_is_refused_not_cut(tmp_path: Path) -> None:
    """With `,` a field more is as often a decimal comma (12,500 split in two): cutting the
    last, empty field read 12 and 500 into two columns."""
    header = "MATNR,WERKS,LGORT,DATUM,LABST,INSME,SPEME"
    records = [f"{n},1000,0001,20250115,12,500,," for n in range(100, 104)]
    path = write(tmp_path / "MARD_20250115.csv", [header, *records])
    with pytest.raises(SapFileError, match="decimal commas"):
        SapFileReader(path, TABLE_SPECS["MARD"])


def test_records_without_the_trailing_separator_of_their_header_are_read(tmp_path: Path) -> None:
    """SE16N ends the header and each record in a separator; an editor that trims trailing
    whitespace takes a tab-separated record's last one. Missing a named field is still an
    error: that record may be cut short."""
    records = [[*mseg(n), ""] for n in range(1, 6)]
    lines = ["\t".join([*MSEG.column_names, ""]), *("\t".join(r) for r in records)]
    lines[2] = lines[2].removesuffix("\t")
    lines[3] = lines[3].removesuffix("\t").rsplit("\t", 1)[0]  # lost its date as well
    lost = records[3][:5] + records[3][6:]  # lost its plant, kept its trailing tab: no trim
    lines[4] = "\t".join(lost)
    reader, rows, rejects = read_all(write(tmp_path / "MSEG.csv", lines))
    assert rows["MBLNR"].tolist() == ["4900000001", "4900000002", "4900000005"]
    assert rejects["source_line"].tolist() == [4, 5]
    assert rejects["reason"].tolist() == [
        "wrong field count: 16 fields, expected 18",
        "wrong field count: 17 fields, expected 18",
    ]
    assert reader.detected.trailing_separators == 1
