"""Binary COPY from Arrow into Postgres: every encoded type reads back as written."""

from __future__ import annotations

import datetime as dt
import math

import pyarrow as pa
import pytest

from resources.pg_binary import encode_copy_rows
from resources.warehouse import Warehouse, WarehouseSettings

COLUMNS = {
    "s": "varchar",
    "t": "text",
    "code": "varchar",
    "i": "bigint",
    "i4": "integer",
    "i2": "smallint",
    "f": "double precision",
    "r": "real",
    "b": "boolean",
    "d": "date",
    "ts": "timestamp",
}


def frame() -> pa.Table:
    return pa.table(
        {
            "s": ["a", None, "", 'ünï;"x\n\\N', "z" * 300],
            "t": pa.array(["x", "y", None, "", "é"], pa.large_string()),
            "code": ["0001", "0002", "0003", "0004", "0005"],  # equal lengths: the fixed path
            "i": pa.array([1, -2, None, 2**62, 0], pa.int64()),
            "i4": pa.array([1, None, -(2**31), 2**31 - 1, 5], pa.int64()),
            "i2": pa.array([1, 2, None, -3, 4], pa.int16()),
            "f": [1.5, None, -0.0, 1e300, -2.25],
            "r": pa.array([0.5, None, 1.0, -1.5, 2.0], pa.float32()),
            "b": [True, False, None, True, False],
            "d": [dt.date(2024, 2, 29), dt.date(1999, 12, 31), None, dt.date(1, 1, 1), None],
            "ts": pa.array(
                [
                    dt.datetime(2024, 1, 1, 12, 0, 0, 123456),
                    None,
                    dt.datetime(1970, 1, 1),
                    dt.datetime(1999, 12, 31, 23, 59, 59),
                    dt.datetime(2000, 1, 1),
                ],
                pa.timestamp("us"),
            ),
        }
    )


@pytest.fixture
def warehouse(postgres_database: str) -> Warehouse:
    warehouse = WarehouseSettings(kind="postgres", pg_database=postgres_database).open()
    columns = ", ".join(f"{name} {sql_type}" for name, sql_type in COLUMNS.items())
    with warehouse.transaction() as cur:
        cur.execute(f"create table public.copied (id serial, {columns})")
    return warehouse


def read_back(warehouse: Warehouse) -> list[tuple]:
    with warehouse.transaction() as cur:
        cur.execute(f"select {', '.join(COLUMNS)} from public.copied order by id")
        return cur.fetchall()


def test_every_type_and_null_reads_back_as_written(warehouse: Warehouse) -> None:
    table = frame()
    with warehouse.transaction() as cur:
        assert encode_copy_rows(table, warehouse.column_types(cur, "public.copied")) is not None
        warehouse.insert_frame(cur, "public.copied", table)
    assert read_back(warehouse) == [tuple(row.values()) for row in table.to_pylist()]


def test_frames_appended_to_one_stream_keep_their_order_and_slices(warehouse: Warehouse) -> None:
    table = frame()
    with warehouse.transaction() as cur, warehouse.appender(cur, "public.copied") as append:
        append(table.slice(3))  # an offset into the buffers
        append(table.slice(0, 3))
        append(table.slice(0, 0))
    assert read_back(warehouse) == [tuple(r.values()) for r in table.slice(3).to_pylist()] + [
        tuple(r.values()) for r in table.slice(0, 3).to_pylist()
    ]


def test_a_frame_binary_cannot_carry_goes_by_csv_in_the_same_transaction(
    warehouse: Warehouse,
) -> None:
    with warehouse.transaction() as cur:
        cur.execute("alter table public.copied add column amount numeric")
        types = warehouse.column_types(cur, "public.copied")
        assert encode_copy_rows(pa.table({"amount": [1.25]}), types) is None  # numeric
        assert encode_copy_rows(pa.table({"i": ["seven"]}), types) is None  # not a bigint
        with warehouse.appender(cur, "public.copied") as append:
            append(pa.table({"s": ["binary"]}))
            append(pa.table({"s": ["csv"], "amount": [1.25]}))
            append(pa.table({"s": ["binary again"], "f": [math.pi]}))
        cur.execute("select s, amount::text, f from public.copied order by id")
        assert cur.fetchall() == [("binary", None, None), ("csv", "1.25", None)] + [
            ("binary again", None, math.pi)
        ]


def test_an_error_while_streaming_discards_the_stream_and_propagates(
    warehouse: Warehouse,
) -> None:
    with (
        pytest.raises(RuntimeError, match="parser failed"),
        warehouse.transaction() as cur,
        warehouse.appender(cur, "public.copied") as append,
    ):
        append(frame())
        raise RuntimeError("parser failed")
    assert read_back(warehouse) == []
