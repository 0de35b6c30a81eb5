"""Write column arrays as SE16N-style extract files, formatted the way SAP exports them.

`;` separator, decimal comma without thousands separator, trailing minus, `YYYYMMDD`
dates with `00000000` for "no date", ALPHA zeros on numeric keys, NUMC item numbers with
leading zeros, UTF-8 with a byte-order mark and CRLF line ends. Formatting is vectorised
per column (numpy) and rows are joined once, because the big tables have millions of cells.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import numpy as np

from pipelines.ingest.specs import TABLE_SPECS, Column, TableSpec

#: Day offset that stands for an empty SAP date (written as `00000000`).
NO_DATE = -(10**9)
#: Integer value that stands for an empty numeric key (written as an empty field).
NO_KEY = -1

_STR = np.dtypes.StringDType()
#: Decimals of the platform's own fields; SAP's come from the spec (`Column.decimals`), and
#: every other decimal is currency (2).
_COORDINATE_DECIMALS = {"LATITUDE": 6, "LONGITUDE": 6}
#: NUMC item numbers keep their leading zeros in SE16N.
_NUMC = {"POSNR": 6, "VGPOS": 6, "EBELP": 5, "ETENR": 4, "ZEILE": 4, "BUZEI": 4}
_DEFAULT_ALPHA = 10
_BOM = "\ufeff"
_EOL = "\r\n"

Frame = dict[str, np.ndarray]


def _int64(values: np.ndarray, what: str) -> np.ndarray:
    """Values as int64, refusing any int64 cannot hold (NaN, inf, 2**63 and beyond): cast,
    they would wrap into another number without a word."""
    values = np.asarray(values)
    if values.dtype.kind in "iu":
        return values.astype(np.int64)
    fits = np.abs(values) < 2.0**63  # False for NaN
    if not fits.all():
        raise ValueError(f"{values[~fits][0]} cannot be written as {what}")
    return values.astype(np.int64)


def format_decimal(values: np.ndarray, decimals: int) -> list[str]:
    """`-12.5` with 3 decimals -> `12,500-` (SAP puts the sign behind the number)."""
    values = np.asarray(values, dtype=np.float64)
    scaled = _int64(np.rint(np.abs(values) * 10**decimals), f"a number with {decimals} decimals")
    whole = (scaled // 10**decimals).astype(_STR)
    frac = np.strings.zfill((scaled % 10**decimals).astype(_STR), decimals)
    sign = np.array(["", "-"], dtype=_STR)[((values < 0) & (scaled > 0)).astype(np.intp)]
    return np.strings.add(np.strings.add(np.strings.add(whole, ","), frac), sign).tolist()


def format_dates(offsets: np.ndarray, start: date) -> list[str]:
    """Day offsets from `start` -> `YYYYMMDD`; `NO_DATE` -> `00000000`."""
    offsets = np.asarray(offsets, dtype=np.int64)
    empty = offsets == NO_DATE
    present = offsets[~empty]
    if present.size == 0:
        return ["00000000"] * offsets.size
    low, high = int(present.min()), int(present.max())
    days = np.datetime64(start, "D") + np.arange(low, high + 1)
    lookup = np.array([s.replace("-", "") for s in np.datetime_as_string(days)] + ["00000000"])
    index = np.where(empty, high - low + 1, offsets - low)
    return lookup.astype(object)[index].tolist()


def format_alpha(values: np.ndarray, length: int) -> list[str]:
    """Numeric ids get SAP's ALPHA zeros; `NO_KEY` is empty; strings pass unchanged."""
    values = np.asarray(values)
    if values.dtype.kind not in "iu":
        return [str(v) for v in values.tolist()]
    text = np.strings.zfill(np.maximum(values, 0).astype(_STR), length)
    return np.where(values == NO_KEY, "", text).tolist()


def format_integer(values: np.ndarray, width: int | None) -> list[str]:
    """Plain integers, or NUMC with leading zeros when the field has a fixed width."""
    text = _int64(values, "an integer").astype(_STR)
    return (np.strings.zfill(text, width) if width else text).tolist()


def written_decimals(column: Column) -> int:
    """The decimals a decimal column is written with."""
    return column.decimals or _COORDINATE_DECIMALS.get(column.name, 2)


def format_column(column: Column, values: np.ndarray, start: date) -> list[str]:
    """Format one column of a table by its spec kind."""
    if column.kind == "decimal":
        return format_decimal(values, written_decimals(column))
    if column.kind == "date":
        return format_dates(values, start)
    if column.kind == "alpha":
        return format_alpha(values, column.alpha_length or _DEFAULT_ALPHA)
    if column.kind == "integer":
        return format_integer(values, _NUMC.get(column.name))
    return np.asarray(values).astype(object).tolist()


def file_pattern(spec: TableSpec) -> re.Pattern[str]:
    """File names this writer produces for a table (`MARA.csv`, `MSEG_20240131.csv`)."""
    suffix = r"_\d{8}" if spec.is_partitioned else ""
    return re.compile(rf"^{spec.name}{suffix}\.csv$")


def _document(header: str, rows: list[str]) -> bytes:
    return (_BOM + header + _EOL + _EOL.join(rows) + _EOL).encode("utf-8")


def write_table(table: str, frame: Frame, out_dir: Path, start: date) -> tuple[int, list[str]]:
    """Write a table's rows; transactional tables as one file per partition day.

    `frame` holds one array per spec column (dates as day offsets from `start`), and for a
    partitioned table it must be sorted by the partition column. Returns the rows written
    and the names of the files written.
    """
    spec = TABLE_SPECS[table]
    missing = [name for name in spec.column_names if name not in frame]
    if missing:
        raise ValueError(f"{table}: no values for columns {missing}")
    n_rows = len(frame[spec.column_names[0]])
    cells = [format_column(col, frame[col.name], start) for col in spec.columns]
    rows = [";".join(cell) for cell in zip(*cells, strict=True)]
    header = ";".join(spec.column_names)
    if not spec.is_partitioned:
        (out_dir / f"{table}.csv").write_bytes(_document(header, rows))
        return n_rows, [f"{table}.csv"]
    days = np.asarray(frame[spec.partition_column], dtype=np.int64)
    if np.any(np.diff(days) < 0):
        raise ValueError(f"{table}: rows must be sorted by {spec.partition_column}")
    names = format_dates(np.unique(days), start)
    bounds = np.searchsorted(days, np.unique(days), side="left").tolist() + [n_rows]
    files = [f"{table}_{name}.csv" for name in names]
    for file, lo, hi in zip(files, bounds[:-1], bounds[1:], strict=True):
        (out_dir / file).write_bytes(_document(header, rows[lo:hi]))
    return n_rows, files
