"""Mapping without code: SAP-shaped exports with other file and column names, made into landing
files.

A YAML mapping (format: `config/mappings/README.md`) says, per SAP table, which source file
feeds it and how each column is computed from a small, safe set of expressions: a source column,
a constant, concat, a lookup into another file, a date parse, multiply, a unit conversion (T006 or
explicit factors), a code table, the year of a date. Row filters, plant fan-out and defaults
complete it. Nothing in the YAML is ever evaluated as code.

The output is the canonical landing files the demo generator writes (`<TABLE>.csv`,
`<TABLE>_<YYYYMMDD>.csv`, SE16N style), so the landing sensor, raw assets, quarantine and checks
run unchanged on mapped data. A value the load must not read as mapped (one that cannot be read
as its column's type, a number its SAP decimals cannot hold, never rounded, or one beyond its SAP
type, `_number_limit`) reaches quarantine with its text: its record is written with its source
file and line and the mapper's reasons as an extra field, which the reader always rejects with
them (`_unloadable`, `MAPPER_NOTE`). The report lists such rows beforehand,
with their source file and line. A constant of the YAML, at any depth, that cannot be the type
it is read as (its column's, or the number or date an operation reads), a date outside
FIRST_DATE..LAST_DATE, that YAML reads otherwise than it looks (`0100` is 64), a constant code
missing from its code table or a unit constant missing from the units, is a configuration error
instead. So are a source file two `files` patterns match and a lookup that matches none of a
table's rows (the report counts each lookup's matches, and warns of a `files` pattern that
matches no file read). Rows outside the `window` are left out before anything else is computed
from them, so they cannot fail the mapping.

Configuration errors raise `MappingError` naming the key path and, for a mapping read by
`load_mapping`, its file and line (`shine-epm.yaml line 175, tables.VBAP.columns.KWMENG: unknown
source column 'QTY' in salesOrderItem.csv`); data errors that no landing file can hold (an unknown
unit, an unmapped code, a row without its partition date) name file, line and column.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import fnmatch
import itertools
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from pipelines.demo.se16n import NO_DATE, file_pattern, format_column, written_decimals
from pipelines.ingest.landing import INCOMING, landing_file_name
from pipelines.ingest.load import over_threshold
from pipelines.ingest.quality import QualityRules
from pipelines.ingest.reader import (
    DATE_FORMATS,
    MAPPER_NOTE,
    MISSING_REQUIRED,
    alpha_key_reasons,
    beyond_decimals,
    digits_limit,
    normalize_alpha,
    parse_sap_date,
    parse_sap_number,
    sap_open_dates,
)
from pipelines.ingest.specs import TABLE_SPECS, Column, ColumnKind, TableSpec

MAPPING_VERSION = 1
SUMMARY_FILE = "_mapping_summary.json"
OPERATIONS = ("const", "concat", "lookup", "date", "multiply", "convert", "code", "year")
CONDITIONS = ("equals", "in", "not_in", "min", "max", "in_file")
#: The filter value that stands for an empty cell (`equals: ""`, `not_in: [""]`).
EMPTY = ""
#: SAP's open date ("unlimited"): no date in a column, the latest date in a filter.
_OPEN_DATE = pd.Timestamp(9999, 12, 31)
UNMAPPED_POLICIES = ("error", "keep", "empty")
#: T006 columns a unit conversion reads.
UNIT_TABLE_COLUMNS = ("MSEHI", "DIMID", "ZAEHL", "NENNR", "EXP10", "ADDKO")
_DECIMALS = (".", ",")
_THOUSANDS = ("", ".", ",", " ")
_QUOTE_PATTERN = r'[;"\r\n]'
_EPOCH = date(1970, 1, 1)
_MAX_LISTED = 5
#: The whole days a datetime64[ns] holds: the dates the reader supports (`parse_sap_date`).
FIRST_DATE = pd.Timestamp.min.ceil("D").date()  # 1677-09-22
LAST_DATE = pd.Timestamp.max.floor("D").date()  # 2262-04-11
#: Digits a float64 holds exactly: the limit of the other number columns (integers, coordinates).
_EXACT_DIGITS = 15

Kind = Literal["text", "number", "date"]


class MappingError(ValueError):
    """A mapping that cannot be applied. `path` is the YAML key path at fault (None when no YAML
    node is), `origin` the source file and line (or option) being read, `line` the mapping file
    and line of `path`; `where` combines them for the message."""

    def __init__(
        self, path: str | None, message: str, origin: str | None = None, line: str | None = None
    ) -> None:
        self.path, self.message, self.origin, self.line = path, message, origin, line
        in_yaml = ", ".join(part for part in (line, path) if part)
        if origin is None:
            self.where = in_yaml
        else:
            self.where = f"{origin} ({in_yaml})" if in_yaml else origin
        super().__init__(f"{self.where}: {message}")

    def located(self, lines: YamlLines | None) -> MappingError:
        """The same error naming the mapping file and line of its key path, when known."""
        if lines is None or self.path is None or self.line is not None:
            return self
        return MappingError(self.path, self.message, self.origin, lines.at(self.path))


@dataclass(frozen=True)
class YamlLines:
    """Where a mapping file writes each key path, so errors can point at the line to fix."""

    file: str
    lines: Mapping[str, int]

    def at(self, path: str) -> str | None:
        """`<file> line <n>` of the path, or of its nearest written ancestor (a missing key is
        reported on its parent's line, a key under a repeated anchor on the alias's)."""
        while path not in self.lines:
            if not path:
                return None
            path = path[: max(path.rfind("."), path.rfind("["), 0)]
        return f"{self.file} line {self.lines[path]}"


@contextmanager
def _locating(lines: YamlLines | None) -> Iterator[None]:
    """MappingErrors raised inside name the mapping file and line of their key path."""
    try:
        yield
    except MappingError as error:
        raise error.located(lines) from None


# -- the configuration -------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceFormat:
    """How a source file is written; `columns` names the fields of a file without header row."""

    separator: str = ","
    encoding: str = "utf-8-sig"
    decimal: str = "."
    thousands: str = ""
    date_format: str = "ISO"
    columns: tuple[str, ...] | None = None


#: Text made by the mapping itself (constants, concat, numbers shown as text) reads this way.
CANONICAL = SourceFormat()


@dataclass(frozen=True)
class SourceColumn:
    name: str
    path: str


@dataclass(frozen=True)
class Constant:
    value: Any
    path: str


@dataclass(frozen=True)
class Concat:
    parts: tuple[Expression, ...]
    separator: str
    path: str


@dataclass(frozen=True)
class LookupSpec:
    """Rows of `file` whose `key` columns equal the `by` expressions of the row being mapped."""

    file: str
    key: tuple[str, ...]
    by: tuple[Expression, ...]
    where: tuple[Filter, ...]
    path: str


@dataclass(frozen=True)
class Lookup:
    spec: LookupSpec
    value: Expression  # evaluated on the lookup file's rows
    path: str


@dataclass(frozen=True)
class ParseDate:
    operand: Expression
    date_format: str | None
    path: str


@dataclass(frozen=True)
class Multiply:
    operand: Expression
    by: Expression
    path: str


@dataclass(frozen=True)
class Convert:
    """A quantity in unit `unit`, converted to `to` by a T006-style table or by explicit factors."""

    operand: Expression
    unit: Expression
    to: Expression | None
    units_file: str | None
    factors: Mapping[str, float] | None
    path: str


@dataclass(frozen=True)
class CodeMap:
    operand: Expression
    name: str
    table: Mapping[str, str | None]
    unmapped: str
    path: str


@dataclass(frozen=True)
class Year:
    operand: Expression
    path: str


Expression = (
    SourceColumn | Constant | Concat | Lookup | ParseDate | Multiply | Convert | CodeMap | Year
)


@dataclass(frozen=True)
class Condition:
    """`source` or `target` column compared by one of CONDITIONS (`in_file`: (file, column))."""

    side: Literal["source", "target"]
    column: str
    op: str
    value: Any
    path: str


@dataclass(frozen=True)
class AnyOf:
    filters: tuple[Filter, ...]
    path: str


Filter = Condition | AnyOf


@dataclass(frozen=True)
class TablePart:
    """One block of a table's mapping: a source (file glob or inline rows) and its columns."""

    table: str
    path: str
    source: str | None
    rows: tuple[Mapping[str, Any], ...] | None
    columns: Mapping[str, Expression]
    defaults: Mapping[str, Any]
    for_each: Mapping[str, tuple[Any, ...]]
    where: tuple[Filter, ...]

    @property
    def spec(self) -> TableSpec:
        return TABLE_SPECS[self.table]


@dataclass(frozen=True)
class MappingConfig:
    name: str
    description: str
    format: SourceFormat
    files: Mapping[str, SourceFormat]
    defaults: Mapping[str, Any]
    window: tuple[date, date] | None
    tables: Mapping[str, tuple[TablePart, ...]]
    lines: YamlLines | None = None  # set by load_mapping


# -- parsing the YAML --------------------------------------------------------------------------


_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"


class _RespelledInt(int):
    """An int the YAML wrote otherwise than its plain spelling (`0100`, 64), and how."""

    yaml_text: str


class _RespelledFloat(float):
    """A float the YAML wrote otherwise than its plain spelling (`1.0`, 1), and how."""

    yaml_text: str


class _MappingLoader(yaml.SafeLoader):
    """PyYAML's safe loader whose numbers remember a spelling YAML 1.1 reads otherwise than it
    looks (`0100` is 64), so a constant can refuse it where it is used (`_check_yaml_number`)."""


def _construct_number(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int | float:
    construct = loader.construct_yaml_int if node.tag == _INT_TAG else loader.construct_yaml_float
    value = construct(node)
    if node.value == _scalar_text(value):
        return value
    respelled = _RespelledInt(value) if isinstance(value, int) else _RespelledFloat(value)
    respelled.yaml_text = node.value
    return respelled


_MappingLoader.add_constructor(_INT_TAG, _construct_number)
_MappingLoader.add_constructor(_FLOAT_TAG, _construct_number)


def _key_lines(loader: yaml.SafeLoader, root: yaml.Node, file: str) -> dict[str, int]:
    """The line of every key path of a composed document (of a mapping entry: its key's line).

    It also refuses what YAML itself would get wrong: a key given twice (YAML keeps the last one
    silently) and an impossible date such as 2015-13-01 (PyYAML fails with a bare ValueError).
    A node repeated by an alias is walked once; paths below the alias fall back to its line.
    """
    lines: dict[str, int] = {}
    walked: set[int] = set()

    def walk(node: yaml.Node, path: str, line: int) -> None:
        lines.setdefault(path, line)
        if id(node) in walked:
            return
        walked.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            _check_timestamp(loader, node, path, f"{file} line {line}")
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, _at(path, i), item.start_mark.line + 1)
        elif isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            for key_node, value_node in node.value:
                key_line = key_node.start_mark.line + 1
                if not isinstance(key_node, yaml.ScalarNode):
                    continue  # a complex key: construction refuses it as unhashable
                _check_timestamp(
                    loader, key_node, _at(path, key_node.value), f"{file} line {key_line}"
                )
                key = loader.construct_object(key_node)
                where = _at(path, str(key))
                if key in first:
                    raise MappingError(
                        where,
                        f"key {key!r} given twice (first on line {first[key]})",
                        line=f"{file} line {key_line}",
                    )
                first[key] = key_line
                walk(value_node, where, key_line)

    walk(root, "", root.start_mark.line + 1)
    return lines


def _check_timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode, path: str, line: str) -> None:
    if node.tag != _TIMESTAMP_TAG:
        return
    try:
        loader.construct_yaml_timestamp(node)
    except ValueError as exc:
        raise MappingError(path, f"{node.value!r} is not a valid date: {exc}", line=line) from None


def load_mapping(path: str | Path) -> MappingConfig:
    """Read and validate a mapping file (structure only; `check_mapping` checks the sources).
    Errors, also those of mapping with it later, name the file and line of their key path."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError(None, f"cannot read the mapping: {exc.strerror}", str(path)) from None
    except UnicodeDecodeError as exc:
        line = text_line(path.read_bytes(), exc.start)
        raise MappingError(
            None,
            f"line {line}: byte {exc.object[exc.start : exc.start + 1]!r} is not UTF-8; "
            "save the mapping as UTF-8",
            str(path),
        ) from None
    loader = _MappingLoader(text)
    try:
        root = loader.get_single_node()
        # An empty document has nothing but its top level, on line 1.
        lines = YamlLines(
            str(path), {"": 1} if root is None else _key_lines(loader, root, str(path))
        )
        document = None if root is None else loader.construct_document(root)
    except yaml.YAMLError as exc:
        raise MappingError(None, f"not valid YAML: {exc}", str(path)) from None
    finally:
        loader.dispose()
    with _locating(lines):
        config = parse_mapping(document, name=path.name)
    return replace(config, lines=lines)


def text_line(data: bytes, offset: int) -> int:
    """The 1-based line of a byte offset."""
    return data.count(b"\n", 0, offset) + 1


def _at(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _kind_of(value: Any) -> str:
    kinds = {
        dict: "a mapping",
        list: "a list",
        str: "text",
        bool: "a boolean",
        _RespelledInt: "int",
        _RespelledFloat: "float",
    }
    return kinds.get(type(value), type(value).__name__)


def _mapping(value: Any, path: str) -> dict:
    if not isinstance(value, dict):
        raise MappingError(path, f"expected a mapping, got {_kind_of(value)}")
    return value


def _list(value: Any, path: str) -> list:
    if not isinstance(value, list):
        raise MappingError(path, f"expected a list, got {_kind_of(value)}")
    return value


def _keys(value: dict, path: str, allowed: Iterable[str], required: Iterable[str] = ()) -> None:
    allowed = tuple(allowed)
    for key in value:
        if key not in allowed:
            raise MappingError(
                _at(path, str(key)), f"unknown key; expected one of {', '.join(allowed)}"
            )
    for key in required:
        if key not in value:
            raise MappingError(path, f"missing key {key!r}")


def _text(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise MappingError(path, f"expected non-empty text, got {_kind_of(value)}")
    return value


def _scalar(value: Any, path: str) -> Any:
    """A constant: text, number or date. YAML reads yes/no/on/off as booleans: refuse those."""
    if isinstance(value, bool):
        raise MappingError(
            path, f"got the boolean {value}; YAML reads yes/no/on/off/true/false so: quote it"
        )
    if isinstance(value, datetime):
        return value.date()
    if value is None or isinstance(value, str | int | float | date):
        if isinstance(value, float) and not math.isfinite(value):
            raise MappingError(path, f"expected a finite number, got {value}")
        return value
    raise MappingError(path, f"expected text, a number or a date, got {_kind_of(value)}")


def _code_text(value: Any, path: str) -> str:
    """Code-table keys and values compare as text (`1` in YAML means the code '1')."""
    value = _scalar(value, path)
    if value is None:
        raise MappingError(path, "a code cannot be empty")
    _check_yaml_number(value, path, as_text=True)
    return _scalar_text(value)


def _check_yaml_number(value: Any, path: str, as_text: bool) -> None:
    """YAML 1.1 reads the unquoted `0100` as 64 (octal), `0001` as 1, `0x10` as 16, `1:30` as
    90. Where a constant becomes text (a plant, a code, a unit), a number must be spelled as the
    mapping writes it (`1000` is; `0001`, `1_000`, `+5`, `1.0` are not); where it is read as a
    number, its digits must mean it in decimal (`1_000` and `+5` do, `0100` does not). Else the
    mapping would silently use another value than the YAML shows: quote it."""
    spelled = getattr(value, "yaml_text", None)
    if spelled is None or (not as_text and _decimal_value(spelled) == value):
        return
    raise MappingError(
        path,
        f"got the number {_scalar_text(value)}; YAML reads the unquoted {spelled} so: quote it "
        f'("{spelled}")',
    )


def _decimal_value(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _scalar_text(value: Any) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _date_value(value: Any, path: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise MappingError(path, f"expected a date (YYYY-MM-DD), got {value!r}")


def _file_pattern(value: Any, path: str) -> str:
    pattern = _text(value, path)
    parts = PurePosixPath(pattern.replace("\\", "/")).parts
    if pattern.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
        raise MappingError(
            path, f"{pattern!r} must be a file name or glob inside the source folder"
        )
    return pattern


def _format(value: Any, path: str, base: SourceFormat, allow_columns: bool) -> SourceFormat:
    data = _mapping(value, path)
    keys = ["separator", "encoding", "decimal", "thousands", "date_format"]
    _keys(data, path, [*keys, "columns"] if allow_columns else keys)
    fields = {
        "separator": base.separator,
        "encoding": base.encoding,
        "decimal": base.decimal,
        "thousands": base.thousands,
        "date_format": base.date_format,
        "columns": None,
    }
    if "separator" in data:
        separator = data["separator"]
        if separator == "tab":
            separator = "\t"
        if not isinstance(separator, str) or len(separator) != 1 or separator in '"\r\n':
            raise MappingError(
                _at(path, "separator"), f"expected one character or 'tab', got {separator!r}"
            )
        fields["separator"] = separator
    if "encoding" in data:
        encoding = _text(data["encoding"], _at(path, "encoding"))
        try:
            "".encode(encoding)
        except LookupError:
            raise MappingError(_at(path, "encoding"), f"unknown encoding {encoding!r}") from None
        fields["encoding"] = encoding
    for key, allowed in (
        ("decimal", _DECIMALS),
        ("thousands", _THOUSANDS),
        ("date_format", DATE_FORMATS),
    ):
        if key in data:
            if data[key] not in allowed:
                raise MappingError(
                    _at(path, key), f"expected one of {list(allowed)}, got {data[key]!r}"
                )
            fields[key] = data[key]
    if fields["decimal"] == fields["thousands"]:
        raise MappingError(path, f"decimal and thousands are both {fields['decimal']!r}")
    if "columns" in data:
        names = [
            _text(name, _at(_at(path, "columns"), i))
            for i, name in enumerate(_list(data["columns"], _at(path, "columns")))
        ]
        _no_duplicates(names, _at(path, "columns"))
        fields["columns"] = tuple(names)
    return SourceFormat(**fields)


def _no_duplicates(names: Sequence[str], path: str | None, origin: str | None = None) -> None:
    seen = set()
    for name in names:
        if name in seen:
            raise MappingError(path, f"column {name!r} appears twice", origin)
        seen.add(name)


@dataclass
class _Named:
    """The shared code tables and lookups, resolved where they are used."""

    codes: dict[str, dict[str, str | None]]
    lookups: dict[str, Any]  # raw YAML of each named lookup, parsed in the context that uses it


def parse_mapping(document: Any, name: str = "<mapping>") -> MappingConfig:
    """Validate a loaded YAML document and build the mapping; errors name the key path."""
    top = _mapping(document, "(top level)")
    _keys(
        top,
        "",
        [
            "version",
            "description",
            "format",
            "files",
            "codes",
            "lookups",
            "defaults",
            "window",
            "tables",
        ],
        required=["version", "tables"],
    )
    if top["version"] != MAPPING_VERSION:
        raise MappingError("version", f"expected {MAPPING_VERSION}, got {top['version']!r}")
    description = top.get("description") or ""
    if not isinstance(description, str):
        raise MappingError("description", f"expected text, got {_kind_of(description)}")
    base = _format(top.get("format", {}), "format", CANONICAL, allow_columns=False)
    files = {
        _file_pattern(pattern, _at("files", str(pattern))): _format(
            value, _at("files", str(pattern)), base, allow_columns=True
        )
        for pattern, value in _mapping(top.get("files", {}), "files").items()
    }
    codes = {}
    for code_name, table in _mapping(top.get("codes", {}), "codes").items():
        codes[str(code_name)] = _code_table(table, _at("codes", str(code_name)))
    named = _Named(codes, dict(_mapping(top.get("lookups", {}), "lookups")))
    for lookup_name, raw in named.lookups.items():
        _lookup_spec(raw, _at("lookups", str(lookup_name)), named)  # validate even if unused
    defaults = _defaults(top.get("defaults", {}), "defaults", table=None)
    window = None
    if "window" in top:
        data = _mapping(top["window"], "window")
        _keys(data, "window", ["from", "to"], required=["from", "to"])
        window = (
            _date_value(data["from"], "window.from"),
            _date_value(data["to"], "window.to"),
        )
        if window[0] > window[1]:
            raise MappingError("window", f"from {window[0]} is after to {window[1]}")
    tables: dict[str, tuple[TablePart, ...]] = {}
    for table, value in _mapping(top["tables"], "tables").items():
        path = _at("tables", str(table))
        if table not in TABLE_SPECS:
            raise MappingError(
                path, f"unknown SAP table; known tables: {', '.join(sorted(TABLE_SPECS))}"
            )
        blocks = [(path, value)]
        if isinstance(value, list):
            if not value:
                raise MappingError(path, "an empty list maps nothing")
            blocks = [(_at(path, i), block) for i, block in enumerate(value)]
        tables[table] = tuple(_part(table, p, block, named, defaults) for p, block in blocks)
    if not tables:
        raise MappingError("tables", "maps no table")
    return MappingConfig(name, description, base, files, defaults, window, tables)


def _code_table(value: Any, path: str) -> dict[str, str | None]:
    table = {}
    for key, target in _mapping(value, path).items():
        where = _at(path, str(key))
        table[_code_text(key, where)] = None if target is None else _code_text(target, where)
    return table


def _defaults(value: Any, path: str, table: str | None) -> dict[str, Any]:
    defaults = {}
    for column, default in _mapping(value, path).items():
        where = _at(path, str(column))
        if table is None:
            if not any(str(column) in spec.column_names for spec in TABLE_SPECS.values()):
                raise MappingError(where, f"no SAP table has a column {column!r}")
        else:
            _target_column(table, column, where)
        if default is None:
            raise MappingError(where, "a default cannot be empty")
        defaults[str(column)] = _scalar(default, where)
    return defaults


def _target_column(table: str, column: Any, path: str) -> Column:
    spec = TABLE_SPECS[table]
    if column not in spec.column_names:
        raise MappingError(
            path, f"{table} has no column {column!r}; columns: {', '.join(spec.column_names)}"
        )
    return spec.column(column)


def _part(
    table: str, path: str, value: Any, named: _Named, global_defaults: Mapping[str, Any]
) -> TablePart:
    data = _mapping(value, path)
    _keys(data, path, ["source", "rows", "columns", "defaults", "for_each", "where"])
    if ("source" in data) == ("rows" in data):
        raise MappingError(path, "give exactly one of 'source' (a file glob) and 'rows'")
    source, rows = None, None
    columns: dict[str, Expression] = {}
    if "source" in data:
        source = _file_pattern(data["source"], _at(path, "source"))
        for column, expr in _mapping(data.get("columns", {}), _at(path, "columns")).items():
            where = _at(_at(path, "columns"), str(column))
            target = _target_column(table, column, where)
            columns[str(column)] = _expression(expr, where, named)
            for constant, need, date_format in _constants(columns[str(column)], target):
                _typed_constant(
                    constant.value, need, constant.path, date_format, written=need is target
                )
    else:
        if "columns" in data:
            raise MappingError(_at(path, "columns"), "inline rows name their columns themselves")
        rows = []
        for i, row in enumerate(_list(data["rows"], _at(path, "rows"))):
            where = _at(_at(path, "rows"), i)
            checked = {}
            for column, cell in _mapping(row, where).items():
                target = _target_column(table, column, _at(where, str(column)))
                checked[str(column)] = _scalar(cell, _at(where, str(column)))
                _typed_constant(checked[str(column)], target, _at(where, str(column)))
            rows.append(checked)
        if not rows:
            raise MappingError(_at(path, "rows"), "no rows given")
        for name in sorted({name for row in rows for name in row}):
            columns[name] = SourceColumn(name, _at(_at(path, "rows"), name))
        rows = tuple(rows)
    defaults = _defaults(data.get("defaults", {}), _at(path, "defaults"), table)
    for_each = {}
    for column, values in _mapping(data.get("for_each", {}), _at(path, "for_each")).items():
        where = _at(_at(path, "for_each"), str(column))
        target = _target_column(table, column, where)
        if column in columns:
            raise MappingError(where, "is also mapped in 'columns'; keep one")
        if column == TABLE_SPECS[table].partition_column:
            raise MappingError(where, "the partition date cannot fan out; map it in 'columns'")
        items = _list(values, where)
        if not items:
            raise MappingError(where, "needs at least one value")
        for_each[str(column)] = tuple(_scalar(v, _at(where, i)) for i, v in enumerate(items))
        for i, item in enumerate(for_each[str(column)]):
            _typed_constant(item, target, _at(where, i))
    filters = tuple(
        _filter(f, _at(_at(path, "where"), i), table, named)
        for i, f in enumerate(_list(data.get("where", []), _at(path, "where")))
    )
    for flt in filters:
        for column, where in _target_references(flt):
            if column not in columns:
                raise MappingError(where, f"{column} is not mapped in 'columns' of this block")
    part = TablePart(table, path, source, rows, columns, defaults, for_each, filters)
    for col in part.spec.columns:
        default, where = _default(col, part, global_defaults)
        _typed_constant(default, col, where)
        unmapped = col.name not in columns and col.name not in for_each
        if col.required and unmapped and default is None:
            raise MappingError(
                _at(_at(path, "columns"), col.name), "required column has no mapping and no default"
            )
    return part


def _typed_constant(
    value: Any,
    column: Column,
    path: str,
    date_format: str | None = None,
    written: bool = True,
) -> None:
    """A constant that cannot be its column's type (integer, decimal, date), that its SAP type
    cannot hold (a `written` column's: not an operand's), a date the load cannot hold, or one
    that YAML reads otherwise than it looks (`_check_yaml_number`), is a mistake in the mapping:
    refuse it once instead of writing it into every row for the load to quarantine (or, for a
    date after 2262, a date in the 1700s). `date_format` reads a text date as a `date`
    operation with a format would."""
    if value is None:
        return
    _check_yaml_number(value, path, as_text=column.kind not in ("integer", "decimal"))
    if isinstance(value, date) and not FIRST_DATE <= value <= LAST_DATE:
        raise MappingError(path, _date_range_reason(value.isoformat()))
    values = _broadcast(value, 1)
    if date_format is not None:
        values = replace(values, fmt=replace(CANONICAL, date_format=date_format))
    typed = _target_values(values, column, path, written)
    if typed.bad is not None:
        beyond = _limit_reason(typed.bad.iloc[0], column) if written else None
        raise MappingError(
            path,
            beyond
            or f"{_scalar_text(value)!r} is not a valid {column.kind} value of {column.name}",
        )
    if _beyond_decimals(typed.data, column).any():
        raise MappingError(path, _beyond_decimals_reason(_scalar_text(value), column))


def _operand(operation: str, kind: ColumnKind) -> Column:
    """The type an operation reads its operands as, named after it in `_typed_constant`'s
    message (a factor of multiply is a decimal whatever the target column's type)."""
    return Column(f"a {operation} operand", kind, operation, f"read by {operation}")


def _constants(
    expr: Expression, need: Column, date_format: str | None = None
) -> Iterator[tuple[Constant, Column, str | None]]:
    """Every literal constant of an expression, at any depth, with the type it is read as: the
    column's where it becomes the column's value (also as a lookup's value or a kept code), a
    number or a date where an operation reads it so, text where it is joined, looked up or
    translated (any constant, but a number only as YAML spells it)."""
    if isinstance(expr, Constant):
        yield expr, need, date_format
    elif isinstance(expr, Concat):
        for part in expr.parts:
            yield from _constants(part, _operand("concat", "text"))
    elif isinstance(expr, Lookup):
        for by in expr.spec.by:
            yield from _constants(by, _operand("lookup", "text"))
        yield from _constants(expr.value, need, date_format)
    elif isinstance(expr, ParseDate):
        yield from _constants(expr.operand, _operand("date", "date"), expr.date_format)
    elif isinstance(expr, Multiply):
        for operand in (expr.operand, expr.by):
            yield from _constants(operand, _operand("multiply", "decimal"))
    elif isinstance(expr, Convert):
        yield from _constants(expr.operand, _operand("convert", "decimal"))
        for unit in (expr.unit, expr.to):  # units are text, looked up in the units
            if unit is not None:
                yield from _constants(unit, _operand("convert", "text"))
    elif isinstance(expr, CodeMap):
        # A constant code the table lacks is kept as the value under `unmapped: keep`.
        kept = (
            expr.unmapped == "keep"
            and isinstance(expr.operand, Constant)
            and _scalar_text(expr.operand.value) not in expr.table
        )
        yield from _constants(expr.operand, need if kept else _operand("code", "text"), date_format)
    elif isinstance(expr, Year):
        yield from _constants(expr.operand, _operand("year", "date"))


def _default(
    column: Column, part: TablePart, global_defaults: Mapping[str, Any]
) -> tuple[Any, str]:
    """The default that fills the column's empty values (the block's wins), and its key path."""
    if column.name in part.defaults:
        return part.defaults[column.name], _at(_at(part.path, "defaults"), column.name)
    return global_defaults.get(column.name), _at("defaults", column.name)


def _target_references(flt: Filter) -> list[tuple[str, str]]:
    if isinstance(flt, AnyOf):
        return [ref for inner in flt.filters for ref in _target_references(inner)]
    return [(flt.column, _at(flt.path, "target"))] if flt.side == "target" else []


def _expression(value: Any, path: str, named: _Named) -> Expression:
    if isinstance(value, str):
        return SourceColumn(_text(value, path), path)
    if not isinstance(value, dict):
        raise MappingError(
            path,
            f"expected a source column name or an operation ({', '.join(OPERATIONS)}), got "
            f"{_kind_of(value)}; write constants as {{const: ...}}",
        )
    ops = [key for key in value if key in OPERATIONS]
    if len(ops) != 1:
        found = f"got {', '.join(map(str, ops))}" if ops else f"got keys {list(value)}"
        raise MappingError(
            path, f"expected exactly one operation of {', '.join(OPERATIONS)}; {found}"
        )
    op = ops[0]
    where = _at(path, op)
    arg = value[op]
    if op == "const":
        _keys(value, path, ["const"])
        return Constant(_scalar(arg, where), path)
    if op == "concat":
        _keys(value, path, ["concat", "sep"])
        parts = tuple(_expression(p, _at(where, i), named) for i, p in enumerate(_list(arg, where)))
        if not parts:
            raise MappingError(where, "needs at least one part")
        sep = value.get("sep", "")
        if not isinstance(sep, str):
            raise MappingError(_at(path, "sep"), f"expected text, got {_kind_of(sep)}")
        return Concat(parts, sep, path)
    if op == "lookup":
        _keys(value, path, ["lookup", "value"], required=["value"])
        if isinstance(arg, str):
            if arg not in named.lookups:
                known = ", ".join(map(str, named.lookups)) or "none"
                raise MappingError(where, f"unknown lookup {arg!r}; defined lookups: {known}")
            spec = _lookup_spec(named.lookups[arg], _at("lookups", arg), named)
        else:
            spec = _lookup_spec(arg, where, named)
        return Lookup(spec, _expression(value["value"], _at(path, "value"), named), path)
    if op == "date":
        _keys(value, path, ["date", "format"])
        date_format = value.get("format")
        if date_format is not None and date_format not in DATE_FORMATS:
            raise MappingError(
                _at(path, "format"), f"expected one of {list(DATE_FORMATS)}, got {date_format!r}"
            )
        return ParseDate(_expression(arg, where, named), date_format, path)
    if op == "multiply":
        _keys(value, path, ["multiply", "by"], required=["by"])
        by = value["by"]
        factor = (
            Constant(_scalar(by, _at(path, "by")), _at(path, "by"))
            if isinstance(by, int | float) and not isinstance(by, bool)
            else _expression(by, _at(path, "by"), named)
        )
        return Multiply(_expression(arg, where, named), factor, path)
    if op == "convert":
        _keys(value, path, ["convert", "from", "to", "units", "factors"], required=["from"])
        if ("units" in value) == ("factors" in value):
            raise MappingError(path, "give exactly one of 'units' (a T006 file) and 'factors'")
        to, units_file, factors = None, None, None
        if "units" in value:
            if "to" not in value:
                raise MappingError(path, "missing key 'to' (the unit to convert to)")
            units_file = _file_pattern(value["units"], _at(path, "units"))
            to = _expression(value["to"], _at(path, "to"), named)
        else:
            if "to" in value:
                raise MappingError(
                    _at(path, "to"), "explicit factors already convert to one unit: drop 'to'"
                )
            factors = {}
            for unit, factor in _mapping(value["factors"], _at(path, "factors")).items():
                at = _at(_at(path, "factors"), str(unit))
                if isinstance(factor, bool) or not isinstance(factor, int | float):
                    raise MappingError(at, f"expected a number, got {_kind_of(factor)}")
                _check_yaml_number(factor, at, as_text=False)
                factors[_code_text(unit, at)] = float(factor)
            if not factors:
                raise MappingError(_at(path, "factors"), "needs at least one unit")
        unit = _expression(value["from"], _at(path, "from"), named)
        if factors is not None:
            _check_unit_constant(unit, factors, "factors")
        return Convert(_expression(arg, where, named), unit, to, units_file, factors, path)
    if op == "code":
        _keys(value, path, ["code", "map", "unmapped"], required=["map"])
        table = value["map"]
        if isinstance(table, str):
            if table not in named.codes:
                known = ", ".join(named.codes) or "none"
                raise MappingError(
                    _at(path, "map"), f"unknown code table {table!r}; defined in codes: {known}"
                )
            name, codes = table, named.codes[table]
        else:
            name, codes = "inline", _code_table(table, _at(path, "map"))
        unmapped = value.get("unmapped", "error")
        if unmapped not in UNMAPPED_POLICIES:
            raise MappingError(
                _at(path, "unmapped"),
                f"expected one of {list(UNMAPPED_POLICIES)}, got {unmapped!r}",
            )
        operand = _expression(arg, where, named)
        if isinstance(operand, Constant) and operand.value is not None and unmapped == "error":
            code = _code_text(operand.value, where)
            if code not in codes:
                raise MappingError(
                    where,
                    f"code {code!r} is not in code table {name!r}; add it, or set unmapped: "
                    "keep or empty",
                )
        return CodeMap(operand, name, codes, unmapped, path)
    _keys(value, path, ["year"])
    return Year(_expression(arg, where, named), path)


def _lookup_spec(value: Any, path: str, named: _Named) -> LookupSpec:
    data = _mapping(value, path)
    _keys(data, path, ["file", "key", "by", "where"], required=["file", "key", "by"])
    keys = data["key"] if isinstance(data["key"], list) else [data["key"]]
    by = data["by"] if isinstance(data["by"], list) else [data["by"]]
    key = tuple(_text(k, _at(_at(path, "key"), i)) for i, k in enumerate(keys))
    if len(key) != len(by):
        raise MappingError(path, f"'key' has {len(key)} columns but 'by' has {len(by)} values")
    return LookupSpec(
        _file_pattern(data["file"], _at(path, "file")),
        key,
        tuple(_expression(b, _at(_at(path, "by"), i), named) for i, b in enumerate(by)),
        tuple(
            _filter(f, _at(_at(path, "where"), i), None, named)
            for i, f in enumerate(_list(data.get("where", []), _at(path, "where")))
        ),
        path,
    )


def _filter(value: Any, path: str, table: str | None, named: _Named) -> Filter:
    data = _mapping(value, path)
    if "any" in data:
        _keys(data, path, ["any"])
        items = _list(data["any"], _at(path, "any"))
        if not items:
            raise MappingError(_at(path, "any"), "needs at least one condition")
        return AnyOf(
            tuple(_filter(f, _at(_at(path, "any"), i), table, named) for i, f in enumerate(items)),
            path,
        )
    _keys(data, path, ["source", "target", *CONDITIONS])
    sides = [side for side in ("source", "target") if side in data]
    if len(sides) != 1:
        raise MappingError(path, "name exactly one of 'source' (a source column) and 'target'")
    side = sides[0]
    column = _text(data[side], _at(path, side))
    if side == "target":
        if table is None:
            raise MappingError(_at(path, side), "a lookup's filter can only use source columns")
        _target_column(table, column, _at(path, side))
    ops = [key for key in CONDITIONS if key in data]
    if len(ops) != 1:
        raise MappingError(path, f"expected exactly one condition of {', '.join(CONDITIONS)}")
    op = ops[0]
    where = _at(path, op)
    arg = data[op]
    if op == "in_file":
        spec = _mapping(arg, where)
        _keys(spec, where, ["file", "column"], required=["file", "column"])
        arg = (_file_pattern(spec["file"], _at(where, "file")), _text(spec["column"], where))
    elif op in ("in", "not_in"):
        items = [_compared(v, _at(where, i)) for i, v in enumerate(_list(arg, where))]
        if not items or any(v is None for v in items):
            raise MappingError(where, 'needs one or more values ("" for an empty value)')
        if len({_comparison_kind(v) for v in items if v != EMPTY}) > 1:
            raise MappingError(where, "values must all be text, all numbers or all dates")
        arg = tuple(items)
    else:
        arg = _compared(arg, where)
        if arg is None or (op in ("min", "max") and arg == EMPTY):
            raise MappingError(
                where, "needs a value" + ('; "" means empty' if op == "equals" else "")
            )
    return Condition(side, column, op, arg, path)


def _compared(value: Any, path: str) -> Any:
    """A filter value, compared as the type YAML gives it: a number must mean what it says."""
    value = _scalar(value, path)
    _check_yaml_number(value, path, as_text=False)
    return value


def _comparison_kind(value: Any) -> Kind:
    if isinstance(value, date):
        return "date"
    if isinstance(value, int | float):
        return "number"
    return "text"


# -- reading sources ---------------------------------------------------------------------------


@dataclass
class SourceFrame:
    """One source (every file of a glob): cells as text, None when empty, with their origin."""

    name: str
    fmt: SourceFormat
    data: pd.DataFrame
    files: np.ndarray  # file name of each row
    lines: np.ndarray  # physical line of each row (1-based; the header is line 1)

    def __len__(self) -> int:
        return len(self.data)

    def origin(self, row: int) -> str:
        return _origin(self.files[row], self.lines[row])

    def take(self, rows: np.ndarray) -> SourceFrame:
        return SourceFrame(
            self.name,
            self.fmt,
            self.data.iloc[rows].reset_index(drop=True),
            self.files[rows],
            self.lines[rows],
        )

    def column(self, name: str, path: str) -> Values:
        if name not in self.data.columns:
            raise MappingError(path, _unknown_column(name, self))
        return Values("text", self.data[name], self.fmt)


def _origin(file: str, line: int) -> str:
    """`so.csv line 4`, or the 0-based index of an inline row (stored as -index)."""
    return f"{file}[{-line}]" if line <= 0 else f"{file} line {line}"


def _unknown_column(name: str, frame: SourceFrame) -> str:
    columns = list(frame.data.columns)
    close = difflib.get_close_matches(name, columns, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; columns: {', '.join(columns[:30])}"
    return f"unknown source column {name!r} in {frame.name}{hint}"


def read_source_file(path: Path, fmt: SourceFormat) -> SourceFrame:
    """Read one delimited file as text cells; a malformed record is an error naming its line.
    Fields are split and stripped in Arrow, and a text repeated in a column is one Python
    string: a million rows cost a few hundred MB, not a Python list per record."""
    records, lines = _records(_decoded(path, fmt.encoding), fmt.separator, path.name)
    filled = _filled(records)
    if not filled.all():
        records, lines = records.filter(filled), lines[filled]
    if fmt.columns:
        names = list(fmt.columns)
    elif len(records):
        names = [name.replace("\ufeff", "").strip() for name in records[0].as_py()]
        _no_duplicates(names, None, f"{path.name} line {lines[0]} (header)")
        records, lines = records.slice(1), lines[1:]
    else:
        raise MappingError(None, "is empty: no header row", path.name)
    widths = pc.list_value_length(records).to_numpy()
    wrong = np.flatnonzero(widths != len(names))
    if len(wrong):
        row = int(wrong[0])
        raise MappingError(
            None,
            f"{widths[row]} fields, expected {len(names)} (separator {fmt.separator!r})",
            f"{path.name} line {lines[row]}",
        )
    data = pd.DataFrame(
        {name: _cells(records, i) for i, name in enumerate(names)}, index=pd.RangeIndex(len(lines))
    )
    files = np.array([path.name] * len(lines), dtype=object)  # np.full copies the name per row
    pa.default_memory_pool().release_unused()  # else Arrow's allocator keeps the file's copies
    return SourceFrame(path.name, fmt, data, files, lines)


def _decoded(path: Path, encoding: str) -> str:
    """The file's text, line breaks as LF (`_newlines`). A UTF-16 byte-order mark decides the
    encoding (SAP GUI's "Unicode text", which the landing reader takes too); bytes the encoding
    cannot read are an error naming their line and the setting that fixes it."""
    data = path.read_bytes()
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = _newlines(data[: exc.start].decode(encoding, errors="replace")).count("\n") + 1
        raise MappingError(
            None,
            f"byte 0x{data[exc.start : exc.start + 1].hex()} cannot be read as {encoding} "
            f"({exc.reason}); set the file's encoding in the mapping, e.g. cp1252 for a Windows "
            f"export: `encoding:` under `format:`, or under its entry in `files:`",
            f"{path.name} line {line}",
        ) from None
    return _newlines(text)


def _newlines(text: str) -> str:
    """CRLF and a lone CR as LF, as Python's universal newlines read them."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _records(text: str, separator: str, name: str) -> tuple[pa.ListArray, np.ndarray]:
    """CSV records and the physical line each starts on. Without quotes a record is a line,
    split in Arrow (the fast path); with quotes the csv module joins lines, strictly, and
    counts them."""
    if '"' not in text:
        physical = pc.split_pattern(pa.array([text], pa.large_string()), "\n").flatten()
        if len(physical) and physical[-1].as_py() == "":
            physical = physical.slice(0, len(physical) - 1)
        lines = np.arange(1, len(physical) + 1, dtype=np.int64)
        return pc.split_pattern(physical, separator), lines
    physical = text.split("\n")
    if physical[-1] == "":
        physical.pop()
    reader = csv.reader((line + "\n" for line in physical), delimiter=separator, strict=True)
    records, lines, previous = [], [], 0
    try:
        for record in reader:
            records.append(record)
            lines.append(previous + 1)
            previous = reader.line_num
    except csv.Error as exc:
        raise MappingError(
            None, f"malformed record: {exc}", f"{name} line {previous + 1}"
        ) from None
    return pa.array(records, pa.list_(pa.large_string())), np.asarray(lines, dtype=np.int64)


def _filled(records: pa.ListArray) -> np.ndarray:
    """Records with a field that is not blank; the others (`;;;`, spaces) are no rows."""
    joined = pc.binary_join(records, pa.scalar("", records.type.value_type))
    blank = pc.or_(pc.equal(joined, ""), pc.utf8_is_space(joined))
    return ~blank.to_numpy(zero_copy_only=False)


def _cells(records: pa.ListArray, i: int) -> pd.Series:
    """Field i of every record, stripped, None when empty: object text, each distinct text of
    the column one Python string (`to_pandas` deduplicates)."""
    cells = pc.utf8_trim_whitespace(pc.list_element(records, i))
    cells = pc.if_else(pc.equal(cells, ""), pa.scalar(None, cells.type), cells)
    return pd.Series(cells.to_pandas(), dtype=object)


class Sources:
    """The source files of a mapping, each read once, by glob, in the format `files` gives it,
    and what reading them showed: the files read and how many rows each lookup matched."""

    def __init__(self, config: MappingConfig, source_dir: str | Path) -> None:
        self.config = config
        self.source_dir = Path(source_dir)
        if not self.source_dir.is_dir():
            raise MappingError(None, f"{self.source_dir} is not a folder", "--source")
        self._frames: dict[str, SourceFrame] = {}
        self.files_read: list[str] = []
        self.lookups: dict[str, LookupReport] = {}

    def format_of(self, file_name: str) -> SourceFormat:
        """The format of the one `files` pattern the name matches, case-insensitively (exports
        vary in case: `auftraege_DE.csv`), else `format`. A name two patterns match is an
        error: either could be meant, and the wrong one reads `1.250` as 1.25."""
        matching = [p for p in self.config.files if _matches(file_name, p)]
        if len(matching) > 1:
            first, second = matching[:2]
            raise MappingError(
                _at("files", second),
                f"{file_name} matches both {first!r}{self._line_of(first)} and {second!r}; "
                "give each file one entry (what all files share belongs in `format`)",
            )
        return self.config.files[matching[0]] if matching else self.config.format

    def _line_of(self, pattern: str) -> str:
        line = self.config.lines.at(_at("files", pattern)) if self.config.lines else None
        return f" ({line})" if line else ""

    def unmatched_patterns(self) -> list[str]:
        """`files` entries no file read matches, as warnings: a misspelled pattern leaves its
        files in the general `format`, which may read their numbers otherwise."""
        read = ", ".join(self.files_read[:_MAX_LISTED]) or "none"
        return [
            f"files.{pattern}{self._line_of(pattern)}: matches none of the files read ({read})"
            for pattern in self.config.files
            if not any(_matches(name, pattern) for name in self.files_read)
        ]

    def frame(self, pattern: str, path: str) -> SourceFrame:
        if pattern not in self._frames:
            self._frames[pattern] = self._read(pattern, path)
        return self._frames[pattern]

    def _read(self, pattern: str, path: str) -> SourceFrame:
        """Every file of the glob, stacked; their errors name `path`, the key that reads them."""
        files = _source_files(self.source_dir, pattern)
        if not files:
            raise MappingError(path, f"no file matches {pattern!r} in {self.source_dir}")
        self.files_read += [file.name for file in files]
        try:
            frames = [read_source_file(file, self.format_of(file.name)) for file in files]
        except MappingError as error:
            if error.path is not None:
                raise
            raise MappingError(path, error.message, error.origin) from None
        first = frames[0]
        for other in frames[1:]:
            if other.fmt != first.fmt:
                differ = ", ".join(
                    f"{name} {getattr(first.fmt, name)!r} and {getattr(other.fmt, name)!r}"
                    for name in SourceFormat.__dataclass_fields__
                    if getattr(first.fmt, name) != getattr(other.fmt, name)
                )
                raise MappingError(
                    path,
                    f"{first.name} and {other.name} match {pattern!r} but differ in format "
                    f"({differ}): files stacked by one source are read as one. Give each format "
                    "its own block, with a source that matches only its files (a list of blocks "
                    "under the table, as for MSEG in config/mappings/README.md)",
                )
            if list(other.data.columns) != list(first.data.columns):
                raise MappingError(
                    path, f"{first.name} and {other.name} match {pattern!r} but differ in columns"
                )
        if len(frames) == 1:
            return SourceFrame(pattern, first.fmt, first.data, first.files, first.lines)
        return SourceFrame(
            pattern,
            first.fmt,
            pd.concat([f.data for f in frames], ignore_index=True),
            np.concatenate([f.files for f in frames]),
            np.concatenate([f.lines for f in frames]),
        )


def _matches(file_name: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(file_name.casefold(), pattern.casefold())


def _source_files(folder: Path, pattern: str) -> list[Path]:
    """The files a `source` names, their names matched case-insensitively as `files` patterns
    are (`salesorder.csv` takes SalesOrder.CSV, as Windows exports write it); a name without
    wildcards that one file has exactly takes that one only. Folders match as written."""
    pure = PurePosixPath(pattern.replace("\\", "/"))
    parent = str(pure.parent)
    folders = [folder] if parent == "." else [p for p in folder.glob(parent) if p.is_dir()]
    found = sorted(
        p for f in folders for p in f.iterdir() if p.is_file() and _matches(p.name, pure.name)
    )
    exact = [p for p in found if p.name == pure.name]
    return exact if exact and not any(c in pure.name for c in "*?[") else found


@dataclass(frozen=True)
class LookupReport:
    """How many of the rows a lookup looked up found their row in its file."""

    lookup: str  # key path of the lookup (`lookups.address`, or the column's inline one)
    file: str
    rows: int
    matched: int


def _inline_frame(part: TablePart) -> SourceFrame:
    assert part.rows is not None
    names = sorted({name for row in part.rows for name in row})
    data = pd.DataFrame(
        {
            name: pd.Series(
                [None if row.get(name) is None else _scalar_text(row[name]) for row in part.rows],
                dtype=object,
            )
            for name in names
        }
    )
    where = _at(part.path, "rows")
    files = np.full(len(part.rows), where, dtype=object)
    return SourceFrame(where, CANONICAL, data, files, -np.arange(len(part.rows), dtype=np.int64))


# -- checking a mapping against its sources ------------------------------------------------------


def check_mapping(config: MappingConfig, sources: Sources) -> None:
    """Every file exists and every column a mapping names is in its file (key path errors)."""
    for parts in config.tables.values():
        for part in parts:
            if part.source is None:
                continue
            frame = sources.frame(part.source, _at(part.path, "source"))
            for expr in part.columns.values():
                _check_expression(expr, frame, sources)
            for flt in part.where:
                _check_filter(flt, frame, sources)


def _require_column(frame: SourceFrame, name: str, path: str) -> None:
    if name not in frame.data.columns:
        raise MappingError(path, _unknown_column(name, frame))


def _check_expression(expr: Expression, frame: SourceFrame, sources: Sources) -> None:
    if isinstance(expr, SourceColumn):
        _require_column(frame, expr.name, expr.path)
    elif isinstance(expr, Concat):
        for part in expr.parts:
            _check_expression(part, frame, sources)
    elif isinstance(expr, Lookup):
        other = sources.frame(expr.spec.file, _at(expr.spec.path, "file"))
        for key in expr.spec.key:
            _require_column(other, key, _at(expr.spec.path, "key"))
        for by in expr.spec.by:
            _check_expression(by, frame, sources)
        for flt in expr.spec.where:
            _check_filter(flt, other, sources)
        _check_expression(expr.value, other, sources)
    elif isinstance(expr, Multiply):
        _check_expression(expr.operand, frame, sources)
        _check_expression(expr.by, frame, sources)
    elif isinstance(expr, Convert):
        _check_expression(expr.operand, frame, sources)
        _check_expression(expr.unit, frame, sources)
        if expr.to is not None:
            _check_expression(expr.to, frame, sources)
        if expr.units_file is not None:  # constant units against factors: checked at parsing
            units = sources.frame(expr.units_file, _at(expr.path, "units"))
            missing = [c for c in UNIT_TABLE_COLUMNS if c not in units.data.columns]
            if missing:
                raise MappingError(
                    _at(expr.path, "units"),
                    f"{units.name} lacks the T006 columns {missing} (name them in files.columns)",
                )
            known = _unit_table(units, expr)
            for unit in (expr.unit, expr.to):
                _check_unit_constant(unit, known, expr.units_file)
    elif isinstance(expr, ParseDate | CodeMap | Year):
        _check_expression(expr.operand, frame, sources)


def _check_unit_constant(unit: Expression | None, known: Mapping[str, Any], table: str) -> None:
    """A constant unit missing from the units is a mistake in the mapping, not in some row."""
    if not isinstance(unit, Constant) or unit.value is None:
        return
    if _scalar_text(unit.value) not in known:
        raise MappingError(unit.path, f"unit {_scalar_text(unit.value)!r} is not in {table}")


def _check_filter(flt: Filter, frame: SourceFrame, sources: Sources) -> None:
    if isinstance(flt, AnyOf):
        for inner in flt.filters:
            _check_filter(inner, frame, sources)
        return
    if flt.side == "source":
        _require_column(frame, flt.column, _at(flt.path, "source"))
    if flt.op == "in_file":
        file, column = flt.value
        other = sources.frame(file, _at(_at(flt.path, "in_file"), "file"))
        _require_column(other, column, _at(_at(flt.path, "in_file"), "column"))


# -- evaluating expressions --------------------------------------------------------------------


@dataclass
class Values:
    """An expression's result: text (read by `fmt` when a number or date is needed), numbers
    (float64) or dates (datetime64), and the source text of values that failed to convert."""

    kind: Kind
    data: pd.Series
    fmt: SourceFormat = CANONICAL
    bad: pd.Series | None = None
    #: dates that were SAP's open date, no date in `data`: the latest date in a filter
    open_ended: np.ndarray | None = None

    def take(self, rows: np.ndarray) -> Values:
        """Values at `rows`; -1 gives an empty value."""
        bad = None if self.bad is None else _take(self.bad, rows, "text")
        open_ended = None
        if self.open_ended is not None:
            open_ended = (rows >= 0) & self.open_ended[np.maximum(rows, 0)]
        return Values(self.kind, _take(self.data, rows, self.kind), self.fmt, bad, open_ended)


def _take(series: pd.Series, rows: np.ndarray, kind: Kind) -> pd.Series:
    missing = rows < 0
    if len(series) == 0:
        return _empty(kind, len(rows))
    picked = series.iloc[np.where(missing, 0, rows)].reset_index(drop=True)
    if not missing.any():
        return picked
    if picked.dtype == object:
        return picked.where(pd.Series(~missing), None)
    return picked.mask(pd.Series(missing))


def _empty(kind: Kind, n: int) -> pd.Series:
    if kind == "number":
        return pd.Series(np.full(n, np.nan))
    if kind == "date":
        return pd.Series(np.full(n, np.datetime64("NaT", "ns")))
    return pd.Series([None] * n, dtype=object)


def _merge_bad(*bads: pd.Series | None) -> pd.Series | None:
    present = [b for b in bads if b is not None]
    if not present:
        return None
    merged = present[0]
    for other in present[1:]:
        merged = merged.where(merged.notna(), other)
    return merged if merged.notna().any() else None


@dataclass
class _Context:
    frame: SourceFrame
    sources: Sources

    def origin(self, row: int) -> str:
        return self.frame.origin(row)


def _broadcast(value: Any, n: int) -> Values:
    if value is None:
        return Values("text", _empty("text", n))
    if isinstance(value, date):
        return Values("date", pd.Series(np.full(n, np.datetime64(value, "ns"))))
    if isinstance(value, int | float):
        return Values("number", pd.Series(np.full(n, float(value))))
    return Values("text", pd.Series([value] * n, dtype=object))


def evaluate(expr: Expression, ctx: _Context) -> Values:
    """The values of an expression for every row of the context's frame."""
    n = len(ctx.frame)
    if isinstance(expr, SourceColumn):
        return ctx.frame.column(expr.name, expr.path)
    if isinstance(expr, Constant):
        return _broadcast(expr.value, n)
    if isinstance(expr, Concat):
        parts = [as_text(evaluate(p, ctx)) for p in expr.parts]
        present = np.zeros(n, dtype=bool)
        joined = pd.Series([""] * n, dtype=object)
        for i, part in enumerate(parts):
            if i:
                joined = joined + expr.separator
            present |= part.data.notna().to_numpy()
            joined = joined + part.data.fillna("")
        joined = joined.where(pd.Series(present), None)
        return Values("text", joined, CANONICAL, _merge_bad(*(p.bad for p in parts)))
    if isinstance(expr, Lookup):
        return _lookup(expr, ctx)
    if isinstance(expr, ParseDate):
        return as_date(evaluate(expr.operand, ctx), expr.path, expr.date_format)
    if isinstance(expr, Multiply):
        left = as_number(evaluate(expr.operand, ctx), expr.path)
        right = as_number(evaluate(expr.by, ctx), _at(expr.path, "by"))
        return Values("number", left.data * right.data, CANONICAL, _merge_bad(left.bad, right.bad))
    if isinstance(expr, Convert):
        return _convert(expr, ctx)
    if isinstance(expr, CodeMap):
        return _code(expr, ctx)
    dates = as_date(evaluate(expr.operand, ctx), expr.path)
    return Values("number", dates.data.dt.year.astype(float), CANONICAL, dates.bad)


def as_text(values: Values) -> Values:
    """Numbers as plain text (`12`, `0.5`), dates as ISO; text unchanged."""
    if values.kind == "text":
        return values
    if values.kind == "number":
        text = [None if math.isnan(v) else _scalar_text(float(v)) for v in values.data]
    else:
        text = [None if pd.isna(v) else v.date().isoformat() for v in values.data]
    return Values("text", pd.Series(text, dtype=object), CANONICAL, values.bad)


def as_number(values: Values, path: str) -> Values:
    if values.kind == "number":
        return values
    if values.kind == "date":
        raise MappingError(path, "a date cannot be used as a number")
    numbers, invalid = parse_sap_number(
        values.data.astype(object), values.fmt.decimal, values.fmt.thousands
    )
    invalid |= np.isinf(numbers)  # digits beyond float64 (1e309): never a number, kept as text
    bad = values.data.where(invalid, None) if invalid.any() else None
    return Values("number", numbers.reset_index(drop=True), CANONICAL, _merge_bad(values.bad, bad))


def as_date(values: Values, path: str, date_format: str | None = None) -> Values:
    if values.kind == "date":
        return values
    if values.kind == "number":
        raise MappingError(path, "a number cannot be used as a date")
    text, date_format = values.data.astype(object), date_format or values.fmt.date_format
    dates, invalid = parse_sap_date(text, date_format)
    bad = values.data.where(invalid, None) if invalid.any() else None
    open_ended = sap_open_dates(text, date_format)
    dates = dates.reset_index(drop=True)
    return Values("date", dates, CANONICAL, _merge_bad(values.bad, bad), open_ended)


def _lookup(expr: Lookup, ctx: _Context) -> Values:
    spec = expr.spec
    other = ctx.sources.frame(spec.file, _at(spec.path, "file"))
    if spec.where:
        other = other.take(np.flatnonzero(_filter_mask(spec.where, _Context(other, ctx.sources))))
    keys = [other.column(k, _at(spec.path, "key")).data for k in spec.key]
    complete = np.logical_and.reduce([k.notna().to_numpy() for k in keys])
    rows = np.flatnonzero(complete)
    index = _key_index([k.iloc[rows] for k in keys])
    duplicated = index.duplicated(keep="first")
    if duplicated.any():
        value = index[np.flatnonzero(duplicated)[0]]
        same = (rows[i] for i, item in enumerate(index) if item == value)
        first, second = itertools.islice(same, 2)
        raise MappingError(
            spec.path,
            f"key {', '.join(spec.key)} = {value!r} is not unique in {other.name} "
            f"({other.origin(first)} and {other.origin(second)})",
        )
    by = [as_text(evaluate(b, ctx)).data for b in spec.by]
    wanted = _key_index(by)
    found = np.full(len(wanted), -1)
    if len(rows):
        at = index.get_indexer(wanted)
        found = np.where(at >= 0, rows[np.maximum(at, 0)], -1)
    incomplete = ~np.logical_and.reduce([b.notna().to_numpy() for b in by])
    found[incomplete] = -1
    matched = int((found >= 0).sum())
    ctx.sources.lookups[expr.path] = LookupReport(spec.path, other.name, len(found), matched)
    if len(found) and not matched:
        raise MappingError(
            _at(spec.path, "by"),
            f"matches none of the {len(found)} rows of {ctx.frame.name} ({expr.path}): "
            + _why_unmatched(spec, other, wanted, incomplete, index),
        )
    value = evaluate(expr.value, _Context(other, ctx.sources))
    return value.take(found)


def _why_unmatched(
    spec: LookupSpec, other: SourceFrame, wanted: pd.Index, incomplete: np.ndarray, index: pd.Index
) -> str:
    """Why no row found its row: a typo in `by` or `key`, or a lookup file without rows, would
    else empty the looked-up columns of every row without a word."""
    if not len(other):
        return f"{other.name} has no rows" + (" that pass its 'where'" if spec.where else "")
    if not len(index):
        return f"no row of {other.name} has a {', '.join(spec.key)}"
    if incomplete.all():
        return "every row's 'by' value is empty"
    looked_up = wanted[int(np.flatnonzero(~incomplete)[0])]
    return (
        f"no 'by' value is found in {', '.join(spec.key)} of {other.name} (looked up "
        f"{looked_up!r}; it holds {index[0]!r}, ...); check 'by' and 'key'"
    )


def _key_index(columns: Sequence[pd.Series]) -> pd.Index:
    arrays = [np.asarray(c, dtype=object) for c in columns]
    if len(arrays) == 1:
        return pd.Index(arrays[0], dtype=object)
    return pd.MultiIndex.from_arrays(arrays)


def _convert(expr: Convert, ctx: _Context) -> Values:
    quantity = as_number(evaluate(expr.operand, ctx), expr.path)
    units = as_text(evaluate(expr.unit, ctx)).data
    needed = quantity.data.notna().to_numpy()
    if expr.factors is not None:
        factor = _unit_factors(units, needed, expr.factors, "factors", expr.path, ctx)
    else:
        assert expr.to is not None and expr.units_file is not None
        table = _unit_table(ctx.sources.frame(expr.units_file, _at(expr.path, "units")), expr)
        target = as_text(evaluate(expr.to, ctx)).data
        scale = {unit: ratio for unit, (_, ratio) in table.items()}
        from_factor = _unit_factors(units, needed, scale, expr.units_file, expr.path, ctx)
        to_factor = _unit_factors(target, needed, scale, expr.units_file, _at(expr.path, "to"), ctx)
        dimension = {unit: dim for unit, (dim, _) in table.items()}
        differs = needed & (units.map(dimension) != target.map(dimension)).to_numpy()
        if differs.any():
            row = int(np.flatnonzero(differs)[0])
            source, goal = units.iloc[row], target.iloc[row]
            raise MappingError(
                expr.path,
                f"cannot convert {source!r} ({dimension[source]}) to {goal!r} "
                f"({dimension[goal]}): different dimensions in {expr.units_file}",
                ctx.origin(row),
            )
        factor = from_factor / to_factor
    return Values("number", quantity.data * factor, CANONICAL, quantity.bad)


def _unit_factors(
    units: pd.Series,
    needed: np.ndarray,
    factors: Mapping[str, float],
    table_name: str,
    path: str,
    ctx: _Context,
) -> np.ndarray:
    mapped = units.map(factors)
    unknown = needed & mapped.isna().to_numpy()
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        unit = units.iloc[row]
        what = "has no unit" if unit is None else f"unit {unit!r} is not in {table_name}"
        more = f" ({int(unknown.sum())} rows)" if unknown.sum() > 1 else ""
        raise MappingError(path, what + more, ctx.origin(row))
    return mapped.to_numpy(dtype=float, na_value=np.nan)


def _unit_table(frame: SourceFrame, expr: Convert) -> dict[str, tuple[str, float]]:
    """T006: unit -> (dimension, factor to the dimension's SI unit) = ZAEHL / NENNR * 10^EXP10.

    Units without a ratio (NENNR 0) and additive ones (ADDKO, temperatures) are left out, so a
    conversion that needs them fails naming the unit.
    """
    path = _at(expr.path, "units")
    numbers = {}
    for name in ("ZAEHL", "NENNR", "EXP10", "ADDKO"):
        text = frame.column(name, path).data
        values, invalid = parse_sap_number(text, frame.fmt.decimal, frame.fmt.thousands)
        if invalid.any():
            row = int(np.flatnonzero(invalid.to_numpy())[0])
            raise MappingError(
                None, f"not a number: {text.iloc[row]!r}", f"{frame.origin(row)}, column {name}"
            )
        numbers[name] = values.fillna(0).to_numpy()
    units = frame.column("MSEHI", path).data
    dimensions = frame.column("DIMID", path).data
    table = {}
    for row, unit in enumerate(units):
        if unit is None or numbers["NENNR"][row] == 0 or numbers["ADDKO"][row] != 0:
            continue
        ratio = numbers["ZAEHL"][row] / numbers["NENNR"][row] * 10.0 ** numbers["EXP10"][row]
        table[unit] = (dimensions.iloc[row] or "", ratio)
    return table


def _code(expr: CodeMap, ctx: _Context) -> Values:
    values = as_text(evaluate(expr.operand, ctx))
    present = values.data.notna().to_numpy()
    known = values.data.isin(list(expr.table)).to_numpy()
    unknown = present & ~known
    if unknown.any() and expr.unmapped == "error":
        row = int(np.flatnonzero(unknown)[0])
        others = sorted(set(values.data[unknown]))
        raise MappingError(
            expr.path,
            f"code {values.data.iloc[row]!r} is not in code table {expr.name!r} "
            f"(unmapped codes: {', '.join(map(repr, others[:_MAX_LISTED]))}); add it, or set "
            "unmapped: keep or empty",
            ctx.origin(row),
        )
    mapped = values.data.map(dict(expr.table)).astype(object)
    mapped = mapped.where(pd.Series(known), None)
    if expr.unmapped == "keep":
        mapped = mapped.where(pd.Series(known), values.data)
    return Values("text", mapped, values.fmt, values.bad)


# -- filters -----------------------------------------------------------------------------------


def _uses_target(flt: Filter) -> bool:
    if isinstance(flt, AnyOf):
        return any(_uses_target(inner) for inner in flt.filters)
    return flt.side == "target"


def _filter_mask(
    filters: Sequence[Filter], ctx: _Context, targets: Mapping[str, Values] | None = None
) -> np.ndarray:
    mask = np.ones(len(ctx.frame), dtype=bool)
    for flt in filters:
        mask &= _one_filter(flt, ctx, targets)
    return mask


def _one_filter(flt: Filter, ctx: _Context, targets: Mapping[str, Values] | None) -> np.ndarray:
    if isinstance(flt, AnyOf):
        mask = np.zeros(len(ctx.frame), dtype=bool)
        for inner in flt.filters:
            mask |= _one_filter(inner, ctx, targets)
        return mask
    if flt.side == "source":
        subject = ctx.frame.column(flt.column, _at(flt.path, "source"))
    else:
        assert targets is not None
        subject = targets[flt.column]
    if flt.op == "in_file":
        file, column = flt.value
        other = ctx.sources.frame(file, _at(_at(flt.path, "in_file"), "file"))
        allowed = set(other.column(column, _at(_at(flt.path, "in_file"), "column")).data.dropna())
        text = as_text(subject).data
        return text.isin(allowed).to_numpy()
    values = flt.value if flt.op in ("in", "not_in") else (flt.value,)
    kind = _comparison_kind(next((v for v in values if v != EMPTY), EMPTY))
    if kind == "number":
        typed = as_number(subject, flt.path)
    elif kind == "date":
        typed = as_date(subject, flt.path)
    else:
        typed = as_text(subject)
    if typed.bad is not None:
        row = int(np.flatnonzero(typed.bad.notna().to_numpy())[0])
        shown = ", ".join(_scalar_text(v) for v in values if v != EMPTY)
        written = f"a date as {subject.fmt.date_format} (the file's date_format)"
        raise MappingError(
            flt.path,
            f"cannot compare {typed.bad.iloc[row]!r} with {shown}: it is not "
            + (written if kind == "date" else f"a {kind}"),
            ctx.origin(row),
        )
    data = typed.data
    present = data.notna().to_numpy()
    # SAP's open date reads as no date, but compares as later than every date
    open_ended = np.zeros(len(data), dtype=bool)
    if kind == "date" and typed.open_ended is not None:
        open_ended = typed.open_ended
    present &= ~open_ended
    if flt.op in ("in", "not_in", "equals"):
        wanted = [_comparable(v, kind) for v in values if v != EMPTY]
        inside = (data.isin(wanted).to_numpy() & present) | (~present & (EMPTY in values))
        inside = np.where(open_ended, _OPEN_DATE in wanted, inside)
        return ~inside if flt.op == "not_in" else inside
    bound = _comparable(flt.value, kind)
    rows = np.flatnonzero(present)
    compared = data.iloc[rows] >= bound if flt.op == "min" else data.iloc[rows] <= bound
    result = open_ended & (flt.op == "min" or bound == _OPEN_DATE)
    result[rows] = compared.to_numpy(dtype=bool)
    return result


def _comparable(value: Any, kind: Kind) -> Any:
    if kind == "date":
        return pd.Timestamp(value)
    if kind == "number":
        return float(value)
    return _scalar_text(value)


# -- mapping tables ------------------------------------------------------------------------------


@dataclass
class MappedTable:
    """A table's mapped rows: typed values in spec order (numbers exact, not rounded), the source
    text of values that did not convert (`_unloadable` says how they are written), and each row's
    origin (file and line, as arrays: a text per row would cost a Python string each)."""

    spec: TableSpec
    data: pd.DataFrame
    bad: pd.DataFrame
    files: np.ndarray
    lines: np.ndarray
    source_rows: int = 0
    filtered_rows: int = 0
    outside_window: int = 0

    def __len__(self) -> int:
        return len(self.data)

    def origin(self, row: int) -> str:
        return _origin(self.files[row], self.lines[row])


@dataclass(frozen=True)
class MappingIssue:
    """A mapped row the load will quarantine, with the reason and where it came from."""

    table: str
    row: int  # position in the mapped table
    origin: str
    column: str
    message: str

    def __str__(self) -> str:
        return f"{self.table} {self.column} ({self.origin}): {self.message}"


def _target_values(values: Values, column: Column, path: str, written: bool = True) -> Values:
    """Convert to the column's kind; values that do not convert keep their source text in bad,
    as do numbers beyond the limit of a `written` column (not an operand's: `_within_limit`)."""
    if column.kind in ("text", "alpha"):
        text = as_text(values)
        data = text.data
        if column.kind == "alpha":
            data = normalize_alpha(data.astype(object), column.alpha_length)
        return Values("text", data.reset_index(drop=True), CANONICAL, text.bad)
    if column.kind == "date":
        return as_date(values, path)
    numbers = as_number(values, path)
    if column.kind == "integer":
        data = numbers.data
        fractional = (data.notna() & (data != np.floor(data))).to_numpy()
        if fractional.any():
            shown = as_text(Values("number", data.where(pd.Series(fractional)))).data
            numbers = Values(
                "number",
                data.mask(pd.Series(fractional)),
                CANONICAL,
                _merge_bad(numbers.bad, shown),
            )
    return _within_limit(numbers, column, values) if written else numbers


def _as_typed(values: Values, column: Column) -> pd.Series:
    """Spec dtype: object text, float64, nullable Int64, datetime64[ns]."""
    if column.kind == "integer":
        return values.data.round().astype("Int64")
    return values.data


def _no_values(column: Column, n: int) -> Values:
    kind: Kind = {"decimal": "number", "integer": "number", "date": "date"}.get(column.kind, "text")
    return Values(kind, _empty(kind, n))


def map_part(
    part: TablePart,
    sources: Sources,
    global_defaults: Mapping[str, Any],
    window: tuple[date, date] | None = None,
) -> MappedTable:
    """Map one block of a table: keep the window, filter, evaluate the columns, fan out, fill
    the defaults. Rows outside the window are left out first, so their values cannot fail."""
    spec = part.spec
    if part.rows is not None:
        frame = _inline_frame(part)
    else:
        assert part.source is not None
        frame = sources.frame(part.source, _at(part.path, "source"))
    source_rows = len(frame)
    outside = 0
    if window is not None and spec.partition_column is not None:
        column = spec.column(spec.partition_column)
        days = _column_values(column, part, _Context(frame, sources), global_defaults)
        inside = _inside_window(days, window)
        outside = int((~inside).sum())
        frame = frame.take(np.flatnonzero(inside))
    early = [f for f in part.where if not _uses_target(f)]
    late = [f for f in part.where if _uses_target(f)]
    if early:
        frame = frame.take(np.flatnonzero(_filter_mask(early, _Context(frame, sources))))
    ctx = _Context(frame, sources)
    targets: dict[str, Values] = {}
    for col in spec.columns:
        expr = part.columns.get(col.name)
        if expr is not None:
            targets[col.name] = _target_values(evaluate(expr, ctx), col, expr.path)
    if late:
        keep = np.flatnonzero(_filter_mask(late, ctx, targets))
        frame = frame.take(keep)
        targets = {name: values.take(keep) for name, values in targets.items()}
        ctx = _Context(frame, sources)
    n = len(frame)
    filtered = source_rows - outside - n

    files, lines = frame.files, frame.lines
    if part.for_each:
        combos = list(itertools.product(*part.for_each.values()))
        repeat = np.tile(np.arange(n), len(combos))
        targets = {name: values.take(repeat) for name, values in targets.items()}
        for i, column in enumerate(part.for_each):
            cells = [_scalar_text(combo[i]) for combo in combos for _ in range(n)]
            targets[column] = _target_values(
                Values("text", pd.Series(cells, dtype=object)),
                spec.column(column),
                _at(_at(part.path, "for_each"), column),
            )
        files, lines = frame.files[repeat], frame.lines[repeat]
        n = len(repeat)

    data: dict[str, pd.Series] = {}
    bad: dict[str, pd.Series] = {}
    for col in spec.columns:
        values = targets[col.name] if col.name in targets else _no_values(col, n)
        values = _with_default(values, col, *_default(col, part, global_defaults))
        data[col.name] = _as_typed(values, col).reset_index(drop=True)
        bad[col.name] = (
            values.bad.reset_index(drop=True)
            if values.bad is not None
            else pd.Series([None] * n, dtype=object)
        )
    return MappedTable(
        spec,
        pd.DataFrame(data, index=pd.RangeIndex(n)),
        pd.DataFrame(bad, index=pd.RangeIndex(n), dtype=object),
        files,
        lines,
        source_rows=source_rows,
        filtered_rows=filtered,
        outside_window=outside,
    )


def _with_default(values: Values, column: Column, default: Any, where: str) -> Values:
    """Empty values take the default; values that did not convert stay, to be quarantined."""
    if default is None:
        return values
    filler = _target_values(_broadcast(default, len(values.data)), column, where)
    empty = values.data.isna().to_numpy()
    if values.bad is not None:
        empty &= values.bad.isna().to_numpy()
    filled = values.data.where(pd.Series(~empty), filler.data)
    return Values(values.kind, filled, values.fmt, values.bad)


def _column_values(
    column: Column, part: TablePart, ctx: _Context, global_defaults: Mapping[str, Any]
) -> Values:
    """One target column on every row of the context, its default filled in."""
    expr = part.columns.get(column.name)
    values = (
        _no_values(column, len(ctx.frame))
        if expr is None
        else _target_values(evaluate(expr, ctx), column, expr.path)
    )
    return _with_default(values, column, *_default(column, part, global_defaults))


def _inside_window(days: Values, window: tuple[date, date]) -> np.ndarray:
    """Rows whose partition date is in the window; rows without a valid one stay, so that
    map_tables reports them instead of dropping them unseen."""
    first, last = (pd.Timestamp(day) for day in window)
    data = days.data
    return (data.isna() | ((data >= first) & (data <= last))).to_numpy(dtype=bool)


def map_tables(config: MappingConfig, sources: Sources) -> dict[str, MappedTable]:
    """Every table of the mapping, its blocks concatenated; transactional rows are kept inside
    `window` (by partition date). A row without a partition date fits no landing file: error."""
    tables = {}
    with _locating(config.lines):
        check_mapping(config, sources)
        for table, parts in config.tables.items():
            mapped = _concat([map_part(p, sources, config.defaults, config.window) for p in parts])
            if mapped.spec.partition_column is not None:
                _require_days(mapped, parts[0].path)
            elif not len(mapped):
                raise MappingError(parts[0].path, _no_master_rows(mapped, parts))
            tables[table] = mapped
    return tables


def _no_master_rows(mapped: MappedTable, parts: Sequence[TablePart]) -> str:
    """Why a master table mapped to no rows is refused here rather than by the load."""
    sources = ", ".join(sorted({str(p.source) for p in parts if p.source}))
    why = f"{mapped.filtered_rows:,d} filtered out" if mapped.filtered_rows else "none read"
    return (
        f"no rows to write ({mapped.source_rows:,d} source rows of {sources or 'inline rows'}, "
        f"{why}): the load refuses a master file without records, as it would empty "
        f"raw.{mapped.spec.raw_table}. Check the source, or leave the table out of the mapping"
    )


def _concat(blocks: Sequence[MappedTable]) -> MappedTable:
    first = blocks[0]
    if len(blocks) == 1:
        return first
    return MappedTable(
        first.spec,
        pd.concat([b.data for b in blocks], ignore_index=True),
        pd.concat([b.bad for b in blocks], ignore_index=True),
        np.concatenate([b.files for b in blocks]),
        np.concatenate([b.lines for b in blocks]),
        source_rows=sum(b.source_rows for b in blocks),
        filtered_rows=sum(b.filtered_rows for b in blocks),
        outside_window=sum(b.outside_window for b in blocks),
    )


def _require_days(mapped: MappedTable, path: str) -> None:
    """Every transactional row needs its partition date: no landing file holds it otherwise."""
    column = str(mapped.spec.partition_column)
    days = mapped.data[column]
    missing = days.isna().to_numpy()
    if missing.any():
        rows = np.flatnonzero(missing)
        shown = "; ".join(
            f"{mapped.origin(i)}"
            + (f" has {mapped.bad[column].iloc[i]!r}" if mapped.bad[column].iloc[i] else "")
            for i in rows[:_MAX_LISTED]
        )
        raise MappingError(
            path,
            f"{len(rows)} rows have no valid {column} (the partition date), so no landing file "
            f"can hold them: {shown}. Filter them out with 'where' or give a default",
        )


#: Rows formatted at once when writing (`_document`).
_BLOCK = 65_536
#: What becomes of a row with an unloadable value (`_Unloadable`), in the mapper's report.
_NOTED = "written with the reasons as an extra field, so the load quarantines the row with them"


def _beyond_decimals(values: pd.Series, column: Column) -> np.ndarray:
    """Numbers that the column's SAP decimals (`Column.decimals`: 3 for quantities, 2 for
    amounts) would change beyond float noise: 250 MG as KG is 0.00025, `0,000` in 3 decimals.
    They are not rounded: a demand line must not load as 0. Columns without SAP decimals
    (coordinates) are written as se16n writes them."""
    if column.kind != "decimal" or column.decimals is None:
        return np.zeros(len(values), dtype=bool)
    return beyond_decimals(values.to_numpy(dtype=float, na_value=np.nan), column.decimals)


def _bad_text_reason(text: str, column: Column) -> str:
    """Text columns take any text: there the text failed an operation of the expression."""
    if column.kind in ("text", "alpha"):
        return f"{text!r} did not convert"
    return _limit_reason(text, column) or f"{text!r} is not a valid {column.kind} value"


def _number_limit(column: Column) -> tuple[float, str]:
    """The magnitude a number column's values stay below, and its name: the SAP type's
    (QUAN 13,3 holds at most 9,999,999,999.999), else the digits a float64 holds exactly. A
    larger number is no SAP value, and se16n's formatting could not write it."""
    decimals = 0 if column.kind == "integer" else written_decimals(column)
    if column.sap_type is not None:
        sap_type, digits = column.sap_type
        return digits_limit(digits, decimals, f"{sap_type} {digits},{decimals}")
    name = f"the {_EXACT_DIGITS} digits a mapped number keeps exactly"
    name += f", {decimals} of them decimals" if decimals else ""
    return digits_limit(_EXACT_DIGITS, decimals, name)


def _beyond_limit(numbers: np.ndarray, column: Column) -> np.ndarray:
    """Numbers at or beyond the column's limit (`_number_limit`), infinities too; NaN is none."""
    bound, _ = _number_limit(column)
    return np.isinf(numbers) | (np.abs(numbers) >= bound)


def _limit_reason(text: str, column: Column) -> str | None:
    """Why a number column refuses a text that reads as a number beyond its limit, if so."""
    number = _decimal_value(text) if column.kind in ("integer", "decimal") else None
    if number is None or not _beyond_limit(np.array([number]), column)[0]:
        return None
    return f"{text!r} exceeds {_number_limit(column)[1]}"


def _within_limit(numbers: Values, column: Column, source: Values) -> Values:
    """Numbers beyond the column's limit become bad values: never a crash, never a wrapped
    number. Each shows its source text where that reads as a plain number (a float cannot hold
    99999999999999999999), else the number exactly, so `_limit_reason` can tell why."""
    beyond = _beyond_limit(numbers.data.to_numpy(dtype=float, na_value=np.nan), column)
    if not beyond.any():
        return numbers
    rows = np.flatnonzero(beyond)
    shown = as_text(Values("number", numbers.data.iloc[rows])).data.to_numpy(dtype=object)
    if source.kind == "text":
        texts = source.data.to_numpy(dtype=object)[rows]
        plain = np.array([_decimal_value(text) is not None for text in texts], dtype=bool)
        shown = np.where(plain, texts, shown)
    bad = pd.Series(None, index=numbers.data.index, dtype=object)
    bad.iloc[rows] = shown
    return Values("number", numbers.data.where(~beyond), CANONICAL, _merge_bad(numbers.bad, bad))


def _date_range_reason(text: str) -> str:
    return (
        f"the date {text} is outside {FIRST_DATE}..{LAST_DATE}, the dates the load supports; "
        "leave the value empty or use a date inside that range"
    )


def _beyond_decimals_reason(number: str, column: Column) -> str:
    return f"{number} needs more than the {column.decimals} decimals SAP keeps (not rounded)"


@dataclass(frozen=True)
class _Unloadable:
    """The values of a mapped table the load must not read as mapped, None elsewhere: their text
    (as it came, or the exact number) and why, per column. `noted` rows hold one: they are
    written with their source file and line and the reasons as an extra field, which the
    reader rejects with those as its own reason (`MAPPER_NOTE`), so quarantine points back to
    the source even where the reader would reject the value by itself."""

    texts: pd.DataFrame
    reasons: pd.DataFrame
    noted: np.ndarray


def _unloadable(mapped: MappedTable) -> _Unloadable:
    """Values that did not convert to their column's type, numbers their SAP decimals cannot
    hold (`_beyond_decimals`) and keys the reader refuses (`alpha_key_reasons`)."""
    texts, reasons = {}, {}
    noted = np.zeros(len(mapped), dtype=bool)
    for col in mapped.spec.columns:
        text = mapped.bad[col.name]
        reason = text.map(lambda t, c=col: _bad_text_reason(t, c), "ignore")
        inexact = _beyond_decimals(mapped.data[col.name], col)
        if inexact.any():
            exact = as_text(Values("number", mapped.data[col.name].where(inexact))).data
            text = text.where(~inexact, exact)
            reason = reason.where(
                ~inexact, exact.map(lambda n, c=col: _beyond_decimals_reason(n, c))
            )
        if col.kind == "alpha":  # a key the reader refuses: too long, or damaged by Excel
            refused = alpha_key_reasons(mapped.data[col.name], col.alpha_length)
            refused = refused.where(text.isna())
            text = text.where(refused.isna(), mapped.data[col.name])
            reason = reason.where(refused.isna(), refused)
        texts[col.name], reasons[col.name] = text, reason
        noted |= text.notna().to_numpy()
    index = pd.RangeIndex(len(mapped))
    return _Unloadable(
        pd.DataFrame(texts, index=index, dtype=object),
        pd.DataFrame(reasons, index=index, dtype=object),
        noted,
    )


def mapping_issues(mapped: MappedTable) -> list[MappingIssue]:
    """Rows the load will quarantine: values it must not read as mapped (`_unloadable`), empty
    required values and duplicate keys (the later rows), each with its source file and line."""
    spec, data = mapped.spec, mapped.data
    unloadable = _unloadable(mapped)
    empty = _empty_required(mapped, unloadable)
    issues = []
    for col in spec.columns:
        texts, reasons = unloadable.texts[col.name], unloadable.reasons[col.name]
        for row in np.flatnonzero(texts.notna().to_numpy()):
            issues.append(
                MappingIssue(
                    spec.name,
                    int(row),
                    mapped.origin(row),
                    col.name,
                    f"{reasons.iloc[row]}; {_NOTED}",
                )
            )
        if col.required:
            for row in np.flatnonzero(empty[col.name].to_numpy()):
                issues.append(
                    MappingIssue(
                        spec.name, int(row), mapped.origin(row), col.name, MISSING_REQUIRED
                    )
                )
    # Like the reader, look for duplicate keys among the rows that pass every other check.
    flagged = np.zeros(len(data), dtype=bool)
    flagged[[issue.row for issue in issues]] = True
    clean = np.flatnonzero(~flagged)
    keys = data.iloc[clean][list(spec.key)].astype(object)
    duplicated = keys.duplicated(keep="first").to_numpy()
    if duplicated.any():
        first_of: dict[tuple, int] = {}
        for row, key, again in zip(clean, map(tuple, keys.to_numpy()), duplicated, strict=True):
            first_of.setdefault(key, int(row))
            if again:
                issues.append(
                    MappingIssue(
                        spec.name,
                        int(row),
                        mapped.origin(row),
                        ",".join(spec.key),
                        f"duplicate key (first mapped from {mapped.origin(first_of[key])})",
                    )
                )
    return issues


# -- writing landing files ---------------------------------------------------------------------


def _quoted(texts: pd.Series) -> pd.Series:
    """CSV-quote the texts that hold the separator, a quote or a line break."""
    needs = texts.str.contains(_QUOTE_PATTERN, regex=True).to_numpy(dtype=bool)
    if not needs.any():
        return texts
    quoted = '"' + texts[needs].str.replace('"', '""', regex=False) + '"'
    return texts.where(pd.Series(~needs, index=texts.index), quoted)


def _format_cells(column: Column, values: pd.Series, bad: pd.Series) -> np.ndarray:
    """SE16N text of one column (se16n's formats); empty cells stay empty, `bad` texts (of
    values the load must not read, `_unloadable`) are written instead of their values."""
    present = values.notna().to_numpy()
    if column.kind == "date":
        days = values.to_numpy(dtype="datetime64[D]")
        offsets = np.where(present, (days - np.datetime64(_EPOCH, "D")).astype(np.int64), NO_DATE)
        cells = np.asarray(format_column(column, offsets, _EPOCH), dtype=object)
    else:
        cells = np.full(len(values), "", dtype=object)
        rows = np.flatnonzero(present)
        if len(rows):
            if column.kind == "decimal":
                picked = values.to_numpy(dtype=float)[rows]
            elif column.kind == "integer":
                picked = values.to_numpy(dtype=np.int64, na_value=0)[rows]
            else:
                picked = _quoted(values.iloc[rows].astype(str)).to_numpy(dtype=object)
            cells[rows] = format_column(column, picked, _EPOCH)
    wrong = np.flatnonzero(bad.notna().to_numpy())
    if len(wrong):
        cells[wrong] = _quoted(bad.iloc[wrong].astype(str)).to_numpy(dtype=object)
    return cells


def _document(
    mapped: MappedTable, unloadable: _Unloadable, notes: Mapping[int, str], rows: np.ndarray
) -> bytes:
    """The SE16N file of the given rows, formatted `_BLOCK` rows at a time: every cell of a
    million rows as a Python string at once would take GBs."""
    lines = [";".join(mapped.spec.column_names)]
    for lo in range(0, len(rows), _BLOCK):
        block = rows[lo : lo + _BLOCK]
        cells = [
            _format_cells(
                col, mapped.data[col.name].iloc[block], unloadable.texts[col.name].iloc[block]
            )
            for col in mapped.spec.columns
        ]
        first = len(lines)
        lines += [";".join(record) for record in zip(*cells, strict=True)]
        for i in np.flatnonzero(unloadable.noted[block]):
            lines[first + i] += ";" + notes[int(block[i])]
    return ("\ufeff" + "".join(line + "\r\n" for line in lines)).encode("utf-8")


def _write_atomically(path: Path, content: bytes) -> None:
    """Write under a hidden temporary name, then rename: a reader never sees half a file."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(content)
    os.replace(temporary, path)


def _empty_required(mapped: MappedTable, unloadable: _Unloadable) -> pd.DataFrame:
    """Per required column, True where its value is empty (and not an unloadable text)."""
    required = [col.name for col in mapped.spec.columns if col.required]
    return mapped.data[required].isna() & unloadable.texts[required].isna()


def _notes(mapped: MappedTable, unloadable: _Unloadable) -> dict[int, str]:
    """The extra field of each noted row: where it was mapped from and every reason it is not
    loaded, so its quarantine record says so (`mapped from so.csv line 4, not loaded: KWMENG
    '12,5' is not a valid decimal value, MATNR missing required value`): the reader rejects a
    noted row by its extra field and looks no further."""
    rows = np.flatnonzero(unloadable.noted)
    empty = _empty_required(mapped, unloadable)
    notes = [
        f"{MAPPER_NOTE}{mapped.origin(row)}, not loaded: "
        + ", ".join(
            [f"{name} {why}" for name, why in unloadable.reasons.iloc[row].dropna().items()]
            + [f"{name} {MISSING_REQUIRED}" for name in empty.columns[empty.iloc[row].to_numpy()]]
        )
        for row in rows
    ]
    return dict(zip(rows.tolist(), _quoted(pd.Series(notes, dtype=object)), strict=True))


def _file_rows(mapped: MappedTable) -> dict[str, np.ndarray]:
    """File name -> the mapped rows it holds: one file for master data, one per day otherwise."""
    spec = mapped.spec
    if spec.partition_column is None:
        return {landing_file_name(spec): np.arange(len(mapped))}
    days = mapped.data[spec.partition_column].to_numpy(dtype="datetime64[D]")
    order = np.argsort(days, kind="stable")
    unique, starts = np.unique(days[order], return_index=True)
    return {
        landing_file_name(spec, day.item()): rows
        for day, rows in zip(unique, np.split(order, starts)[1:], strict=True)
    }


def landing_files(mapped: MappedTable) -> dict[str, bytes]:
    """File name -> SE16N bytes: one file for master data, one per partition day otherwise."""
    unloadable = _unloadable(mapped)
    notes = _notes(mapped, unloadable)
    return {
        name: _document(mapped, unloadable, notes, rows)
        for name, rows in _file_rows(mapped).items()
    }


def files_to_refuse(
    mapped: MappedTable, issues: Sequence[MappingIssue], threshold: float
) -> dict[str, tuple[int, int]]:
    """Files the load will refuse whole, as name -> (rows it will reject, rows): more than
    `threshold` of their rows (and more than one) go to quarantine, as the loader counts."""
    bad = np.zeros(len(mapped), dtype=bool)
    bad[[issue.row for issue in issues]] = True
    refused = {}
    for name, rows in _file_rows(mapped).items():
        rejected = int(bad[rows].sum())
        if over_threshold(rejected, len(rows), threshold):
            refused[name] = (rejected, len(rows))
    return refused


def write_landing(
    tables: Mapping[str, MappedTable], out_dir: str | Path, replace: bool = False
) -> dict[str, list[str]]:
    """Write the landing files of every mapped table; returns the file names per table.

    Landing files of these tables already in `out_dir` are an error unless `replace`, which
    deletes them first so the folder holds exactly this mapping's files.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    existing = sorted(
        path
        for table in tables
        for path in out.iterdir()
        if file_pattern(TABLE_SPECS[table]).match(path.name)
    )
    if existing and not replace:
        shown = ", ".join(path.name for path in existing[:_MAX_LISTED])
        raise MappingError(
            None,
            f"{out} already holds {len(existing)} landing files of mapped tables ({shown}); "
            "replace them with --replace, or write to an empty folder",
            "--out",
        )
    for path in existing:
        path.unlink()
    written = {}
    for table, mapped in tables.items():
        files = landing_files(mapped)
        for name, content in files.items():
            _write_atomically(out / name, content)
        written[table] = sorted(files)
    return written


# -- the whole run -----------------------------------------------------------------------------


@dataclass
class TableReport:
    table: str
    rows: int
    files: list[str]
    source_rows: int
    filtered_rows: int
    outside_window: int
    first_day: date | None
    last_day: date | None
    quarantine_expected: int
    #: files the load will refuse whole (`files_to_refuse`), as name -> (rejected, rows)
    refused_files: dict[str, tuple[int, int]] = field(default_factory=dict)


@dataclass
class MappingReport:
    """What a mapping wrote per table, the rows the load will quarantine, how many rows each
    lookup matched (by the key path of the column using it), warnings, and where the summary
    went (None: a dry run)."""

    config: str
    source_dir: str
    out_dir: str | None
    tables: dict[str, TableReport]
    issues: list[MappingIssue] = field(default_factory=list)
    lookups: dict[str, LookupReport] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    summary: str | None = None

    @property
    def rows(self) -> dict[str, int]:
        return {name: report.rows for name, report in self.tables.items()}

    @property
    def quarantine_expected(self) -> dict[str, int]:
        return {name: report.quarantine_expected for name, report in self.tables.items()}

    @property
    def days(self) -> tuple[date, date] | None:
        """First and last partition day of all transactional rows."""
        firsts = [r.first_day for r in self.tables.values() if r.first_day is not None]
        lasts = [r.last_day for r in self.tables.values() if r.last_day is not None]
        return (min(firsts), max(lasts)) if firsts else None

    def as_json(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "source_dir": self.source_dir,
            "out_dir": self.out_dir,
            "days": [d.isoformat() for d in self.days] if self.days else None,
            "tables": {
                name: {
                    **{k: v for k, v in vars(r).items() if k not in ("first_day", "last_day")},
                    "first_day": r.first_day.isoformat() if r.first_day else None,
                    "last_day": r.last_day.isoformat() if r.last_day else None,
                }
                for name, r in self.tables.items()
            },
            "issues": [vars(issue) for issue in self.issues],
            "lookups": {path: vars(lookup) for path, lookup in self.lookups.items()},
            "warnings": self.warnings,
        }


def map_sources(
    config: MappingConfig,
    source_dir: str | Path,
    out_dir: str | Path | None = None,
    replace: bool = False,
    threshold: float | None = None,
) -> MappingReport:
    """Map the source folder; write landing files into `out_dir` and `_mapping_summary.json`
    beside them (`summary_path`; out_dir None: a dry run that only checks and reports).
    `threshold`: the load's share of rejected rows (SCP_QUARANTINE_THRESHOLD when None), to
    name the files it will refuse."""
    if threshold is None:
        threshold = QualityRules.from_env().threshold
    sources = Sources(config, source_dir)
    tables = map_tables(config, sources)
    written = write_landing(tables, out_dir, replace) if out_dir is not None else {}
    reports, issues = {}, []
    for name, mapped in tables.items():
        table_issues = mapping_issues(mapped)
        issues += table_issues
        day_range: tuple[date | None, date | None] = (None, None)
        column = mapped.spec.partition_column
        if column is not None and len(mapped):
            days = mapped.data[column]
            day_range = (days.min().date(), days.max().date())
        reports[name] = TableReport(
            name,
            len(mapped),
            written.get(name, []),
            mapped.source_rows,
            mapped.filtered_rows,
            mapped.outside_window,
            *day_range,
            quarantine_expected=len({issue.row for issue in table_issues}),
            refused_files=files_to_refuse(mapped, table_issues, threshold),
        )
    summary = None if out_dir is None else summary_path(Path(out_dir))
    report = MappingReport(
        config.name,
        str(source_dir),
        None if out_dir is None else str(out_dir),
        reports,
        issues,
        dict(sorted(sources.lookups.items())),
        sources.unmatched_patterns(),
        None if summary is None else str(summary),
    )
    if summary is not None:
        text = json.dumps(report.as_json(), indent=2, ensure_ascii=False)
        _write_atomically(summary, text.encode("utf-8"))
    return report


def summary_path(out_dir: Path) -> Path:
    """`_mapping_summary.json` in the output folder, or beside it when that is a landing zone's
    `incoming/`: the landing sensor takes every file there, and would reject the summary (no
    landing file name) and alert."""
    return (out_dir.parent if out_dir.name == INCOMING else out_dir) / SUMMARY_FILE


__all__ = [
    "LookupReport",
    "MappedTable",
    "MappingConfig",
    "MappingError",
    "MappingIssue",
    "MappingReport",
    "Sources",
    "TableReport",
    "check_mapping",
    "landing_files",
    "load_mapping",
    "map_part",
    "map_sources",
    "map_tables",
    "mapping_issues",
    "parse_mapping",
    "read_source_file",
    "summary_path",
    "write_landing",
]
