"""Warehouse benchmark: does one day's incremental dbt run cost the same with 1 and 3 years of
history? (DESIGN principle 10: cost follows the new data.)

    .venv/bin/python benchmarks/warehouse/run.py                      # DuckDB (~10 min, 2 cores)
    .venv/bin/python benchmarks/warehouse/run.py --engines duckdb,postgres  # ~20 min
    .venv/bin/python benchmarks/warehouse/run.py --materials 150 --plants 3 \
        --out benchmarks/warehouse/results_large.json

One demo generation of 3 years (default 30 materials x 2 plants) feeds two warehouses per
engine: the last 365 days of transactions ("1y") and all 1095 days ("3y"), the same master
data, the last day held back. Each warehouse gets a first full build, then the held-back day
is loaded into raw and the daily run Dagster's partitioned asset issues is timed, `--repeats`
times, alternating 1y and 3y so concurrent load on the machine hits both alike:

    dbt build --indirect-selection buildable --select tag:partitioned \
        --vars '{min_date: <day>, max_date: <day + 1>}' --no-partial-parse

(`--no-partial-parse`: every Dagster partition run passes new vars, which makes dbt parse the
project again.) Then the whole project is rebuilt from scratch (`dbt build --full-refresh`),
alternating again, as the reference a non-incremental daily run would cost. Reported: wall
time, dbt's own elapsed time after parsing, and the summed execution time of models and of
tests, with the 3y / 1y ratios (goal for the daily run: <= 1.3).
Writes benchmarks/warehouse/results.json; RESULTS.md records and discusses the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent / "results.json"
sys.path.insert(0, str(REPO))

from pipelines.demo.generator import DemoConfig, generate  # noqa: E402
from pipelines.ingest.load import files_for_window, load_table  # noqa: E402
from pipelines.ingest.specs import TABLE_SPECS  # noqa: E402
from resources.paths import DBT_EXECUTABLE, DBT_PROJECT_DIR  # noqa: E402
from resources.warehouse import Warehouse, WarehouseSettings  # noqa: E402

GOAL_RATIO = 1.3
FACTS = ("fct_sales_order_lines", "fct_goods_movements", "fct_inventory_daily", "fct_demand_daily")


@dataclass
class Target:
    """One warehouse: an engine, a history length and how dbt reaches it."""

    engine: str
    history_days: int
    settings: WarehouseSettings
    env: dict[str, str]

    @property
    def label(self) -> str:
        return f"{self.engine}/{self.history_days // 365}y"

    def dbt(self, *args: str) -> dict:
        """Run dbt; returns wall time, dbt's elapsed time and per-kind execution times."""
        started = time.perf_counter()
        done = subprocess.run(
            [DBT_EXECUTABLE, *args, "--profiles-dir", ".", "--target", self.engine],
            cwd=DBT_PROJECT_DIR,
            env=self.env,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"{self.label}: dbt {' '.join(args)} failed:\n{done.stdout[-4000:]}")
        results = json.loads((Path(self.env["DBT_TARGET_PATH"]) / "run_results.json").read_text())
        by_kind: dict[str, float] = {}
        nodes = []
        for entry in results["results"]:
            kind = entry["unique_id"].split(".")[0]
            by_kind[kind] = by_kind.get(kind, 0.0) + entry["execution_time"]
            nodes.append((entry["execution_time"], entry["unique_id"]))
        return {
            "wall_s": round(wall, 2),
            "dbt_elapsed_s": round(results["elapsed_time"], 2),
            "models_s": round(by_kind.get("model", 0.0), 2),
            "tests_s": round(by_kind.get("test", 0.0), 2),
            "nodes": len(nodes),
            "slowest": [(round(t, 2), uid) for t, uid in sorted(nodes, reverse=True)[:6]],
        }


def load_raw(warehouse: Warehouse, landing: Path, window: tuple[date, date]) -> float:
    """Master data and the window's transactions into raw.*; returns seconds."""
    started = time.perf_counter()
    for spec in TABLE_SPECS.values():
        part = window if spec.is_partitioned else None
        load_table(warehouse, spec, files_for_window(landing, spec, part), part, "benchmark")
    return time.perf_counter() - started


def load_day(warehouse: Warehouse, landing: Path, day: date) -> float:
    """One new day of transactions, as the daily raw assets load it."""
    started = time.perf_counter()
    window = (day, day + timedelta(days=1))
    for spec in TABLE_SPECS.values():
        if spec.is_partitioned:
            load_table(warehouse, spec, files_for_window(landing, spec, window), window, "bench")
    return time.perf_counter() - started


def make_target(engine: str, history_days: int, work: Path) -> Target:
    name = f"{history_days // 365}y"
    env = {
        **os.environ,
        "DBT_TARGET_PATH": str(work / f"target_{engine}_{name}"),
        "DBT_LOG_PATH": str(work / "logs"),
    }
    if engine == "duckdb":
        settings = WarehouseSettings(kind="duckdb", duckdb_path=str(work / f"{name}.duckdb"))
        env["SCP_DUCKDB_PATH"] = settings.duckdb_path
    else:
        import psycopg

        database = f"scp_bench_{name}_{uuid.uuid4().hex[:6]}"
        with psycopg.connect(host="127.0.0.1", user="postgres", autocommit=True) as con:
            con.execute(f"create database {database}")
        settings = WarehouseSettings(kind="postgres", pg_database=database)
        env["SCP_PG_DATABASE"] = database
    return Target(engine, history_days, settings, env)


def drop_target(target: Target) -> None:
    if target.engine == "postgres":
        import psycopg

        with psycopg.connect(host="127.0.0.1", user="postgres", autocommit=True) as con:
            con.execute(f"drop database if exists {target.settings.pg_database} with (force)")


def sizes(warehouse: Warehouse) -> dict[str, int]:
    tables = [f"raw.{t.lower()}" for t in ("VBAP", "MSEG", "MARD")] + [f"marts.{f}" for f in FACTS]
    return {t: int(warehouse.scalar(f"select count(*) from {t}")) for t in tables}


def ratio(long: list[dict], short: list[dict], key: str) -> float:
    return round(
        statistics.median(r[key] for r in long) / statistics.median(r[key] for r in short), 3
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--materials", type=int, default=30)
    parser.add_argument("--plants", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="timed daily runs per warehouse")
    parser.add_argument("--full-repeats", type=int, default=1, help="timed full rebuilds")
    parser.add_argument("--engines", default="duckdb", help="comma-separated: duckdb,postgres")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    config = DemoConfig(
        materials=args.materials,
        plants=args.plants,
        customers=30 * args.plants,
        vendors=8,
        days=3 * 365,
        start=date(2023, 1, 2),
        seed=42,
    )
    last_day = config.start + timedelta(days=config.days - 1)
    engines = args.engines.split(",")
    report: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "config": {**vars(config), "start": config.start.isoformat()},
        "benchmarked_day": last_day.isoformat(),
        "engines": {},
    }
    with tempfile.TemporaryDirectory(prefix="scp_bench_") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        generated = generate(config, work / "landing")
        report["generate_s"] = round(time.perf_counter() - started, 1)
        report["generated_rows"] = sum(generated.values())
        print(f"generated {report['generated_rows']:,} rows in {report['generate_s']} s")
        for engine in engines:
            targets = [make_target(engine, days, work) for days in (365, 3 * 365)]
            try:
                report["engines"][engine] = run_engine(targets, work / "landing", last_day, args)
            finally:
                for target in targets:
                    drop_target(target)
    report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"wrote {args.out}")
    return 0


def run_engine(targets: list[Target], landing: Path, last_day: date, args) -> dict:
    out: dict = {}
    for target in targets:
        warehouse = target.settings.open()
        first_day = last_day - timedelta(days=target.history_days - 1)
        load_s = load_raw(warehouse, landing, (first_day, last_day))
        full = target.dbt("build", "--full-refresh")
        day_load_s = load_day(warehouse, landing, last_day)
        out[target.label] = {
            "history": f"{first_day}..{last_day - timedelta(days=1)} + {last_day}",
            "raw_load_s": round(load_s, 1),
            "first_build": full,
            "day_raw_load_s": round(day_load_s, 2),
            "daily_runs": [],
            "full_refresh_builds": [],
        }
        print(f"{target.label}: raw {load_s:.0f} s, full build {full['wall_s']} s")
    day_vars = json.dumps(
        {"min_date": last_day.isoformat(), "max_date": (last_day + timedelta(days=1)).isoformat()}
    )
    for repeat in range(args.repeats):
        for target in targets:
            run = target.dbt(
                "build",
                "--indirect-selection",
                "buildable",
                "--select",
                "tag:partitioned",
                "--vars",
                day_vars,
                "--no-partial-parse",
            )
            out[target.label]["daily_runs"].append(run)
            print(
                f"  run {repeat + 1} {target.label}: {run['wall_s']} s wall, "
                f"{run['dbt_elapsed_s']} s dbt, models {run['models_s']} s, "
                f"tests {run['tests_s']} s"
            )
    for repeat in range(args.full_repeats):
        for target in targets:
            run = target.dbt("build", "--full-refresh")
            out[target.label]["full_refresh_builds"].append(run)
            print(
                f"  full refresh {repeat + 1} {target.label}: {run['wall_s']} s wall, "
                f"{run['dbt_elapsed_s']} s dbt"
            )
    for target in targets:
        out[target.label]["rows"] = sizes(target.settings.open())
    keys = ("wall_s", "dbt_elapsed_s", "models_s", "tests_s")
    for runs in ("daily_runs", "full_refresh_builds"):
        short, long = (out[t.label][runs] for t in targets)
        if short and long:
            out[f"{runs}_ratio_3y_over_1y"] = {key: ratio(long, short, key) for key in keys}
            print(f"  {runs} ratios 3y/1y: {out[f'{runs}_ratio_3y_over_1y']}")
    out["goal_ratio_daily"] = GOAL_RATIO
    return out


if __name__ == "__main__":
    sys.exit(main())
