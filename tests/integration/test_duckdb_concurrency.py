"""Two runs started together on the embedded DuckDB warehouse both succeed.

A DuckDB file allows one writing process. Every warehouse asset claims a slot of the Dagster
pool `warehouse`, which the local instance (`make demo` / `make ui`) limits to one, so steps
of concurrent runs (and parallel steps of one multiprocess run) take turns. The pool is not
airtight on SQLite storage: when both runs claim at the same moment, both may get through
(seen in about 1 of 5 runs of this test on a loaded machine). The writer that comes second
then waits for the file (`DuckDBWarehouse.connect`) instead of failing with a lock error.
"""

from __future__ import annotations

import multiprocessing
import time
from multiprocessing.synchronize import Barrier
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml
from dagster._core.instance import InstanceRef

from pipelines.demo.generator import DemoConfig, generate
from pipelines.ingest.assets import raw_asset_key, raw_assets
from pipelines.materialize import LOCAL_INSTANCE_YAML
from resources.dagster_resources import WAREHOUSE_POOL, landing_from_env, warehouse_from_env
from resources.warehouse import DuckDBWarehouse, WarehouseSettings

CONFIG = DemoConfig(materials=6, plants=2, customers=12, vendors=3, days=7, seed=3)
RUNS = (("T001W", "MARA"), ("MBEW", "KNA1"))  # two steps each: parallel within a run too


def raw_tables_job(*tables: str) -> dg.JobDefinition:
    """Load some raw master tables with the project's assets and resources (multiprocess)."""
    job = dg.define_asset_job(
        f"load_{'_'.join(tables).lower()}",
        selection=[raw_asset_key(table) for table in tables],
        executor_def=dg.multiprocess_executor,
    )
    definitions = dg.Definitions(
        assets=raw_assets,
        jobs=[job],
        resources={"warehouse": warehouse_from_env(), "landing": landing_from_env()},
    )
    return definitions.resolve_job_def(job.name)


def run_job(
    index: int,
    instance_ref: InstanceRef,
    start: Barrier,
    finished: multiprocessing.Queue,
) -> None:
    """One run of `RUNS[index]` in its own process, started together with the others."""
    job = dg.build_reconstructable_job(
        __name__,
        "raw_tables_job",
        reconstructable_args=RUNS[index],
        reconstructor_working_directory=str(Path(__file__).parent),
    )
    with dg.DagsterInstance.from_ref(instance_ref) as instance:
        start.wait()
        with dg.execute_job(job, instance) as result:
            finished.put((index, result.run_id, result.success))


def failures(instance: dg.DagsterInstance, run_ids: list[str]) -> list[str]:
    """What went wrong in the runs, for the assertion message."""
    return [
        f"{record.step_key}: {record.dagster_event.event_specific_data}"
        for run_id in run_ids
        for record in instance.all_logs(run_id)
        if record.dagster_event and record.dagster_event.is_failure
    ]


def test_local_instance_limits_every_pool_to_one() -> None:
    config = yaml.safe_load(LOCAL_INSTANCE_YAML)
    assert config["concurrency"]["pools"]["default_limit"] == 1
    assert {asset.op.pool for asset in raw_assets} == {WAREHOUSE_POOL}


def test_two_runs_started_together_both_load_their_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing, database = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    generated = generate(CONFIG, landing)
    monkeypatch.setenv("SCP_WAREHOUSE", "duckdb")
    monkeypatch.setenv("SCP_DUCKDB_PATH", str(database))
    monkeypatch.setenv("SCP_LANDING_DIR", str(landing))
    overrides = yaml.safe_load(LOCAL_INSTANCE_YAML)
    # Two processes, as two launched runs are: runs started from threads of one process can
    # deadlock when the multiprocess executor forks while another thread holds a logging lock.
    spawn = multiprocessing.get_context("spawn")
    start, finished = spawn.Barrier(len(RUNS)), spawn.Queue()

    with dg.instance_for_test(overrides=overrides) as instance:
        processes = [
            spawn.Process(target=run_job, args=(i, instance.get_ref(), start, finished))
            for i in range(len(RUNS))
        ]
        for process in processes:
            process.start()
        for process in processes:
            process.join(timeout=600)
        hung = [p.pid for p in processes if p.is_alive()]
        for process in processes:
            process.kill()
        assert not hung, f"runs still going after 600 s in processes {hung}"
        outcomes = [finished.get(timeout=5) for _ in RUNS]
        assert sorted(index for index, _, _ in outcomes) == [0, 1]
        run_ids = [run_id for _, run_id, _ in outcomes]
        assert all(success for _, _, success in outcomes), failures(instance, run_ids)

    warehouse = WarehouseSettings(kind="duckdb", duckdb_path=str(database)).open()
    for table in (table for run_tables in RUNS for table in run_tables):
        loaded = warehouse.scalar(f"select count(*) from raw.{table.lower()}")
        assert loaded == generated[table] > 0, table
    manifest = warehouse.read_sql("select run_id from raw.landing_manifest")
    assert set(manifest["run_id"]) == set(run_ids)


def hold_file(path: str, opened: Barrier, seconds: float) -> None:
    """Another process writing to the file: it holds DuckDB's lock for `seconds`."""
    import duckdb

    con = duckdb.connect(path)
    opened.wait()
    time.sleep(seconds)
    con.close()


def test_a_writer_waits_for_the_process_holding_the_file(tmp_path: Path) -> None:
    """A finished step's process can still hold the file when the next step starts."""
    path = str(tmp_path / "warehouse.duckdb")
    spawn = multiprocessing.get_context("spawn")
    opened = spawn.Barrier(2)
    holder = spawn.Process(target=hold_file, args=(path, opened, 2.0))
    holder.start()
    try:
        opened.wait(timeout=60)
        with pytest.raises(duckdb.IOException, match="lock"):
            DuckDBWarehouse(path, lock_wait_seconds=0).connect()
        waited_from = time.monotonic()
        DuckDBWarehouse(path).connect().close()
        assert time.monotonic() - waited_from > 0.5  # it waited for the holder, then opened
    finally:
        holder.join(timeout=60)
