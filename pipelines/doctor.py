"""`python -m pipelines doctor`: is this machine ready to run the pipelines, and if not, why?

Each check returns findings (`ok`, `warn` or `fail`) with a fix an operator can type. The exit
code is 1 when anything fails. No Dagster import: the doctor must work when the code location
itself does not load. Secrets (passwords, webhook URLs) are never printed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from resources.paths import DBT_PROJECT_DIR, PROJECT_ROOT
from resources.warehouse import utf8_refusal

Status = Literal["ok", "warn", "fail"]
WAREHOUSE_KINDS = ("duckdb", "postgres")
#: Files whose change makes dbt's manifest stale.
DBT_SOURCE_DIRS = ("models", "macros", "snapshots", "tests", "seeds", "analyses")
CONNECT_TIMEOUT_SECONDS = 5


@dataclass(frozen=True)
class Finding:
    area: str
    status: Status
    message: str
    fix: str = ""


def _local_dir(env: Mapping[str, str]) -> Path:
    return Path(env.get("SCP_LOCAL_DIR", str(PROJECT_ROOT / ".local")))


# -- configuration ---------------------------------------------------------------------------
#: Dagster cuts a sensor tick evaluated on the code server after this many seconds.
SENSOR_TIMEOUT_SECONDS = 60


def _tick_budget_findings(env: Mapping[str, str]) -> list[Finding]:
    """An OData tick budget the sensor timeout cuts first: the tick would fail, not skip."""
    budget, timeout = (
        env.get("SCP_ODATA_TICK_BUDGET"),
        env.get("DAGSTER_SENSOR_GRPC_TIMEOUT_SECONDS", str(SENSOR_TIMEOUT_SECONDS)),
    )
    try:
        if budget is None or float(budget) < float(timeout):
            return []
    except ValueError:
        return []  # a budget that is no number fails loading the definitions, named there
    return [
        Finding(
            "configuration",
            "warn",
            f"SCP_ODATA_TICK_BUDGET={budget} is not below the sensor timeout ({timeout} s): "
            "a slow OData tick is cut as a failure instead of ending with a skip",
            "keep it at least 10 s below DAGSTER_SENSOR_GRPC_TIMEOUT_SECONDS (default 60)",
        )
    ]


def check_configuration(env: Mapping[str, str]) -> list[Finding]:
    """The environment switches hold values the code accepts."""
    from pipelines.alerts import AlertConfigError, AlertSettings
    from pipelines.ingest.odata import (
        check_credentials_set,
        checked_base_url,
        checked_sap_client,
    )
    from pipelines.ingest.quality import QualityError, QualityRules
    from pipelines.ingest.reader import ReaderSettings

    found: list[Finding] = []

    def bad(message: str, fix: str) -> None:
        found.append(Finding("configuration", "fail", message, fix))

    kind = env.get("SCP_WAREHOUSE", "duckdb")
    if kind not in WAREHOUSE_KINDS:
        bad(
            f"SCP_WAREHOUSE={kind!r} is not one of {', '.join(WAREHOUSE_KINDS)}",
            "export SCP_WAREHOUSE=duckdb (laptop) or SCP_WAREHOUSE=postgres (server)",
        )
    timezone = env.get("SCP_TIMEZONE", "UTC")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        bad(
            f"SCP_TIMEZONE={timezone!r} is not an IANA time zone",
            "use a name such as UTC or Europe/Berlin",
        )
    start = env.get("SCP_HISTORY_START", "2024-01-01")
    try:
        if date.fromisoformat(start) > date.today():
            bad(
                f"SCP_HISTORY_START={start} is in the future: there are no partitions yet",
                "set it to the first day of SAP history you load",
            )
    except ValueError:
        bad(f"SCP_HISTORY_START={start!r} is not a date", "use YYYY-MM-DD, e.g. 2024-01-01")
    try:
        QualityRules.from_env(env)
    except QualityError as exc:
        bad(str(exc), "e.g. SCP_QUARANTINE_THRESHOLD=0.01 (1 % of rows may be rejected)")
    try:
        ReaderSettings.from_env(env)
    except ValueError as exc:
        bad(str(exc), "the exporting SAP user's default (SU01), e.g. 1.234.567,89")
    try:
        if env.get("SCP_ODATA_BASE_URL"):
            checked_base_url(
                env["SCP_ODATA_BASE_URL"], "SCP_ODATA_BASE_URL", "SCP_ODATA_SAP_CLIENT"
            )
        checked_sap_client(env.get("SCP_ODATA_SAP_CLIENT") or None, "SCP_ODATA_SAP_CLIENT")
    except ValueError as exc:
        bad(
            str(exc),
            "e.g. SCP_ODATA_BASE_URL=https://s4.example.com/sap/opu/odata/sap and "
            "SCP_ODATA_SAP_CLIENT=100",
        )
    if env.get("SCP_ODATA_BASE_URL"):
        try:
            check_credentials_set(env.get("SCP_ODATA_AUTH") or "basic", env)
        except ValueError as exc:
            bad(str(exc), "set them in the environment (docker/.env), never in a file in git")
    for name in ("SCP_PG_PORT", "DAGSTER_PG_PORT"):
        if name in env and not env[name].isdigit():
            bad(f"{name}={env[name]!r} is not a port number", f"e.g. {name}=5432")
    schedules = env.get("SCP_SCHEDULES", "stopped")
    if schedules not in ("running", "stopped"):
        bad(
            f"SCP_SCHEDULES={schedules!r} must be 'running' or 'stopped'",
            "docker-compose sets running; leave it unset on a laptop",
        )
    try:
        channels = AlertSettings.from_env(env).channels
    except AlertConfigError as exc:
        bad(str(exc), "see the SCP_ALERT_* variables in docker/.env.example")
    else:
        if not channels and kind == "postgres":
            found.append(
                Finding(
                    "configuration",
                    "warn",
                    "no alert channel: failed runs are announced nowhere",
                    "set SCP_ALERT_SLACK_WEBHOOK, SCP_ALERT_WEBHOOK_URL or SCP_ALERT_SMTP_*",
                )
            )
    found += _tick_budget_findings(env)
    if not any(f.status == "fail" for f in found):
        found.insert(
            0,
            Finding(
                "configuration",
                "ok",
                f"SCP_WAREHOUSE={kind}, SCP_TIMEZONE={timezone}, SCP_HISTORY_START={start}, "
                f"schedules {schedules}, alerts: {', '.join(channels) or 'off'}",
            ),
        )
    return found


# -- databases -------------------------------------------------------------------------------
def _pg_probe(area: str, env: Mapping[str, str], prefix: str, db_var: str) -> Finding:
    """Connect and ask the server who we are; the message never contains the password."""
    import psycopg

    host = env.get(f"{prefix}HOST", "127.0.0.1")
    port = env.get(f"{prefix}PORT", "5432")
    user = env.get(f"{prefix}USER", "postgres")
    database = env.get(db_var, "postgres")
    where = f"{user}@{host}:{port}/{database}"
    if not port.isdigit():
        return Finding(area, "fail", f"not checked: {prefix}PORT is invalid", "see above")
    try:
        with psycopg.connect(
            host=host,
            port=int(port),
            user=user,
            password=env.get(f"{prefix}PASSWORD") or None,
            dbname=database,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
        ) as con:
            version = con.execute("show server_version").fetchone()[0]
            encoding = con.execute("show server_encoding").fetchone()[0]
            can_create = con.execute(
                "select has_database_privilege(current_user, current_database(), 'CREATE')"
            ).fetchone()[0]
    except (psycopg.Error, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return Finding(
            area,
            "fail",
            f"cannot connect to Postgres {where}: {reason}",
            f"check {prefix}HOST/PORT/USER/PASSWORD and {db_var}; "
            f"`pg_isready -h {host} -p {port}` tells whether the server is up",
        )
    refusal = utf8_refusal(database, encoding)
    if area == "warehouse" and refusal:
        return Finding(area, "fail", f"{where}: {refusal}", "use a UTF8 database")
    if not can_create:
        return Finding(
            area,
            "fail",
            f"{where}: user {user} may not create schemas",
            f"grant create on database {database} to {user}",
        )
    return Finding(area, "ok", f"Postgres {version} at {where}")


def check_warehouse(env: Mapping[str, str]) -> list[Finding]:
    kind = env.get("SCP_WAREHOUSE", "duckdb")
    if kind == "postgres":
        return [_pg_probe("warehouse", env, "SCP_PG_", "SCP_PG_DATABASE")]
    if kind != "duckdb":
        return [
            Finding(
                "warehouse",
                "fail",
                "not checked: SCP_WAREHOUSE is invalid",
                "fix the configuration first",
            )
        ]
    path = Path(env.get("SCP_DUCKDB_PATH", str(_local_dir(env) / "warehouse.duckdb")))
    if not path.exists():
        folder = next((p for p in [path.parent, *path.parent.parents] if p.exists()), None)
        if folder is None or not folder.is_dir() or not os.access(folder, os.W_OK):
            return [
                Finding(
                    "warehouse",
                    "fail",
                    f"cannot create the DuckDB file {path}",
                    "point SCP_DUCKDB_PATH at a writable folder",
                )
            ]
        return [Finding("warehouse", "ok", f"DuckDB {path} will be created by the first run")]
    import duckdb

    try:
        with duckdb.connect(str(path), read_only=True) as con:
            tables = con.execute(
                "select count(*) from information_schema.tables where table_schema = 'raw'"
            ).fetchone()[0]
    except duckdb.Error as exc:
        return [
            Finding(
                "warehouse",
                "fail",
                f"cannot open DuckDB {path}: {str(exc).splitlines()[0]}",
                "another process may hold the file (a run, `dagster dev`, a BI tool): stop it; "
                "if the file is corrupt, move it away and run `make demo` again",
            )
        ]
    return [Finding("warehouse", "ok", f"DuckDB {path} ({tables} raw tables)")]


def check_dagster_storage(env: Mapping[str, str]) -> list[Finding]:
    """Postgres storage when DAGSTER_PG_* are set; otherwise the local SQLite default."""
    home = env.get("DAGSTER_HOME")
    config = Path(home) / "dagster.yaml" if home else None
    uses_postgres = False
    if config is not None and config.exists():
        import yaml

        try:
            storage = (yaml.safe_load(config.read_text()) or {}).get("storage") or {}
        except yaml.YAMLError as exc:
            return [
                Finding(
                    "dagster storage",
                    "fail",
                    f"{config} is not valid YAML: {exc}",
                    "compare it with docker/dagster.yaml",
                )
            ]
        uses_postgres = "postgres" in storage
    if not any(name.startswith("DAGSTER_PG_") for name in env):
        if not home:
            return [
                Finding(
                    "dagster storage",
                    "warn",
                    "DAGSTER_HOME is not set: run history goes to a temporary folder",
                    "use `make ui` / `make demo` (they set DAGSTER_HOME=.local/dagster)",
                )
            ]
        kind = "Postgres (from dagster.yaml)" if uses_postgres else "SQLite"
        return [Finding("dagster storage", "ok", f"{kind} instance in {home}")]
    found = [_pg_probe("dagster storage", env, "DAGSTER_PG_", "DAGSTER_PG_DB")]
    if not uses_postgres:
        found.append(
            Finding(
                "dagster storage",
                "fail",
                "DAGSTER_PG_* are set but "
                + (
                    f"{config} does not configure Postgres storage"
                    if config
                    else "DAGSTER_HOME is unset"
                ),
                "export DAGSTER_HOME=<folder> and copy docker/dagster.yaml into it",
            )
        )
    return found


# -- files -----------------------------------------------------------------------------------
def check_dbt_manifest(project_dir: Path = DBT_PROJECT_DIR) -> list[Finding]:
    """dagster-dbt builds the asset graph from target/manifest.json, so it must match the models."""
    manifest = project_dir / "target" / "manifest.json"
    fix = f"cd {project_dir} && dbt parse --profiles-dir . (or `make dbt-parse`)"
    if not manifest.exists():
        return [Finding("dbt manifest", "fail", f"{manifest} does not exist", fix)]
    try:
        nodes = len(json.loads(manifest.read_text()).get("nodes", {}))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return [Finding("dbt manifest", "fail", f"{manifest} is not valid JSON: {exc}", fix)]
    sources = [project_dir / "dbt_project.yml"] + [
        path
        for folder in DBT_SOURCE_DIRS
        for path in (project_dir / folder).rglob("*")
        if path.is_file()
    ]
    built = manifest.stat().st_mtime
    newer = sorted(
        str(p.relative_to(project_dir)) for p in sources if p.exists() and p.stat().st_mtime > built
    )
    if newer:
        listed = ", ".join(newer[:3]) + (f" and {len(newer) - 3} more" if len(newer) > 3 else "")
        return [Finding("dbt manifest", "fail", f"manifest is older than {listed}", fix)]
    return [
        Finding(
            "dbt manifest", "ok", f"{manifest.relative_to(project_dir)}: {nodes} nodes, up to date"
        )
    ]


def check_landing(env: Mapping[str, str]) -> list[Finding]:
    """The landing folder exists and this user can list, write and delete files in it."""
    location = env.get("SCP_LANDING_DIR", str(_local_dir(env) / "landing"))
    if "://" in location and not location.startswith("file://"):
        return check_landing_url(location)
    path = Path(location.removeprefix("file://"))
    fix = f"mkdir -p {path} (or set SCP_LANDING_DIR; `make demo` fills it with demo extracts)"
    if not path.exists():
        return [Finding("landing", "fail", f"{path} does not exist", fix)]
    if not path.is_dir():
        return [
            Finding(
                "landing",
                "fail",
                f"{path} is a file, not a folder",
                "point SCP_LANDING_DIR at the folder the extracts are dropped in",
            )
        ]
    probe = path / f".doctor-{uuid.uuid4().hex}"
    try:
        extracts = sum(1 for p in path.iterdir() if p.suffix.lower() in (".csv", ".txt"))
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        return [
            Finding(
                "landing",
                "fail",
                f"{path} is not readable and writable: {exc.strerror}",
                f"give the Dagster user read/write access to {path}",
            )
        ]
    return [Finding("landing", "ok", f"{path} ({extracts} extract files)")]


def check_landing_url(url: str) -> list[Finding]:
    """An object store or SFTP landing zone: reachable with its filesystem package and
    credentials, and this user can list, write and delete there."""
    from pipelines.ingest.landing import CURRENT, landing_store

    probe = f".doctor-{uuid.uuid4().hex}"
    try:
        store = landing_store(url)
        extracts = sum(1 for e in store.list(CURRENT) if e.name.lower().endswith((".csv", ".txt")))
        store.write(CURRENT, probe, b"ok")
        store.remove(CURRENT, probe)
    except ImportError as exc:
        fix = "install the fsspec filesystem for that URL (s3fs, adlfs, gcsfs, sshfs)"
        return [Finding("landing", "fail", f"{url}: {exc}", fix)]
    except Exception as exc:
        fix = "check the URL and that filesystem's credentials (its own environment variables)"
        return [Finding("landing", "fail", f"{url} is not usable: {exc}", fix)]
    return [Finding("landing", "ok", f"{url} ({extracts} extract files)")]


# -- engines ---------------------------------------------------------------------------------
def _cp_sat() -> str:
    from ortools.sat.python import cp_model

    model = cp_model.CpModel()
    x, y = model.new_int_var(0, 3, "x"), model.new_int_var(0, 3, "y")
    model.add(x + y <= 4)
    model.maximize(2 * x + y)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = 5
    solver.parameters.num_workers = 1
    status = solver.solve(model)
    if status != cp_model.OPTIMAL or solver.objective_value != 7:
        raise RuntimeError(f"CP-SAT returned {solver.status_name(status)}, expected OPTIMAL 7")
    return "CP-SAT"


def _routing() -> str:
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    positions = [0, 1, 2, 3]
    manager = pywrapcp.RoutingIndexManager(len(positions), 1, 0)
    routing = pywrapcp.RoutingModel(manager)
    transit = routing.RegisterTransitCallback(
        lambda i, j: abs(positions[manager.IndexToNode(i)] - positions[manager.IndexToNode(j)])
    )
    routing.SetArcCostEvaluatorOfAllVehicles(transit)
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.time_limit.seconds = 2
    solution = routing.SolveWithParameters(params)
    if solution is None or solution.ObjectiveValue() != 6:
        raise RuntimeError("routing found no tour of length 6 on a 4-stop line")
    return "routing"


def _mip() -> str:
    from ortools.linear_solver import pywraplp

    solver = pywraplp.Solver.CreateSolver("SCIP")
    if solver is None:
        raise RuntimeError("SCIP is not available in this OR-Tools build")
    x, y = solver.IntVar(0, 10, "x"), solver.IntVar(0, 10, "y")
    solver.Add(x + 2 * y <= 4)
    solver.Add(3 * x + y <= 6)
    solver.Maximize(x + y)
    if solver.Solve() != pywraplp.Solver.OPTIMAL or round(solver.Objective().Value()) != 2:
        raise RuntimeError("SCIP did not find the integer optimum 2")
    return "SCIP MIP"


def check_solvers() -> list[Finding]:
    solved = []
    for probe in (_cp_sat, _routing, _mip):
        try:
            solved.append(probe())
        except Exception as exc:  # any failure here means planning cannot run
            return [
                Finding(
                    "solver",
                    "fail",
                    f"OR-Tools {probe.__name__[1:]}: {exc}",
                    "pip install 'ortools>=9.12,<10' (make install)",
                )
            ]
    import ortools

    return [Finding("solver", "ok", f"OR-Tools {ortools.__version__}: {', '.join(solved)} solve")]


def check_forecasting() -> list[Finding]:
    versions = []
    for module in ("statsforecast", "statsmodels"):
        try:
            versions.append(f"{module} {__import__(module).__version__}")
        except Exception as exc:  # a broken install raises more than ImportError
            return [
                Finding(
                    "forecasting",
                    "fail",
                    f"cannot import {module}: {exc}",
                    "make install (reinstalls the project's dependencies)",
                )
            ]
    return [Finding("forecasting", "ok", ", ".join(versions))]


# -- running ---------------------------------------------------------------------------------
#: Loading the definitions imports Dagster, dbt's manifest and every asset: seconds, not minutes.
DEFINITIONS_TIMEOUT_SECONDS = 300


def check_definitions(env: Mapping[str, str], configuration_failed: bool) -> list[Finding]:
    """Load the code location as the code server does, in a process of its own with these
    settings: a setting read only there (an OData page size, a sensor interval) fails here
    and not when the deployment starts."""
    if configuration_failed:
        return [
            Finding("definitions", "warn", "not loaded: fix the configuration first", "see above")
        ]
    loaded = subprocess.run(
        [sys.executable, "-c", "from pipelines.definitions import defs; defs()"],
        env=dict(env),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=DEFINITIONS_TIMEOUT_SECONDS,
    )
    if loaded.returncode == 0:
        return [Finding("definitions", "ok", "the code location loads with these settings")]
    reason = ([line for line in loaded.stderr.splitlines() if line.strip()] or ["no output"])[-1]
    return [
        Finding(
            "definitions",
            "fail",
            f"the code location does not load: {reason}",
            "correct the setting it names; `dagster definitions validate -m "
            "pipelines.definitions` shows the whole error",
        )
    ]


def run_checks(
    env: Mapping[str, str] | None = None, project_dir: Path = DBT_PROJECT_DIR
) -> list[Finding]:
    """Every check, in order; a check that crashes is reported as a failure, not a traceback."""
    env = dict(os.environ if env is None else env)
    findings: list[Finding] = []
    checks: list[tuple[str, Callable[[], list[Finding]]]] = [
        ("configuration", lambda: check_configuration(env)),
        ("warehouse", lambda: check_warehouse(env)),
        ("dagster storage", lambda: check_dagster_storage(env)),
        ("dbt manifest", lambda: check_dbt_manifest(project_dir)),
        ("landing", lambda: check_landing(env)),
        (  # the checks run in order: the configuration's findings are in by then
            "definitions",
            lambda: check_definitions(
                env, any(f.area == "configuration" and f.status == "fail" for f in findings)
            ),
        ),
        ("solver", check_solvers),
        ("forecasting", check_forecasting),
    ]
    for area, check in checks:
        try:
            findings.extend(check())
        except Exception as exc:
            findings.append(Finding(area, "fail", f"check crashed: {type(exc).__name__}: {exc}"))
    return findings


def render(findings: list[Finding]) -> str:
    labels = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}
    width = max(len(f.area) for f in findings)
    lines = []
    for f in findings:
        lines.append(f"{labels[f.status]}  {f.area:<{width}}  {f.message}")
        if f.fix and f.status != "ok":
            lines.append(f"{'':4}  {'':<{width}}  fix: {f.fix}")
    failed = sum(f.status == "fail" for f in findings)
    warned = sum(f.status == "warn" for f in findings)
    lines.append(
        f"\n{failed} problem(s), {warned} warning(s)"
        if failed or warned
        else "\nAll checks passed."
    )
    return "\n".join(lines)


def main() -> int:
    """Print the findings; the exit code is 1 if any check failed."""
    findings = run_checks()
    print(render(findings))
    return 1 if any(f.status == "fail" for f in findings) else 0
