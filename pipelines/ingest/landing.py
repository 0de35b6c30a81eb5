"""The landing zone: deliveries in, current files in place, every replaced file archived.

Layout under the landing root (`LandingZone.path`):

- `<root>/` holds the CURRENT delivery of each table-day, `<TABLE>_<YYYYMMDD>.csv`, and of
  each master table, `<TABLE>.csv`. The raw assets read only these.
- `<root>/incoming/` is the drop folder. A file is taken once it is stable (same size and
  mtime on two consecutive looks) or once a marker `<name>.done` no older than the file
  exists; a marker whose file is gone is removed (`orphan_markers`). An empty file, or one
  named like a transfer in progress (`.x`, `~x`, `x.part`), is waited for until it has been
  unchanged for `STALE_AFTER`, then taken, to be rejected: nothing sits there unreported.
- `<root>/archive/` keeps every superseded, duplicate or split delivery, never deleted, as
  `<UTC timestamp>__<sha256[:12]>__<original name>`.
- `<root>/rejected/` receives deliveries that cannot be loaded (bad name, a date after
  tomorrow in the name, unreadable header, a master-data extract dated before the current
  one), as `<UTC timestamp>__<sha256(name)[:8]>__<safe name>`, with the reason in the log and
  in the manifest.
- `<root>/staging/` is private scratch space for files split by day.
- `<root>/odata/` holds, per OData feed, the cursor its last full read reached (`<feed>.json`,
  `sap_odata_full_read`), for the OData sensor to continue from.

Every decision is recorded in `raw.landing_manifest`; the load (`load.load_table`) completes
the row of each file it loads, in the same transaction as the data.

A master-data file's name may carry its extraction date (`MARA_20250115.csv`). The manifest
row of the current file keeps that name, so an extract dated before it arriving late is
rejected rather than replacing newer data; within one tick, extracts of a table are applied
oldest first, so the newest wins whatever the mtimes.

A delivery is a duplicate when its checksum equals the checksum of the CURRENT file of its
table-day, not of any file ever loaded: a revert to an earlier version (A, B, A) must load A
again, and two header-only files of different days have equal bytes yet are both real.

Also here, because it produces landing files too: the OData delta extraction, which writes
changed S/4HANA rows as landing files (see `extract_delta` and `write_delta_files`).

Pure of Dagster: `pipelines/ingest/sensors.py` wires these functions into sensors.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.ingest.reader import (
    ReaderSettings,
    SapFileError,
    SapFileReader,
    rows_schema,
    safe_landing_name,
)
from pipelines.ingest.specs import TABLE_SPECS, TableSpec, get_spec
from resources.warehouse import Cursor, Warehouse, add_column_sql

if TYPE_CHECKING:
    from pipelines.ingest.odata import SapODataClient

CURRENT = ""
INCOMING = "incoming"
ARCHIVE = "archive"
REJECTED = "rejected"
STAGING = "staging"
MARKER_SUFFIX = ".done"
#: Names a transfer tool uses while it is still writing: not taken while they change.
_IN_PROGRESS_SUFFIXES = (".tmp", ".part", ".partial", ".filepart", ".crdownload")
#: How long an empty or in-progress-named file may stay unchanged before it is rejected: a
#: transfer that creates its file first or writes under a temporary name touches it long
#: before this; past it, the file is abandoned or misnamed and someone must be told.
STALE_AFTER = timedelta(hours=1)
_HASH_BLOCK = 1 << 20

MANIFEST_TABLE = "raw.landing_manifest"
MANIFEST_COLUMNS = {
    "file_name": "VARCHAR",
    "canonical_name": "VARCHAR",
    "table_name": "VARCHAR",
    "partition_key": "VARCHAR",
    "checksum": "VARCHAR",
    "size_bytes": "BIGINT",
    "status": "VARCHAR",
    "reason": "VARCHAR",
    "archive_name": "VARCHAR",
    "run_key": "VARCHAR",
    "detected_format": "VARCHAR",
    "rows_read": "BIGINT",
    "rows_loaded": "BIGINT",
    "rows_quarantined": "BIGINT",
    "run_id": "VARCHAR",
    "received_at": "TIMESTAMP",
    "loaded_at": "TIMESTAMP",
    "source_lines": "VARCHAR",  # a split day part's lines in the delivered file (`Origin`)
}
# Manifest statuses. received: placed as current, run requested; loaded: load committed;
# superseded: replaced by a newer delivery; duplicate: same bytes as the current file;
# rejected: not loadable; split: an undated multi-day file, placed as one file per day;
# refused: read, but more rows rejected than SCP_QUARANTINE_THRESHOLD, or not readable to its end
# (reason), so its day kept its rows.

_NAME = re.compile(
    r"^(?P<table>[A-Za-z][A-Za-z0-9]*)"
    r"(?:[_-](?P<day>\d{8}|\d{4}-\d{2}-\d{2}|\d{2}\.\d{2}\.\d{4}))?"
    r"(?:__(?P<tag>[A-Za-z0-9.-]+))?"
    r"\.(?:csv|txt)$",
    re.IGNORECASE,
)


# -- names -------------------------------------------------------------------------------------


class LandingNameError(ValueError):
    """A delivery whose name says nothing loadable: unknown table, bad date, unsafe name."""


@dataclass(frozen=True)
class LandingName:
    """What a delivery's name says: its table and, for transactional tables, maybe its day; for
    master data, maybe its extraction date (`extracted`), which orders its versions."""

    table: str
    day: date | None
    extracted: date | None = None

    @property
    def spec(self) -> TableSpec:
        return TABLE_SPECS[self.table]

    @property
    def canonical(self) -> str | None:
        """The name of the current file it becomes; None for an undated transactional file."""
        if self.spec.is_partitioned and self.day is None:
            return None
        return landing_file_name(self.spec, self.day)


def landing_file_name(spec: TableSpec, day: date | None = None) -> str:
    """`MARA.csv` for master data, `MSEG_20250131.csv` for a transactional day."""
    if spec.is_partitioned:
        if day is None:
            raise ValueError(f"{spec.name} is partitioned: a day is required for its file name")
        return f"{spec.name}_{day:%Y%m%d}.csv"
    return f"{spec.name}.csv"


def _day_of(text: str, name: str) -> date:
    digits = text.replace("-", "")
    if "." in text:
        dd, mm, yyyy = text.split(".")
        digits = yyyy + mm + dd
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        raise LandingNameError(f"{name!r}: {text!r} is not a valid date") from None


def parse_landing_name(name: str) -> LandingName:
    """Table and day from a delivery name, e.g. `MSEG_20250131.csv`, `mseg_2025-01-31.csv`,
    `MSEG_31.01.2025.txt`, `VBAK_20240103__odata-20240217T120000Z.csv` (a `__tag` marks
    a delivery version), `MARA.csv`. A date on a master-data file is its extraction date, not
    a day: `extracted`. Raises LandingNameError with the reason."""
    try:
        safe_landing_name(name)
    except SapFileError as exc:
        raise LandingNameError(str(exc)) from None
    match = _NAME.match(name)
    if match is None:
        raise LandingNameError(
            f"{name!r}: expected <TABLE>[_<YYYYMMDD>][__<tag>].csv, e.g. MSEG_20250131.csv"
        )
    table = match["table"].upper()
    if table not in TABLE_SPECS:
        known = ", ".join(sorted(TABLE_SPECS))
        raise LandingNameError(f"{name!r}: unknown SAP table {table!r}; known tables: {known}")
    day = _day_of(match["day"], name) if match["day"] else None
    if TABLE_SPECS[table].is_partitioned:
        return LandingName(table, day)
    return LandingName(table, None, extracted=day)


def extraction_date(name: str) -> date | None:
    """The extraction date in a master-data file name, e.g. the manifest's name of a current
    file; None when it has none or is not a master-data name."""
    try:
        return parse_landing_name(name).extracted
    except LandingNameError:
        return None


def is_in_progress(name: str) -> bool:
    """Hidden or temporary names (`.x`, `~x`, `x.part`): a transfer still under way."""
    lower = name.lower()
    return name.startswith((".", "~")) or lower.endswith(_IN_PROGRESS_SUFFIXES)


def stamp(at: datetime) -> str:
    """A UTC timestamp usable in file names and run keys, sortable as text."""
    return f"{at:%Y%m%dT%H%M%S%f}Z"


#: Bytes a name in archive/ or rejected/ may take: file systems allow 255, and a store may
#: write a temporary name a few bytes longer while it moves a file.
MAX_NAME_BYTES = 200


def _fitted(prefix: str, name: str) -> str:
    """`prefix + name`, the name cut short (its extension kept) to fit `MAX_NAME_BYTES`: a
    legal 250-byte delivery name with a prefix would be too long to archive."""
    room = MAX_NAME_BYTES - len(prefix.encode())
    if len(name.encode()) <= room:
        return prefix + name
    stem, dot, extension = name.rpartition(".")
    tail = f"~{dot}{extension}" if dot and len(extension) <= 8 else "~"
    head = (stem if dot else name).encode()[: room - len(tail.encode())]
    return prefix + head.decode(errors="ignore") + tail


def archive_name(original: str, checksum: str, at: datetime) -> str:
    """`<UTC timestamp>__<sha256[:12]>__<original name>`: unique, sortable, traceable (a
    long name cut short, `_fitted`)."""
    return _fitted(f"{stamp(at)}__{checksum[:12]}__", original)


def rejected_name(original: str, at: datetime) -> str:
    """A name for a rejected file that is safe even when the original name was not; the hash
    of the original keeps apart names that clean alike (`a b.csv`, `a_b.csv`) in one tick,
    and names cut short alike (`_fitted`)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", original).replace("..", "__") or "unnamed"
    digest = hashlib.sha256(original.encode()).hexdigest()[:8]
    return _fitted(f"{stamp(at)}__{digest}__", cleaned)


# -- storage -----------------------------------------------------------------------------------


def sha256_stream(stream: BinaryIO) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: stream.read(_HASH_BLOCK), b""):
        digest.update(block)
    return digest.hexdigest()


def file_checksum(path: Path) -> str:
    with path.open("rb") as handle:
        return sha256_stream(handle)


@dataclass(frozen=True)
class LandingEntry:
    """A file in a landing folder, as a listing shows it."""

    name: str
    size: int
    mtime_ns: int


class LandingStore(Protocol):
    """Where the landing folders live: `LocalLandingStore` (a directory or mounted share) or
    `FsspecLandingStore` (S3, Azure, GCS, SFTP, ... by URL); `landing_store` picks one.

    Folders are `CURRENT` (""), `INCOMING`, `ARCHIVE`, `REJECTED`, `STAGING` and
    `ODATA_WATERMARKS`.
    """

    def list(self, folder: str) -> list[LandingEntry]: ...

    def folders(self, folder: str) -> list[str]:
        """The names of the folders inside `folder`, which the landing zone does not read."""
        ...

    def root_exists(self) -> bool:
        """Whether the landing zone itself is there (its folders are made on first use)."""
        ...

    def exists(self, folder: str, name: str) -> bool: ...

    def open(self, folder: str, name: str) -> BinaryIO: ...

    def local_file(self, folder: str, name: str) -> Any:
        """A context manager giving a local Path with the file's bytes (the parser needs one)."""
        ...

    def write(self, folder: str, name: str, data: bytes) -> None:
        """Write atomically: readers see the old file or the whole new one."""
        ...

    def put(self, folder: str, name: str, local: Path) -> None:
        """`write` the bytes of a local file, streamed: a large file is never held in memory."""
        ...

    def move(self, folder: str, name: str, to_folder: str, to_name: str) -> None:
        """Rename; refuses to overwrite an existing file."""
        ...

    def replace(
        self, folder: str, name: str, to_folder: str, to_name: str, keep_old_as: str | None
    ) -> None:
        """Put a file in place of another; the old one is kept as `ARCHIVE/keep_old_as`.

        The target never disappears in between, so a load running meanwhile reads the old or
        the new delivery, never none.
        """
        ...

    def remove(self, folder: str, name: str) -> None:
        """Delete: only for markers and private staging files, never for deliveries."""
        ...


class LocalLandingStore:
    """The landing zone as a local (or mounted) directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, folder: str, name: str = "") -> Path:
        base = self.root / folder if folder else self.root
        return base / name if name else base

    def list(self, folder: str) -> list[LandingEntry]:
        directory = self.path(folder)
        if not directory.is_dir():
            return []
        entries = []
        with os.scandir(directory) as scan:
            for item in scan:
                if item.is_file(follow_symlinks=False):
                    info = item.stat(follow_symlinks=False)
                    entries.append(LandingEntry(item.name, info.st_size, info.st_mtime_ns))
        return sorted(entries, key=lambda e: e.name)

    def folders(self, folder: str) -> list[str]:
        directory = self.path(folder)
        if not directory.is_dir():
            return []
        with os.scandir(directory) as scan:
            return sorted(item.name for item in scan if item.is_dir(follow_symlinks=False))

    def root_exists(self) -> bool:
        return self.root.is_dir()

    def exists(self, folder: str, name: str) -> bool:
        return self.path(folder, name).is_file()

    def open(self, folder: str, name: str) -> BinaryIO:
        return self.path(folder, name).open("rb")

    @contextmanager
    def local_file(self, folder: str, name: str) -> Iterator[Path]:
        yield self.path(folder, name)

    def write(self, folder: str, name: str, data: bytes) -> None:
        with self._replacing(folder, name) as temporary:
            temporary.write_bytes(data)

    def put(self, folder: str, name: str, local: Path) -> None:
        with self._replacing(folder, name) as temporary:
            shutil.copyfile(local, temporary)

    @contextmanager
    def _replacing(self, folder: str, name: str) -> Iterator[Path]:
        """A temporary path to fill, renamed over the target once the block completes."""
        target = self.path(folder, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{name}.tmp")
        yield temporary
        os.replace(temporary, target)

    def move(self, folder: str, name: str, to_folder: str, to_name: str) -> None:
        source, target = self.path(folder, name), self.path(to_folder, to_name)
        target.parent.mkdir(parents=True, exist_ok=True)
        _link_or_copy(source, target)  # fails if the target exists: no silent overwrite
        source.unlink()

    def replace(
        self, folder: str, name: str, to_folder: str, to_name: str, keep_old_as: str | None
    ) -> None:
        source, target = self.path(folder, name), self.path(to_folder, to_name)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            if keep_old_as is None:
                raise FileExistsError(f"{target} exists and no archive name was given for it")
            kept = self.path(ARCHIVE, keep_old_as)
            kept.parent.mkdir(parents=True, exist_ok=True)
            _link_or_copy(target, kept)
        os.replace(source, target)

    def remove(self, folder: str, name: str) -> None:
        self.path(folder, name).unlink(missing_ok=True)


class FsspecLandingStore:
    """The landing zone on any filesystem fsspec reaches by URL: `s3://bucket/sap/landing`,
    `abfs://`, `gs://`, `sftp://host/drop`, ... (install its package, e.g. `s3fs`; credentials
    come from that filesystem's own environment variables and config, never from here).

    Object stores cannot rename: `move` is a copy then a delete, and `write` puts the whole
    object in one request, so a reader still sees the old file or the new one, never a part.
    """

    def __init__(self, url: str) -> None:
        import fsspec

        self.url = url
        self.fs, self.base = fsspec.core.url_to_fs(url)

    def path(self, folder: str, name: str = "") -> str:
        return "/".join(part.strip("/") for part in (self.base, folder, name) if part)

    def root_exists(self) -> bool:
        """Whether the bucket (or top folder) is there: an object store has no empty folders,
        so a new landing prefix exists only once something was written under it."""
        top = self.base.strip("/").split("/", 1)[0]
        self.fs.invalidate_cache(top)
        return bool(self.fs.exists(top))

    def list(self, folder: str) -> list[LandingEntry]:
        directory = self.path(folder)
        self.fs.invalidate_cache(directory)  # listings are cached; a sensor needs fresh ones
        try:
            infos = self.fs.ls(directory, detail=True)
        except FileNotFoundError:
            return []
        entries = [
            LandingEntry(
                info["name"].rstrip("/").rsplit("/", 1)[-1], int(info["size"] or 0), _mtime_ns(info)
            )
            for info in infos
            if info.get("type") == "file"
        ]
        return sorted(entries, key=lambda e: e.name)

    def folders(self, folder: str) -> list[str]:
        directory = self.path(folder)
        self.fs.invalidate_cache(directory)
        try:
            infos = self.fs.ls(directory, detail=True)
        except FileNotFoundError:
            return []
        names = (info["name"].rstrip("/").rsplit("/", 1)[-1] for info in infos)
        kinds = (info.get("type") for info in infos)
        return sorted(name for name, kind in zip(names, kinds, strict=True) if kind == "directory")

    def exists(self, folder: str, name: str) -> bool:
        return bool(self.fs.isfile(self.path(folder, name)))

    def open(self, folder: str, name: str) -> BinaryIO:
        return self.fs.open(self.path(folder, name), "rb")

    @contextmanager
    def local_file(self, folder: str, name: str) -> Iterator[Path]:
        """A downloaded copy under its own name (lineage records the file name only)."""
        with tempfile.TemporaryDirectory(prefix="scp-landing-") as scratch:
            local = Path(scratch) / name
            self.fs.get_file(self.path(folder, name), str(local))
            yield local

    def write(self, folder: str, name: str, data: bytes) -> None:
        self.fs.pipe_file(self.path(folder, name), data)

    def put(self, folder: str, name: str, local: Path) -> None:
        self.fs.put_file(str(local), self.path(folder, name))

    def move(self, folder: str, name: str, to_folder: str, to_name: str) -> None:
        if self.exists(to_folder, to_name):
            raise FileExistsError(f"{self.url}: {to_folder}/{to_name} exists")
        self.fs.mv(self.path(folder, name), self.path(to_folder, to_name))

    def replace(
        self, folder: str, name: str, to_folder: str, to_name: str, keep_old_as: str | None
    ) -> None:
        if self.exists(to_folder, to_name):
            if keep_old_as is None:
                raise FileExistsError(
                    f"{self.url}: {to_folder}/{to_name} exists and no archive name was given for it"
                )
            self.fs.copy(self.path(to_folder, to_name), self.path(ARCHIVE, keep_old_as))
        self.fs.mv(self.path(folder, name), self.path(to_folder, to_name))

    def remove(self, folder: str, name: str) -> None:
        if self.exists(folder, name):
            self.fs.rm_file(self.path(folder, name))


def _mtime_ns(info: Mapping[str, Any]) -> int:
    """A listing's modification time, whatever the filesystem calls it (0 if it has none:
    readiness then rests on the size and on `.done` markers)."""
    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(key)
        if isinstance(value, str):
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if isinstance(value, datetime):
            return int(value.timestamp() * 1e9)
        if isinstance(value, int | float):
            return int(value * 1e9)
    return 0


def landing_store(location: str | Path) -> LandingStore:
    """The store for `SCP_LANDING_DIR`: a directory path (or `file://`), or any fsspec URL."""
    text = str(location)
    if "://" not in text:
        return LocalLandingStore(text)
    if text.startswith("file://"):
        return LocalLandingStore(text.removeprefix("file://"))
    return FsspecLandingStore(text)


def existing_landing_store(location: str | Path) -> LandingStore:
    """`landing_store`, refusing a landing zone that is not there: a mistyped SCP_LANDING_DIR
    would otherwise look like a zone where nothing was delivered, tick after tick."""
    store = landing_store(location)
    if not store.root_exists():
        raise LandingSetupError(
            f"The landing zone {without_credentials(str(location))} does not exist "
            "(SCP_LANDING_DIR): no delivery can be taken from it. Create it, or correct the "
            "setting; `python -m pipelines doctor` checks it."
        )
    return store


def without_credentials(location: str) -> str:
    """A landing URL as it may be shown: `sftp://user:secret@host/x` -> `sftp://***@host/x`."""
    parts = urlsplit(location)
    if "@" not in parts.netloc:
        return location
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


class LandingSetupError(RuntimeError):
    """The landing zone cannot be used as configured."""


def redeliver(store: LandingStore, archived: str, name: str) -> bool:
    """Drop an archived delivery into `incoming/` again as `name` (the name it was delivered
    under: a master file's extraction date stays known), ready at once (with its marker),
    unless a delivery of its table and day waits there already, which is newer; whether it
    was dropped. The archived file stays: the sensor takes the copy like any delivery."""
    if any(_may_deliver_the_same(entry.name, name) for entry in store.list(INCOMING)):
        return False
    with store.local_file(ARCHIVE, archived) as copy:
        store.put(INCOMING, name, copy)
    store.write(INCOMING, name + MARKER_SUFFIX, b"")
    return True


def _may_deliver_the_same(waiting: str, name: str) -> bool:
    """Whether the file `waiting` in incoming/ may hold what `name` does: the same table, and
    the same day or an undated (multi-day) file."""
    try:
        first, second = parse_landing_name(waiting), parse_landing_name(name)
    except LandingNameError:
        return False
    days = (first.day, second.day)
    return first.table == second.table and (None in days or days[0] == days[1])


@contextmanager
def local_files(store: LandingStore, folder: str, names: Sequence[str]) -> Iterator[list[Path]]:
    """Local paths with the bytes of `names`, for as long as the block runs."""
    with ExitStack() as stack:
        yield [stack.enter_context(store.local_file(folder, name)) for name in names]


def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link is instant and atomic; shares that refuse links get an exclusive copy."""
    try:
        os.link(source, target)
    except FileExistsError:
        raise
    except OSError:
        with source.open("rb") as src, target.open("xb") as dst:
            shutil.copyfileobj(src, dst)
        shutil.copystat(source, target)


# -- readiness ---------------------------------------------------------------------------------


def ready_files(
    entries: Sequence[LandingEntry],
    seen: Mapping[str, Sequence[int]],
    now_ns: int | None = None,
    quiet: timedelta = timedelta(0),
) -> tuple[list[LandingEntry], dict[str, list[int]]]:
    """Deliveries ready to take, oldest first, and what to remember for next time: each file's
    (size, mtime) and since when (`now_ns`, the sensor's clock: mtimes may be missing or
    preserved from the source) it has looked so.

    Ready means a marker `<name>.done` no older than the file exists (`_marks`), or size and
    mtime are unchanged since the last look (`seen`), for `quiet` at least (a writer that
    pauses between two ticks, a stalled copy), and the file is not empty. An empty or
    in-progress-named file is ready only once unchanged for `STALE_AFTER`: it is taken to be
    rejected, not kept forever. Markers are never ready.
    """
    now_ns = time.time_ns() if now_ns is None else now_ns
    stale_ns = STALE_AFTER // timedelta(microseconds=1) * 1000
    quiet_ns = quiet // timedelta(microseconds=1) * 1000
    markers = {e.name: e for e in entries if e.name.endswith(MARKER_SUFFIX)}
    ready: list[LandingEntry] = []
    remember: dict[str, list[int]] = {}
    for entry in sorted(entries, key=lambda e: (e.mtime_ns, e.name)):
        if entry.name.endswith(MARKER_SUFFIX):
            continue
        signature = [entry.size, entry.mtime_ns]
        before = list(seen.get(entry.name, ()))
        unchanged = before[:2] == signature
        since = before[2] if unchanged and len(before) > 2 else now_ns
        remember[entry.name] = [*signature, since]
        stale = unchanged and now_ns - since >= stale_ns
        if is_in_progress(entry.name):
            taken = stale  # a marker does not make a half-written name complete
        else:
            marked = _marks(markers.get(entry.name + MARKER_SUFFIX), entry)
            settled = unchanged and now_ns - since >= quiet_ns
            taken = marked or (settled and (entry.size > 0 or stale))
        if taken:
            ready.append(entry)
    return ready, remember


def _marks(marker: LandingEntry | None, entry: LandingEntry) -> bool:
    """Whether `marker` completes `entry`: a marker follows its file, so one older than the file
    was left by an earlier delivery of that name and says nothing of this one, which may still
    be being written. A store without mtimes (0) cannot tell: its markers count."""
    return marker is not None and (marker.mtime_ns == 0 or marker.mtime_ns >= entry.mtime_ns)


def orphan_markers(entries: Sequence[LandingEntry]) -> list[str]:
    """The markers in a listing of incoming/ whose file it does not show, to remove.

    A marker follows its file, so one without it is left over: written after its file was
    taken for being stable, or its file taken away by hand. Kept, it would make the next
    delivery of that name look complete at once. Judged on the tick's own listing, before
    anything moves: a marker whose file is taken in this look is not an orphan in it, and goes
    with its file (`_move_files`). Removing a marker loses no data: at worst its file waits
    until it is stable."""
    names = {e.name for e in entries}
    return [
        e.name
        for e in entries
        if e.name.endswith(MARKER_SUFFIX) and e.name.removesuffix(MARKER_SUFFIX) not in names
    ]


# -- planning a tick ---------------------------------------------------------------------------


@dataclass
class Decision:
    """What happens to one delivery (or one day of a split delivery), and its manifest row."""

    status: str
    file_name: str
    source: tuple[str, str]
    table: str | None = None
    canonical_name: str | None = None
    day: date | None = None
    checksum: str | None = None
    size: int | None = None
    reason: str | None = None
    archive_name: str | None = None
    run_key: str | None = None
    #: checksum of the current file this one replaces, and the archive name it moves to
    replaces: str | None = None
    superseded_name: str | None = None
    marker: str | None = None
    source_lines: str | None = None  # a split day part's `Origin`


@dataclass(frozen=True)
class RunPlan:
    """One raw-asset run: a table and a day, a contiguous range of days, or master data."""

    table: str
    run_key: str
    first_day: date | None = None
    last_day: date | None = None
    files: tuple[str, ...] = ()

    @property
    def partition_key(self) -> str | None:
        if self.first_day is None or self.first_day != self.last_day:
            return None
        return self.first_day.isoformat()

    @property
    def is_range(self) -> bool:
        return self.first_day is not None and self.first_day != self.last_day


@dataclass
class TickPlan:
    """Everything one look at `incoming/` decided, in the order it is applied."""

    received_at: datetime
    decisions: list[Decision] = field(default_factory=list)
    runs: list[RunPlan] = field(default_factory=list)

    def placed(self) -> list[Decision]:
        """The deliveries that become current, the last one per file name only."""
        last: dict[str, Decision] = {}
        for decision in self.decisions:
            if decision.status == "received" and decision.canonical_name is not None:
                last.pop(decision.canonical_name, None)
                last[decision.canonical_name] = decision
        return list(last.values())


class _Currents:
    """Checksums of the current files, read lazily and updated as the plan places files; and
    the archive names the plan has given out."""

    def __init__(self, store: LandingStore) -> None:
        self.store = store
        self._known: dict[str, str | None] = {}
        self._archived: set[str] = set()

    def get(self, canonical: str) -> str | None:
        if canonical not in self._known:
            if self.store.exists(CURRENT, canonical):
                with self.store.open(CURRENT, canonical) as handle:
                    self._known[canonical] = sha256_stream(handle)
            else:
                self._known[canonical] = None
        return self._known[canonical]

    def set(self, canonical: str, checksum: str) -> None:
        self._known[canonical] = checksum

    def archive_name(self, original: str, checksum: str, now: datetime) -> str:
        """`archive_name`, unique in the tick: the same bytes under the same name can be
        archived twice in one (a re-sent current file, a duplicate, then the current file
        replaced by a correction); the second gets the next microsecond."""
        at = now
        while (name := archive_name(original, checksum, at)) in self._archived:
            at += timedelta(microseconds=1)
        self._archived.add(name)
        return name


def plan_tick(
    store: LandingStore,
    ready: Sequence[LandingEntry],
    now: datetime,
    first_day: date | None = None,
) -> TickPlan:
    """Decide what to do with each ready delivery and which runs to request; moves nothing.

    Undated transactional files are split by day into `STAGING` (the only write). Days before
    `first_day` (the first partition) are rejected: no partition could hold them.
    """
    plan = TickPlan(received_at=now)
    currents = _Currents(store)
    names = {e.name for e in store.list(INCOMING)}
    for entry in oldest_extracts_first(ready):
        if entry.name not in names:
            continue  # taken away since it was listed: nothing to decide
        marker = entry.name + MARKER_SUFFIX if entry.name + MARKER_SUFFIX in names else None
        for decision in _decide(store, entry, now, first_day, currents):
            decision.marker = marker
            plan.decisions.append(decision)
    plan.runs = plan_runs(plan.placed(), now)
    return plan


def oldest_extracts_first(ready: Sequence[LandingEntry]) -> list[LandingEntry]:
    """`ready` in its order, except that the dated extracts of each master table swap places
    among themselves to be oldest first: the newest is placed last and wins, whatever the
    mtimes say. Undated extracts keep their place."""
    slots: dict[str, list[int]] = {}
    days: dict[int, date] = {}
    for index, entry in enumerate(ready):
        try:
            parsed = parse_landing_name(entry.name)
        except LandingNameError:
            continue
        if parsed.extracted is not None:
            slots.setdefault(parsed.table, []).append(index)
            days[index] = parsed.extracted
    ordered = list(ready)
    for indexes in slots.values():
        by_date = sorted(indexes, key=lambda i: (days[i], ready[i].name))
        for slot, index in zip(indexes, by_date, strict=True):
            ordered[slot] = ready[index]
    return ordered


def _reject(entry: LandingEntry, reason: str, now: datetime, **known: Any) -> Decision:
    return Decision(
        status="rejected",
        file_name=entry.name,
        source=(INCOMING, entry.name),
        size=entry.size,
        reason=reason,
        archive_name=rejected_name(entry.name, now),
        **known,
    )


def _decide(
    store: LandingStore,
    entry: LandingEntry,
    now: datetime,
    first_day: date | None,
    currents: _Currents,
) -> list[Decision]:
    if is_in_progress(entry.name):  # ready only once stale: abandoned, or never renamed
        minutes = STALE_AFTER // timedelta(minutes=1)
        reason = (
            f"{entry.name!r}: a temporary name (leading '.' or '~', or a suffix such as .part) "
            f"unchanged for {minutes} minutes: a transfer abandoned, or a file never renamed"
        )
        return [_reject(entry, reason, now)]
    try:
        parsed = parse_landing_name(entry.name)
        _check_not_future(entry.name, parsed, now)
    except LandingNameError as exc:
        return [_reject(entry, str(exc), now)]  # never read: the name alone disqualifies it
    spec = parsed.spec
    with store.open(INCOMING, entry.name) as handle:
        checksum = sha256_stream(handle)
    known = {"table": spec.name, "checksum": checksum}
    with ExitStack() as cleanup:  # a split's day parts live in scratch until they are staged
        try:
            with store.local_file(INCOMING, entry.name) as path:
                SapFileReader(path, spec, ReaderSettings.from_env())  # header, format readable
                parts = None
                if parsed.canonical is None:
                    scratch = tempfile.TemporaryDirectory(prefix="scp-split-")
                    parts = split_by_day(
                        path, spec, Path(cleanup.enter_context(scratch)), first_day
                    )
        except SapFileError as exc:  # named as delivered, not by the path it was read from
            return [_reject(entry, exc.naming(entry.name), now, **known)]

        if parts is None or len(parts) == 1:  # one day: the file is placed as it came
            day = parsed.day if parts is None else next(iter(parts))
            if first_day is not None and day is not None and day < first_day:
                reason = f"{entry.name}: day {day} is before the first partition day {first_day}"
                return [_reject(entry, reason, now, **known, day=day)]
            candidate = Decision(
                status="received",
                file_name=entry.name,
                source=(INCOMING, entry.name),
                table=spec.name,
                canonical_name=landing_file_name(spec, day),
                day=day,
                checksum=checksum,
                size=entry.size,
            )
            return [_settle(candidate, currents, now)]
        if not parts:
            reason = f"{entry.name}: no row has a readable {spec.partition_column}"
            return [_reject(entry, reason, now, **known)]
        return _split(store, entry, spec, parts, checksum, now, first_day, currents)


def _check_not_future(name: str, parsed: LandingName, now: datetime) -> None:
    """A LandingNameError for a day or extraction date after tomorrow (UTC `now`; the day in
    SCP_TIMEZONE is at most one later): a mistyped year would defer a day's run for years, or
    make every correctly dated master extract after it "older" and rejected."""
    dated = parsed.day or parsed.extracted
    latest = now.date() + timedelta(days=1)
    if dated is not None and dated > latest:
        what = "day" if parsed.day else "extraction date"
        raise LandingNameError(f"{name}: {what} {dated} is in the future (after {latest})")


def _settle(candidate: Decision, currents: _Currents, now: datetime) -> Decision:
    """A duplicate of the current file, or the new current file (replacing the old one)."""
    canonical = str(candidate.canonical_name)
    current = currents.get(canonical)
    if current == candidate.checksum:
        candidate.status = "duplicate"
        candidate.reason = f"same content as the current {canonical}"
        if candidate.source[0] == INCOMING:
            candidate.archive_name = currents.archive_name(candidate.file_name, current, now)
        return candidate
    candidate.replaces = current
    if current is not None:
        candidate.superseded_name = currents.archive_name(canonical, current, now)
    candidate.run_key = f"{candidate.checksum}:{canonical}:{stamp(now)}"
    currents.set(canonical, str(candidate.checksum))
    return candidate


# -- undated files: split by day -----------------------------------------------------------------


#: The day of a record whose day cannot be read: it goes to the earliest day's part.
_UNASSIGNED = np.iinfo(np.int32).min
#: Bytes of day parts buffered while splitting, in all.
_PART_BUFFER = 2 << 20
#: Runs of records made Python ints at a time (a file that switches day at every record
#: has as many runs as records).
_RUN_BATCH = 1 << 16
_EPOCH = date(1970, 1, 1)


def _day_spec(spec: TableSpec) -> TableSpec:
    """The spec with every column but the partition column read as plain text, so that only a
    missing or unreadable day (or a malformed record) keeps a record from being assigned."""
    columns = tuple(
        col
        if col.name == spec.partition_column
        else replace(col, kind="text", required=False, alpha_length=None)
        for col in spec.columns
    )
    return replace(spec, columns=columns, allowed_values={})


def _day_runs(reader: SapFileReader, other_dates: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Runs of consecutive records of one day, in file order: the first physical line of each
    run (int64) and its day in days since 1970 (int32, `_UNASSIGNED` for a record without a
    readable day). One entry per change of day, not per record: extracts are mostly grouped by
    day, so this stays small whatever the file's size. The `other_dates` columns, read as text,
    are only searched for a date of the other order of day and month (`13/01/2025` read
    month-first), which refuses the file as in the partition column."""
    column = str(reader.spec.partition_column)
    starts, days = [np.zeros(0, np.int64)], [np.zeros(0, np.int32)]
    last: int | None = None
    for chunk in reader.chunks():
        lines = chunk.table["_source_line"].to_numpy().astype(np.int64, copy=False)
        for name in other_dates:
            reader.refuse_other_order_text(name, chunk.table[name], lines)
        values = pc.cast(chunk.table[column], pa.int32()).fill_null(_UNASSIGNED).to_numpy()
        rejected = np.setdiff1d(chunk.rejects["source_line"].to_numpy(np.int64), lines)
        lines = np.concatenate([lines, rejected])
        values = np.concatenate([values, np.full(len(rejected), _UNASSIGNED, np.int32)])
        order = np.argsort(lines, kind="stable")
        lines, values = lines[order], values[order]
        change = np.ones(len(values), dtype=bool)
        change[1:] = values[1:] != values[:-1]
        change[0] = last is None or values[0] != last
        starts.append(lines[change])
        days.append(values[change])
        last = int(values[-1])
    return np.concatenate(starts), np.concatenate(days)


class _DayParts:
    """Per-day part files in a folder: the header block, then records appended in file order.

    Lines are buffered per day, `_PART_BUFFER` bytes in all; past that every buffer is
    appended to its file. Memory stays bounded, and files are opened rarely even when days
    alternate at every record.
    """

    def __init__(self, folder: Path, header: bytes) -> None:
        self.folder, self.header = folder, header
        self.paths: dict[int, Path] = {}
        self._buffers: dict[int, bytearray] = {}
        self._buffered = 0

    def append(self, day: int, lines: Iterable[bytes]) -> int:
        """Append `lines` to the day's part; how many there were."""
        buffer = self._buffers.setdefault(day, bytearray())
        count = 0
        for line in lines:
            count += 1
            buffer += line
            self._buffered += len(line)
            if self._buffered > _PART_BUFFER:
                self._flush()
                buffer = self._buffers.setdefault(day, bytearray())
        return count

    def finish(self) -> dict[int, Path]:
        """Write what is buffered; the part of each day."""
        self._flush()
        return self.paths

    def _flush(self) -> None:
        for day, buffer in self._buffers.items():
            self._write(day, buffer)
        self._buffers.clear()
        self._buffered = 0

    def _write(self, day: int, buffer: bytearray) -> None:
        if day in self.paths:
            with self.paths[day].open("ab") as part:
                part.write(buffer)
        else:
            self.paths[day] = self.folder / f"{_EPOCH + timedelta(days=day):%Y%m%d}.csv"
            with self.paths[day].open("xb") as part:
                part.write(self.header)
                part.write(buffer)


@dataclass(frozen=True, eq=False)
class Origin:
    """Where a current file's lines were delivered, so quarantine can name them there: the
    delivered file's name and, for a day part of a split delivery, the runs of consecutive
    lines it was cut from (`first`: the part's first record line, the header block being the
    delivered one; `runs`: rows [first delivered line, line count] in part order, int64, no
    rows for a file placed as delivered). A part cut from more than `MAX_LINE_RUNS` runs keeps
    None, and its lines are not mapped."""

    file_name: str
    first: int = 1
    runs: np.ndarray | None = field(default_factory=lambda: np.zeros((0, 2), np.int64))

    @classmethod
    def of_manifest(cls, file_name: str, source_lines: str | None) -> Origin:
        """Read what `as_manifest` wrote, and the form written before runs were packed, where
        `runs` is a list of [line, count] pairs."""
        if not source_lines:
            return cls(file_name)
        kept = json.loads(source_lines)
        runs = kept["runs"]
        if isinstance(runs, str):
            runs = _unpack_runs(runs)
        elif runs is not None:
            runs = np.array(runs, dtype=np.int64).reshape(-1, 2)
        return cls(file_name, kept["first"], runs)

    def as_manifest(self) -> str:
        runs = None if self.runs is None else _pack_runs(self.runs)
        return json.dumps({"first": self.first, "runs": runs}, separators=(",", ":"))

    def lines(self, lines: Sequence[int | None]) -> pd.Series:
        """The delivered line of each of this file's lines (null where not known)."""
        found = pd.Series(pd.array(lines, dtype="Int64"))
        if self.runs is not None and not len(self.runs):  # placed as delivered
            return found
        header = (found < self.first).fillna(False)
        if self.runs is None:
            return found.where(header)
        starts, sizes = self.runs[:, 0], self.runs[:, 1]
        ends = np.cumsum(sizes)  # the part's offsets past each run
        offsets = (found - self.first).fillna(-1).to_numpy(dtype=np.int64)
        index = np.searchsorted(ends, offsets, side="right")
        inside = (offsets >= 0) & (index < len(ends))
        at = index.clip(max=len(ends) - 1)
        mapped = pd.Series(starts[at] + offsets - (ends[at] - sizes[at]), dtype="Int64")
        return found.where(header, mapped.where(inside))


def _pack_runs(runs: np.ndarray) -> str:
    """Runs as manifest text: the gap before each run (from the end of the one before) and its
    line count, small numbers whatever the file's size, as 64-bit integers cut into byte
    planes, so the planes of high bytes are zeros that zlib all but removes; base64."""
    ends = runs[:, 0] + runs[:, 1]
    gaps = runs[:, 0] - np.concatenate([[0], ends[:-1]])
    values = np.concatenate([gaps, runs[:, 1]]).astype("<u8")
    planes = values.view(np.uint8).reshape(-1, 8).T
    return base64.b64encode(zlib.compress(planes.tobytes())).decode("ascii")


def _unpack_runs(text: str) -> np.ndarray:
    planes = np.frombuffer(zlib.decompress(base64.b64decode(text)), np.uint8).reshape(8, -1)
    values = np.ascontiguousarray(planes.T).view("<u8").ravel().astype(np.int64)
    gaps, counts = np.split(values, 2)
    ends = np.cumsum(gaps + counts)
    return np.stack([ends - counts, counts], axis=1)


#: The most runs of consecutive lines a split part's `Origin` keeps; a file whose days
#: alternate at nearly every record (EKPO, partitioned by AEDAT but sorted by EBELN) has a
#: run per record. Packed (`_pack_runs`), a run takes about 1 byte in the manifest when its
#: day has a record in 10 at random, 2 when it has one in 1,000 (longer gaps), where pairs as
#: JSON took 11; and 16 bytes in memory while its file is loaded or its rejects located. So a
#: part at the limit keeps 1-2 MB in its manifest row.
MAX_LINE_RUNS = 1_000_000


@dataclass(frozen=True)
class DayPart:
    """One day of a split delivery: its part file and where its lines were delivered."""

    path: Path
    origin: Origin


def split_by_day(
    path: Path, spec: TableSpec, into: Path, first_day: date | None = None
) -> dict[date, DayPart]:
    """An undated extract cut into one file per day in the folder `into` (new, or without
    parts), byte for byte: every part starts with the original header block, then the original
    text of its records (quoted multi-line records stay whole). Records without a readable day
    go to the earliest day's file from `first_day` on (the first partition: an earlier day's
    part is rejected whole), where the load quarantines them with their reason.

    Streamed, as the sensor's process must not hold a large file: a pass of the reader notes
    where the day changes (`_day_runs`), a pass over the physical lines copies each run of
    records to its day's file. The reader's pass ends before any part is written, so a
    `SapFileError` it raises, wherever in the file (a day-first day after the sample), leaves
    no part. A UTF-16 file's parts are written as UTF-8, as it is read."""
    reader = SapFileReader(path, _day_spec(spec), ReaderSettings.from_env(), judge_open_end=False)
    other_dates = [
        c.name for c in spec.columns if c.kind == "date" and c.name != spec.partition_column
    ]
    starts, days = _day_runs(reader, other_dates)
    dated = days[days != _UNASSIGNED]
    if not len(dated):
        return {}
    placed = dated[dated >= (first_day - _EPOCH).days] if first_day else dated
    days = np.where(days == _UNASSIGNED, (placed if len(placed) else dated).min(), days)
    counts = np.diff(starts, append=np.iinfo(np.int64).max)  # the last run takes the rest
    into.mkdir(parents=True, exist_ok=True)
    with reader.open_bytes() as source:
        lines = iter(source)
        header = list(islice(lines, int(starts[0]) - 1))
        parts = _DayParts(into, b"".join(header))
        for begin in range(0, len(starts), _RUN_BATCH):  # lists of ints, a batch at a time
            batch = slice(begin, begin + _RUN_BATCH)
            for day, count in zip(days[batch].tolist(), counts[batch].tolist(), strict=True):
                last = parts.append(day, islice(lines, count))
        counts[-1] = last  # a last record cut off without a line break stays so, for the load
    paths = parts.finish()
    return {
        _EPOCH + timedelta(days=day): DayPart(
            paths[day], _part_origin(path.name, int(starts[0]), starts, counts, days == day)
        )
        for day in sorted(paths)
    }


def _lines_of(part: DayPart) -> str:
    """Which lines of the delivered file a day part holds, for a reason: `3 lines (4-5, 9)`."""
    runs = part.origin.runs
    if runs is None:
        return "its lines"
    shown = [f"{a}-{a + n - 1}" if n > 1 else str(a) for a, n in runs[:5].tolist()]
    more = ", ..." if len(runs) > 5 else ""
    total = int(runs[:, 1].sum())
    return f"{total} line{'s' if total != 1 else ''} ({', '.join(shown)}{more})"


def _part_origin(
    name: str, first: int, starts: np.ndarray, counts: np.ndarray, runs_of_part: np.ndarray
) -> Origin:
    if runs_of_part.sum() > MAX_LINE_RUNS:
        return Origin(name, first, None)
    return Origin(name, first, np.stack([starts[runs_of_part], counts[runs_of_part]], axis=1))


def _split(
    store: LandingStore,
    entry: LandingEntry,
    spec: TableSpec,
    parts: dict[date, DayPart],
    checksum: str,
    now: datetime,
    first_day: date | None,
    currents: _Currents,
) -> list[Decision]:
    decisions = [
        Decision(
            status="split",
            file_name=entry.name,
            source=(INCOMING, entry.name),
            table=spec.name,
            checksum=checksum,
            size=entry.size,
            reason=f"{len(parts)} days, {min(parts)}..{max(parts)}: placed as one file per day",
            archive_name=currents.archive_name(entry.name, checksum, now),
        )
    ]
    latest = now.date() + timedelta(days=1)
    for day, part in parts.items():
        canonical = landing_file_name(spec, day)
        part_checksum, size = file_checksum(part.path), part.path.stat().st_size
        why = None
        if first_day is not None and day < first_day:
            why = f"day {day} is before the first partition day {first_day}"
        elif day > latest:  # as for a name dated so (`_check_not_future`)
            why = f"day {day} is in the future (after {latest})"
        if why is not None:
            decisions.append(
                Decision(
                    status="rejected",
                    file_name=entry.name,
                    source=(STAGING, ""),
                    table=spec.name,
                    canonical_name=canonical,
                    day=day,
                    checksum=part_checksum,
                    size=size,
                    reason=f"{entry.name}: {why}: {_lines_of(part)} not loaded (the delivery "
                    f"is archived whole as {decisions[0].archive_name})",
                    archive_name=decisions[0].archive_name,
                )
            )
            continue
        staged = f"{checksum[:12]}__{canonical}"
        store.put(STAGING, staged, part.path)
        candidate = Decision(
            status="received",
            file_name=entry.name,
            source=(STAGING, staged),
            table=spec.name,
            canonical_name=canonical,
            day=day,
            checksum=part_checksum,
            size=size,
            source_lines=part.origin.as_manifest(),
        )
        candidate = _settle(candidate, currents, now)
        if candidate.status == "duplicate":
            candidate.archive_name = decisions[0].archive_name
        decisions.append(candidate)
    return decisions


# -- runs --------------------------------------------------------------------------------------


def plan_runs(placed: Sequence[Decision], now: datetime) -> list[RunPlan]:
    """One run per master table, and per table one run for each contiguous range of days
    (a single run covers a range: the raw assets have a single-run backfill policy)."""
    by_table: dict[str, list[Decision]] = {}
    for decision in placed:
        by_table.setdefault(str(decision.table), []).append(decision)
    runs: list[RunPlan] = []
    for table, decisions in by_table.items():
        if not TABLE_SPECS[table].is_partitioned:
            last = decisions[-1]
            runs.append(RunPlan(table, str(last.run_key), files=(str(last.canonical_name),)))
            continue
        ordered = sorted(decisions, key=lambda d: d.day or date.min)
        group: list[Decision] = []
        for decision in ordered:
            if group and decision.day != group[-1].day + timedelta(days=1):  # type: ignore[operator]
                runs.append(_range_run(table, group, now))
                group = []
            group.append(decision)
        runs.append(_range_run(table, group, now))
    return runs


def _range_run(table: str, group: list[Decision], now: datetime) -> RunPlan:
    files = tuple(str(d.canonical_name) for d in group)
    first, last = group[0].day, group[-1].day
    if len(group) == 1:
        run_key = str(group[0].run_key)
    else:
        digest = hashlib.sha256("".join(str(d.checksum) for d in group).encode()).hexdigest()
        run_key = f"{digest}:{table}_{first:%Y%m%d}-{last:%Y%m%d}:{stamp(now)}"
        for decision in group:
            decision.run_key = run_key
    return RunPlan(table, run_key, first, last, files)


# -- applying a tick -----------------------------------------------------------------------------


def _manifest_row(decision: Decision, received_at: datetime) -> dict[str, Any]:
    return {
        "file_name": decision.file_name,
        "canonical_name": decision.canonical_name,
        "table_name": decision.table,
        "partition_key": decision.day.isoformat() if decision.day else None,
        "checksum": decision.checksum,
        "size_bytes": decision.size,
        "status": decision.status,
        "reason": decision.reason,
        "archive_name": decision.archive_name,
        "run_key": decision.run_key,
        "detected_format": None,
        "rows_read": None,
        "rows_loaded": None,
        "rows_quarantined": None,
        "run_id": None,
        "received_at": received_at,
        "loaded_at": None,
        "source_lines": decision.source_lines,
    }


def manifest_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows in manifest shape with types both engines accept (nullable ints, timestamps)."""
    frame = pd.DataFrame(list(rows), columns=list(MANIFEST_COLUMNS))
    for name, sql_type in MANIFEST_COLUMNS.items():
        if sql_type == "BIGINT":
            frame[name] = frame[name].astype("Int64")
        elif sql_type == "TIMESTAMP":
            frame[name] = pd.to_datetime(frame[name])
        else:
            frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame


def from_refused_reading(record: str, other_than: int = 0) -> str:
    """SQL: the quarantine record aliased `record` is one of a refused delivery's reading (the
    manifest row of that reading has the record's time as `loaded_at` and its refusal as
    `reason`, refused or superseded since). Its rows never reached raw, so no check counts it,
    and it stays as the evidence of the refusal when a later delivery of its name loads.
    `other_than`: that many placeholders for `<canonical name>:<checksum>` of deliveries whose
    refused readings do not count (the same bytes, read again)."""
    marks = ", ".join("?" * other_than)
    same_bytes = f" and m.canonical_name || ':' || m.checksum not in ({marks})" if marks else ""
    return (
        f"exists (select 1 from {MANIFEST_TABLE} as m where m.table_name = {record}.table_name "
        f"and m.canonical_name = {record}.source_file and m.loaded_at = {record}.rejected_at "
        f"and m.status in ('refused', 'superseded') and m.reason is not null{same_bytes})"
    )


def ensure_manifest(warehouse: Warehouse, cur: Cursor) -> None:
    """Create the manifest, or add the columns a newer version records."""
    existing = warehouse.create_table(cur, MANIFEST_TABLE, MANIFEST_COLUMNS)
    if existing:
        missing = [n for n in MANIFEST_COLUMNS if n not in existing]
        warehouse.run_ddl(
            cur, [add_column_sql(MANIFEST_TABLE, n, MANIFEST_COLUMNS[n]) for n in missing]
        )


def delivered_origins(
    warehouse: Warehouse, cur: Cursor, table: str, names: Sequence[str], by: str
) -> dict[tuple[str, Any], Origin]:
    """The `Origin` of current files by (canonical name, `by`): `checksum` for a file about to
    be loaded, `loaded_at` for rows in raw. A file placed without the sensor has none."""
    if not names or not warehouse.table_columns(cur, MANIFEST_TABLE):
        return {}
    ensure_manifest(warehouse, cur)  # a manifest older than `source_lines`
    cur.execute(
        warehouse.placeholders(
            f"select canonical_name, {by}, file_name, source_lines from {MANIFEST_TABLE} "
            "where table_name = ? and status in ('received', 'loaded', 'refused', 'superseded') "
            f"and canonical_name in ({', '.join('?' for _ in names)})"
        ),
        [table, *names],
    )
    return {(row[0], row[1]): Origin.of_manifest(row[2], row[3]) for row in cur.fetchall()}


def record_loaded(warehouse: Warehouse, cur: Cursor, rows: Sequence[Mapping[str, Any]]) -> None:
    """Complete the manifest rows of loaded files, in the caller's (the load's) transaction.

    A row is matched by file name and checksum, so a run always updates the delivery it really
    read; a file placed without the sensor (the demo, a manual copy) gets a row of its own.
    """
    ensure_manifest(warehouse, cur)
    batch = "_scp_loaded_files"
    frame = manifest_frame(rows)
    if warehouse.kind == "duckdb":
        cur.register(batch, frame)  # type: ignore[attr-defined]
    else:
        columns = ", ".join(f'"{name}" {kind}' for name, kind in MANIFEST_COLUMNS.items())
        cur.execute(f"create temp table {batch} ({columns}) on commit drop")
        warehouse.insert_frame(cur, batch, frame)
    updated = (
        "status",
        "reason",
        "detected_format",
        "rows_read",
        "rows_loaded",
        "rows_quarantined",
    )
    assignments = ", ".join(f"{name} = b.{name}" for name in (*updated, "run_id", "loaded_at"))
    cur.execute(
        f"update {MANIFEST_TABLE} as m set {assignments} from {batch} as b "
        "where m.canonical_name = b.canonical_name and m.checksum = b.checksum "
        "and m.status in ('received', 'loaded', 'refused')"
    )
    names = ", ".join(MANIFEST_COLUMNS)
    cur.execute(
        f"insert into {MANIFEST_TABLE} ({names}) select {names} from {batch} as b "
        f"where not exists (select 1 from {MANIFEST_TABLE} as m where "
        "m.canonical_name = b.canonical_name and m.checksum = b.checksum "
        "and m.status = b.status)"
    )
    if warehouse.kind == "duckdb":
        cur.unregister(batch)  # type: ignore[attr-defined]


def received_delivery(warehouse: Warehouse, cur: Cursor, table: str, canonical: str) -> str | None:
    """The newest delivery of `canonical` the manifest records as received, whatever became of
    it (loaded, superseded, archived as a duplicate of the current file), as `<file name>
    (<status> per raw.landing_manifest)`; None without one. A refused delivery does not count
    (its day kept the rows it had), nor a rejected one (never placed)."""
    if not warehouse.table_columns(cur, MANIFEST_TABLE):
        return None
    cur.execute(
        warehouse.placeholders(
            f"select file_name, status from {MANIFEST_TABLE} where table_name = ? and "
            "canonical_name = ? and status in ('received', 'loaded', 'superseded', 'duplicate') "
            "order by received_at desc"
        ),
        [table, canonical],
    )
    rows = cur.fetchall()
    return f"{rows[0][0]} ({rows[0][1]} per {MANIFEST_TABLE})" if rows else None


def _master_deliveries(plan: TickPlan) -> list[Decision]:
    """The plan's master-data deliveries that would be placed or archived as duplicates."""
    return [
        d
        for d in plan.decisions
        if d.status in ("received", "duplicate")
        and d.table is not None
        and not TABLE_SPECS[d.table].is_partitioned
    ]


def current_extracts(
    warehouse: Warehouse, cur: Cursor, canonicals: Sequence[str]
) -> dict[str, date]:
    """The extraction date of each current master file that has one: the date in the name it
    was delivered under, which its manifest row keeps (the newest received or loaded row)."""
    if not canonicals:
        return {}
    cur.execute(
        warehouse.placeholders(
            f"select canonical_name, file_name from {MANIFEST_TABLE} "
            "where status in ('received', 'loaded') and canonical_name in "
            f"({', '.join('?' * len(canonicals))}) order by received_at"
        ),
        list(canonicals),
    )
    latest = {canonical: extraction_date(name) for canonical, name in cur.fetchall()}
    return {canonical: day for canonical, day in latest.items() if day is not None}


def reject_older_extracts(store: LandingStore, plan: TickPlan, current: Mapping[str, date]) -> None:
    """Reject the master extracts dated before the `current` file of their table: a late
    extract must not overwrite newer master data. The other deliveries of those files are
    settled again without them (what they replace or duplicate may change), and the runs
    planned again. Extracts of one tick need no check: they are placed oldest first."""
    deliveries = _master_deliveries(plan)
    older = [
        d
        for d in deliveries
        if (day := extraction_date(d.file_name)) is not None
        and day < current.get(str(d.canonical_name), date.min)
    ]
    if not older:
        return
    currents = _Currents(store)
    touched = {d.canonical_name for d in older}
    for decision in deliveries:
        if decision.canonical_name not in touched:
            continue
        decision.replaces = decision.superseded_name = decision.run_key = None
        if any(decision is d for d in older):
            decision.status = "rejected"
            decision.reason = (
                f"{decision.file_name} is older than the current {decision.table} extract "
                f"({current[str(decision.canonical_name)]})"
            )
            decision.archive_name = rejected_name(decision.file_name, plan.received_at)
        else:
            decision.status, decision.reason, decision.archive_name = "received", None, None
            _settle(decision, currents, plan.received_at)
    plan.runs = plan_runs(plan.placed(), plan.received_at)


def commit_tick(store: LandingStore, warehouse: Warehouse, plan: TickPlan) -> None:
    """Record the plan in the manifest (one transaction), then move the files.

    The manifest is written first: if the warehouse is unavailable nothing has moved and the
    next tick decides again. Placing a file archives the current one without a moment in
    which the table-day has no file. Master extracts older than the current one are rejected
    here (`reject_older_extracts`), since only the manifest knows the current one's date.
    """
    with warehouse.transaction() as cur:
        ensure_manifest(warehouse, cur)
        master = sorted({str(d.canonical_name) for d in _master_deliveries(plan)})
        reject_older_extracts(store, plan, current_extracts(warehouse, cur, master))
        _record_tick(warehouse, cur, plan)
    _move_files(store, plan)


def _record_tick(warehouse: Warehouse, cur: Cursor, plan: TickPlan) -> None:
    """The plan's manifest rows, and the current rows it supersedes. A row that is archived
    already keeps its archive name: a delivery whose rows a refused successor left in raw
    (`load._restore_kept_deliveries`) was moved out of current/ before."""
    rows = [_manifest_row(decision, plan.received_at) for decision in plan.decisions]
    first_placed: dict[str, int] = {}  # canonical name -> index of its first placement
    previous: dict[str, int] = {}
    for index, decision in enumerate(plan.decisions):
        canonical = decision.canonical_name
        if decision.status != "received" or canonical is None:
            continue
        first_placed.setdefault(canonical, index)
        if canonical in previous:  # placed earlier in this tick, replaced again now
            rows[previous[canonical]]["status"] = "superseded"
            rows[previous[canonical]]["archive_name"] = decision.superseded_name
        previous[canonical] = index
    for index in first_placed.values():  # the deliveries current before this tick
        decision = plan.decisions[index]
        if decision.replaces is not None:
            cur.execute(
                warehouse.placeholders(
                    f"update {MANIFEST_TABLE} set status = 'superseded', "
                    "archive_name = coalesce(archive_name, ?) where canonical_name = ? "
                    "and status in ('received', 'loaded', 'refused')"
                ),
                [decision.superseded_name, decision.canonical_name],
            )
    if rows:
        warehouse.insert_frame(cur, MANIFEST_TABLE, manifest_frame(rows))


def _move_files(store: LandingStore, plan: TickPlan) -> None:
    """Apply the recorded plan to the files: place, archive, reject, clean up."""
    for decision in plan.decisions:
        folder, name = decision.source
        if decision.status == "received":
            store.replace(
                folder, name, CURRENT, str(decision.canonical_name), decision.superseded_name
            )
        elif decision.status in ("duplicate", "split") and folder == INCOMING:
            store.move(folder, name, ARCHIVE, str(decision.archive_name))
        elif decision.status == "rejected" and folder == INCOMING:
            store.move(folder, name, REJECTED, str(decision.archive_name))
        elif folder == STAGING and name:
            store.remove(folder, name)
        if decision.marker and store.exists(INCOMING, decision.marker):
            store.remove(INCOMING, decision.marker)


# -- cursor ------------------------------------------------------------------------------------


@dataclass
class LandingCursor:
    """What the landing sensor remembers between ticks (JSON in the sensor cursor).

    `seen`: (size, mtime_ns) of each file in incoming/ at the last look. `deferred`: runs for
    days whose partition does not exist yet (today's extract), requested once it does, and
    runs that wait for a plant master being loaded (`plants_in_flight`).
    """

    seen: dict[str, list[int]] = field(default_factory=dict)
    deferred: list[RunPlan] = field(default_factory=list)

    @classmethod
    def from_json(cls, text: str | None) -> LandingCursor:
        if not text:
            return cls()
        data = json.loads(text)
        deferred = [
            RunPlan(
                run["table"],
                run["run_key"],
                date.fromisoformat(run["first_day"]) if run.get("first_day") else None,
                date.fromisoformat(run["last_day"]) if run.get("last_day") else None,
                tuple(run.get("files", ())),
            )
            for run in data.get("deferred", [])
        ]
        return cls(seen=dict(data.get("seen", {})), deferred=deferred)

    def to_json(self) -> str:
        deferred = [
            {
                "table": run.table,
                "run_key": run.run_key,
                "first_day": run.first_day.isoformat() if run.first_day else None,
                "last_day": run.last_day.isoformat() if run.last_day else None,
                "files": list(run.files),
            }
            for run in self.deferred
        ]
        return json.dumps({"seen": self.seen, "deferred": deferred}, sort_keys=True)


def split_available(
    runs: Sequence[RunPlan], last_partition_day: date | None
) -> tuple[list[RunPlan], list[RunPlan]]:
    """Runs whose days all have partitions now, and the rest (cut at the last partition)."""
    ready: list[RunPlan] = []
    waiting: list[RunPlan] = []
    for run in runs:
        if run.first_day is None or run.last_day is None:
            ready.append(run)
        elif last_partition_day is None or run.first_day > last_partition_day:
            waiting.append(run)
        elif run.last_day <= last_partition_day:
            ready.append(run)
        else:
            ready.append(replace(run, last_day=last_partition_day))
            later = last_partition_day + timedelta(days=1)
            waiting.append(replace(run, first_day=later, run_key=f"{run.run_key}:{later}"))
    return ready, waiting


#: How long runs of tables checked against raw.t001w's plants wait for a T001W delivery that
#: is not loaded yet (`plants_in_flight`). Its run takes seconds; one that died leaves the
#: delivery `received`, and the runs must not wait for it forever.
PLANTS_WAIT = timedelta(minutes=30)


def plants_in_flight(warehouse: Warehouse, cur: Cursor, now: datetime) -> bool:
    """True while a T001W delivery received in the last `PLANTS_WAIT` is neither loaded nor
    refused. A run that reads raw.t001w's plants meanwhile would reject the first movements of
    a plant that delivery introduces, so such runs wait for it."""
    if not warehouse.table_columns(cur, MANIFEST_TABLE):
        return False
    cur.execute(
        warehouse.placeholders(
            f"select count(*) from {MANIFEST_TABLE} where table_name = 'T001W' "
            "and status = 'received' and received_at > ?"
        ),
        [now - PLANTS_WAIT],
    )
    return bool(cur.fetchone()[0])


#: How long a received delivery waits for its run before the sensor asks whether the run was
#: ever requested (`received_runs`): far longer than a tick, so a run just requested
#: is never looked for.
RUN_REQUEST_GRACE = timedelta(minutes=10)


def received_runs(warehouse: Warehouse, cur: Cursor, before: datetime) -> list[RunPlan]:
    """The runs of deliveries received before `before` and still not loaded, by run key. A tick
    that dies after it placed its files (a sensor timeout during a large split, a restarted
    code server) loses its run requests with its cursor, and nothing else would load them."""
    if not warehouse.table_columns(cur, MANIFEST_TABLE):
        return []
    cur.execute(
        warehouse.placeholders(
            f"select table_name, run_key, min(partition_key), max(partition_key), "
            f"min(canonical_name) from {MANIFEST_TABLE} where status = 'received' and "
            "run_key is not null and received_at < ? group by table_name, run_key "
            "order by table_name, run_key"
        ),
        [before],
    )
    return [
        RunPlan(
            table,
            run_key,
            date.fromisoformat(first) if first else None,
            date.fromisoformat(last) if last else None,
            (canonical,),
        )
        for table, run_key, first, last, canonical in cur.fetchall()
    ]


def received_run_keys(
    warehouse: Warehouse, cur: Cursor, deliveries: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """The run key of each delivery (canonical name, checksum) still received, not loaded."""
    names = sorted({canonical for canonical, _ in deliveries})
    if not names or not warehouse.table_columns(cur, MANIFEST_TABLE):
        return {}
    marks = ", ".join("?" for _ in names)
    cur.execute(
        warehouse.placeholders(
            f"select canonical_name, checksum, run_key from {MANIFEST_TABLE} where status = "
            f"'received' and run_key is not null and canonical_name in ({marks})"
        ),
        names,
    )
    wanted = set(deliveries)
    return {
        (name, checksum): key
        for name, checksum, key in cur.fetchall()
        if (name, checksum) in wanted
    }


# -- OData deltas as landing files ---------------------------------------------------------------


@dataclass(frozen=True)
class DeltaFeed:
    """How one entity set (and optionally its items) becomes landing files; `kind` says how,
    because only some S/4 entity sets carry a change timestamp:

    - `delta`: rows with `LastChangeDateTime` after the cursor, merged into their files.
    - `snapshot`: the whole entity set once per day (no change timestamp), the complete content
      of its master file, or of the day file of the last complete day (stock: `snapshot_date`).
      `related` names a second entity set completing each row (MARC's MRP view).
    - `postings`: documents by `date_property` over a window of days that is re-read in full
      every day, so postings entered late are caught; the window's day files are replaced.

    Items have no change timestamp of their own: they are read for the headers read (`link` is
    the item property holding the header key) and replace the headers' old items.
    """

    entity_set: str
    items: str | None = None
    link: str | None = None
    kind: Literal["delta", "snapshot", "postings"] = "delta"
    related: str | None = None
    date_property: str | None = None


DELTA_FEEDS: dict[str, DeltaFeed] = {
    "A_SalesOrder": DeltaFeed("A_SalesOrder", items="A_SalesOrderItem", link="SalesOrder"),
    "A_Product": DeltaFeed("A_Product"),
    "A_ProductPlant": DeltaFeed(
        "A_ProductPlant", kind="snapshot", related="A_ProductSupplyPlanning"
    ),
    "A_MatlStkInAcctMod": DeltaFeed("A_MatlStkInAcctMod", kind="snapshot"),
    "A_MaterialDocumentHeader": DeltaFeed(
        "A_MaterialDocumentHeader",
        items="A_MaterialDocumentItem",
        link="MaterialDocument",
        kind="postings",
        date_property="PostingDate",
    ),
}
#: Header keys per `$filter` (`SalesOrder eq '1' or ...`): 40 keys of 10 characters make a URL
#: of about 2 KB, well under the 8 KB that gateways and proxies accept.
ITEM_KEY_BATCH = 40
#: Days of postings read in one go when catching up: a long gap is read over several ticks.
POSTING_DAYS_PER_READ = 7
ODATA_TAG = "odata"


@dataclass
class DeltaExtract:
    """Rows of one feed in raw-table shape, and the cursor to keep afterwards.

    `complete`: each table holds the whole content of its master file, or of each day in
    `days` (a day without rows gets a header-only file); otherwise the rows are changes.
    `missed_days`: days between the last dated snapshot (stock) and this one. The API serves
    only the current state, so those days have no snapshot, now or later.
    `ahead`: how many headers are stamped more than `CLOCK_AHEAD` after this machine's clock
    (`count_stamped_ahead`): a delta reads them only once their time comes.
    """

    feed: DeltaFeed
    cursor: str | None
    header_table: str | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    undated: int = 0
    complete: bool = False
    days: tuple[date, ...] = ()
    missed_days: tuple[date, ...] = ()
    ahead: int = 0

    @property
    def empty(self) -> bool:
        return not self.tables


def _odata_literal(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def fetch_items(
    client: SapODataClient, feed: DeltaFeed, keys: Sequence[str], key_batch: int = ITEM_KEY_BATCH
) -> pd.DataFrame:
    """The items of the given header keys, by key filters in batches, however many keys: a
    read of the whole item set would take longer than any tick on a real system, and the feed
    would never move on. No keys, no request."""
    from pipelines.ingest.odata import parse_rows

    items, link = str(feed.items), str(feed.link)
    frames = []
    for start in range(0, len(keys), key_batch):
        batch = keys[start : start + key_batch]
        condition = " or ".join(f"{link} eq {_odata_literal(key)}" for key in batch)
        frames.append(client.fetch(items, filter=condition))
    if not frames:
        return parse_rows(client.entity_type(items), [], source=items)
    return pd.concat(frames, ignore_index=True)


def header_items(
    client: SapODataClient,
    feed: DeltaFeed,
    headers: pd.DataFrame,
    key_batch: int = ITEM_KEY_BATCH,
) -> pd.DataFrame:
    """The items of `headers`, matched on the header's whole key: the `link` filter alone
    (MaterialDocument) also returns a same-numbered document of another year."""
    keys = sorted(headers[str(feed.link)].astype("string").dropna().unique().tolist())
    items = fetch_items(client, feed, keys, key_batch)
    on = client.entity_type(feed.entity_set).keys
    wanted = pd.MultiIndex.from_frame(headers[on].astype("string"))
    return items[pd.MultiIndex.from_frame(items[on].astype("string")).isin(wanted)]


def extract_delta(
    client: SapODataClient,
    feed: DeltaFeed,
    cursor: str | None,
    key_batch: int = ITEM_KEY_BATCH,
) -> DeltaExtract:
    """Rows changed since `cursor`, mapped onto raw tables (headers and their items)."""
    from pipelines.ingest.odata import count_stamped_ahead, fetch_delta, to_raw_table

    if feed.kind != "delta":
        raise ValueError(f"{feed.entity_set} is a {feed.kind} feed, not a delta feed")
    headers, new_cursor = fetch_delta(client, feed.entity_set, cursor)
    extract = DeltaExtract(feed, new_cursor, ahead=count_stamped_ahead(client, feed.entity_set))
    if headers.empty:
        return extract
    table, header_rows = to_raw_table(feed.entity_set, headers)
    spec = get_spec(table)
    if spec.is_partitioned:
        dated = header_rows[spec.partition_column].notna().to_numpy()
        extract.undated = int((~dated).sum())
        header_rows = header_rows[dated].reset_index(drop=True)
        headers = headers[dated].reset_index(drop=True)
    extract.header_table = table
    extract.tables[table] = header_rows
    if len(headers):
        _add_items(client, feed, headers, extract, key_batch)
    return extract


def _add_items(
    client: SapODataClient,
    feed: DeltaFeed,
    headers: pd.DataFrame,
    extract: DeltaExtract,
    key_batch: int,
) -> None:
    """The feed's items of `headers`, as their raw table, into `extract`."""
    from pipelines.ingest.odata import to_raw_table

    if feed.items:
        items = header_items(client, feed, headers, key_batch)
        item_table, item_rows = to_raw_table(feed.items, items, related={feed.entity_set: headers})
        extract.tables[item_table] = item_rows


def extract_snapshot(client: SapODataClient, feed: DeltaFeed, day: date) -> DeltaExtract:
    """The whole entity set as the complete content of its master file, or of `day`'s file
    (stock: the current stock, dated `day`). The cursor is `day`: one read per day."""
    from pipelines.ingest.odata import to_raw_table

    frame = client.fetch(feed.entity_set)
    related = {feed.related: client.fetch(feed.related)} if feed.related else None
    table, rows = to_raw_table(feed.entity_set, frame, related=related, snapshot_date=day)
    days = (day,) if get_spec(table).is_partitioned else ()
    return DeltaExtract(feed, day.isoformat(), table, {table: rows}, complete=True, days=days)


def posting_window(
    cursor: str | None, day: date, lookback_days: int, since: str | None = None
) -> tuple[date, date] | None:
    """The posting days to read when `day` is the last complete day, or None when done.

    The last `lookback_days` days are re-read in full (postings are entered late), plus any
    days after the cursor (the last day read) missed since; without a cursor, from `since`
    (an ISO timestamp) when given. A long gap is read `POSTING_DAYS_PER_READ` days at a time.
    """
    if lookback_days < 1:
        raise ValueError(f"lookback_days must be at least 1, got {lookback_days}")
    done = date.fromisoformat(cursor) if cursor else None
    if done is not None and done >= day:
        return None
    first = day - timedelta(days=lookback_days - 1)
    if done is not None:
        first = min(first, done + timedelta(days=1))
    elif since:
        first = min(first, pd.Timestamp(since).date())
    last = min(day, first + timedelta(days=max(lookback_days, POSTING_DAYS_PER_READ) - 1))
    return first, last


def extract_postings(
    client: SapODataClient,
    feed: DeltaFeed,
    first: date,
    last: date,
    key_batch: int = ITEM_KEY_BATCH,
) -> DeltaExtract:
    """Documents posted from `first` to `last` with their items, the complete content of those
    days' files."""
    from pipelines.ingest.odata import fetch_days, to_raw_table

    headers = fetch_days(client, feed.entity_set, str(feed.date_property), first, last)
    days = tuple(first + timedelta(days=n) for n in range((last - first).days + 1))
    table, header_rows = to_raw_table(feed.entity_set, headers)
    tables = {table: header_rows}
    extract = DeltaExtract(feed, last.isoformat(), table, tables, complete=True, days=days)
    _add_items(client, feed, headers, extract, key_batch)
    return extract


def extract_feed(
    client: SapODataClient,
    feed: DeltaFeed,
    cursor: str | None,
    day: date | None,
    lookback_days: int,
    since: str | None = None,
) -> DeltaExtract | None:
    """This tick's read of a feed, or None when a daily feed has nothing due. `day` is the last
    complete day (None before the first one); `since` the first cursor of a feed without one."""
    if feed.kind == "delta":
        return extract_delta(client, feed, cursor or since)
    if day is None or (cursor is not None and date.fromisoformat(cursor) >= day):
        return None
    if feed.kind == "snapshot":
        extract = extract_snapshot(client, feed, day)
        if extract.days and cursor is not None:
            last = date.fromisoformat(cursor)
            gap = range(1, (day - last).days)
            extract.missed_days = tuple(last + timedelta(days=n) for n in gap)
        return extract
    window = posting_window(cursor, day, lookback_days, since)
    return None if window is None else extract_postings(client, feed, *window)


def catch_up(
    client: SapODataClient,
    feed: DeltaFeed,
    day: date | None,
    lookback_days: int,
    since: str | None = None,
) -> Iterator[DeltaExtract]:
    """The reads of a feed from `since` (from scratch when None) until it has caught up: the
    reads the sensor's ticks would make, without their budget. A snapshot is read once,
    material documents a week at a time up to `day`, deltas until one finds nothing newer."""
    cursor: str | None = None
    while (extract := extract_feed(client, feed, cursor, day, lookback_days, since)) is not None:
        yield extract
        if extract.cursor == cursor:
            return
        cursor = extract.cursor


@dataclass
class ODataCursor:
    """The OData sensor's state: each feed's cursor, the feed the next tick starts with, and
    per feed the time before which SAP asked not to be read again (`Retry-After`), ISO 8601.

    JSON `{"feeds": {name: cursor}, "start": name, "not_before": {name: time}}`; the earlier
    form, a bare `{name: cursor}`, reads as `feeds` (no entity set is called "feeds").
    """

    feeds: dict[str, str | None] = field(default_factory=dict)
    start: str | None = None
    not_before: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, text: str | None) -> ODataCursor:
        state = json.loads(text) if text else {}
        if isinstance(state.get("feeds"), dict):
            waits = state.get("not_before") or {}
            return cls(dict(state["feeds"]), state.get("start"), dict(waits))
        return cls(dict(state))

    def waiting(self, name: str, now: datetime) -> str | None:
        """The time SAP asked `name` not to be read before, if that is still to come."""
        until = self.not_before.get(name)
        return until if until and now < datetime.fromisoformat(until) else None

    def to_json(self) -> str:
        state = {"feeds": self.feeds, "start": self.start, "not_before": self.not_before}
        return json.dumps(state, sort_keys=True)

    def order(self, names: Sequence[str]) -> list[str]:
        """`names` in a circle from `start` (from the first when `start` is not among them)."""
        at = names.index(self.start) if self.start in names else 0
        return [*names[at:], *names[:at]]


def next_start(order: Sequence[str], stopped: str | None) -> str | None:
    """The feed the next tick starts with, after a tick that read `order` and ran out of its
    budget on `stopped` (None: every feed was read, the next tick starts from the first).

    A feed that stopped after others had used part of the budget starts the next tick, with
    all of it; one that had all of it and still stopped goes last, after the others. So no
    feed keeps the ones after it from being read, and none is kept from the whole budget.
    """
    if stopped is None or stopped != order[0]:
        return stopped
    return order[1 % len(order)]


#: Where `sap_odata_full_read` leaves the cursor each feed reached, `<feed>.json`.
ODATA_WATERMARKS = "odata"


#: A watermark's `read_from` when its run read every change, from the first on.
READ_FROM_START = "start"


@dataclass(frozen=True)
class Watermark:
    """Where a full read of a feed ended (`cursor`), which run read it, and where it began:
    `read_from` is the cursor it read the changes after, READ_FROM_START for all of them, None
    when unknown (a file of an earlier version)."""

    cursor: str
    run_id: str | None = None
    read_from: str | None = None

    def supersedes(self, feed: DeltaFeed, cursor: str) -> bool:
        """True if the sensor may leave `cursor` for this one: a delta feed's run that read
        every change after `cursor` and ended later. So a delta no tick can hold (a mass
        change) is read by `sap_odata_full_read`, and the feed goes on from where it ended."""
        from pipelines.ingest.odata import parse_cursor

        if feed.kind != "delta" or self.read_from is None:
            return False
        current = parse_cursor(cursor)
        began = self.read_from == READ_FROM_START or parse_cursor(self.read_from) <= current
        return began and parse_cursor(self.cursor) > current


class WatermarkError(ValueError):
    """A watermark file that cannot be used; the message says what is wrong with it."""


def watermark_file(feed: str) -> str:
    """The watermark's path in the landing zone, for messages: `odata/<feed>.json`."""
    return f"{ODATA_WATERMARKS}/{feed}.json"


def write_watermark(store: LandingStore, feed: str, mark: Watermark) -> None:
    store.write(ODATA_WATERMARKS, f"{feed}.json", json.dumps(asdict(mark)).encode())


def read_watermark(store: LandingStore, feed: str, day: date | None) -> Watermark | None:
    """The watermark of `feed`, None without one. The file is JSON that people may edit or an
    interrupted copy may cut short: only `cursor` is required, unknown keys are ignored, and a
    file without a cursor usable as the feed's raises WatermarkError saying why (`day`: the
    last complete day, which a daily feed's cursor may not pass)."""
    from pipelines.ingest.odata import parse_cursor

    name = f"{feed}.json"
    if not store.exists(ODATA_WATERMARKS, name):
        return None
    with store.open(ODATA_WATERMARKS, name) as stream:
        try:
            data = json.load(stream)
        except ValueError as exc:
            raise WatermarkError(f"not JSON ({exc})") from None
    cursor = data.get("cursor") if isinstance(data, dict) else None
    if not isinstance(cursor, str):
        raise WatermarkError(f'no "cursor" string in {json.dumps(data)[:200]}')
    try:
        _check_cursor(DELTA_FEEDS[feed], cursor, day)
    except ValueError as exc:
        raise WatermarkError(str(exc)) from None
    run_id, read_from = data.get("run_id"), data.get("read_from")
    if read_from is not None and read_from != READ_FROM_START:
        try:
            parse_cursor(str(read_from), "read_from")  # the run's `since`, for every feed
        except ValueError as exc:
            raise WatermarkError(str(exc)) from None
    return Watermark(
        cursor,
        None if run_id is None else str(run_id),
        None if read_from is None else str(read_from),
    )


def _check_cursor(feed: DeltaFeed, cursor: str, day: date | None) -> None:
    """A ValueError unless `cursor` can start `feed`'s reads: a delta feed's is an ISO 8601
    timestamp no later than now, a daily feed's the ISO date of the last day it read, no later
    than `day`. A later cursor would have the sensor skip everything until then."""
    from pipelines.ingest.odata import past_cursor

    if feed.kind == "delta":
        past_cursor(cursor)
        return
    try:
        done = date.fromisoformat(cursor)
    except ValueError:
        raise ValueError(f"cursor {cursor!r} is not an ISO 8601 date (YYYY-MM-DD)") from None
    if day is not None and done > day:
        raise ValueError(f"cursor {cursor!r} lies after the last complete day, {day}")


def read_rows(path: Path, spec: TableSpec) -> pd.DataFrame:
    """The accepted rows of a landing file in spec shape (rejected records are left out)."""
    frames = [chunk.rows for chunk in SapFileReader(path, spec, ReaderSettings.from_env()).chunks()]
    if not frames:
        schema = rows_schema(spec)
        return pd.DataFrame({c: pd.Series(dtype=schema[c]) for c in spec.column_names})
    return pd.concat(frames, ignore_index=True)[spec.column_names]


def in_spec_columns(frame: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """`frame`'s columns in spec order; an optional column it lacks is null (a source without
    that field), a required one it lacks is a KeyError naming it."""
    missing = [c.name for c in spec.columns if c.required and c.name not in frame.columns]
    if missing:
        raise KeyError(f"{spec.name} rows lack required column(s) {missing}")
    return frame.reindex(columns=spec.column_names)


def merge_rows(
    spec: TableSpec,
    base: pd.DataFrame,
    new: pd.DataFrame,
    by: Sequence[str],
    replaced: pd.DataFrame,
) -> pd.DataFrame:
    """`base` without the rows whose `by` values are in `replaced`, plus `new`, sorted by key.

    For headers `by` is their key (a changed order replaces its old version); for items it is
    the header key, so a changed order's items replace all its old items (deleted ones too).
    """
    by = list(by)
    if len(base) and len(replaced):
        old = pd.MultiIndex.from_frame(base[by].astype(object))
        gone = old.isin(pd.MultiIndex.from_frame(replaced[by].astype(object).drop_duplicates()))
        base = base[~gone]
    merged = pd.concat([in_spec_columns(base, spec), in_spec_columns(new, spec)], ignore_index=True)
    return merged.sort_values(list(spec.key), kind="stable", ignore_index=True)


def _format_column(kind: str, values: pd.Series) -> list[str]:
    if kind == "date":
        days = pd.to_datetime(values)
        return days.dt.strftime("%Y%m%d").fillna("").tolist()
    if kind == "decimal":
        out = []
        for value in values.astype("float64").tolist():
            if value != value:  # NaN
                out.append("")
                continue
            text = np.format_float_positional(abs(value), trim="-").replace(".", ",")
            out.append(text + "-" if value < 0 else text)
        return out
    return ["" if pd.isna(v) else str(v) for v in values.tolist()]


def to_landing_csv(frame: pd.DataFrame, spec: TableSpec) -> bytes:
    """SE16N-style bytes: UTF-8 with BOM, `;`, CRLF, technical header in spec order,
    `YYYYMMDD` dates, decimal comma with trailing minus, empty cells for nulls."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(spec.column_names)
    frame = in_spec_columns(frame, spec)
    cells = [_format_column(col.kind, frame[col.name]) for col in spec.columns]
    writer.writerows(zip(*cells, strict=True))
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _pending_base(store: LandingStore, canonical: str) -> tuple[str, str] | None:
    """The newest OData delivery for `canonical` still waiting in incoming/, else the current
    file: the next delta must build on it, or its rows would be lost when it is replaced."""
    names = {e.name for e in store.list(INCOMING)}
    pending = []
    for name in names:
        if f"__{ODATA_TAG}-" not in name or name + MARKER_SUFFIX not in names:
            continue
        try:
            if parse_landing_name(name).canonical == canonical:
                pending.append(name)
        except LandingNameError:
            continue
    if pending:
        return INCOMING, max(pending, key=delivery_order)
    return (CURRENT, canonical) if store.exists(CURRENT, canonical) else None


def delivery_tag(extract: DeltaExtract) -> str:
    """The tag in the names of an extract's files: its cursor, in one width per feed kind, so
    that the names sort in time order: a day `20240110`, a timestamp `20240110T120000500000Z`
    (microseconds always: in the cursor's own form, `T120000Z` sorted above the later
    `T120000500Z`)."""
    from pipelines.ingest.odata import parse_cursor

    if extract.feed.kind != "delta" or extract.cursor is None:
        return re.sub(r"[^0-9A-Za-z]", "", str(extract.cursor))
    return stamp(parse_cursor(extract.cursor).floor("us").to_pydatetime())


def delivery_order(name: str) -> tuple[str, str, str]:
    """A sort key of OData delivery names in time order, for names written before the tags had
    a fixed width too (`T120000Z`, `T120000500Z`): day, time, fraction padded to microseconds."""
    match = re.search(rf"__{ODATA_TAG}-(\d{{8}})(?:T(\d{{6}})(\d*)Z)?", name)
    if match is None:
        return "", "", ""
    return match[1], match[2] or "", (match[3] or "").ljust(6, "0")


def headers_before(extract: DeltaExtract, first_day: date) -> int:
    """The extract's header rows dated before `first_day`, the first partition: no partition
    holds them, so no landing file is written for them (an old order changed today)."""
    if extract.empty or extract.header_table is None:
        return 0
    spec = get_spec(extract.header_table)
    if not spec.is_partitioned:
        return 0
    headers = extract.tables[extract.header_table]
    return int((headers[spec.partition_column].dt.date < first_day).sum())


def _extract_files(
    extract: DeltaExtract, first_day: date | None
) -> Iterator[tuple[TableSpec, date | None, pd.DataFrame, pd.DataFrame | None]]:
    """Each file an extract touches: (spec, day, its new rows, the header rows whose old rows
    they replace, or None when the new rows are the file's whole content). Days before
    `first_day` are left out (`headers_before`)."""
    header_spec = get_spec(str(extract.header_table))
    headers = extract.tables[str(extract.header_table)]
    for table, rows in extract.tables.items():
        spec = get_spec(table)
        if not spec.is_partitioned:
            yield spec, None, rows, None if extract.complete else headers
            continue
        row_days = rows[spec.partition_column].dt.date
        header_days = None if extract.complete else headers[header_spec.partition_column].dt.date
        days = extract.days if header_days is None else sorted(header_days.unique())
        for day in days:
            if first_day is not None and day < first_day:
                continue
            replaced = None if header_days is None else headers[header_days == day]
            yield spec, day, rows[row_days == day], replaced


def held_snapshot(
    store: LandingStore, extract: DeltaExtract, open_warehouse: Callable[[], Warehouse]
) -> str | None:
    """The delivery that already holds the day of a dated snapshot (stock): the current file,
    one waiting in incoming/, or one the manifest says was received (`received_delivery`: its
    file archived or moved away by hand since); None when there is none, or the extract is not
    one. The API serves only the current stock, so a later reading must not replace the day's
    snapshot. `open_warehouse` is called only when no file holds the day."""
    if extract.feed.kind != "snapshot" or not extract.days:
        return None
    [day] = extract.days
    spec = get_spec(str(extract.header_table))
    canonical = landing_file_name(spec, day)
    if store.exists(CURRENT, canonical):
        return canonical
    for entry in store.list(INCOMING):
        try:
            if parse_landing_name(entry.name).canonical == canonical:
                return f"{INCOMING}/{entry.name}"
        except LandingNameError:
            continue
    warehouse = open_warehouse()
    with warehouse.transaction() as cur:
        return received_delivery(warehouse, cur, spec.name, canonical)


def write_delta_files(
    store: LandingStore, extract: DeltaExtract, first_day: date | None = None
) -> list[str]:
    """Write the extract as complete landing files into incoming/, with `.done` markers, for
    the days from `first_day` (the first partition) on.

    A landing file replaces its whole table-day, so each file is the current file of that day
    (or the newest pending one) with the changed rows merged in, or, for a complete extract,
    exactly its rows. Files whose content would not change are not written. Returns the names
    written.
    """
    if extract.empty or extract.header_table is None:
        return []
    by = list(get_spec(extract.header_table).key)
    tag = delivery_tag(extract)
    written = []
    for spec, day, new, replaced in _extract_files(extract, first_day):
        canonical = landing_file_name(spec, day)
        base_at = _pending_base(store, canonical)
        if base_at is None:
            base = new.iloc[:0]
        else:
            with store.local_file(*base_at) as path:
                base = read_rows(path, spec)
        before = to_landing_csv(base.sort_values(list(spec.key), ignore_index=True), spec)
        if replaced is None:
            rows = new.sort_values(list(spec.key), kind="stable", ignore_index=True)
        else:
            rows = merge_rows(spec, base, new, by, replaced)
        data = to_landing_csv(rows, spec)
        if base_at is not None and data == before:
            continue
        name = f"{canonical[:-4]}__{ODATA_TAG}-{tag}.csv"
        store.write(INCOMING, name, data)
        store.write(INCOMING, name + MARKER_SUFFIX, b"")
        written.append(name)
    return written


__all__ = [
    "ARCHIVE",
    "CURRENT",
    "DELTA_FEEDS",
    "INCOMING",
    "MANIFEST_COLUMNS",
    "MANIFEST_TABLE",
    "MARKER_SUFFIX",
    "ODATA_WATERMARKS",
    "READ_FROM_START",
    "REJECTED",
    "STAGING",
    "STALE_AFTER",
    "Decision",
    "DeltaExtract",
    "DeltaFeed",
    "LandingCursor",
    "LandingEntry",
    "LandingName",
    "LandingNameError",
    "LandingStore",
    "FsspecLandingStore",
    "LocalLandingStore",
    "ODataCursor",
    "RunPlan",
    "TickPlan",
    "Watermark",
    "WatermarkError",
    "archive_name",
    "catch_up",
    "commit_tick",
    "current_extracts",
    "delivery_order",
    "delivery_tag",
    "extract_delta",
    "extract_feed",
    "extract_postings",
    "extract_snapshot",
    "extraction_date",
    "held_snapshot",
    "file_checksum",
    "landing_file_name",
    "landing_store",
    "local_files",
    "merge_rows",
    "next_start",
    "oldest_extracts_first",
    "orphan_markers",
    "parse_landing_name",
    "plan_runs",
    "plan_tick",
    "posting_window",
    "headers_before",
    "read_watermark",
    "received_run_keys",
    "ready_files",
    "received_delivery",
    "reject_older_extracts",
    "split_available",
    "split_by_day",
    "to_landing_csv",
    "watermark_file",
    "write_delta_files",
    "write_watermark",
]
