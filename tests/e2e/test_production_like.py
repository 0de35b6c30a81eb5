"""The docker-compose deployment, without Docker: the same processes and config, on this host.

`docker/dagster.yaml` (Postgres storage, run queue, monitoring, retries) is the instance; the
code server, webserver and daemon run as separate processes and talk over gRPC as in
`docker/workspace.yaml`; runs are launched through the GraphQL API. The compose healthchecks
(`dagster api grpc-health-check`, `/server_info`, `dagster-daemon liveness-check`) gate start-up.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pytest
import yaml
from dagster_graphql import DagsterGraphQLClient

from pipelines.ingest.specs import TABLE_SPECS
from resources.paths import PROJECT_ROOT
from tests.e2e import (
    BIN,
    Process,
    clean_env,
    free_port,
    generate_demo_landing,
    graphql,
    http_ok,
    json_receiver,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

DOCKER = PROJECT_ROOT / "docker"
LOCATION = "sap_planning"
RUN_TIMEOUT = 600
#: The kill test's run tag `dagster/max_runtime`: run monitoring fails a run whose worker died
#: once it is older than this. The retry inherits it, so it must exceed a normal run's duration.
MAX_RUNTIME_SECONDS = 90
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
MASTER_TABLES = sorted(name for name, spec in TABLE_SPECS.items() if not spec.is_partitioned)
#: SCP_LANDING_SENSOR_INTERVAL for the test: a dropped file is taken within seconds, not 30.
LANDING_SENSOR_INTERVAL = 5
LANDING_SENSOR = {
    "repositoryLocationName": LOCATION,
    "repositoryName": "__repository__",
    "sensorName": "landing_sensor",
}

LOCATION_QUERY = """
{ workspaceOrError { ... on Workspace { locationEntries {
    name loadStatus
    locationOrLoadError { __typename ... on PythonError { message } }
} } } }
"""
REPOSITORY_QUERY = """
{ repositoriesOrError { ... on RepositoryConnection { nodes {
    name location { name }
    jobs { name }
    schedules { name cronSchedule executionTimezone scheduleState { status } }
    sensors { name sensorType sensorState { status } }
} } } }
"""
RUNS_QUERY = """
query Runs($filter: RunsFilter) { runsOrError(filter: $filter) { ... on Runs { results {
    runId jobName status tags { key value }
} } } }
"""
EVENTS_QUERY = """
query Events($runId: ID!) { logsForRun(runId: $runId) { ... on EventConnection {
    events { ... on MessageEvent { message } }
} } }
"""
SENSOR_QUERY = """
query Sensor($selector: SensorSelector!, $after: Float) { sensorOrError(sensorSelector: $selector) {
    ... on Sensor { minIntervalSeconds sensorState {
        status ticks(afterTimestamp: $after) {
            status timestamp runIds skipReason error { message }
        }
    } }
} }
"""
START_SENSOR_MUTATION = """
mutation Start($selector: SensorSelector!) { startSensor(sensorSelector: $selector) {
    __typename ... on Sensor { sensorState { status } } ... on PythonError { message }
} }
"""
DAEMON_QUERY = """
{ instance { daemonHealth { allDaemonStatuses { daemonType required healthy } } } }
"""


@dataclass
class Deployment:
    home: Path
    landing: Path
    generated: dict[str, int]
    storage_db: str
    warehouse_db: str
    web_port: int
    code_port: int
    alerts: list[dict]
    code_server: Process
    webserver: Process
    daemon: Process

    def logs(self) -> str:
        return "\n".join(p.log_tail() for p in (self.code_server, self.webserver, self.daemon))

    def query(self, query: str, variables: dict | None = None) -> dict:
        return graphql(self.web_port, query, variables)

    @property
    def client(self) -> DagsterGraphQLClient:
        return DagsterGraphQLClient("127.0.0.1", port_number=self.web_port)

    def submit(self, job: str, tags: dict[str, str] | None = None) -> str:
        return self.client.submit_job_execution(
            job, repository_location_name=LOCATION, repository_name="__repository__", tags=tags
        )

    def runs(self, **tags: str) -> list[dict]:
        flt = {"tags": [{"key": k, "value": v} for k, v in tags.items()]} if tags else {}
        return self.query(RUNS_QUERY, {"filter": flt})["runsOrError"]["results"]

    def active_runs(self) -> list[dict]:
        """Runs queued or in progress, the automation sensor's included."""
        flt = {"statuses": ["QUEUED", "NOT_STARTED", "STARTING", "STARTED"]}
        return self.query(RUNS_QUERY, {"filter": flt})["runsOrError"]["results"]

    def run_status(self, run_id: str) -> str:
        return self.client.get_run_status(run_id).value

    def wait_for_run(self, run_id: str, timeout: float = RUN_TIMEOUT) -> str:
        return wait_until(
            lambda: (s := self.run_status(run_id)) in TERMINAL and s,
            timeout,
            f"run {run_id} to finish",
            interval=2,
            on_timeout=self.logs,
        )

    def start_code_server(self) -> None:
        self.code_server.start()
        wait_until(
            lambda: grpc_healthy(self.code_port, self.code_server.env),
            300,
            "the code server's gRPC health check",
            interval=3,
            on_timeout=self.logs,
        )

    def events(self, run_id: str) -> list[dict]:
        return self.query(EVENTS_QUERY, {"runId": run_id})["logsForRun"]["events"]

    def location_loaded(self) -> bool:
        [entry] = self.query(LOCATION_QUERY)["workspaceOrError"]["locationEntries"]
        return entry["locationOrLoadError"]["__typename"] == "RepositoryLocation"

    def warehouse_scalar(self, sql: str) -> Any:
        with psycopg.connect(host="127.0.0.1", user="postgres", dbname=self.warehouse_db) as con:
            return con.execute(sql).fetchone()[0]

    def warehouse_rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(host="127.0.0.1", user="postgres", dbname=self.warehouse_db) as con:
            return con.execute(sql, params).fetchall()

    def sensor(self, name: str, ticks_after: float | None = None) -> dict:
        variables = {"selector": {**LANDING_SENSOR, "sensorName": name}, "after": ticks_after}
        return self.query(SENSOR_QUERY, variables)["sensorOrError"]

    def landing_sensor(self, ticks_after: float | None = None) -> dict:
        return self.sensor("landing_sensor", ticks_after)

    def storage_scalar(self, sql: str, params: tuple = ()) -> Any:
        with psycopg.connect(host="127.0.0.1", user="postgres", dbname=self.storage_db) as con:
            return con.execute(sql, params).fetchone()[0]


def grpc_healthy(port: int, env: dict[str, str]) -> bool:
    """The compose healthcheck of the code server."""
    check = [str(BIN / "dagster"), "api", "grpc-health-check", "-p", str(port)]
    return subprocess.run(check, env=env, capture_output=True, timeout=60).returncode == 0


def daemon_alive(env: dict[str, str]) -> bool:
    """The compose healthcheck of the daemon."""
    check = [str(BIN / "dagster-daemon"), "liveness-check"]
    return subprocess.run(check, env=env, capture_output=True, timeout=60).returncode == 0


def grpc_workspace(port: int) -> dict:
    """docker/workspace.yaml, pointed at this host instead of the `code-server` container."""
    workspace = yaml.safe_load((DOCKER / "workspace.yaml").read_text())
    [entry] = workspace["load_from"]
    entry["grpc_server"].update(host="127.0.0.1", port=port)
    return workspace


@pytest.fixture(scope="module")
def alert_webhook() -> Iterator[tuple[str, list[dict]]]:
    """Where the deployment's run-failure sensor posts (SCP_ALERT_WEBHOOK_URL)."""
    with json_receiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def deployment(postgres_server, tmp_path_factory, alert_webhook) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("production")
    suffix = uuid.uuid4().hex[:8]
    storage_db, warehouse_db = f"scp_e2e_dagster_{suffix}", f"scp_e2e_warehouse_{suffix}"
    with psycopg.connect(**postgres_server, autocommit=True) as con:
        for name in (storage_db, warehouse_db):
            con.execute(f"create database {name}")

    home = tmp / "dagster_home"
    home.mkdir()
    shutil.copy(DOCKER / "dagster.yaml", home / "dagster.yaml")
    code_port, web_port = free_port(), free_port()
    workspace = home / "workspace.yaml"
    workspace.write_text(yaml.safe_dump(grpc_workspace(code_port)))
    landing = tmp / "landing"
    webhook, alerts = alert_webhook
    env = clean_env(
        DAGSTER_HOME=str(home),
        DAGSTER_PG_HOST="127.0.0.1",
        DAGSTER_PG_PORT="5432",
        DAGSTER_PG_USER="postgres",
        DAGSTER_PG_PASSWORD="",
        DAGSTER_PG_DB=storage_db,
        SCP_WAREHOUSE="postgres",
        SCP_PG_HOST="127.0.0.1",
        SCP_PG_PORT="5432",
        SCP_PG_USER="postgres",
        SCP_PG_PASSWORD="",
        SCP_PG_DATABASE=warehouse_db,
        SCP_LANDING_DIR=str(landing),
        SCP_LANDING_SENSOR_INTERVAL=str(LANDING_SENSOR_INTERVAL),
        SCP_HISTORY_START="2024-01-01",
        SCP_LOCAL_DIR=str(tmp / "local"),
        SCP_ALERT_WEBHOOK_URL=webhook,
        SCP_DAGSTER_URL=f"http://127.0.0.1:{web_port}",
    )
    logs = tmp / "logs"
    logs.mkdir()
    # The commands of docker-compose.yml, on this host's address and free ports.
    serve = ["-h", "127.0.0.1", "-p"]
    code_server = Process(
        "code-server",
        [
            str(BIN / "dagster"),
            "code-server",
            "start",
            "-m",
            "pipelines.definitions",
            *serve,
            str(code_port),
        ],
        env,
        logs,
    )
    webserver = Process(
        "webserver",
        [str(BIN / "dagster-webserver"), *serve, str(web_port), "-w", str(workspace)],
        env,
        logs,
    )
    daemon = Process(
        "daemon", [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)], env, logs
    )
    deployed = Deployment(
        home=home,
        landing=landing,
        generated=generate_demo_landing(landing),
        storage_db=storage_db,
        warehouse_db=warehouse_db,
        web_port=web_port,
        code_port=code_port,
        alerts=alerts,
        code_server=code_server,
        webserver=webserver,
        daemon=daemon,
    )
    try:
        deployed.start_code_server()
        webserver.start()
        wait_until(
            lambda: http_ok(f"http://127.0.0.1:{web_port}/server_info"),
            180,
            "the webserver's /server_info",
            on_timeout=deployed.logs,
        )
        daemon.start()
        wait_until(
            lambda: daemon_alive(env),
            180,
            "the daemon's liveness check",
            interval=3,
            on_timeout=deployed.logs,
        )
        wait_until(deployed.location_loaded, 120, "the code location", on_timeout=deployed.logs)
        yield deployed
    finally:
        for process in (daemon, webserver, code_server):
            process.stop()
        with psycopg.connect(**postgres_server, autocommit=True) as con:
            for name in (storage_db, warehouse_db):
                con.execute(f"drop database if exists {name} with (force)")


@pytest.fixture(scope="module")
def master_data_run(deployment: Deployment) -> tuple[str, str]:
    """`refresh_master_data` launched through GraphQL: (run id, final status)."""
    run_id = deployment.submit("refresh_master_data")
    return run_id, deployment.wait_for_run(run_id)


def test_schedules_sensors_and_jobs_listed_through_graphql(deployment):
    [repo] = deployment.query(REPOSITORY_QUERY)["repositoriesOrError"]["nodes"]
    assert repo["location"]["name"] == LOCATION
    assert {"ingest_daily", "refresh_master_data", "plan_weekly"} <= {
        j["name"] for j in repo["jobs"]
    }
    schedules = {s["name"]: s for s in repo["schedules"]}
    assert {n: (s["cronSchedule"], s["executionTimezone"]) for n, s in schedules.items()} == {
        "refresh_master_data_daily": ("0 1 * * *", "UTC"),
        "ingest_daily_schedule": ("0 2 * * *", "UTC"),
        "plan_weekly_schedule": ("0 5 * * 1", "UTC"),
    }
    # SCP_SCHEDULES is unset: schedules wait to be switched on, sensors run from the start.
    assert {s["scheduleState"]["status"] for s in schedules.values()} == {"STOPPED"}
    sensors = {s["name"]: (s["sensorType"], s["sensorState"]["status"]) for s in repo["sensors"]}
    assert sensors["automation_sensor"] == ("AUTOMATION", "RUNNING")
    assert sensors["run_failure_alerts"] == ("RUN_STATUS", "RUNNING")


def test_daemon_runs_every_required_daemon(deployment):
    statuses = deployment.query(DAEMON_QUERY)["instance"]["daemonHealth"]["allDaemonStatuses"]
    required = {s["daemonType"]: s["healthy"] for s in statuses if s["required"]}
    for daemon in ("SCHEDULER", "SENSOR", "QUEUED_RUN_COORDINATOR", "MONITORING"):
        assert required.get(daemon) is True, (daemon, required)


def test_run_launched_through_graphql_succeeds(deployment, master_data_run):
    run_id, status = master_data_run
    assert status == "SUCCESS", deployment.logs()
    for table in MASTER_TABLES:
        loaded = deployment.warehouse_scalar(f"select count(*) from raw.{table.lower()}")
        assert loaded == deployment.generated[table], table


def test_state_lives_in_postgres_not_sqlite(deployment, master_data_run):
    run_id, status = master_data_run
    stored = deployment.storage_scalar("select status from runs where run_id = %s", (run_id,))
    assert stored == status
    finished = deployment.storage_scalar(
        "select count(*) from event_logs where run_id = %s and dagster_event_type = %s",
        (run_id, dg.DagsterEventType[f"RUN_{status}"].value),
    )
    assert finished == 1
    assert deployment.storage_scalar("select count(*) from instigators") >= 2  # sensors' state
    assert deployment.storage_scalar("select count(*) from daemon_heartbeats") >= 4
    sqlite_files = [
        p for p in deployment.home.rglob("*") if p.suffix in (".db", ".sqlite", ".sqlite3")
    ]
    assert sqlite_files == []


def test_landing_files_reach_the_warehouse(deployment, master_data_run):
    """A day of transactions through `ingest_daily`."""
    day = "2024-01-10"
    run_id = deployment.submit("ingest_daily", tags={"dagster/partition": day})
    assert deployment.wait_for_run(run_id) == "SUCCESS", deployment.logs()
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=deployment.warehouse_db) as con:
        loaded = con.execute(
            "select _source_file, min(erdat), max(erdat), count(*) from raw.vbap group by 1"
        ).fetchall()
    [(source, first, last, rows)] = loaded
    assert Path(source).name == "VBAP_20240110.csv"
    assert str(first) == str(last) == day and rows > 0


def test_killed_code_server_fails_the_run_then_a_retry_recovers(deployment):
    """Runs execute under the code server (DefaultRunLauncher): kill it mid-run, as a crash or
    an OOM kill of its container would, and the run must end, be retried, and succeed.

    One small asset, so that the retry stays well inside the `dagster/max_runtime` it inherits
    while the automation sensor's runs compete for the machine. The kill waits until no other
    run is in progress: an automation run killed with the code server would keep its
    `warehouse` slot until its own max_runtime (the DefaultRunLauncher cannot see its worker
    die), and four of them would leave the retry queued.
    """
    wait_until(
        lambda: not deployment.active_runs(),
        600,
        "the automation runs to finish before the kill",
        interval=5,
        on_timeout=deployment.logs,
    )
    run_id = deployment.client.submit_job_execution(
        "refresh_master_data",
        repository_location_name=LOCATION,
        repository_name="__repository__",
        asset_selection=[["raw", "t001w"]],
        tags={"dagster/max_runtime": str(MAX_RUNTIME_SECONDS)},
    )
    wait_until(
        lambda: deployment.run_status(run_id) == "STARTED",
        300,
        "the run to start",
        on_timeout=deployment.logs,
    )
    deployment.code_server.stop(signal.SIGKILL)
    assert deployment.run_status(run_id) == "STARTED", "run ended before the kill: inconclusive"

    deployment.start_code_server()
    wait_until(deployment.location_loaded, 120, "the code location after the restart")

    # Never hangs: run monitoring fails it once it outlives dagster/max_runtime.
    assert deployment.wait_for_run(run_id, timeout=MAX_RUNTIME_SECONDS + 120) == "FAILURE"
    messages = [e.get("message") or "" for e in deployment.events(run_id)]
    assert any(f"maximum runtime of {MAX_RUNTIME_SECONDS} seconds" in m for m in messages)
    # The run-failure sensor, evaluated by the daemon in the code server, posts the alert.
    [alert] = wait_until(
        lambda: [a for a in deployment.alerts if a["run_id"] == run_id],
        120,
        "the failure alert",
        interval=3,
        on_timeout=deployment.logs,
    )
    assert alert["job_name"] == "refresh_master_data"
    assert alert["error"].startswith("This job is being forcibly marked as failed.")
    assert alert["error"].endswith("Dagster will retry it automatically.")
    assert alert["url"] == f"http://127.0.0.1:{deployment.web_port}/runs/{run_id}"
    # Run retries (max_retries: 2) re-execute it from the failure on the restarted server.
    [retry] = wait_until(
        lambda: deployment.runs(**{"dagster/parent_run_id": run_id}),
        120,
        "the automatic retry",
        interval=3,
        on_timeout=deployment.logs,
    )
    assert {t["key"]: t["value"] for t in retry["tags"]}["dagster/retry_number"] == "1"
    assert deployment.wait_for_run(retry["runId"]) == "SUCCESS", deployment.logs()
    assert (
        deployment.warehouse_scalar("select count(*) from raw.t001w")
        == (deployment.generated["T001W"])
    )


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def deliver(landing: Path, name: str, data: bytes) -> None:
    """Drop a file into `incoming/` as a transfer tool does: written whole, then `.done`."""
    incoming = landing / "incoming"
    incoming.mkdir(exist_ok=True)
    partial = incoming / f"{name}.part"  # an in-progress name: the sensor never takes it
    partial.write_bytes(data)
    os.replace(partial, incoming / name)
    (incoming / f"{name}.done").touch()


def finished_ticks(deployment: Deployment, after: float, at_least: int) -> list[dict]:
    """The landing sensor's ticks since `after`, once `at_least` exist and none is running."""
    ticks = deployment.landing_sensor(ticks_after=after)["sensorState"]["ticks"]
    done = len(ticks) >= at_least and all(tick["status"] != "STARTED" for tick in ticks)
    return ticks if done else []


def test_landing_sensor_runs_a_dropped_delivery_once(deployment, master_data_run):
    """A corrected SAP extract dropped into `incoming/` is loaded by the landing sensor's run,
    launched by the daemon; the same bytes dropped again are archived and launch nothing.
    Master data first: the VBAP quality check, a blocking step of that run, needs raw.t001w.

    Last in the module: its run and the automation runs it triggers must not compete with the
    killed run above, whose retry has to finish inside `dagster/max_runtime`.
    """
    began = time.time()
    sensor = deployment.landing_sensor()
    assert sensor["minIntervalSeconds"] == LANDING_SENSOR_INTERVAL
    assert sensor["sensorState"]["status"] == "STOPPED"  # SCP_LANDING_SENSOR is unset
    started = deployment.query(START_SENSOR_MUTATION, {"selector": LANDING_SENSOR})["startSensor"]
    assert started == {"__typename": "Sensor", "sensorState": {"status": "RUNNING"}}, started

    # SAP re-extracted a day of the demo after its last item was deleted.
    day, name = "2024-02-15", "VBAP_20240215.csv"
    original = (deployment.landing / name).read_bytes()
    header, *items = original.splitlines(keepends=True)
    assert len(items) >= 2, "the day needs an item left after the correction"
    corrected = header + b"".join(items[:-1])
    deliver(deployment.landing, name, corrected)

    [run] = wait_until(
        lambda: deployment.runs(**{"dagster/sensor_name": "landing_sensor"}),
        120,
        "the landing sensor's run",
        interval=2,
        on_timeout=deployment.logs,
    )
    assert deployment.wait_for_run(run["runId"]) == "SUCCESS", deployment.logs()
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert tags["scp/trigger"] == "landing_sensor"
    assert tags["dagster/partition"] == day
    run_key = tags["dagster/run_key"]
    assert run_key.startswith(f"{sha256(corrected)}:{name}:")

    assert list((deployment.landing / "incoming").iterdir()) == []
    assert (deployment.landing / name).read_bytes() == corrected
    [replaced] = (deployment.landing / "archive").glob(f"*__{sha256(original)[:12]}__{name}")
    assert replaced.read_bytes() == original
    manifest = "select status, run_key, rows_loaded, run_id from raw.landing_manifest"
    assert deployment.warehouse_rows(f"{manifest} where checksum = %s", (sha256(corrected),)) == [
        ("loaded", run_key, len(items) - 1, run["runId"])
    ]
    loaded = deployment.warehouse_scalar(f"select count(*) from raw.vbap where erdat = '{day}'")
    assert loaded == len(items) - 1

    dropped_again = time.time()
    deliver(deployment.landing, name, corrected)
    wait_until(
        lambda: not any((deployment.landing / "incoming").iterdir()),
        120,
        "the sensor to take the second delivery",
        on_timeout=deployment.logs,
    )
    [duplicate] = (deployment.landing / "archive").glob(f"*__{sha256(corrected)[:12]}__{name}")
    assert duplicate.read_bytes() == corrected
    assert deployment.warehouse_rows(
        f"{manifest} where checksum = %s and status = 'duplicate'", (sha256(corrected),)
    ) == [("duplicate", None, None, None)]
    ticks = wait_until(
        lambda: finished_ticks(deployment, dropped_again, at_least=2),
        60,
        "two finished ticks after the second delivery",
        interval=2,
        on_timeout=deployment.logs,
    )
    assert {(tick["status"], tuple(tick["runIds"])) for tick in ticks} == {("SKIPPED", ())}
    assert len(deployment.runs(**{"dagster/sensor_name": "landing_sensor"})) == 1
    # The automation sensor's conditions include Python (`RanBeforeItsInputs`): the daemon
    # has them evaluated on the code server. Its ticks fail only while the code server is
    # down (the kill test above); since this test began they have succeeded.
    ticks = wait_until(
        lambda: [
            tick
            for tick in deployment.sensor("automation_sensor", ticks_after=began)["sensorState"][
                "ticks"
            ]
            if tick["status"] != "STARTED"
        ],
        180,
        "a finished tick of the automation sensor",
        interval=5,
        on_timeout=deployment.logs,
    )
    assert {tick["status"] for tick in ticks} <= {"SUCCESS", "SKIPPED"}, ticks
