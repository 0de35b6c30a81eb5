"""Load SAP extract files into `raw.*`: parse, quarantine, and replace a window atomically.

Pure of Dagster: the raw assets call `load_table` with the files of their partition window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd

from pipelines.ingest.reader import ReaderSettings, SapFileReader
from pipelines.ingest.specs import TableSpec
from resources.warehouse import QUARANTINE_COLUMNS, QUARANTINE_TABLE, Warehouse, create_table_sql

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
    return columns | LINEAGE_COLUMNS


def landing_file_name(spec: TableSpec, day: date | None = None) -> str:
    """`MARA.csv` for master data, `MSEG_20250131.csv` for a transactional day."""
    if spec.is_partitioned:
        if day is None:
            raise ValueError(f"{spec.name} is partitioned: a day is required for its file name")
        return f"{spec.name}_{day:%Y%m%d}.csv"
    return f"{spec.name}.csv"


def files_for_window(
    landing_dir: Path, spec: TableSpec, window: tuple[date, date] | None
) -> list[Path]:
    """The landing files that hold a table's rows for a window (end exclusive)."""
    if window is None:
        candidate = landing_dir / landing_file_name(spec)
        return [candidate] if candidate.exists() else []
    start, end = window
    days = (start + timedelta(days=offset) for offset in range((end - start).days))
    paths = (landing_dir / landing_file_name(spec, day) for day in days)
    return [path for path in paths if path.exists()]


@dataclass
class LoadReport:
    """What a load read, kept and rejected; it becomes asset metadata and the manifest."""

    table: str
    files: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    formats: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def quarantined_share(self) -> float:
        return self.rows_quarantined / self.rows_read if self.rows_read else 0.0


def load_table(
    warehouse: Warehouse,
    spec: TableSpec,
    files: Sequence[Path],
    window: tuple[date, date] | None,
    run_id: str,
    settings: ReaderSettings | None = None,
    chunk_rows: int = 100_000,
) -> LoadReport:
    """Replace the window (or the whole master table) with the rows of `files`.

    One transaction: the window's old rows and their quarantine records are deleted and the
    new ones inserted, so a failure midway leaves the previous partition intact.
    """
    table = f"raw.{spec.raw_table}"
    report = LoadReport(table=table)
    loaded_at = datetime.now().replace(microsecond=0)
    if window is None:
        where, params = "true", []
    else:
        where = f"{spec.partition_column.lower()} >= ? and {spec.partition_column.lower()} < ?"
        params = [window[0].isoformat(), window[1].isoformat()]

    with warehouse.transaction() as cur:
        cur.execute(create_table_sql(table, raw_table_columns(spec)))
        cur.execute(warehouse.placeholders(f"delete from {table} where {where}"), params)
        if files:
            marks = ", ".join("?" for _ in files)
            cur.execute(
                warehouse.placeholders(
                    f"delete from {QUARANTINE_TABLE} where table_name = ? "
                    f"and source_file in ({marks})"
                ),
                [spec.name, *(path.name for path in files)],
            )
        for path in files:
            reader = SapFileReader(path, spec, settings, chunk_rows, partition_window=window)
            report.files.append(path.name)
            report.formats[path.name] = reader.detected.as_metadata()
            for chunk in reader.chunks():
                rejected_lines = chunk.rejects["source_line"].nunique() if len(chunk.rejects) else 0
                report.rows_read += len(chunk.rows) + rejected_lines
                if len(chunk.rows):
                    warehouse.insert_frame(cur, table, to_raw_frame(chunk.rows, spec, loaded_at))
                    report.rows_loaded += len(chunk.rows)
                if rejected_lines:
                    quarantine = to_quarantine_frame(chunk.rejects, run_id, loaded_at)
                    warehouse.insert_frame(cur, QUARANTINE_TABLE, quarantine)
                    report.rows_quarantined += rejected_lines
    return report


def to_raw_frame(rows: pd.DataFrame, spec: TableSpec, loaded_at: datetime) -> pd.DataFrame:
    """Parsed rows in raw-table shape: lower-case SAP names plus lineage columns."""
    frame = rows[[*spec.column_names, "_source_file", "_source_line"]].copy()
    frame.columns = [*(c.lower() for c in spec.column_names), "_source_file", "_source_line"]
    frame["_loaded_at"] = loaded_at
    return frame


def to_quarantine_frame(rejects: pd.DataFrame, run_id: str, at: datetime) -> pd.DataFrame:
    frame = rejects.rename(columns={"table": "table_name"}).copy()
    frame["run_id"] = run_id
    frame["rejected_at"] = at
    return frame[list(QUARANTINE_COLUMNS)]
