"""`python -m pipelines doctor` on a healthy and on a broken configuration."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from pipelines.doctor import check_dagster_storage, check_dbt_manifest, check_landing, run_checks
from pipelines.ingest.landing import landing_store
from resources.paths import PROJECT_ROOT

DOCKER_DAGSTER_YAML = PROJECT_ROOT / "docker" / "dagster.yaml"
LOCAL_DAGSTER_YAML = "storage:\n  sqlite:\n    base_dir: storage\ntelemetry:\n  enabled: false\n"


def clean_env(**overrides: str) -> dict[str, str]:
    """The process environment without any project or Dagster variable, plus `overrides`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SCP_", "DAGSTER_")) and k != "DAGSTER_HOME"
    }
    return {**env, **overrides}


def doctor(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipelines", "doctor"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def local_setup(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "landing").mkdir()
    (tmp_path / "landing" / "MARA.csv").write_text("MATNR;MTART\n1;FERT\n")
    (tmp_path / "dagster").mkdir()
    (tmp_path / "dagster" / "dagster.yaml").write_text(LOCAL_DAGSTER_YAML)
    return clean_env(
        SCP_WAREHOUSE="duckdb",
        SCP_DUCKDB_PATH=str(tmp_path / "wh" / "warehouse.duckdb"),
        SCP_LANDING_DIR=str(tmp_path / "landing"),
        DAGSTER_HOME=str(tmp_path / "dagster"),
    )


def test_healthy_local_configuration_passes(local_setup):
    result = doctor(local_setup)

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    areas = ["configuration", "warehouse", "dagster storage", "dbt manifest", "landing", "solver"]
    areas += ["definitions"]
    for area in [*areas, "forecasting"]:
        assert any(line.startswith("ok") and f"  {area}  " in line for line in lines), area
    assert "(1 extract files)" in result.stdout
    assert "will be created by the first run" in result.stdout
    assert "SQLite instance" in result.stdout
    assert "CP-SAT, routing, SCIP MIP solve" in result.stdout
    assert result.stdout.rstrip().endswith("All checks passed.")


def test_broken_configuration_fails_and_says_how_to_fix(tmp_path):
    env = clean_env(
        SCP_WAREHOUSE="oracle",
        SCP_TIMEZONE="Mars/Olympus_Mons",
        SCP_QUARANTINE_THRESHOLD="5%",
        SCP_DECIMAL_NOTATION="1234,56",
        SCP_LANDING_DIR=str(tmp_path / "no-such-landing"),
        SCP_ALERT_SMTP_HOST="mail.example.com",
        DAGSTER_HOME=str(tmp_path),
        DAGSTER_PG_HOST="127.0.0.1",
        DAGSTER_PG_PORT="1",
        DAGSTER_PG_USER="dagster",
        DAGSTER_PG_PASSWORD="s3cret-doctor-pw",
        DAGSTER_PG_DB="dagster",
    )
    result = doctor(env)

    assert result.returncode == 1
    out = result.stdout
    assert "FAIL  configuration    SCP_WAREHOUSE='oracle' is not one of duckdb, postgres" in out
    assert "fix: export SCP_WAREHOUSE=duckdb" in out
    assert "SCP_TIMEZONE='Mars/Olympus_Mons' is not an IANA time zone" in out
    assert "SCP_QUARANTINE_THRESHOLD must be a number in [0, 1], got '5%'" in out
    assert "SCP_DECIMAL_NOTATION must be one of 1.234.567,89, 1,234,567.89" in out
    assert "SCP_ALERT_SMTP_HOST is set but SCP_ALERT_SMTP_TO is empty" in out
    assert "FAIL  warehouse        not checked: SCP_WAREHOUSE is invalid" in out
    assert "cannot connect to Postgres dagster@127.0.0.1:1/dagster" in out
    assert "pg_isready -h 127.0.0.1 -p 1" in out
    assert f"DAGSTER_PG_* are set but {tmp_path}/dagster.yaml does not configure Postgres" in out
    assert f"FAIL  landing          {tmp_path}/no-such-landing does not exist" in out
    assert f"fix: mkdir -p {tmp_path}/no-such-landing" in out
    assert "s3cret-doctor-pw" not in out + result.stderr
    assert "Traceback" not in out + result.stderr
    assert "WARN  definitions      not loaded: fix the configuration first" in out
    assert out.rstrip().endswith("9 problem(s), 1 warning(s)")


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        ("SCP_ODATA_PAGE_SIZE", "abc", "SCP_ODATA_PAGE_SIZE must be an integer, got 'abc'"),
        ("SCP_LANDING_SENSOR_INTERVAL", "5m", "SCP_LANDING_SENSOR_INTERVAL must be an integer"),
        ("SCP_ODATA_AUTH", "oauth", "SCP_ODATA_AUTH must be one of 'basic', 'oauth2', 'none'"),
        ("SCP_LANDING_SENSOR", "maybe", "SCP_LANDING_SENSOR must be on or off"),
        ("SCP_ODATA_FEEDS", "A_SalesOrders", "SCP_ODATA_FEEDS has unknown entity sets"),
        ("SCP_ODATA_BASE_URL", "https://sap:pw-in-url@s4.example.com/sap", "must not embed"),
    ],
)
def test_a_setting_only_the_code_location_reads_fails_the_doctor(
    local_setup, setting, value, named
):
    """`doctor` gates a deployment: settings read only when the definitions load (or, for
    OData's authentication, when a run starts) passed it, and the code location then did not
    load. The URL's password is not printed."""
    result = doctor({**local_setup, setting: value})

    assert result.returncode == 1, result.stdout
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert any(named in line for line in failed), result.stdout
    assert "pw-in-url" not in result.stdout + result.stderr


def test_an_odata_tick_budget_the_sensor_timeout_cuts_first_is_a_warning(local_setup):
    findings = run_checks({**local_setup, "SCP_ODATA_TICK_BUDGET": "90"})
    [warning] = [f for f in findings if f.status == "warn" and "TICK_BUDGET" in f.message]
    assert "not below the sensor timeout (60 s)" in warning.message
    assert not [f for f in findings if f.status == "fail"]


@pytest.mark.postgres
@pytest.mark.parametrize("postgres_database", ["LATIN1"], indirect=True)
def test_a_postgres_warehouse_not_in_utf8_fails_the_doctor(postgres_database, local_setup):
    """A run refuses a LATIN1 database; `doctor` passed it."""
    env = {**local_setup, "SCP_WAREHOUSE": "postgres", "SCP_PG_DATABASE": postgres_database}
    [warehouse] = [f for f in run_checks(env) if f.area == "warehouse"]
    assert warehouse.status == "fail"
    assert f"Postgres database {postgres_database!r} has encoding LATIN1" in warehouse.message


@pytest.mark.postgres
def test_healthy_postgres_configuration_passes(postgres_database, tmp_path, local_setup):
    """The production shape: Postgres warehouse and Dagster storage from docker/dagster.yaml."""
    shutil.copy(DOCKER_DAGSTER_YAML, tmp_path / "dagster" / "dagster.yaml")
    env = {
        **local_setup,
        "SCP_WAREHOUSE": "postgres",
        "SCP_PG_HOST": "127.0.0.1",
        "SCP_PG_DATABASE": postgres_database,
        "SCP_ALERT_WEBHOOK_URL": "https://alerts.example.com/hook",
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": "5432",
        "DAGSTER_PG_USER": "postgres",
        "DAGSTER_PG_PASSWORD": "",
        "DAGSTER_PG_DB": postgres_database,
    }
    findings = run_checks(env)

    assert [f for f in findings if f.status != "ok"] == []
    messages = {f.area: f.message for f in findings}
    assert messages["warehouse"].endswith(f"at postgres@127.0.0.1:5432/{postgres_database}")
    assert messages["warehouse"].startswith("Postgres 1")
    assert "alerts: webhook" in messages["configuration"]


@pytest.mark.postgres
def test_postgres_warehouse_without_alerts_warns_but_passes(postgres_database, local_setup):
    env = {**local_setup, "SCP_WAREHOUSE": "postgres", "SCP_PG_DATABASE": postgres_database}
    findings = run_checks(env)
    assert [(f.area, f.status) for f in findings if f.status != "ok"] == [("configuration", "warn")]


def write_dbt_project(root: Path, manifest_age: float) -> Path:
    """A minimal dbt project whose manifest is `manifest_age` seconds older than its model."""
    (root / "models").mkdir(parents=True)
    (root / "target").mkdir()
    (root / "dbt_project.yml").write_text("name: p\n")
    model = root / "models" / "stg_orders.sql"
    model.write_text("select 1 as id\n")
    manifest = root / "target" / "manifest.json"
    manifest.write_text(json.dumps({"nodes": {"model.p.stg_orders": {}}}))
    stamp = model.stat().st_mtime
    os.utime(root / "dbt_project.yml", (stamp - 1000, stamp - 1000))
    os.utime(manifest, (stamp - manifest_age, stamp - manifest_age))
    return root


def test_manifest_older_than_a_model_is_stale(tmp_path):
    project = write_dbt_project(tmp_path / "dbt", manifest_age=60)
    [finding] = check_dbt_manifest(project)
    assert (finding.status, finding.message) == (
        "fail",
        "manifest is older than models/stg_orders.sql",
    )
    assert finding.fix.startswith(f"cd {project} && dbt parse --profiles-dir .")


def test_fresh_manifest_passes_and_missing_or_corrupt_fails(tmp_path):
    project = write_dbt_project(tmp_path / "dbt", manifest_age=-60)
    [finding] = check_dbt_manifest(project)
    assert (finding.status, finding.message) == ("ok", "target/manifest.json: 1 nodes, up to date")

    (project / "target" / "manifest.json").write_text("{not json")
    [finding] = check_dbt_manifest(project)
    assert finding.status == "fail" and "is not valid JSON" in finding.message

    (project / "target" / "manifest.json").unlink()
    [finding] = check_dbt_manifest(project)
    assert finding.status == "fail" and finding.message.endswith("manifest.json does not exist")


def test_landing_that_is_a_file_fails(tmp_path):
    landing = tmp_path / "landing"
    landing.write_text("not a folder")
    [finding] = check_landing({"SCP_LANDING_DIR": str(landing)})
    assert (finding.status, finding.message) == ("fail", f"{landing} is a file, not a folder")


def test_landing_check_leaves_no_probe_file(tmp_path):
    [finding] = check_landing({"SCP_LANDING_DIR": str(tmp_path)})
    assert finding.status == "ok"
    assert list(tmp_path.iterdir()) == []


def test_landing_at_a_url_is_probed_through_its_store():
    url = f"memory://doctor-{uuid.uuid4().hex[:8]}/landing"
    [finding] = check_landing({"SCP_LANDING_DIR": url})
    assert (finding.status, finding.message) == ("ok", f"{url} (0 extract files)")
    assert landing_store(url).list("") == []  # the probe is gone
    [missing] = check_landing({"SCP_LANDING_DIR": "nosuchfs://bucket/landing"})
    assert missing.status == "fail" and missing.message.startswith("nosuchfs://bucket/landing")


def test_dagster_home_unset_is_a_warning():
    [finding] = check_dagster_storage({})
    assert finding.status == "warn" and "DAGSTER_HOME is not set" in finding.message
