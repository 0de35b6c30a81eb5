"""Postgres binary COPY from Arrow, encoded column by column with numpy.

A CSV COPY makes us format every float and date as text and the server parse it back; in
binary form both sides copy fixed-width values and raw UTF-8. The payload is built per column
(no Python work per row or value): numpy writes each column's length words and big-endian
values, and Arrow's `take` lays the parts out row by row. Only exact, lossless type pairs
are encoded; anything else (numeric, json, an Arrow type the column does not take) returns
None and the caller uses CSV.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
COPY_TRAILER = b"\xff\xff"
_EPOCH_DAYS = 10_957  # 2000-01-01, Postgres' epoch, in days since 1970-01-01
_EPOCH_US = _EPOCH_DAYS * 86_400_000_000
#: Postgres type (format_type) -> the Arrow type it is encoded from and its big-endian width.
FIXED_TYPES: dict[str, tuple[pa.DataType, str]] = {
    "bigint": (pa.int64(), ">i8"),
    "integer": (pa.int32(), ">i4"),
    "smallint": (pa.int16(), ">i2"),
    "double precision": (pa.float64(), ">f8"),
    "real": (pa.float32(), ">f4"),
    "boolean": (pa.bool_(), "u1"),
    "date": (pa.date32(), ">i4"),
    "timestamp without time zone": (pa.timestamp("us"), ">i8"),
}
TEXT_TYPES = frozenset({"text", "character varying"})


def _big_endian(values: np.ndarray, dtype: str) -> np.ndarray:
    encoded = np.ascontiguousarray(values.astype(dtype))
    return encoded.view(np.uint8).reshape(len(values), encoded.dtype.itemsize)


def _fields(sizes: np.ndarray, data: np.ndarray) -> pa.Array:
    """A large_binary array whose row i is the next sizes[i] bytes of `data`."""
    offsets = np.zeros(len(sizes) + 1, np.int64)
    np.cumsum(sizes, out=offsets[1:])
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    return pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(sizes), buffers)


#: A part of every row: fixed width (n x w bytes, numpy) or of varying width (Arrow binary).
Part = np.ndarray | pa.Array


def _encode_column(array: pa.Array, pg_type: str) -> list[Part]:
    """A column's part of each row: a big-endian int32 length (-1 for null) and the bytes."""
    valid = array.is_valid().to_numpy(zero_copy_only=False)
    if pg_type in TEXT_TYPES:
        text = array.cast(pa.string())
        lengths = pc.fill_null(pc.binary_length(text), -1).to_numpy(zero_copy_only=False)
        prefix = _big_endian(lengths, ">i4")
        width = int(lengths[0]) if len(lengths) else 0
        if valid.all() and (lengths == width).all():  # codes: every value the same length
            offsets = np.frombuffer(text.buffers()[1], np.int32)[text.offset :]
            data = np.frombuffer(text.buffers()[2] or b"", np.uint8)
            values = data[offsets[0] : offsets[0] + len(text) * width]
            return [prefix, values.reshape(len(text), width)]
        return [prefix, pc.fill_null(text, "").cast(pa.large_binary())]
    arrow_type, dtype = FIXED_TYPES[pg_type]
    typed = array.cast(arrow_type)  # safe cast: raises on loss, and the caller uses CSV
    if pa.types.is_date32(arrow_type):
        numbers = pc.subtract(typed.cast(pa.int32()), _EPOCH_DAYS)
    elif pa.types.is_timestamp(arrow_type):
        numbers = pc.subtract(typed.cast(pa.int64()), _EPOCH_US)
    else:
        numbers = typed
    zero = False if arrow_type == pa.bool_() else 0
    values = _big_endian(pc.fill_null(numbers, zero).to_numpy(zero_copy_only=False), dtype)
    width = values.shape[1]
    lengths = _big_endian(np.where(valid, width, -1), ">i4")
    if valid.all():
        return [lengths, values]
    field = np.concatenate([lengths, values], axis=1)
    keep = np.ones(field.shape, bool)
    keep[~valid, 4:] = False  # a null is its length word alone
    return [_fields(np.where(valid, 4 + width, 4), field[keep])]


def _merge_fixed(parts: list[Part], rows: int) -> list[pa.Array]:
    """Adjacent fixed-width parts joined into one (fewer parts to lay out), all as Arrow."""
    runs: list[list[Part]] = []
    for part in parts:
        fixed = isinstance(part, np.ndarray)
        if fixed and runs and isinstance(runs[-1][0], np.ndarray):
            runs[-1].append(part)
        else:
            runs.append([part])
    merged: list[pa.Array] = []
    for run in runs:
        if not isinstance(run[0], np.ndarray):
            merged += run
            continue
        block = np.empty((rows, sum(part.shape[1] for part in run)), np.uint8)
        at = 0
        for part in run:
            block[:, at : at + part.shape[1]] = part
            at += part.shape[1]
        merged.append(_fields(np.full(rows, block.shape[1]), block.ravel()))
    return merged


def encode_copy_rows(table: pa.Table, pg_types: Mapping[str, str]) -> memoryview | None:
    """The rows of a COPY ... (FORMAT binary) payload for `table` (framed by COPY_HEADER and
    COPY_TRAILER), whose columns go to columns of the given Postgres types (format_type names),
    or None if a column cannot be encoded exactly.

    Every row is a sequence of parts (field count, then each column's length and value).
    The parts are built column by column, then Arrow's `take` lays them out row by row in
    C++, so the taken array's data buffer is the payload."""
    rows = table.num_rows
    parts: list[Part] = [_big_endian(np.full(rows, table.num_columns), ">i2")]
    for name, array in zip(table.column_names, table.columns, strict=True):
        pg_type = pg_types.get(name)
        if pg_type not in TEXT_TYPES and pg_type not in FIXED_TYPES:
            return None
        try:
            parts += _encode_column(array.combine_chunks(), pg_type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
    if not rows:
        return memoryview(b"")
    laid_out = _merge_fixed(parts, rows)
    if len(laid_out) > 1:
        # part p of row r sits at p * rows + r in the concatenation; take them row-major
        order = (np.arange(len(laid_out))[None, :] * rows + np.arange(rows)[:, None]).ravel()
        laid_out = [pa.concat_arrays(laid_out).take(pa.array(order))]
    (joined,) = laid_out
    offsets = np.frombuffer(joined.buffers()[1], np.int64)
    first, last = offsets[joined.offset], offsets[joined.offset + len(joined)]
    return memoryview(joined.buffers()[2])[first:last]
