"""Benchmark: parse + validate + load of an MSEG extract vs each engine's own bulk load.

Ours: `pipelines.ingest.load.load_table` (streaming SAP reader: `;`, decimal comma, trailing
minus, YYYYMMDD, BOM, ALPHA keys; quarantine; one transaction) followed by
`pipelines.ingest.quality.run_table_quality` (the GX suite on the loaded window, streamed in
chunks). Baseline, same run, same rows: DuckDB `read_csv` into a table, and Postgres `COPY`
from the client, both of an equivalent clean CSV (ISO dates, point decimals, leading minus,
keys already normalised), i.e. data that needs no parsing and no checks. For reference, DuckDB
also parses the SAP file itself (`read_csv` as text, the SAP conversions in SQL, no checks),
with and without line numbers: what an in-engine load would start from.

Every step runs in its own child process, which reports its wall time and its own peak RSS
(VmHWM), so memory can be compared between sizes: with the same `chunk_rows`, ours
should stay flat from 1M to 5M rows. Steps run `--repeat` times (default 3), taking turns so a
drift of the machine hits all alike, and the median run of each is reported; before every step
Postgres checkpoints and the OS writes back dirty pages, so no step pays for the last one's
writes. Goal: ours <= 2x the bulk load.

Usage:
    .venv/bin/python benchmarks/ingest/run.py [--rows 1000000 5000000] [--engines duckdb
        postgres] [--repeat 3] [--workdir /tmp/scp_ingest_bench] [--keep-files]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run as a script from any directory

from pipelines.demo.se16n import format_column  # noqa: E402
from pipelines.ingest.specs import MOVEMENT_TYPES, TABLE_SPECS, Column  # noqa: E402

OUT = Path(__file__).resolve().parent
MSEG = TABLE_SPECS["MSEG"]
START = date(2024, 1, 1)
DAYS = 366
WINDOW = (START, START + timedelta(days=DAYS))
PLANTS = ("1000", "1010", "1020", "1030")
BLOCK_ROWS = 250_000
LOAD_CHUNK_ROWS = 100_000
CHECK_CHUNK_ROWS = 500_000
#: Shares of MOVEMENT_TYPES (101 102 261 262 601 602 551 552 561): mostly issues to customers.
_MOVEMENT_SHARES = np.array([0.18, 0.005, 0.12, 0.005, 0.6, 0.005, 0.03, 0.005, 0.05])
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
_SQL_TYPES = {
    "text": "VARCHAR",
    "alpha": "VARCHAR",
    "decimal": "DOUBLE PRECISION",
    "integer": "BIGINT",
    "date": "DATE",
}


# -- data ---------------------------------------------------------------------------------------


def _block(rng: np.random.Generator, first: int, n: int, total: int) -> dict[str, np.ndarray]:
    """MSEG-like rows `first`..`first + n` of `total`: three items per document, postings
    spread evenly over a year in file order."""
    row = np.arange(first, first + n)
    movement = rng.choice(np.array(MOVEMENT_TYPES), n, p=_MOVEMENT_SHARES)
    receipt = np.isin(movement, ("101", "262", "602", "552"))
    quantity = np.round(rng.gamma(2.0, 8.0, n), 3) * np.where(receipt, 1, -1)
    price = rng.uniform(0.5, 40.0, n)
    material = rng.integers(1, 5_000, n)
    gr = movement == "101"
    gi = movement == "601"
    return {
        "MBLNR": 4_900_000_000 + row // 3,
        "MJAHR": np.full(n, 2024),
        "ZEILE": row % 3 + 1,
        "BWART": movement.astype(object),
        "MATNR": 100_000 + material,
        "WERKS": np.array(PLANTS, dtype=object)[rng.integers(0, len(PLANTS), n)],
        "LGORT": np.full(n, "0001", dtype=object),
        "MENGE": quantity,
        "MEINS": np.where(material % 7 == 0, "KG", "ST").astype(object),
        "SHKZG": np.where(receipt, "S", "H").astype(object),
        "DMBTR": np.round(quantity * price, 2),
        "WAERS": np.full(n, "EUR", dtype=object),
        "LIFNR": np.where(gr, 200_000 + material % 40, -1),
        "KUNNR": np.where(gi, 100_000 + material % 900, -1),
        "EBELN": np.where(gr, 4_500_000_000 + row // 7, -1),
        "KDAUF": np.where(gi, 10_000_000 + row // 5, -1),
        "BUDAT_MKPF": (row * DAYS) // total,
    }


def _clean_column(spec_column: Column, values: np.ndarray) -> pa.Array:
    """The same value as a bulk loader wants it: ISO date, point decimal, ALPHA applied."""
    if spec_column.kind == "date":
        return pa.array(np.datetime64(START, "D") + values.astype(np.int64))
    if spec_column.kind == "decimal":
        return pa.array(values, pa.float64())
    if spec_column.kind == "alpha":
        length = spec_column.alpha_length or 10
        text = np.strings.zfill(np.maximum(values, 0).astype(np.dtypes.StringDType()), length)
        return pa.array(np.where(values < 0, None, text.astype(object)), pa.string())
    return pa.array(values)


def write_files(rows: int, workdir: Path, seed: int = 11) -> tuple[Path, Path, Path]:
    """The SAP extract (demo formatting), the clean CSV and a T001W with the plants."""
    sap = workdir / f"MSEG_{rows}.csv"
    clean = workdir / f"mseg_clean_{rows}.csv"
    plants = workdir / "T001W.csv"
    plants.write_bytes(
        (
            "\ufeffWERKS;NAME1;ORT01;LAND1;LATITUDE;LONGITUDE\r\n"
            + "".join(f"{w};Plant {w};City;DE;50,000000;8,000000\r\n" for w in PLANTS)
        ).encode("utf-8")
    )
    if sap.exists() and clean.exists():
        return sap, clean, plants
    rng = np.random.default_rng(seed)
    names = [c.sql_name for c in MSEG.columns]
    writer = None
    with sap.open("wb") as out_sap, clean.open("wb") as out_clean:
        out_sap.write(("\ufeff" + ";".join(MSEG.column_names) + "\r\n").encode("utf-8"))
        for first in range(0, rows, BLOCK_ROWS):
            frame = _block(rng, first, min(BLOCK_ROWS, rows - first), rows)
            cells = [format_column(c, frame[c.name], START) for c in MSEG.columns]
            lines = [";".join(cell) for cell in zip(*cells, strict=True)]
            out_sap.write(("\r\n".join(lines) + "\r\n").encode("utf-8"))
            batch = pa.RecordBatch.from_arrays(
                [_clean_column(c, frame[c.name]) for c in MSEG.columns], names=names
            )
            if writer is None:
                writer = pacsv.CSVWriter(out_clean, batch.schema)
            writer.write_batch(batch)
        if writer is not None:
            writer.close()
    return sap, clean, plants


# -- steps (each in a child process) ------------------------------------------------------------


def _peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM). Not `ru_maxrss`: Linux carries that over from the
    parent through fork and exec, so a child would report at least the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _warehouse(engine: str, target: str, duckdb_memory_limit: str | None = None):
    """The warehouse a step loads into; a DuckDB memory limit caps its buffer pool
    (`SCP_DUCKDB_MEMORY_LIMIT`), to tell its memory from the reader's."""
    from resources.warehouse import WarehouseSettings

    if engine == "duckdb":
        settings = WarehouseSettings(
            kind="duckdb", duckdb_path=target, duckdb_memory_limit=duckdb_memory_limit
        )
        return settings.open()
    return WarehouseSettings(kind="postgres", pg_database=target).open()


def step_pipeline(
    engine: str, target: str, sap: Path, plants: Path, duckdb_memory_limit: str | None
) -> dict:
    from pipelines.ingest.load import load_table

    warehouse = _warehouse(engine, target, duckdb_memory_limit)
    load_table(warehouse, TABLE_SPECS["T001W"], [plants], None, "bench")
    rss_before = _peak_rss_mb()
    began = time.perf_counter()
    report = load_table(warehouse, MSEG, [sap], WINDOW, "bench", chunk_rows=LOAD_CHUNK_ROWS)
    loaded = time.perf_counter()
    rss_load = _peak_rss_mb()
    import great_expectations  # noqa: F401  (timed apart: paid once per process)

    imported = time.perf_counter()
    from pipelines.ingest.quality import QualityRules, run_table_quality

    quality = run_table_quality(
        warehouse, MSEG, WINDOW, "bench", QualityRules(), chunk_rows=CHECK_CHUNK_ROWS
    )
    done = time.perf_counter()
    return {
        "rows_loaded": report.rows_loaded,
        "rows_quarantined_by_reader": report.rows_quarantined,
        "rows_checked": quality.rows_checked,
        "rows_rejected_by_suite": quality.rows_rejected,
        "check_passed": quality.passed,
        "check_chunks": quality.chunks,
        "parse_load_s": loaded - began,
        "gx_import_s": imported - loaded,
        "validate_s": done - imported,
        "total_s": done - began,
        "peak_rss_mb_before_load": rss_before,
        "peak_rss_mb_after_load": rss_load,
        "peak_rss_mb": _peak_rss_mb(),
    }


def step_bulk(engine: str, target: str, clean: Path) -> dict:
    columns = {c.sql_name: _SQL_TYPES[c.kind] for c in MSEG.columns}
    ddl = "create table mseg_bulk (" + ", ".join(f"{n} {t}" for n, t in columns.items()) + ")"
    if engine == "duckdb":
        import duckdb

        con = duckdb.connect(target)
        con.execute(ddl)
        began = time.perf_counter()
        types = ", ".join(f"'{n}': '{t.replace(' PRECISION', '')}'" for n, t in columns.items())
        con.execute(
            f"insert into mseg_bulk select * from read_csv('{clean}', header = true, "
            f"columns = {{{types}}})"
        )
        rows = con.execute("select count(*) from mseg_bulk").fetchone()[0]
        elapsed = time.perf_counter() - began
        con.close()
    else:
        import psycopg

        with psycopg.connect(**PG, dbname=target) as con:
            con.execute(ddl)
            con.commit()
            began = time.perf_counter()
            with con.cursor() as cur:
                with (
                    cur.copy("copy mseg_bulk from stdin with (format csv, header true)") as copy,
                    clean.open("rb") as handle,
                ):
                    while block := handle.read(1 << 20):
                        copy.write(block)
                con.commit()
                rows = cur.execute("select count(*) from mseg_bulk").fetchone()[0]
            elapsed = time.perf_counter() - began
    return {"rows_loaded": rows, "total_s": elapsed, "peak_rss_mb": _peak_rss_mb()}


def _sap_sql(column: Column) -> str:
    """A column's SAP text converted in DuckDB SQL, with this extract's format (thousands '.',
    decimal ',', trailing minus, YYYYMMDD with 00000000 as null, ALPHA keys). Only for the
    in-engine reference: it reports no rejects."""
    name = f'"{column.name}"'
    if column.kind == "decimal":
        number = f"replace(replace({name}, '.', ''), ',', '.')"
        return (
            f"case when {name} like '%-' then -try_cast(rtrim({number}, '-') as double) "
            f"else try_cast({number} as double) end"
        )
    if column.kind == "integer":
        return f"try_cast({name} as bigint)"
    if column.kind == "date":
        return (
            f"case when {name} = '00000000' then null else try_strptime({name}, '%Y%m%d')::date end"
        )
    if column.kind == "alpha":
        width = column.alpha_length or 10
        return (
            f"case when regexp_full_match({name}, '[0-9]+') "
            f"then lpad(ltrim({name}, '0'), {width}, '0') else upper(trim({name})) end"
        )
    return name


def step_in_engine(target: str, sap: Path, with_lines: bool) -> dict:
    """The SAP extract parsed by DuckDB itself: `read_csv` as text, SAP conversions in SQL.
    Physical lines (which the quarantine needs) only as `row_number()` in file order, which
    holds for this file because no record spans lines."""
    import duckdb

    columns = {c.sql_name: _SQL_TYPES[c.kind] for c in MSEG.columns} | {"_source_line": "BIGINT"}
    con = duckdb.connect(target)
    con.execute("create table mseg_sap (" + ", ".join(f"{n} {t}" for n, t in columns.items()) + ")")
    if not with_lines:
        con.execute("set preserve_insertion_order = false")
    line = "row_number() over () + 1" if with_lines else "null"
    converted = ", ".join(_sap_sql(c) for c in MSEG.columns)
    began = time.perf_counter()
    con.execute(
        f"insert into mseg_sap select {converted}, {line} from read_csv('{sap}', delim = ';', "
        "header = true, all_varchar = true)"
    )
    rows = con.execute("select count(*) from mseg_sap").fetchone()[0]
    elapsed = time.perf_counter() - began
    con.close()
    return {"rows_loaded": rows, "total_s": elapsed, "peak_rss_mb": _peak_rss_mb()}


def child(args: argparse.Namespace) -> None:
    if args.step == "pipeline":
        result = step_pipeline(
            args.engine, args.target, Path(args.sap), Path(args.plants), args.duckdb_memory_limit
        )
    elif args.step in ("in_engine", "in_engine_lines"):
        result = step_in_engine(args.target, Path(args.sap), args.step == "in_engine_lines")
    else:
        result = step_bulk(args.engine, args.target, Path(args.clean))
    print("RESULT " + json.dumps(result))


# -- orchestration ------------------------------------------------------------------------------


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(**PG, dbname="postgres", autocommit=True) as con:
        con.execute(sql)


def run_step(
    step: str,
    engine: str,
    files: tuple[Path, Path, Path],
    workdir: Path,
    duckdb_memory_limit: str | None = None,
) -> dict:
    """Run one step in a fresh child process against a fresh database."""
    sap, clean, plants = files
    if engine == "duckdb":
        target = str(workdir / f"{step}_{uuid.uuid4().hex[:8]}.duckdb")
    else:
        target = f"scp_bench_{uuid.uuid4().hex[:10]}"
        _pg_admin(f"create database {target}")
    command = [
        sys.executable,
        __file__,
        "--child",
        step,
        "--engine",
        engine,
        "--target",
        target,
        "--sap",
        str(sap),
        "--clean",
        str(clean),
        "--plants",
        str(plants),
        *(["--duckdb-memory-limit", duckdb_memory_limit] if duckdb_memory_limit else []),
    ]
    # Start each step with nothing of the last one still being written: its dirty pages (the
    # DuckDB file, Postgres' WAL) would otherwise be flushed during this step.
    if engine == "postgres":
        _pg_admin("checkpoint")
    os.sync()
    load_before = os.getloadavg()[0]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    finally:
        if engine == "duckdb":
            for path in workdir.glob(Path(target).name + "*"):
                path.unlink()
        else:
            _pg_admin(f"drop database if exists {target} with (force)")
    if done.returncode != 0:
        raise RuntimeError(f"{step}/{engine} failed:\n{done.stderr[-4000:]}")
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    result["load_average_1m_before"] = round(load_before, 2)
    return result


def median_run(runs: list[dict]) -> dict:
    """The run with the median total time, with every run's total beside it."""
    median = sorted(runs, key=lambda run: run["total_s"])[(len(runs) - 1) // 2]
    return median | {"total_s_runs": [round(run["total_s"], 2) for run in runs]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--engines", nargs="+", default=["duckdb", "postgres"])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/scp_ingest_bench"))
    parser.add_argument("--keep-files", action="store_true")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per step; the median run is reported"
    )
    parser.add_argument(
        "--duckdb-memory-limit",
        default="1GB",
        help="also run ours on DuckDB with this memory_limit ('' to skip)",
    )
    parser.add_argument("--child", choices=["pipeline", "bulk", "in_engine", "in_engine_lines"])
    parser.add_argument("--engine")
    parser.add_argument("--target")
    parser.add_argument("--sap")
    parser.add_argument("--clean")
    parser.add_argument("--plants")
    args = parser.parse_args()
    if args.child:
        args.step = args.child
        child(args)
        return
    for engine in args.engines:
        if engine not in ("duckdb", "postgres"):
            parser.error(f"--engines: unknown engine {engine!r} (duckdb, postgres)")
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, got {args.repeat}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    results: dict = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB",
        "python": platform.python_version(),
        "load_chunk_rows": LOAD_CHUNK_ROWS,
        "check_chunk_rows": CHECK_CHUNK_ROWS,
        "repeat": args.repeat,
        "runs": [],
    }
    for rows in args.rows:
        t = time.perf_counter()
        files = write_files(rows, args.workdir)
        generated = time.perf_counter() - t
        sizes = {"sap_file_mb": files[0].stat().st_size / 2**20}
        sizes["clean_file_mb"] = files[1].stat().st_size / 2**20
        print(f"{rows:,} rows: files written in {generated:.0f} s {sizes}", flush=True)
        for engine in args.engines:
            # (step, DuckDB memory limit): ours, the bulk load, and on DuckDB the in-engine
            # references (not ours: DuckDB parsing the SAP text itself, without checks) and ours
            # under a memory limit. Steps alternate, so a drift of the machine hits all alike.
            steps = [("pipeline", None), ("bulk", None)]
            if engine == "duckdb":
                steps += [("in_engine", None), ("in_engine_lines", None)]
                if args.duckdb_memory_limit:
                    steps.append(("pipeline", args.duckdb_memory_limit))
            samples: dict[tuple[str, str | None], list[dict]] = {step: [] for step in steps}
            for _ in range(args.repeat):
                for step, limit in steps:
                    result = run_step(step, engine, files, args.workdir, limit)
                    print(f"  {engine} {step} {limit or ''}: {result}", flush=True)
                    samples[(step, limit)].append(result)
            picked = {step: median_run(runs) for step, runs in samples.items()}
            ours, bulk = picked[("pipeline", None)], picked[("bulk", None)]
            run = {
                "rows": rows,
                "engine": engine,
                **{k: round(v, 1) for k, v in sizes.items()},
                "ours": _rounded(ours),
                "bulk": _rounded(bulk),
                "ratio_total": round(ours["total_s"] / bulk["total_s"], 2),
                "ratio_without_gx_import": round(
                    (ours["total_s"] - ours["gx_import_s"]) / bulk["total_s"], 2
                ),
                "ratio_parse_load": round(ours["parse_load_s"] / bulk["total_s"], 2),
                "ratio_validate": round(ours["validate_s"] / bulk["total_s"], 2),
            }
            for step in ("in_engine", "in_engine_lines"):
                if (step, None) in picked:
                    reference = picked[(step, None)]
                    run[f"{step}_reference"] = _rounded(reference)
                    run[f"ratio_{step}_reference"] = round(
                        reference["total_s"] / bulk["total_s"], 2
                    )
            if engine == "duckdb" and args.duckdb_memory_limit:
                limited = picked[("pipeline", args.duckdb_memory_limit)]
                run["ours_memory_limit"] = _rounded(limited | {"limit": args.duckdb_memory_limit})
            results["runs"].append(run)
        if not args.keep_files:
            for path in files[:2]:
                path.unlink()
    results["wall_s"] = round(time.perf_counter() - began, 1)
    (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    if not args.keep_files:
        shutil.rmtree(args.workdir, ignore_errors=True)


def _rounded(values: dict) -> dict:
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in values.items()}


if __name__ == "__main__":
    main()
