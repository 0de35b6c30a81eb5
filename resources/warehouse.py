"""The warehouse behind one interface: an embedded DuckDB file or a Postgres database.

Every write that belongs to a partition deletes its window and inserts in one transaction,
so a partition is either fully replaced or untouched (principle 3 of DESIGN.md).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from resources.paths import LOCAL_DIR
from resources.pg_binary import COPY_HEADER, COPY_TRAILER, encode_copy_rows

SCHEMAS = ("raw", "quarantine", "staging", "intermediate", "marts", "planning", "reporting")

QUARANTINE_TABLE = "quarantine.rejected_rows"
#: The Postgres advisory lock key that serialises the platform's DDL (any fixed bigint).
DDL_LOCK_KEY = 0x5343_5044_444C
#: First key of the per-table locks (`Warehouse.lock_table`); the second is the table's hash.
TABLE_LOCK_SPACE = 0x5343
#: How long a DuckDB writer waits for another process to let go of the file before failing.
DUCKDB_LOCK_WAIT_SECONDS = 300.0
QUARANTINE_COLUMNS = {
    "table_name": "VARCHAR",
    "source_file": "VARCHAR",
    "source_line": "BIGINT",
    "column_name": "VARCHAR",
    "reason": "VARCHAR",
    "raw_record": "VARCHAR",
    "run_id": "VARCHAR",
    "rejected_at": "TIMESTAMP",
    # the file as delivered and the line in it (a split delivery's day part names its part)
    "delivered_file": "VARCHAR",
    "delivered_line": "BIGINT",
}


def _port(text: str) -> int:
    if not text.isdigit():
        raise ValueError(f"SCP_PG_PORT must be a port number, got {text!r}")
    return int(text)


def utf8_refusal(database: str, encoding: str) -> str | None:
    """Why a Postgres database of this encoding cannot hold the warehouse; None for UTF8."""
    if encoding == "UTF8":
        return None
    return (
        f"Postgres database {database!r} has encoding {encoding}; the warehouse needs UTF8: "
        "create it with `createdb --encoding=UTF8 --template=template0 <name>` and set "
        "SCP_PG_DATABASE to it"
    )


@dataclass(frozen=True)
class TableSlice:
    """The rows of one table a write owns (`where` with `params`) and what replaces them."""

    frame: pd.DataFrame
    where: str
    params: Sequence[Any]


_PANDAS_TO_SQL = {
    "b": "BOOLEAN",
    "i": "BIGINT",
    "u": "BIGINT",
    "f": "DOUBLE PRECISION",
    "M": "TIMESTAMP",
}


def sql_type_for(series: pd.Series) -> str:
    """Map a pandas column to a SQL type both engines understand."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return "TIMESTAMP"
    if series.dtype == object:
        sample = series.dropna()
        if (
            len(sample)
            and isinstance(sample.iat[0], date)
            and not isinstance(sample.iat[0], datetime)
        ):
            return "DATE"
    return _PANDAS_TO_SQL.get(series.dtype.kind, "VARCHAR")


class Cursor(Protocol):
    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any: ...


@dataclass(frozen=True)
class WarehouseSettings:
    """Where the warehouse lives; built from environment variables by `from_env`."""

    kind: str = "duckdb"
    duckdb_path: str = str(LOCAL_DIR / "warehouse.duckdb")
    duckdb_memory_limit: str | None = None  # e.g. "2GB"; None: DuckDB's own (80 % of RAM)
    pg_host: str = "127.0.0.1"
    pg_port: int = 5432
    pg_user: str = "postgres"
    pg_password: str = ""
    pg_database: str = "postgres"

    @classmethod
    def from_env(cls) -> WarehouseSettings:
        return cls(
            kind=os.getenv("SCP_WAREHOUSE", "duckdb"),
            duckdb_path=os.getenv("SCP_DUCKDB_PATH", str(LOCAL_DIR / "warehouse.duckdb")),
            duckdb_memory_limit=os.getenv("SCP_DUCKDB_MEMORY_LIMIT") or None,
            pg_host=os.getenv("SCP_PG_HOST", cls.pg_host),
            pg_port=_port(os.getenv("SCP_PG_PORT", str(cls.pg_port))),
            pg_user=os.getenv("SCP_PG_USER", cls.pg_user),
            pg_password=os.getenv("SCP_PG_PASSWORD", cls.pg_password),
            pg_database=os.getenv("SCP_PG_DATABASE", cls.pg_database),
        )

    def __repr__(self) -> str:  # never print the password
        return (
            f"WarehouseSettings(kind={self.kind!r}, duckdb_path={self.duckdb_path!r}, "
            f"pg={self.pg_user}@{self.pg_host}:{self.pg_port}/{self.pg_database})"
        )

    def __post_init__(self) -> None:
        limit = self.duckdb_memory_limit
        if limit is not None and not _MEMORY_SIZE.fullmatch(limit):
            raise ValueError(
                f"SCP_DUCKDB_MEMORY_LIMIT must be a size such as 512MB or 2GB, got {limit!r}"
            )

    def open(self, lock_wait_seconds: float = DUCKDB_LOCK_WAIT_SECONDS) -> Warehouse:
        """Connect lazily and make sure the schemas exist. `lock_wait_seconds`: how long a
        DuckDB writer waits for another process to release the file (0: fail at once)."""
        if self.kind == "duckdb":
            warehouse: Warehouse = DuckDBWarehouse(
                self.duckdb_path, self.duckdb_memory_limit, lock_wait_seconds
            )
        elif self.kind == "postgres":
            warehouse = PostgresWarehouse(self)
        else:
            raise ValueError(f"SCP_WAREHOUSE must be 'duckdb' or 'postgres', got {self.kind!r}")
        warehouse.ensure_schemas()
        return warehouse


_MEMORY_SIZE = re.compile(r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)


class Warehouse:
    """Engine-neutral operations; subclasses supply connections and bulk inserts."""

    kind: str
    #: Rows a bulk insert should carry at least (loads batch their chunks up to it).
    bulk_insert_rows = 1

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        raise NotImplementedError

    def insert_frame(self, cur: Cursor, table: str, frame: pd.DataFrame | pa.Table) -> None:
        """Append `frame` to `table` through the engine's bulk path (columns by name)."""
        raise NotImplementedError

    @contextmanager
    def appender(self, cur: Cursor, table: str) -> Iterator[Callable[[pa.Table], None]]:
        """A function that appends frames to `table`, for many frames in a row."""
        yield lambda frame: self.insert_frame(cur, table, frame)

    @contextmanager
    def arrow_batches(
        self, cur: Cursor, sql: str, params: Sequence[Any], batch_rows: int
    ) -> Iterator[Iterable[pa.RecordBatch]]:
        """A query's rows as Arrow record batches (`?` placeholders), streamed."""
        raise NotImplementedError

    def analyze(self, cur: Cursor, table: str) -> None:
        """Refresh the planner's statistics after a bulk load (Postgres does it only when
        autovacuum gets round to it; DuckDB keeps its statistics as it inserts)."""

    def table_columns(self, cur: Cursor, table: str) -> list[str]:
        schema, name = table.split(".")
        cur.execute(
            "select column_name from information_schema.columns "
            "where table_schema = %s and table_name = %s order by ordinal_position"
            if self.kind == "postgres"
            else "select column_name from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [schema, name],
        )
        return [row[0] for row in cur.fetchall()]

    # -- DDL -------------------------------------------------------------------------------
    def run_ddl(self, cur: Cursor, statements: Sequence[str]) -> None:
        """Run idempotent DDL that another run may be running at the same moment (two steps
        creating the same missing table). `if not exists` alone is not safe under concurrency
        on Postgres: the loser fails on a catalog index. The engine's DDL lock serialises it."""
        if not statements:
            return
        self.lock_ddl(cur)
        for statement in statements:
            cur.execute(statement)

    def check_database(self, cur: Cursor) -> None:
        """Raise ValueError, saying how to fix it, if the database cannot hold the warehouse."""

    def lock_ddl(self, cur: Cursor) -> None:
        """Hold the warehouse's DDL lock until the transaction ends (DuckDB: one writer at a
        time already)."""

    def lock_table(self, cur: Cursor, table: str) -> None:
        """Hold `table`'s lock until the transaction ends, so that loads and checks of one table
        take turns: under read committed, two loads of a day would each delete only the rows
        committed before them and keep both copies, and a check would quarantine by row ids
        a load committed in between has replaced. Take it before `lock_ddl` (DuckDB: one
        writer at a time already)."""

    def ensure_schemas(self) -> None:
        with self.transaction() as cur:
            self.check_database(cur)
            present = self._existing(cur, "schema_name", "information_schema.schemata")
            statements = [f"create schema if not exists {s}" for s in SCHEMAS if s not in present]
            existing = self.table_columns(cur, QUARANTINE_TABLE)
            if not existing:
                statements.append(create_table_sql(QUARANTINE_TABLE, QUARANTINE_COLUMNS))
            statements += [
                add_column_sql(QUARANTINE_TABLE, name, kind)
                for name, kind in QUARANTINE_COLUMNS.items()
                if existing and name not in existing
            ]
            self.run_ddl(cur, statements)

    def ensure_table(self, table: str, columns: dict[str, str]) -> None:
        with self.transaction() as cur:
            self.create_table(cur, table, columns)

    def create_table(self, cur: Cursor, table: str, columns: dict[str, str]) -> list[str]:
        """Create `table` if it is missing; returns the columns it had before (none if new)."""
        existing = self.table_columns(cur, table)
        if not existing:
            self.run_ddl(cur, [create_table_sql(table, columns)])
        return existing

    def _existing(self, cur: Cursor, column: str, view: str) -> set[str]:
        cur.execute(f"select {column} from {view}")
        return {row[0] for row in cur.fetchall()}

    # -- writes ----------------------------------------------------------------------------
    def replace_rows(
        self,
        table: str,
        chunks: Iterable[pd.DataFrame],
        where: str = "true",
        params: Sequence[Any] = (),
        columns: dict[str, str] | None = None,
    ) -> int:
        """Delete `where` and insert every chunk in one transaction; returns rows inserted.

        Without `columns`, a missing table is created from the first chunk's dtypes.
        """
        inserted = 0
        with self.transaction() as cur:
            if columns is not None:
                self.create_table(cur, table, columns)
            deleted = False
            for chunk in chunks:
                if not deleted:
                    if columns is None:
                        types = {c: sql_type_for(chunk[c]) for c in chunk.columns}
                        self.create_table(cur, table, types)
                    cur.execute(
                        f"delete from {table} where {self.placeholders(where)}", list(params)
                    )
                    deleted = True
                if len(chunk):
                    self.insert_frame(cur, table, chunk)
                    inserted += len(chunk)
            if not deleted and self._exists(cur, table):
                cur.execute(f"delete from {table} where {self.placeholders(where)}", list(params))
        return inserted

    def _exists(self, cur: Cursor, table: str) -> bool:
        return bool(self.table_columns(cur, table))

    def replace_tables(
        self, frames: dict[str, pd.DataFrame], where: str, params: Sequence[Any]
    ) -> None:
        """Replace the `where` slice of several tables in one transaction (e.g. one vintage)."""
        self.replace_slices(
            {table: TableSlice(frame, where, params) for table, frame in frames.items()}
        )

    def replace_slices(self, slices: Mapping[str, TableSlice]) -> None:
        """Replace each table's own slice, all in one transaction.

        Tables are created from the frames' dtypes, and columns a newer version adds are added.
        """
        with self.transaction() as cur:
            for table, part in slices.items():
                frame = part.frame
                types = {c: sql_type_for(frame[c]) for c in frame.columns}
                existing = self.create_table(cur, table, types)
                added = [c for c in types if existing and c not in existing]
                self.run_ddl(cur, [add_column_sql(table, c, types[c]) for c in added])
                cur.execute(
                    self.placeholders(f"delete from {table} where {part.where}"), list(part.params)
                )
                if len(frame):
                    self.insert_frame(cur, table, frame)

    def placeholders(self, sql: str) -> str:
        """Queries are written with `?`; psycopg wants `%s`."""
        return sql.replace("?", "%s") if self.kind == "postgres" else sql

    def read_sql(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        with self.transaction() as cur:
            cur.execute(self.placeholders(sql), list(params))
            names = [d[0] for d in cur.description]
            return pd.DataFrame(cur.fetchall(), columns=names)

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        frame = self.read_sql(sql, params)
        return None if frame.empty else frame.iat[0, 0]

    def table_exists(self, table: str) -> bool:
        schema, name = table.split(".")
        return bool(
            self.scalar(
                "select count(*) from information_schema.tables "
                "where table_schema = ? and table_name = ?",
                [schema, name],
            )
        )


def is_lock_conflict(error: BaseException) -> bool:
    """DuckDB refusing to open a file that another process is writing to."""
    return type(error).__name__ == "IOException" and "lock" in str(error).lower()


def create_table_sql(table: str, columns: dict[str, str]) -> str:
    cols = ", ".join(f'"{name}" {sql_type}' for name, sql_type in columns.items())
    return f"create table if not exists {table} ({cols})"


def add_column_sql(table: str, column: str, sql_type: str) -> str:
    return f'alter table {table} add column if not exists "{column}" {sql_type}'


class DuckDBWarehouse(Warehouse):
    kind = "duckdb"
    #: DuckDB splits an insert over its threads by row groups (122,880 rows): a batch of a
    #: few groups keeps both cores busy, one small chunk at a time keeps one.
    bulk_insert_rows = 500_000

    def __init__(
        self,
        path: str,
        memory_limit: str | None = None,
        lock_wait_seconds: float = DUCKDB_LOCK_WAIT_SECONDS,
    ) -> None:
        self.path = str(path)
        self.memory_limit = memory_limit
        self.lock_wait_seconds = lock_wait_seconds
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)

    def connect(self) -> Any:
        """Open the file, waiting while another process holds its write lock.

        A DuckDB file takes one writing process. The `warehouse` pool makes steps take turns,
        but a step's process may still hold the file for a moment after its slot is released
        (it ends after reporting success), and on SQLite storage two claims made at the same
        moment can both succeed; the second writer waits instead of failing.
        """
        import duckdb

        config = {"memory_limit": self.memory_limit} if self.memory_limit else {}
        deadline, pause = time.monotonic() + self.lock_wait_seconds, 0.05
        while True:
            try:
                return duckdb.connect(self.path, config=config)
            except duckdb.IOException as error:
                if not is_lock_conflict(error) or time.monotonic() >= deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 1.0)

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """One connection per transaction. With a memory limit DuckDB spills sorts and joins
        to disk instead of growing past it (the quality check's key sort, at millions of rows)."""
        con = self.connect()
        try:
            con.execute("begin transaction")
            yield con
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        finally:
            con.close()

    @contextmanager
    def appender(self, cur: Any, table: str) -> Iterator[Callable[[pa.Table], None]]:
        """Inserts that need not keep the frames' row order, so DuckDB writes a frame's row
        groups in parallel (raw rows carry their file and line; readers sort). Half the
        time of an ordered insert for 500k-row frames on two cores."""
        cur.execute("set session preserve_insertion_order = false")
        yield lambda frame: self.insert_frame(cur, table, frame)
        cur.execute("reset session preserve_insertion_order")

    @contextmanager
    def arrow_batches(
        self, cur: Any, sql: str, params: Sequence[Any], batch_rows: int
    ) -> Iterator[Iterable[pa.RecordBatch]]:
        """In the caller's transaction."""
        yield cur.sql(sql, params=list(params)).to_arrow_reader(batch_rows)

    def insert_frame(self, cur: Any, table: str, frame: pd.DataFrame | pa.Table) -> None:
        """DuckDB scans the Arrow table in place. Not `register`: a registered view keeps its
        table alive until the transaction ends, so a long load would hold every chunk."""
        data = as_arrow(frame)
        cols = ", ".join(f'"{c}"' for c in data.column_names)
        cur.from_arrow(data).query(
            "_scp_frame", f"insert into {table} ({cols}) select {cols} from _scp_frame"
        )


class PostgresWarehouse(Warehouse):
    kind = "postgres"

    def __init__(self, settings: WarehouseSettings) -> None:
        self.settings = settings

    def conninfo(self) -> str:
        """The libpq connection string, values escaped. It holds the password: never log it."""
        from psycopg.conninfo import make_conninfo

        s = self.settings
        return make_conninfo(
            host=s.pg_host,
            port=s.pg_port,
            user=s.pg_user,
            password=s.pg_password or None,
            dbname=s.pg_database,
            client_encoding="UTF8",  # texts as str, converted by the server, never as bytes
        )

    def connect(self) -> Any:
        import psycopg

        return psycopg.connect(self.conninfo())

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self.connect() as con, con.transaction(), con.cursor() as cur:
            yield cur

    @contextmanager
    def arrow_batches(
        self, cur: Any, sql: str, params: Sequence[Any], batch_rows: int
    ) -> Iterator[Iterable[pa.RecordBatch]]:
        """Read by ADBC on a connection of its own, read committed like the caller's: libpq's
        binary COPY decoded to Arrow in C++, where psycopg hands a COPY over one Python object
        per row (the 5M-row MSEG check: 18 s -> 14 s). ADBC sizes the batches itself. The
        parameters are rendered into the query by psycopg: ADBC runs a query with bound
        parameters as a prepared statement, not as a COPY, and returns it as one batch."""
        import adbc_driver_postgresql.dbapi as adbc
        import psycopg

        query = psycopg.ClientCursor(cur.connection).mogrify(self.placeholders(sql), params)
        with adbc.connect(self.conninfo()) as con, con.cursor() as reader:
            reader.execute(query)
            yield reader.fetch_record_batch()

    def analyze(self, cur: Any, table: str) -> None:
        cur.execute(f"analyze {table}")

    def check_database(self, cur: Any) -> None:
        """SAP texts hold any Unicode character: a LATIN1 database would refuse some, and a
        SQL_ASCII one stores bytes without checking them and returns them undecoded."""
        cur.execute("show server_encoding")
        refusal = utf8_refusal(self.settings.pg_database, cur.fetchone()[0])
        if refusal:
            raise ValueError(refusal)

    def lock_ddl(self, cur: Any) -> None:
        cur.execute("select pg_advisory_xact_lock(%s)", [DDL_LOCK_KEY])

    def lock_table(self, cur: Any, table: str) -> None:
        cur.execute("select pg_advisory_xact_lock(%s, hashtext(%s))", [TABLE_LOCK_SPACE, table])

    def insert_frame(self, cur: Any, table: str, frame: pd.DataFrame | pa.Table) -> None:
        """COPY in binary form when every column's type allows it exactly (`pg_binary`),
        else in CSV form written by Arrow's C++ CSV writer: nulls are unquoted empty fields,
        strings are quoted, so '' stays ''."""
        with self.appender(cur, table) as append:
            append(as_arrow(frame))

    @contextmanager
    def appender(self, cur: Any, table: str) -> Iterator[Callable[[pa.Table], None]]:
        """One binary COPY for every frame appended (while the server stores a frame, the
        caller prepares the next); a frame binary cannot carry exactly goes by CSV."""
        types = self.column_types(cur, table)
        current: _BinaryCopy | None = None

        def append(frame: pa.Table) -> None:
            nonlocal current
            rows = encode_copy_rows(frame, types)
            if current is not None and (rows is None or current.columns != frame.column_names):
                current.finish()
                current = None
            if rows is None:
                self._insert_csv(cur, table, frame)
                return
            if current is None:
                current = _BinaryCopy(cur, table, frame.column_names)
            current.write(rows)

        try:
            yield append
        except BaseException as error:
            if current is not None:
                current.abort(error)
            raise
        if current is not None:
            current.finish()

    def _insert_csv(self, cur: Any, table: str, frame: pa.Table) -> None:
        buffer = pa.BufferOutputStream()
        pacsv.write_csv(frame, buffer, pacsv.WriteOptions(include_header=False))
        cols = ", ".join(f'"{c}"' for c in frame.column_names)
        with cur.copy(f"copy {table} ({cols}) from stdin with (format csv)") as copy:
            copy.write(memoryview(buffer.getvalue()))

    def column_types(self, cur: Any, table: str) -> dict[str, str]:
        """Column name -> Postgres type name (`format_type`, e.g. 'character varying')."""
        cur.execute(
            "select attname, format_type(atttypid, null) from pg_attribute "
            "where attrelid = %s::regclass and attnum > 0 and not attisdropped",
            [table],
        )
        return dict(cur.fetchall())


class _BinaryCopy:
    """An open `COPY ... (FORMAT binary)` into one table, for frames with the same columns."""

    def __init__(self, cur: Any, table: str, columns: list[str]) -> None:
        self.columns = columns
        cols = ", ".join(f'"{c}"' for c in columns)
        self._stack = ExitStack()
        self._copy = self._stack.enter_context(
            cur.copy(f"copy {table} ({cols}) from stdin with (format binary)")
        )
        self._copy.write(COPY_HEADER)

    def write(self, rows: memoryview) -> None:
        self._copy.write(rows)

    def finish(self) -> None:
        self._copy.write(COPY_TRAILER)
        self._stack.close()

    def abort(self, error: BaseException) -> None:
        """End the COPY with the caller's error, so the server discards it."""
        self._stack.__exit__(type(error), error, error.__traceback__)


def as_arrow(frame: pd.DataFrame | pa.Table) -> pa.Table:
    """The Arrow form both engines bulk-load from (pandas NaN/NaT/None become nulls)."""
    return (
        frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    )


def date_window_params(window: tuple[date, date]) -> list[str]:
    return [window[0].isoformat(), window[1].isoformat()]
