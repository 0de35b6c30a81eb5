"""Load SAP extract files into `raw.*`: parse, quarantine, and replace a window atomically.

Pure of Dagster: the raw assets call `load_table` with the files of their partition window.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import pyarrow as pa

from pipelines.ingest.landing import (
    MANIFEST_TABLE,
    LandingNameError,
    Origin,
    delivered_origins,
    ensure_manifest,
    file_checksum,
    from_refused_reading,
    landing_file_name,
    parse_landing_name,
    record_loaded,
)
from pipelines.ingest.reader import (
    EXTRA_COLUMN,
    REJECT_COLUMNS,
    ReaderSettings,
    SapFileError,
    SapFileReader,
)
from pipelines.ingest.specs import TABLE_SPECS, TableSpec
from resources.warehouse import (
    QUARANTINE_COLUMNS,
    QUARANTINE_TABLE,
    Cursor,
    Warehouse,
    add_column_sql,
    as_arrow,
    create_table_sql,
)

T = TypeVar("T")
_END = object()

LINEAGE_COLUMNS = {"_source_file": "VARCHAR", "_source_line": "BIGINT", "_loaded_at": "TIMESTAMP"}
_SQL_TYPES = {
    "text": "VARCHAR",
    "alpha": "VARCHAR",
    "decimal": "DOUBLE PRECISION",
    "integer": "BIGINT",
    "date": "DATE",
}


def raw_table_columns(spec: TableSpec) -> dict[str, str]:
    """The raw DDL of a table, read from its spec."""
    columns = {col.sql_name: _SQL_TYPES[col.kind] for col in spec.columns}
    return columns | {EXTRA_COLUMN: "VARCHAR"} | LINEAGE_COLUMNS


def raw_table_ddl(warehouse: Warehouse, cur: Cursor, spec: TableSpec) -> list[str]:
    """The DDL a raw table still needs: create it, or add the columns a newer spec declares
    (loads insert by column name), and its partition index. Empty when it is up to date."""
    table = f"raw.{spec.raw_table}"
    columns = raw_table_columns(spec)
    existing = set(warehouse.table_columns(cur, table))
    if existing:
        statements = [add_column_sql(table, n, t) for n, t in columns.items() if n not in existing]
    else:
        statements = [create_table_sql(table, columns)]
    index = partition_index(warehouse, spec)
    if index is not None:
        cur.execute("select to_regclass(%s) is null", [index.name])
        if cur.fetchone()[0]:
            statements.append(index.create)
    return statements


@dataclass(frozen=True)
class PartitionIndex:
    name: str  # schema-qualified
    create: str


def partition_index(warehouse: Warehouse, spec: TableSpec) -> PartitionIndex | None:
    """On Postgres a transactional raw table has a b-tree on its partition column, which every
    load's window delete filters on. DuckDB prunes by its own min/max zone maps, and an index
    would only slow its inserts."""
    if warehouse.kind != "postgres" or spec.partition_column is None:
        return None
    column = spec.partition_column.lower()
    index = f"{spec.raw_table}_{column}_idx"
    return PartitionIndex(
        f"raw.{index}", f"create index if not exists {index} on raw.{spec.raw_table} ({column})"
    )


def read_ahead(items: Iterator[T], thread: Executor) -> Iterator[T]:
    """Yield `items`, computing the next one on `thread` while the caller handles this one.

    The reader (pyarrow, numpy) and the bulk insert (COPY on the server, DuckDB's own threads)
    both spend most of their time outside the GIL, so on two cores they overlap. Holds one
    item more in memory; an error in the next item is raised when it is reached.
    """
    pending = thread.submit(next, items, _END)
    while (item := pending.result()) is not _END:
        pending = thread.submit(next, items, _END)
        yield item


def window_file_names(spec: TableSpec, window: tuple[date, date] | None) -> list[str]:
    """The landing file names that hold a table's rows for a window (end exclusive)."""
    if window is None:
        return [landing_file_name(spec)]
    start, end = window
    return [landing_file_name(spec, start + timedelta(days=n)) for n in range((end - start).days)]


def files_for_window(
    landing_dir: Path, spec: TableSpec, window: tuple[date, date] | None
) -> list[Path]:
    """The window's files present in a local landing folder."""
    paths = (Path(landing_dir) / name for name in window_file_names(spec, window))
    return [path for path in paths if path.exists()]


@dataclass
class FileLoad:
    """One file of a load: its checksum, the format it was read with and its row counts."""

    name: str
    checksum: str
    size_bytes: int
    detected_format: dict[str, str] = field(default_factory=dict)
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    #: loaded rows the suite's value-set rules will reject (`quality.load_rules`), and per rule
    rows_failing_rules: int = 0
    failing_by_rule: dict[str, int] = field(default_factory=dict)
    refused: bool = False  # not loaded (`reason`): its day kept the previous rows
    error: str | None = None  # a file-level problem that stopped its reading
    #: the archived delivery a refused file is to be followed by (`_name_deliveries_to_restore`)
    restored_delivery: str | None = None
    #: the name that delivery came under
    restored_name: str | None = None
    #: whether that delivery's rows are what raw holds (else it was never loaded)
    restored_was_loaded: bool = False

    @property
    def quarantined_share(self) -> float:
        return self.rows_quarantined / self.rows_read if self.rows_read else 0.0

    def refusal(self, threshold: float) -> str | None:
        """Why this file must not replace its day, if it must not: its rows rejected by the
        reader and those the quality suite would reject after the load count alike."""
        if self.error is not None:
            return self.error + self._predecessor_hint()
        rejected = self.rows_quarantined + self.rows_failing_rules
        if over_threshold(rejected, self.rows_read, threshold):
            share = rejected / self.rows_read
            reason = f"{rejected} of {self.rows_read} rows rejected ({share:.2%} > {threshold:.2%})"
            if self.rows_failing_rules:
                rules = ", ".join(f"{label} {n}" for label, n in self.failing_by_rule.items())
                reason += f", {self.rows_failing_rules} of them by the quality suite ({rules})"
            return reason + self._predecessor_hint()
        return None

    def _predecessor_hint(self) -> str:
        if self.restored_delivery is None:
            return ""
        if self.restored_was_loaded:
            return (
                f"; archive/{self.restored_delivery}, the delivery whose rows raw keeps, is "
                "dropped into incoming/ again, so that the landing zone holds what raw holds"
            )
        return (
            f"; the delivery it replaced was never loaded: archive/{self.restored_delivery} "
            "is dropped into incoming/ again, to load in its place"
        )


@dataclass
class LoadReport:
    """What a load read, kept and rejected; it becomes asset metadata and the manifest."""

    table: str
    file_loads: list[FileLoad] = field(default_factory=list)
    threshold: float = 1.0  # the largest share of rejected rows a file may have

    @property
    def refused(self) -> list[FileLoad]:
        return [f for f in self.file_loads if f.refused]

    @property
    def files(self) -> list[str]:
        return [f.name for f in self.file_loads]

    @property
    def checksums(self) -> dict[str, str]:
        return {f.name: f.checksum for f in self.file_loads}

    @property
    def formats(self) -> dict[str, dict[str, str]]:
        return {f.name: f.detected_format for f in self.file_loads}

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.file_loads)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.file_loads)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.file_loads)

    @property
    def quarantined_share(self) -> float:
        return self.rows_quarantined / self.rows_read if self.rows_read else 0.0

    @property
    def accepted_share(self) -> float:
        """The rejected share of the files that were loaded: a refused file's rows never
        reached raw, and it fails its own day (`failures`), not the others."""
        accepted = [f for f in self.file_loads if not f.refused]
        read = sum(f.rows_read for f in accepted)
        return sum(f.rows_quarantined for f in accepted) / read if read else 0.0

    def failures(self) -> dict[str | None, str]:
        """Why the load's blocking check fails, by partition key; None: every partition of the
        load. A refused file fails its day (its file name's); the pooled share of the files
        loaded (many files with one rejected row each) fails them all."""
        failed: dict[str | None, str] = {
            partition_key_of(f.name): str(f.refusal(self.threshold)) for f in self.refused
        }
        if pooled := self.pooled_failure():
            failed[None] = pooled
        return failed

    def pooled_failure(self) -> str | None:
        """Why the files loaded fail together, if they do: their pooled rejected share."""
        if self.accepted_share <= self.threshold:
            return None
        return (
            f"{self.accepted_share:.2%} of the rows of the files loaded were rejected "
            f"(threshold {self.threshold:.2%})"
        )


def _identity(path: Path) -> tuple[int, int, int]:
    info = os.stat(path)
    return info.st_ino, info.st_size, info.st_mtime_ns


def _file_day(name: str) -> date | None:
    try:
        return parse_landing_name(name).day
    except LandingNameError:
        return None


def partition_key_of(name: str) -> str | None:
    """The partition key of a landing file's day, None for a name without one."""
    day = _file_day(name)
    return day.isoformat() if day else None


def file_window(name: str, window: tuple[date, date] | None) -> tuple[date, date] | None:
    """The days a file's rows may lie on: its own day when its name has one, else the run's
    window. A file then loads the same rows in a range run as in a run of its day alone, and
    a later load of another day never deletes a row this file brought."""
    day = _file_day(name)
    if window is None or day is None:
        return window
    return day, day + timedelta(days=1)


def replaced_ranges(names: Sequence[str], window: tuple[date, date]) -> list[tuple[date, date]]:
    """The day ranges (end exclusive) a load of these files replaces: a dated file its own day,
    an undated one (a single extract for the window) the whole window. A day of the window
    without a file keeps its rows: a missing delivery is not an empty day."""
    days = {_file_day(name) for name in names}
    if None in days:
        return [window]
    ranges: list[tuple[date, date]] = []
    for day in sorted(d for d in days if d is not None):
        if ranges and ranges[-1][1] == day:
            ranges[-1] = (ranges[-1][0], day + timedelta(days=1))
        else:
            ranges.append((day, day + timedelta(days=1)))
    return ranges


def _ranges_sql(column: str, ranges: Sequence[tuple[date, date]]) -> tuple[str, list[str]]:
    where = " or ".join(f"({column} >= ? and {column} < ?)" for _ in ranges)
    return f"({where or 'false'})", [day.isoformat() for pair in ranges for day in pair]


def load_table(
    warehouse: Warehouse,
    spec: TableSpec,
    files: Sequence[Path],
    window: tuple[date, date] | None,
    run_id: str,
    settings: ReaderSettings | None = None,
    chunk_rows: int = 100_000,
    threshold: float | None = None,
) -> LoadReport:
    """Replace the days of `files` in the window (required for a daily table), or the whole
    master table, with their rows.

    One transaction: the files' rows and rejects are inserted, then the rows they replace and
    their old quarantine records deleted, and the files' manifest rows completed, so a failure
    midway leaves the previous partition (and manifest) intact. A file is refused when it has
    more rejected rows than `threshold` allows (default `SCP_QUARANTINE_THRESHOLD`, see
    `over_threshold`) or cannot be read to its end (`SapFileError`: an encoding error midway, a
    missing column): its rejects, and the file-level error with its line and column, stay in
    quarantine, but its rows are taken out again and its day keeps what it held. So a broken
    re-delivery never replaces a good day, and one broken file of a range run does not hold
    back the others. A file replaced
    on disk while it is read (a new delivery placed by the landing sensor) fails the load: its
    checksum would not describe what was loaded, and the new delivery has a run of its own.
    Timestamps are UTC; `_loaded_at` tells this load's rows from the ones they replace.
    """
    from pipelines.ingest.quality import QualityRules, failing_rows, load_rules  # imports us

    if spec.is_partitioned and window is None:
        # Without a window a daily table's load would replace every day, not its files' days.
        raise ValueError(f"load_table: window is required for the daily table {spec.name}")
    quality_rules = QualityRules.from_env()
    if threshold is None:
        threshold = quality_rules.threshold
    table = f"raw.{spec.raw_table}"
    report = LoadReport(table=table, threshold=threshold)
    loaded_at = datetime.now(UTC).replace(tzinfo=None)  # UTC, as the manifest

    with warehouse.transaction() as cur:
        # In a transaction of its own: the DDL lock is held to its end, and the loads of every
        # other table wait for it whenever they need DDL (a fresh warehouse, a new column).
        warehouse.run_ddl(cur, raw_table_ddl(warehouse, cur, spec))
        ensure_manifest(warehouse, cur)
    with warehouse.transaction() as cur, ThreadPoolExecutor(1) as parser:
        warehouse.lock_table(cur, table)
        cur.execute(f"select not exists (select 1 from {table})")
        was_empty = bool(cur.fetchone()[0])
        # Into an empty table (a first load, a history backfill) the index is built after the
        # rows, with one sort, instead of taking them one by one: 5M MSEG rows load in 17 s
        # instead of 20.6 s. Later loads keep it, as readers may be using it.
        index = partition_index(warehouse, spec)
        if index is not None and was_empty:
            cur.execute(f"drop index {index.name}")
        elif index is not None:
            index = None

        def open_reader(path: Path) -> SapFileReader:
            days = file_window(path.name, window)
            return SapFileReader(path, spec, settings, chunk_rows, partition_window=days)

        origins = delivered_origins(warehouse, cur, spec.name, [p.name for p in files], "checksum")
        rules = load_rules(warehouse, cur, spec, quality_rules)
        failing = partial(failing_rows, rules=rules)
        held = partial(_rows_held, warehouse, cur, table)
        with InsertBatch(warehouse, cur, max(chunk_rows, warehouse.bulk_insert_rows)) as batch:
            for path in files:
                load = _load_file(
                    path,
                    spec,
                    open_reader,
                    origins,
                    batch,
                    parser,
                    run_id,
                    loaded_at,
                    failing,
                    held,
                )
                report.file_loads.append(load)
        for load in report.file_loads:
            load.refused = load.refusal(threshold) is not None
            if load.refused:
                load.rows_loaded = 0  # taken out again by _replace_rows
        _replace_rows(warehouse, cur, spec, report, window, loaded_at, was_empty)
        _replace_quarantine(warehouse, cur, spec, report, loaded_at)
        _restore_kept_deliveries(warehouse, cur, spec, report)
        _name_deliveries_to_restore(warehouse, cur, spec, report)
        if index is not None:
            cur.execute(index.create)
        warehouse.analyze(cur, table)
        if report.file_loads:
            record_loaded(warehouse, cur, manifest_rows(spec, report, run_id, loaded_at))
    return report


def over_threshold(rejected: int, rows: int, threshold: float) -> bool:
    """More than `threshold` of a file's rows rejected, and more than one: a share says little
    of a small file (one bad row of a 35-row day is 2.9 %), so one row is tolerated; the
    pooled share of the load still fails the checks."""
    return rejected > max(threshold * rows, 1)


def _replace_rows(
    warehouse: Warehouse,
    cur: Cursor,
    spec: TableSpec,
    report: LoadReport,
    window: tuple[date, date] | None,
    loaded_at: datetime,
    was_empty: bool,
) -> None:
    """Delete the rows this load's accepted files replace, and the refused files' new rows."""
    table = f"raw.{spec.raw_table}"
    accepted = [f.name for f in report.file_loads if not f.refused]
    if not was_empty and accepted:
        where, params = "true", []
        if window is not None:
            where, params = _ranges_sql(
                str(spec.partition_column).lower(), replaced_ranges(accepted, window)
            )
        cur.execute(
            warehouse.placeholders(
                f"delete from {table} where {where} and _loaded_at is distinct from ?"
            ),
            [*params, loaded_at],
        )
    if report.refused:
        marks = ", ".join("?" for _ in report.refused)
        cur.execute(
            warehouse.placeholders(
                f"delete from {table} where _loaded_at = ? and _source_file in ({marks})"
            ),
            [loaded_at, *(f.name for f in report.refused)],
        )


def _replace_quarantine(
    warehouse: Warehouse, cur: Cursor, spec: TableSpec, report: LoadReport, loaded_at: datetime
) -> None:
    """Delete the quarantine records this load's files replace. An accepted file's rows were
    all read again, so every older record of its name goes (the loader's and the checks'),
    but those of a refused delivery, the evidence of its refusal (`from_refused_reading`).
    A refused file's day keeps the rows of the delivery before it, and with them that
    delivery's records; only those of an earlier refused reading of the same bytes go (they
    carry its `loaded_at`, which the manifest row of that checksum keeps)."""
    accepted = [f for f in report.file_loads if not f.refused]
    manifest = warehouse.table_columns(cur, MANIFEST_TABLE)
    if accepted:
        marks = ", ".join("?" for _ in accepted)
        kept, same_bytes = "", []
        if manifest:  # the evidence of refused deliveries, but of these very bytes
            kept = f" and not {from_refused_reading(QUARANTINE_TABLE, len(accepted))}"
            same_bytes = [f"{f.name}:{f.checksum}" for f in accepted]
        cur.execute(
            warehouse.placeholders(
                f"delete from {QUARANTINE_TABLE} where table_name = ? and source_file in "
                f"({marks}) and rejected_at is distinct from ?{kept}"
            ),
            [spec.name, *(f.name for f in accepted), loaded_at, *same_bytes],
        )
    if report.refused and manifest:
        for load in report.refused:
            cur.execute(
                warehouse.placeholders(
                    f"delete from {QUARANTINE_TABLE} where table_name = ? and source_file = ? "
                    f"and rejected_at in (select loaded_at from {MANIFEST_TABLE} where "
                    "canonical_name = ? and checksum = ? and status in ('refused', 'superseded') "
                    "and reason is not null)"
                ),
                [spec.name, load.name, load.name, load.checksum],
            )


def _restore_kept_deliveries(
    warehouse: Warehouse, cur: Cursor, spec: TableSpec, report: LoadReport
) -> None:
    """The landing sensor marks a day's delivery superseded when the next one arrives. If that
    next one is refused, the day keeps the earlier delivery's rows, so its manifest row says
    `loaded` again: the one whose load time the rows carry."""
    if not report.refused or not warehouse.table_columns(cur, MANIFEST_TABLE):
        return
    table = f"raw.{spec.raw_table}"
    for load in report.refused:
        cur.execute(
            warehouse.placeholders(
                f"update {MANIFEST_TABLE} set status = 'loaded' where canonical_name = ? "
                "and table_name = ? and status = 'superseded' and loaded_at = "
                f"(select max(_loaded_at) from {table} where _source_file = ?)"
            ),
            [load.name, spec.name, load.name],
        )


def _name_deliveries_to_restore(
    warehouse: Warehouse, cur: Cursor, spec: TableSpec, report: LoadReport
) -> None:
    """The archived delivery each refused file is to be followed by, for the raw asset to drop
    it again (`landing.redeliver`), so that the landing zone's current file is one raw holds
    or will: a repair or backfill of the day then reads it, not the refused file again.

    A delivery superseded while its run still waited was never loaded: the latest such one
    comes back, to load in the refused one's place. Else the delivery whose rows raw kept
    (`_restore_kept_deliveries` marked it loaded) comes back, to load again as it is. Each
    once: not one delivered again since, or with the refused one's bytes, and none while a
    newer delivery waits for its run."""
    if not report.refused or not warehouse.table_columns(cur, MANIFEST_TABLE):
        return
    for load in report.refused:
        cur.execute(
            warehouse.placeholders(
                "select archive_name, file_name, rows_loaded is not null "
                f"from {MANIFEST_TABLE} as m "
                "where canonical_name = ? and table_name = ? and archive_name is not null "
                "and checksum <> ? and ((status = 'superseded' and rows_loaded is null) "
                "or status = 'loaded') and not exists (select 1 from "
                f"{MANIFEST_TABLE} as later where later.canonical_name = m.canonical_name "
                "and later.table_name = m.table_name and later.received_at > m.received_at "
                "and (later.status = 'loaded' or later.checksum = m.checksum "
                "or (later.status = 'received' and later.checksum <> ?))) "
                "order by received_at desc limit 1"
            ),
            [load.name, spec.name, load.checksum, load.checksum],
        )
        found = cur.fetchone()
        if found:
            load.restored_delivery, load.restored_name = found[0], found[1]
            load.restored_was_loaded = bool(found[2])


#: Why a master extract without records is refused: it replaces the whole table. A day
#: without postings is a real day, so an empty day file is loaded, unless raw holds rows of
#: its day from an earlier delivery: SAP keeps postings, so an empty re-extract is an export
#: whose selection found nothing.
_EMPTY_MASTER = (
    "no records (a header only, or ALV totals only): a master extract replaces the whole "
    "table, and this one would empty raw.{table}"
)
_EMPTY_REDELIVERY = (
    "no records (a header only, or ALV totals only), but raw.{table} holds {rows} rows of this "
    "day from an earlier delivery: an export whose selection found nothing would empty a day "
    "with postings. If the day really has none now, delete its rows from raw.{table} and drop "
    "the file again"
)


def _rows_held(warehouse: Warehouse, cur: Cursor, table: str, name: str) -> int:
    cur.execute(
        warehouse.placeholders(f"select count(*) from {table} where _source_file = ?"), [name]
    )
    return int(cur.fetchone()[0])


def _load_file(
    path: Path,
    spec: TableSpec,
    open_reader: Callable[[Path], SapFileReader],
    origins: dict[tuple[str, Any], Origin],
    batch: InsertBatch,
    parser: Executor,
    run_id: str,
    loaded_at: datetime,
    failing: Callable[[pa.Table], tuple[int, dict[str, int]]],
    held: Callable[[str], int],
) -> FileLoad:
    """Add one file's parsed chunks and rejects to `batch`; its manifest counts (`held`: the
    rows raw holds from a file of this name). A file-level
    error ends the file, not the load: it is recorded (`FileLoad.error`, one quarantine record
    with its line and column) and the file is refused."""
    before = _identity(path)
    stats = FileLoad(path.name, file_checksum(path), before[1])
    origin = origins.get((path.name, stats.checksum), Origin(path.name))
    reader: SapFileReader | None = None
    try:
        reader = open_reader(path)
        for chunk in read_ahead(reader.chunks(), parser):
            rejected_lines = chunk.rejects["source_line"].nunique() if len(chunk.rejects) else 0
            stats.rows_read += chunk.table.num_rows + rejected_lines
            if chunk.table.num_rows:
                batch.add(f"raw.{spec.raw_table}", raw_rows(chunk.table, spec, loaded_at))
                stats.rows_loaded += chunk.table.num_rows
                count, by_rule = failing(chunk.table)
                stats.rows_failing_rules += count
                for label, count in by_rule.items():
                    stats.failing_by_rule[label] = stats.failing_by_rule.get(label, 0) + count
            if rejected_lines:
                rejects = to_quarantine_frame(chunk.rejects, run_id, loaded_at, origin)
                batch.add(QUARANTINE_TABLE, rejects)
                stats.rows_quarantined += rejected_lines
        if not spec.is_partitioned and not stats.rows_read:
            raise SapFileError(path, _EMPTY_MASTER.format(table=spec.raw_table))
        if not stats.rows_read and (rows := held(path.name)):
            raise SapFileError(path, _EMPTY_REDELIVERY.format(table=spec.raw_table, rows=rows))
    except SapFileError as exc:
        stats.error = exc.naming(path.name)
        record = file_error_record(spec, path.name, exc, run_id, loaded_at, origin)
        batch.add(QUARANTINE_TABLE, record)
    if _identity(path) != before:
        raise SapFileError(path, "the file was replaced while it was being loaded")
    if reader is not None:  # a reader that was constructed has detected its format
        stats.detected_format = reader.detected.as_metadata()  # final (encoding may change)
    return stats


def file_error_record(
    spec: TableSpec, name: str, error: SapFileError, run_id: str, at: datetime, origin: Origin
) -> pd.DataFrame:
    """The quarantine record of a file that could not be read to its end."""
    record = {
        "table": spec.name,
        "source_file": name,
        "source_line": error.line,
        "column_name": error.column,
        "reason": f"file refused: {error.problem}",
        "raw_record": None,
    }
    frame = pd.DataFrame([record], columns=list(REJECT_COLUMNS))
    frame["source_line"] = frame["source_line"].astype("Int64")
    return to_quarantine_frame(frame, run_id, at, origin)


class InsertBatch:
    """Collects small frames (one SAP file per day) into inserts of about `rows` rows, and
    appends them through one open bulk stream per table (one COPY on Postgres, so the
    server stores a batch while the next is parsed). Flushed when the `with` block ends.

    A year of daily files is thousands of tiny frames; one insert per file costs more in
    per-statement overhead than the data itself.
    """

    def __init__(self, warehouse: Warehouse, cur: Any, rows: int) -> None:
        self.warehouse, self.cur, self.rows = warehouse, cur, rows
        self.pending: dict[str, list[pd.DataFrame | pa.Table]] = {}
        self.pending_rows: dict[str, int] = {}
        self._stream: tuple[str, ExitStack, Callable[[pa.Table], None]] | None = None

    def __enter__(self) -> InsertBatch:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: Any
    ) -> None:
        if error is None:
            for table in list(self.pending):
                self._insert(table)
        if self._stream is not None:
            self._stream[1].__exit__(kind, error, tb)
            self._stream = None

    def add(self, table: str, frame: pd.DataFrame | pa.Table) -> None:
        self.pending.setdefault(table, []).append(frame)
        self.pending_rows[table] = self.pending_rows.get(table, 0) + len(frame)
        if self.pending_rows[table] >= self.rows:
            self._insert(table)

    def _insert(self, table: str) -> None:
        frames = self.pending.pop(table, [])
        self.pending_rows.pop(table, None)
        if frames:
            # chunks of one table may differ in inferred types (a column all null is `null`)
            frame = pa.concat_tables([as_arrow(f) for f in frames], promote_options="default")
            self._append_to(table)(frame)

    def _append_to(self, table: str) -> Callable[[pa.Table], None]:
        if self._stream is not None and self._stream[0] == table:
            return self._stream[2]
        if self._stream is not None:
            self._stream[1].close()
        stack = ExitStack()
        append = stack.enter_context(self.warehouse.appender(self.cur, table))
        self._stream = (table, stack, append)
        return append


def manifest_rows(
    spec: TableSpec, report: LoadReport, run_id: str, loaded_at: datetime
) -> list[dict[str, object]]:
    """The manifest rows a load completes (or adds, for files placed without the sensor)."""
    return [
        {
            "file_name": load.name,
            "canonical_name": load.name,
            "table_name": spec.name,
            "partition_key": partition_key_of(load.name),
            "checksum": load.checksum,
            "size_bytes": load.size_bytes,
            "status": "refused" if load.refused else "loaded",
            "reason": load.refusal(report.threshold),
            "detected_format": json.dumps(load.detected_format, sort_keys=True),
            "rows_read": load.rows_read,
            "rows_loaded": load.rows_loaded,
            "rows_quarantined": load.rows_quarantined,
            "run_id": run_id,
            "received_at": loaded_at,
            "loaded_at": loaded_at,
        }
        for load in report.file_loads
    ]


def raw_rows(parsed: pa.Table, spec: TableSpec, loaded_at: datetime) -> pa.Table:
    """A parsed chunk (`ParsedChunk.table`) in raw-table shape: lower-case SAP names plus
    lineage, still Arrow, so both engines bulk-load it without a pandas copy."""
    lineage = ["_source_file", "_source_line"]
    names = [*(c.lower() for c in spec.column_names), *lineage]
    loaded = pa.repeat(pa.scalar(loaded_at, pa.timestamp("us")), parsed.num_rows)
    rows = parsed.select([*spec.column_names, *lineage]).rename_columns(names)
    extra = parsed.column(EXTRA_COLUMN) if EXTRA_COLUMN in parsed.column_names else None
    rows = rows.append_column(EXTRA_COLUMN, extra or pa.nulls(parsed.num_rows, pa.string()))
    return rows.append_column("_loaded_at", loaded)


def to_quarantine_frame(
    rejects: pd.DataFrame, run_id: str, at: datetime, origin: Origin
) -> pd.DataFrame:
    """The reader's rejects as quarantine records, located in the file as delivered too."""
    frame = rejects.rename(columns={"table": "table_name"}).copy()
    frame["run_id"] = run_id
    frame["rejected_at"] = at
    frame["delivered_file"] = origin.file_name
    frame["delivered_line"] = origin.lines(frame["source_line"].tolist()).array
    return frame[list(QUARANTINE_COLUMNS)]


__all__ = [
    "FileLoad",
    "LoadReport",
    "files_for_window",
    "window_file_names",
    "landing_file_name",
    "load_table",
    "raw_table_columns",
]


def ensure_raw_tables(warehouse: Warehouse) -> None:
    """Create every declared raw table that is missing, so dbt can build on a fresh warehouse.

    Master data may arrive before the first transactional day (or the reverse); sources that
    exist but are empty keep every model buildable in any order.
    """
    with warehouse.transaction() as cur:
        statements = [
            s for spec in TABLE_SPECS.values() for s in raw_table_ddl(warehouse, cur, spec)
        ]
        warehouse.run_ddl(cur, statements)
