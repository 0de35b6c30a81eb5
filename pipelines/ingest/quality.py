"""Quality suites for the raw SAP tables: Great Expectations 1.x, derived from the table specs.

The reader already rejects what one file can show to be wrong. The suites check what `raw.*`
actually holds for a partition window, which a single file cannot: a key delivered again in
another day's file, a plant that is missing from `raw.t001w`, an SAP unit nobody maps, rows that
reached raw by another path. Rules come from the spec (keys, required columns, numeric
columns, partition column, allowed values) plus business rules (`QualityRules`: known units,
known plants, the quarantine threshold).

A window's rows are those dated inside it, those with no date, and those from the window's
landing files (so a row of `MSEG_20250131.csv` dated in February is seen, and rejected).
Rows that fail are moved in one transaction from raw to `quarantine.rejected_rows` with
reason, source file and line, as the loader does with the records it rejects, so what raw
holds afterwards is clean and a re-run finds nothing new. The quarantined share counts the
window files' earlier quarantine records too (loader and check), so a re-run reports the
same share and cannot turn a failed check green. Reloading a partition restores its files'
rows and clears their quarantine records (the loader does that), so the pair is idempotent.

Memory is bounded by `chunk_rows`: the window is streamed sorted by key and cut into chunks
that never split a key group, so uniqueness per chunk is uniqueness over the window. The next
chunk is read and converted on a thread while GX validates this one (the engine's read and
Arrow's conversion run mostly outside the GIL), so two chunks are held at a time. GX is
imported inside the functions that run it (about 2.6 s and 280 MB), never at definitions load.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.ingest.landing import (
    MANIFEST_TABLE,
    delivered_origins,
    from_refused_reading,
    landing_file_name,
)
from pipelines.ingest.load import over_threshold, partition_key_of, raw_table_columns, read_ahead
from pipelines.ingest.specs import TableSpec
from resources.warehouse import QUARANTINE_COLUMNS, QUARANTINE_TABLE, Cursor, Warehouse

DEFAULT_THRESHOLD = 0.01
#: SAP base units the planning models understand (ST = piece, KAR = carton).
DEFAULT_UNITS = ("ST", "KG", "L", "KAR", "PAK", "EA", "PC")
#: Unit-of-measure columns checked against the known units.
UNIT_COLUMNS = ("MEINS", "VRKME")
#: Plant columns checked against `raw.t001w` (the valuation area BWKEY is the plant here).
PLANT_COLUMNS = ("WERKS", "BWKEY")
LINEAGE = ("_source_file", "_source_line")
#: Tables whose failure must stop downstream: they feed demand, supply, stock and lead times.
CRITICAL_TABLES = frozenset(
    {
        "T001W",
        "MARA",
        "MARC",
        "MARD",
        "EINE",
        "EKKO",
        "EKPO",
        "EKET",
        "EKBE",
        "VBAK",
        "VBAP",
        "MKPF",
        "MSEG",
    }
)
DEFAULT_CHUNK_ROWS = 500_000
_NUMERIC_DTYPES = ["float64", "float32", "Float64", "int64", "int32", "Int64", "Int32"]
_ROW_ID = "_row_id"
#: A Postgres row's ctid as text, "(block,item)": cheap to print (an integer made from it
#: added 1 s to the server's 6.5 s sorted read-back of 5M rows) and cast back by `::tid[]`.
_PG_ROW_ID = "ctid::text"

RuleKind = Literal["not_null", "unique", "numeric", "in_window", "in_set"]


class QualityError(ValueError):
    """A bad quality setting; the message names the parameter or environment variable."""


@dataclass(frozen=True)
class QualityRules:
    """Business rules on top of the specs, and the share of rejected rows a load may have."""

    known_units: tuple[str, ...] = DEFAULT_UNITS
    known_plants: tuple[str, ...] | None = None  # None: not looked up, the rule is left out
    threshold: float = DEFAULT_THRESHOLD

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:  # also false for NaN
            raise QualityError(f"threshold must be a share in [0, 1], got {self.threshold!r}")
        if not self.known_units:
            raise QualityError("known_units must name at least one unit")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> QualityRules:
        """`SCP_QUARANTINE_THRESHOLD` (share, default 0.01) and `SCP_KNOWN_UNITS` (comma list)."""
        env = os.environ if environ is None else environ
        text = env.get("SCP_QUARANTINE_THRESHOLD", str(DEFAULT_THRESHOLD))
        try:
            threshold = float(text)
        except ValueError:
            raise QualityError(
                f"SCP_QUARANTINE_THRESHOLD must be a number in [0, 1], got {text!r}"
            ) from None
        if not 0.0 <= threshold <= 1.0:
            raise QualityError(f"SCP_QUARANTINE_THRESHOLD must be in [0, 1], got {text!r}")
        units = env.get("SCP_KNOWN_UNITS")
        known = DEFAULT_UNITS
        if units is not None:
            known = tuple(u.strip().upper() for u in units.split(",") if u.strip())
            if not known:
                raise QualityError(f"SCP_KNOWN_UNITS must list units like ST,KG, got {units!r}")
        return cls(known_units=known, threshold=threshold)

    def with_plants(self, plants: Iterable[str]) -> QualityRules:
        return QualityRules(self.known_units, tuple(sorted(set(plants))), self.threshold)


@dataclass(frozen=True)
class Rule:
    """One expectation of a table's suite: what it checks and how a failing row reads."""

    kind: RuleKind
    columns: tuple[str, ...]  # SAP names (lineage columns as named in raw)
    values: tuple[str, ...] = ()
    window: tuple[date, date] | None = None
    source: str = ""  # where the allowed values come from

    @property
    def label(self) -> str:
        return f"{self.kind}({','.join(self.columns)})"

    @property
    def column_name(self) -> str:
        return ",".join(self.columns)

    @property
    def row_level(self) -> bool:
        """Row-level rules reject rows; a failed column-level rule (dtype) fails the table."""
        return self.kind != "numeric"

    def reason(self, value: Any) -> str:
        if self.kind == "not_null":
            return "missing required value"
        if self.kind == "unique":
            return f"duplicate key ({', '.join(self.columns)}) in the checked window"
        if self.kind == "in_window":
            start, end = self.window or (None, None)
            shown = pd.Timestamp(value).date() if not pd.isna(value) else value
            return f"date {shown} outside partition window [{start}, {end})"
        if self.kind == "in_set":
            if self.source == "raw.t001w":
                return f"plant {value!r} not in raw.t001w"
            if self.source == "SCP_KNOWN_UNITS":
                return f"unit {value!r} not in known units ({', '.join(self.values)})"
            return f"value {value!r} not in allowed values ({', '.join(self.values)})"
        return f"column {self.column_name} is not numeric"


def table_rules(
    spec: TableSpec, rules: QualityRules, window: tuple[date, date] | None
) -> list[Rule]:
    """The suite of a table, in the order failures are reported."""
    names = set(spec.column_names)
    required = [c.name for c in spec.columns if c.required or c.name in spec.key]
    suite = [Rule("not_null", (name,)) for name in [*required, *LINEAGE]]
    if spec.key:
        suite.append(Rule("unique", spec.unique_key))
    suite += [Rule("numeric", (c.name,)) for c in spec.columns if c.kind in ("decimal", "integer")]
    if window is not None and spec.partition_column:
        suite.append(Rule("in_window", (spec.partition_column,), window=window))
    for name, allowed in spec.allowed_values.items():
        suite.append(Rule("in_set", (name,), tuple(allowed), source="spec"))
    for name in UNIT_COLUMNS:
        if name in names and name not in spec.allowed_values:
            suite.append(Rule("in_set", (name,), rules.known_units, source="SCP_KNOWN_UNITS"))
    if rules.known_plants is not None and spec.name != "T001W":
        for name in PLANT_COLUMNS:
            if name in names:
                suite.append(Rule("in_set", (name,), rules.known_plants, source="raw.t001w"))
    return suite


def uses_plants(spec: TableSpec) -> bool:
    """True if the table's suite needs the plants of `raw.t001w`."""
    return spec.name != "T001W" and any(c in spec.column_names for c in PLANT_COLUMNS)


def load_rules(
    warehouse: Warehouse, cur: Cursor, spec: TableSpec, rules: QualityRules
) -> list[Rule]:
    """The suite's value-set rules (allowed values, known units, the plants `raw.t001w` holds
    now), which a load tests on each parsed chunk (`failing_rows`): rows they reject count
    toward a file's refusal, so a re-delivery the suite would half-empty never replaces a good
    day. The reader rejects everything else a single file can show."""
    if uses_plants(spec) and (plants := _known_plants(warehouse, cur)):
        rules = rules.with_plants(plants)
    return [rule for rule in table_rules(spec, rules, None) if rule.kind == "in_set"]


def failing_rows(table: pa.Table, rules: Sequence[Rule]) -> tuple[int, dict[str, int]]:
    """How many rows of a parsed chunk (SAP column names) the value-set `rules` reject, and
    how many each rule rejects. A null is no value, as for GX's expectation."""
    failing = np.zeros(table.num_rows, dtype=bool)
    by_rule: dict[str, int] = {}
    for rule in rules:
        column = table.column(rule.columns[0])
        allowed = pc.is_in(column, value_set=pa.array(rule.values, column.type))
        unexpected = pc.and_(pc.is_valid(column), pc.invert(allowed))
        unexpected = unexpected.to_numpy(zero_copy_only=False)
        if count := int(unexpected.sum()):
            by_rule[rule.label] = by_rule.get(rule.label, 0) + count
            failing |= unexpected
    return int(failing.sum()), by_rule


# -- validating one DataFrame -----------------------------------------------------------------


@dataclass
class FrameValidation:
    """The suite's verdict on one DataFrame.

    `rejects` holds one row per problem (`row` = position in the frame, `rule` label,
    `column_name`, `reason`); `unexpected` counts GX's unexpected values per rule label;
    `problems` are table-level failures (a non-numeric quantity column, an expectation that
    could not run).
    """

    rows: int
    rejects: pd.DataFrame
    unexpected: dict[str, int]
    problems: list[str]


def _expectation(rule: Rule, index: int) -> Any:
    import great_expectations.expectations as gxe

    meta = {"rule": index}
    column = rule.columns[0].lower()
    if rule.kind == "not_null":
        return gxe.ExpectColumnValuesToNotBeNull(column=column, meta=meta)
    if rule.kind == "unique":
        if len(rule.columns) == 1:
            return gxe.ExpectColumnValuesToBeUnique(column=column, meta=meta)
        names = [c.lower() for c in rule.columns]
        return gxe.ExpectCompoundColumnsToBeUnique(column_list=names, meta=meta)
    if rule.kind == "numeric":
        return gxe.ExpectColumnValuesToBeInTypeList(
            column=column, type_list=_NUMERIC_DTYPES, meta=meta
        )
    if rule.kind == "in_window":
        assert rule.window is not None, "an in_window rule carries its window"
        start, end = rule.window
        last = datetime.combine(end - timedelta(days=1), datetime.min.time())
        return gxe.ExpectColumnValuesToBeBetween(
            column=column,
            min_value=datetime.combine(start, datetime.min.time()),
            max_value=last,
            meta=meta,
        )
    return gxe.ExpectColumnValuesToBeInSet(column=column, value_set=list(rule.values), meta=meta)


class SuiteRunner:
    """A table's expectation suite in an ephemeral GX context, reused for every chunk.

    A chunk is validated in two passes: the whole suite for pass/fail only, through a
    ValidationDefinition (which loads the batch once; `Batch.validate` loads and fingerprints
    it again), then each failing expectation again for its unexpected rows. Clean data, the
    common case, skips GX's unexpected lists and value counts: 0.17 s against 0.2-0.4 s per
    500,000 rows of MSEG.
    """

    def __init__(self, spec: TableSpec, rules: Sequence[Rule]) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.spec = spec
        self.rules = list(rules)
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self._expectations = [_expectation(rule, index) for index, rule in enumerate(self.rules)]
        suite = gx.ExpectationSuite(name=f"raw_{spec.raw_table}", expectations=self._expectations)
        self._suite = context.suites.add(suite)  # one store write, not one per expectation
        source = context.data_sources.add_pandas(name="raw")
        asset = source.add_dataframe_asset(name=spec.raw_table)
        self._batch = asset.add_batch_definition_whole_dataframe("window")
        self._verdict = context.validation_definitions.add(
            gx.ValidationDefinition(
                name=f"raw_{spec.raw_table}", data=self._batch, suite=self._suite
            )
        )

    def validate(self, frame: pd.DataFrame) -> FrameValidation:
        """Run the suite on `frame` (raw column names, any index) and read back failing rows."""
        frame = frame.reset_index(drop=True)
        parameters = {"dataframe": frame}
        verdict = self._verdict.run(
            batch_parameters=parameters, result_format={"result_format": "BOOLEAN_ONLY"}
        )
        batch = None  # loaded only to list a failing expectation's rows
        unexpected: dict[str, int] = {}
        problems: list[str] = []
        flagged: dict[int, np.ndarray] = {}
        for outcome in verdict.results:
            index = int(outcome.expectation_config.meta["rule"])
            rule = self.rules[index]
            if not outcome.success and rule.row_level:
                batch = batch or self._batch.get_batch(batch_parameters=parameters)
                outcome = batch.validate(
                    self._expectations[index], result_format={"result_format": "COMPLETE"}
                )
            info = outcome.exception_info or {}
            if info.get("raised_exception"):
                message = str(info.get("exception_message", "")).strip().splitlines()
                problems.append(f"{rule.label} could not run: {message[0] if message else '?'}")
                continue
            details = outcome.result or {}
            unexpected[rule.label] = int(details.get("unexpected_count") or 0)
            if outcome.success:
                continue
            if not rule.row_level:
                dtype = frame[rule.columns[0].lower()].dtype
                problems.append(f"{rule.reason(None)} (dtype {dtype})")
                continue
            rows = np.asarray(details.get("unexpected_index_list") or [], dtype=np.int64)
            flagged[index] = rows
        return FrameValidation(len(frame), self._rejects(frame, flagged), unexpected, problems)

    def _rejects(self, frame: pd.DataFrame, flagged: dict[int, np.ndarray]) -> pd.DataFrame:
        """Reasons per failing row. Of rows sharing a key, the first (frame order) is kept if
        it is otherwise valid, as the reader keeps a key's first occurrence in a file."""
        rows: list[np.ndarray] = []
        labels: list[str] = []
        names: list[str] = []
        reasons: list[str] = []
        bad = np.zeros(len(frame), dtype=bool)
        ordered = sorted(flagged.items(), key=lambda item: self.rules[item[0]].kind == "unique")
        for index, positions in ordered:
            rule = self.rules[index]
            if rule.kind == "unique":
                candidates = positions[~bad[positions]]
                keys = frame.iloc[candidates][[c.lower() for c in rule.columns]]
                positions = candidates[keys.duplicated(keep="first").to_numpy()]
                found = [rule.reason(None)] * len(positions)
            else:
                bad[positions] = True
                values = frame[rule.columns[0].lower()].to_numpy()[positions]
                found = [rule.reason(value) for value in values]
            rows.append(positions)
            labels += [rule.label] * len(positions)
            names += [rule.column_name] * len(positions)
            reasons += found
        return pd.DataFrame(
            {
                "row": np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64),
                "rule": pd.Series(labels, dtype=object),
                "column_name": pd.Series(names, dtype=object),
                "reason": pd.Series(reasons, dtype=object),
            }
        )


def validate_frame(
    frame: pd.DataFrame,
    spec: TableSpec,
    rules: QualityRules,
    window: tuple[date, date] | None = None,
) -> FrameValidation:
    """Run a table's suite on one DataFrame in raw shape (lower-case SAP names + lineage)."""
    return SuiteRunner(spec, table_rules(spec, rules, window)).validate(frame)


# -- streaming a raw window -------------------------------------------------------------------


def split_sorted_chunks(
    batches: Iterable[pa.RecordBatch], key: Sequence[str], chunk_rows: int
) -> Iterator[pa.Table]:
    """Re-cut batches sorted by `key` into tables of about `chunk_rows` rows that never split a
    group of equal keys: a table ends before the group still open, which starts the next one."""
    held: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        held.append(batch)
        count += batch.num_rows
        if count < chunk_rows:
            continue
        table = pa.Table.from_batches(held)
        cut = _last_group_start(table, key)
        if cut == 0:
            continue  # a single key group so far: read on
        yield table.slice(0, cut)
        rest = table.slice(cut)
        held, count = rest.to_batches(), rest.num_rows
    if count:
        yield pa.Table.from_batches(held)


def _last_group_start(table: pa.Table, key: Sequence[str]) -> int:
    """Where the trailing run of rows with the last row's key starts (sorted input)."""
    if not key:
        return table.num_rows
    same = None
    for name in key:
        last = table.column(name)[table.num_rows - 1]
        if not last.is_valid:
            return table.num_rows  # null keys are rejected anyway: no group to keep together
        equal = pc.fill_null(pc.equal(table.column(name), last), False)
        same = equal if same is None else pc.and_(same, equal)
    return table.num_rows - int(pc.sum(same).as_py() or 0)


def _to_frame(table: pa.Table) -> pd.DataFrame:
    """Arrow to pandas with text as categoricals: GX's pandas engine tests nulls, sets and
    duplicates (and fingerprints the batch) on integer codes instead of Python strings."""
    table = table.combine_chunks()
    columns = []
    for column in table.columns:
        if pa.types.is_string(column.type):
            column = column.dictionary_encode()
        columns.append(column)
    table = pa.Table.from_arrays(columns, names=table.column_names)
    # datetime64[ns]: GX compares dates vectorised only in that unit (per value otherwise)
    return table.to_pandas(date_as_object=False, coerce_temporal_nanoseconds=True)


@dataclass(frozen=True)
class _Scope:
    """The rows a check reads: the window's dates, null dates, and the window's files."""

    where: str
    params: list[Any]
    files: tuple[str, ...]


def _scope(spec: TableSpec, window: tuple[date, date] | None) -> _Scope:
    if window is None or not spec.partition_column:
        return _Scope("true", [], ())
    start, end = window
    days = [start + timedelta(days=i) for i in range((end - start).days)]
    files = tuple(landing_file_name(spec, day) for day in days)
    column = spec.partition_column.lower()
    marks = ", ".join("?" for _ in files)
    files_sql = f" or _source_file in ({marks})" if files else ""
    where = f"(({column} >= ?::date and {column} < ?::date) or {column} is null{files_sql})"
    return _Scope(where, [start.isoformat(), end.isoformat(), *files], files)


def _stream(
    warehouse: Warehouse,
    cur: Any,
    spec: TableSpec,
    scope: _Scope,
    columns: list[str],
    chunk_rows: int,
) -> Iterator[pa.RecordBatch]:
    """The scope's rows with a row id, sorted by key then load order, in arrow batches."""
    table = f"raw.{spec.raw_table}"
    keys = [c.lower() for c in spec.key]
    row_id = "rowid"
    if warehouse.kind == "postgres":
        text = {c.sql_name for c in spec.columns if c.kind in ("text", "alpha")}
        keys = [f'{k} collate "C"' if k in text else k for k in keys]  # groups, any order
        row_id = _PG_ROW_ID
    order = ", ".join([*keys, "_loaded_at", "_source_file", "_source_line"])
    selected = ", ".join(f'"{c}"' for c in columns)
    sql = f"select {row_id} as {_ROW_ID}, {selected} from {table} where {scope.where}"
    sql += f" order by {order}"
    with warehouse.arrow_batches(cur, sql, scope.params, chunk_rows) as batches:
        yield from batches


# -- running a table's suite on the warehouse -------------------------------------------------


@dataclass
class QualityReport:
    """What a table's suite found in a window, and what it moved to quarantine."""

    table: str
    window: tuple[date, date] | None
    rules: list[Rule]
    threshold: float
    rows_checked: int = 0
    rows_rejected: int = 0
    quarantine_records: int = 0
    rows_quarantined_before: int = 0
    rows_by_file: dict[str, int] = field(default_factory=dict)  # checked rows per source file
    before_by_file: dict[str, int] = field(default_factory=dict)  # quarantined before
    rejected_by_file: dict[str, int] = field(default_factory=dict)  # now and before
    chunks: int = 0
    unexpected: dict[str, int] = field(default_factory=dict)
    rejects_by_rule: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def quarantined_share(self) -> float:
        """Quarantined share of the window's records: rows moved now plus rows the loader or
        an earlier check quarantined for the window's files. Stable under re-runs."""
        quarantined = self.rows_quarantined_before + self.rows_rejected
        total = self.rows_checked + self.rows_quarantined_before
        return quarantined / total if total else 0.0

    @property
    def files_over_threshold(self) -> dict[str, float]:
        """Files of the window with too many rejected rows (`over_threshold`), and their share:
        one broken day must fail a range however good the other days are."""
        over = {}
        for name, rejected in self.rejected_by_file.items():
            rows = self.rows_by_file.get(name, 0) + self.before_by_file.get(name, 0)
            if over_threshold(rejected, rows, self.threshold):
                over[name] = rejected / rows
        return over

    def failures(self) -> dict[str | None, str]:
        """Why the suite fails, by partition key; None: every partition of the window. A file
        over the threshold fails its own day, so one broken day of a range holds back none of
        the others; a table-level problem, or the other files' rows pooled, fail them all."""
        over = self.files_over_threshold
        failed: dict[str | None, str] = {
            partition_key_of(name): (
                f"{name}: {share:.2%} of its rows rejected (threshold {self.threshold:.2%})"
            )
            for name, share in over.items()
        }
        rejected = self.rows_quarantined_before + self.rows_rejected
        rejected -= sum(self.rejected_by_file[name] for name in over)
        rows = self.rows_checked + self.rows_quarantined_before
        rows -= sum(self.rows_by_file.get(n, 0) + self.before_by_file.get(n, 0) for n in over)
        if self.problems:
            failed[None] = "; ".join(self.problems)
        elif rows and rejected / rows > self.threshold:
            failed[None] = (
                f"{rejected / rows:.2%} of the window's rows rejected (threshold "
                f"{self.threshold:.2%})"
            )
        return failed

    @property
    def passed(self) -> bool:
        return not self.failures()


def run_table_quality(
    warehouse: Warehouse,
    spec: TableSpec,
    window: tuple[date, date] | None,
    run_id: str,
    rules: QualityRules | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> QualityReport:
    """Validate the raw rows of `window` (all rows for a master table) and quarantine failures.

    One transaction: read, then write the quarantine records and delete the rejected rows. A
    missing table, missing columns or an empty `raw.t001w` are reported as problems (the check
    fails) and nothing is quarantined for them: a missing plant master must not empty raw.
    """
    if chunk_rows < 1:
        raise QualityError(f"chunk_rows must be a positive number of rows, got {chunk_rows!r}")
    began = time.perf_counter()
    rules = rules or QualityRules.from_env()
    table = f"raw.{spec.raw_table}"
    report = QualityReport(table, window, [], rules.threshold)
    scope = _scope(spec, window)
    with warehouse.transaction() as cur:
        warehouse.lock_table(cur, table)  # no load commits between the read and the quarantine
        present = set(warehouse.table_columns(cur, table))
        if not present:
            report.problems.append(f"{table} does not exist: materialize it first")
            return report
        missing = [c for c in raw_table_columns(spec) if c not in present]
        if missing:
            report.problems.append(f"{table} lacks columns {missing}: it predates the spec")
            return report
        if uses_plants(spec):
            plants = _known_plants(warehouse, cur)
            if plants:
                rules = rules.with_plants(plants)
            else:
                report.problems.append(
                    f"raw.t001w holds no plants: load T001W before checking {spec.name}"
                )
        report.rules = table_rules(spec, rules, window)
        columns = _checked_columns(report.rules)
        runner = SuiteRunner(spec, report.rules)
        rejected: list[pd.DataFrame] = []
        files: set[str] = set(scope.files)
        batches = _stream(warehouse, cur, spec, scope, columns, chunk_rows)
        chunks = split_sorted_chunks(batches, [c.lower() for c in spec.key], chunk_rows)
        frames = _frames(chunks)
        with closing(frames), ThreadPoolExecutor(1) as thread:
            for row_ids, frame in read_ahead(frames, thread):
                result = runner.validate(frame)
                _count_rows_by_file(report.rows_by_file, frame["_source_file"])
                rejected += _tally(report, result, frame, row_ids)
        if spec.key:
            rejected.append(_keys_loaded_elsewhere(warehouse, cur, spec, scope, window))
        files.update(report.rows_by_file)
        report.before_by_file = _quarantined_lines(warehouse, cur, spec, window, files)
        report.rows_quarantined_before = sum(report.before_by_file.values())
        report.rejected_by_file = dict(report.before_by_file)
        rejected = [frame for frame in rejected if len(frame)]
        if rejected:
            rejects = pd.concat(rejected, ignore_index=True)
            _quarantine(warehouse, cur, spec, rejects, run_id)
            rows = rejects.drop_duplicates(_ROW_ID)
            report.rows_rejected = len(rows)
            for name, count in rows.groupby("source_file").size().items():
                report.rejected_by_file[name] = report.rejected_by_file.get(name, 0) + count
            report.quarantine_records = len(rejects)
            counts = rejects.groupby("rule", sort=True).size()
            report.rejects_by_rule = {str(k): int(v) for k, v in counts.items()}
    report.seconds = time.perf_counter() - began
    return report


def _frames(chunks: Iterator[pa.Table]) -> Iterator[tuple[pa.ChunkedArray, pd.DataFrame]]:
    """Each chunk's row ids and its rows as the frame GX validates (run on the read-ahead
    thread: the conversion overlaps the validation of the chunk before)."""
    for chunk in chunks:
        yield chunk.column(_ROW_ID), _to_frame(chunk.drop_columns([_ROW_ID]))


def _tally(
    report: QualityReport, result: FrameValidation, frame: pd.DataFrame, row_ids: pa.ChunkedArray
) -> list[pd.DataFrame]:
    """Add a chunk's verdict to `report`; its rejects with row id and lineage, if any."""
    report.chunks += 1
    report.rows_checked += result.rows
    for label, count in result.unexpected.items():
        report.unexpected[label] = report.unexpected.get(label, 0) + count
    report.problems += [p for p in result.problems if p not in report.problems]
    if not len(result.rejects):
        return []
    positions = result.rejects["row"].to_numpy()
    lineage = frame.iloc[positions]
    return [
        result.rejects.drop(columns="row").assign(
            **{
                _ROW_ID: row_ids.take(positions).to_numpy(zero_copy_only=False),
                "source_file": lineage["_source_file"].astype(object).to_numpy(),
                "source_line": lineage["_source_line"].to_numpy(),
            }
        )
    ]


def _keys_loaded_elsewhere(
    warehouse: Warehouse,
    cur: Cursor,
    spec: TableSpec,
    scope: _Scope,
    window: tuple[date, date] | None,
) -> pd.DataFrame:
    """The window's rows whose key raw already holds outside the window (the same document in
    another day's file), as rejects naming that file. GX's uniqueness sees one window; this
    join sees the rest of the table. Skipped through the partition index when nothing lies
    outside the window (a first load, the whole history at once)."""
    table = f"raw.{spec.raw_table}"
    if window is None or not spec.partition_column or spec.redelivered_when_changed:
        return pd.DataFrame()  # another day's row of the same key is another version
    column = spec.partition_column.lower()
    cur.execute(
        warehouse.placeholders(
            f"select exists (select 1 from {table} where {column} < ?::date) "
            f"or exists (select 1 from {table} where {column} >= ?::date)"
        ),
        [window[0].isoformat(), window[1].isoformat()],
    )
    if not cur.fetchone()[0]:
        return pd.DataFrame()
    keys = ", ".join(c.lower() for c in spec.key)
    row_id = _PG_ROW_ID if warehouse.kind == "postgres" else "rowid"
    cur.execute(
        warehouse.placeholders(
            f"select i.{_ROW_ID}, i._source_file, i._source_line, min(o._source_file) "
            f"from (select {row_id} as {_ROW_ID}, {keys}, _source_file, _source_line "
            f"from {table} where {scope.where}) as i "
            f"join (select {keys}, _source_file from {table} where not {scope.where}) as o "
            f"using ({keys}) group by 1, 2, 3"
        ),
        [*scope.params, *scope.params],
    )
    found = cur.fetchall()
    rule = Rule("unique", tuple(spec.key))
    return pd.DataFrame(
        {
            "rule": rule.label,
            "column_name": rule.column_name,
            "reason": [f"key ({', '.join(spec.key)}) already loaded from {r[3]}" for r in found],
            _ROW_ID: [r[0] for r in found],
            "source_file": [r[1] for r in found],
            "source_line": pd.array([r[2] for r in found], dtype="Int64"),
        }
    )


def _checked_columns(rules: Sequence[Rule]) -> list[str]:
    names: list[str] = []
    for rule in rules:
        names += [c.lower() for c in rule.columns if c.lower() not in names]
    return names


def _known_plants(warehouse: Warehouse, cur: Cursor) -> list[str]:
    if not warehouse.table_columns(cur, "raw.t001w"):
        return []
    cur.execute("select distinct werks from raw.t001w where werks is not null")
    return [row[0] for row in cur.fetchall()]


def _quarantined_lines(
    warehouse: Warehouse,
    cur: Cursor,
    spec: TableSpec,
    window: tuple[date, date] | None,
    files: set[str],
) -> dict[str, int]:
    """Distinct lines already in quarantine for this table and the window's files, per file.
    The rejects of a refused delivery are left out: its rows never reached raw, whose rows
    of that file are an earlier delivery's (the loader's check fails that delivery)."""
    sql = "select source_file, count(*) from (select distinct source_file, source_line "
    sql += f"from {QUARANTINE_TABLE} as r where table_name = ?"
    params: list[Any] = [spec.name]
    if warehouse.table_columns(cur, MANIFEST_TABLE):
        sql += f" and not {from_refused_reading('r')}"
    if window is not None:
        if not files:
            return {}
        sql += f" and source_file in ({', '.join('?' for _ in files)})"
        params += sorted(files)
    cur.execute(warehouse.placeholders(sql + ") as q group by source_file"), params)
    return {str(name): int(count) for name, count in cur.fetchall()}


def _count_rows_by_file(counts: dict[str, int], source_files: pd.Series) -> None:
    for name, count in source_files.value_counts(sort=False).items():
        if count:
            counts[str(name)] = counts.get(str(name), 0) + int(count)


def _quarantine(
    warehouse: Warehouse, cur: Cursor, spec: TableSpec, rejects: pd.DataFrame, run_id: str
) -> None:
    """Insert the quarantine records (raw_record = the full raw row as JSON) and delete the
    rejected rows from raw, by engine row id (exact even for rows that are complete copies)."""
    table = f"raw.{spec.raw_table}"
    ids = rejects[_ROW_ID].drop_duplicates().tolist()
    if warehouse.kind == "postgres":
        match, id_param = "ctid = any(%s::tid[])", [str(i) for i in ids]
        select = f"select {_PG_ROW_ID} as {_ROW_ID}, * from {table} where {match}"
    else:
        match, id_param = "rowid in (select unnest(?::bigint[]))", [int(i) for i in ids]
        select = f"select rowid as {_ROW_ID}, * from {table} where {match}"
    cur.execute(select, [id_param])
    names = [d[0] for d in cur.description]
    spec_columns = [c.sql_name for c in spec.columns]
    records: dict[Any, str] = {}
    loaded_at: dict[Any, Any] = {}
    for values in cur.fetchall():
        row = dict(zip(names, values, strict=True))
        records[row[_ROW_ID]] = json.dumps(
            {c: _json_value(row[c]) for c in spec_columns}, ensure_ascii=False
        )
        loaded_at[row[_ROW_ID]] = row["_loaded_at"]
    at = datetime.now(UTC).replace(tzinfo=None, microsecond=0)  # UTC, as the loader's records
    frame = pd.DataFrame(
        {
            "table_name": spec.name,
            "source_file": rejects["source_file"].to_numpy(dtype=object),
            "source_line": pd.array(rejects["source_line"], dtype="Int64"),
            "column_name": rejects["column_name"].to_numpy(dtype=object),
            "reason": rejects["reason"].to_numpy(dtype=object),
            "raw_record": [records.get(i) for i in rejects[_ROW_ID]],
            "run_id": run_id,
            "rejected_at": at,
            "loaded_at": [loaded_at.get(i) for i in rejects[_ROW_ID]],
        }
    )
    _locate_as_delivered(warehouse, cur, spec, frame)
    warehouse.insert_frame(cur, QUARANTINE_TABLE, frame[list(QUARANTINE_COLUMNS)])
    cur.execute(f"delete from {table} where {match}", [id_param])
    _recount_manifest(warehouse, cur, rejects)


def _locate_as_delivered(
    warehouse: Warehouse, cur: Cursor, spec: TableSpec, frame: pd.DataFrame
) -> None:
    """Fill `delivered_file` and `delivered_line` of quarantine records from the `Origin` of
    the delivery each rejected row came with (the manifest row of its file and load time)."""
    names = sorted(set(frame["source_file"].dropna()))
    origins = {
        (name, pd.Timestamp(at)): origin
        for (name, at), origin in delivered_origins(
            warehouse, cur, spec.name, names, "loaded_at"
        ).items()
        if at is not None
    }
    frame["delivered_file"] = frame["source_file"]
    frame["delivered_line"] = frame["source_line"].astype("Int64")
    keys = frame[["source_file", "loaded_at"]].astype(object)
    for (name, at), group in keys.groupby(["source_file", "loaded_at"], sort=False).groups.items():
        origin = origins.get((name, pd.Timestamp(at)))
        if origin is not None:
            frame.loc[group, "delivered_file"] = origin.file_name
            lines = origin.lines(frame.loc[group, "source_line"].tolist())
            frame.loc[group, "delivered_line"] = lines.to_numpy()


def _recount_manifest(warehouse: Warehouse, cur: Cursor, rejects: pd.DataFrame) -> None:
    """Move the rejected lines from loaded to quarantined on their file's current manifest
    row, so the manifest keeps adding up to what raw and quarantine hold."""
    if not warehouse.table_columns(cur, MANIFEST_TABLE):
        return  # raw written without the loader: there is no manifest to keep
    lines = rejects.drop_duplicates(["source_file", "source_line"])
    for name, count in lines.groupby("source_file").size().items():
        cur.execute(
            warehouse.placeholders(
                f"update {MANIFEST_TABLE} set rows_loaded = rows_loaded - ?, "
                "rows_quarantined = rows_quarantined + ? where canonical_name = ? "
                "and status = 'loaded' and loaded_at = (select max(loaded_at) from "
                f"{MANIFEST_TABLE} where canonical_name = ? and status = 'loaded')"
            ),
            [int(count), int(count), name, name],
        )


def _json_value(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


__all__ = [
    "CRITICAL_TABLES",
    "DEFAULT_UNITS",
    "FrameValidation",
    "QualityError",
    "QualityReport",
    "QualityRules",
    "Rule",
    "SuiteRunner",
    "run_table_quality",
    "split_sorted_chunks",
    "table_rules",
    "uses_plants",
    "validate_frame",
]
