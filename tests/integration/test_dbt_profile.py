"""dbt must open the same DuckDB file as the Python side, from the same settings."""

from __future__ import annotations

import os
import subprocess

from pipelines.warehouse.assets import dbt_project
from resources.paths import DBT_EXECUTABLE


def _dbt_debug(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DBT_EXECUTABLE, "debug", "--target", "duckdb", "--profiles-dir", "."],
        cwd=dbt_project.project_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_dbt_keeps_the_warehouse_in_scp_local_dir_when_no_path_is_set(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SCP_DUCKDB_PATH"}
    env["SCP_LOCAL_DIR"] = str(tmp_path)
    result = _dbt_debug(env)
    assert result.returncode == 0, result.stdout[-2000:]
    assert (tmp_path / "warehouse.duckdb").exists()


def test_scp_duckdb_path_wins_over_scp_local_dir(tmp_path):
    env = {**os.environ, "SCP_LOCAL_DIR": str(tmp_path / "local")}
    env["SCP_DUCKDB_PATH"] = str(tmp_path / "chosen.duckdb")
    result = _dbt_debug(env)
    assert result.returncode == 0, result.stdout[-2000:]
    assert (tmp_path / "chosen.duckdb").exists()
    assert not (tmp_path / "local").exists()
