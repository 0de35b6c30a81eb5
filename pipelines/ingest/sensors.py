"""Sensors for the outside world: SAP files landing in `incoming/`, and S/4HANA OData changes.

`landing_sensor` takes stable deliveries from `<landing>/incoming/`, puts them in place (the
replaced file goes to the archive), records them in `raw.landing_manifest` and requests a run
of exactly the raw partitions they touch; downstream partitions follow through their
automation conditions. `sap_odata_delta_sensor` turns OData reads into landing files, so
both sources share one load path, one archive and one manifest: it only writes into
`incoming/`, and `landing_sensor` must run to load what it writes.

Both are STOPPED by default. On a laptop `make demo` writes extracts straight into the
landing root and materializes them itself, so a running landing sensor would only tick over
an empty folder and, with a DuckDB warehouse, compete with runs for the file's single-writer
lock. `SCP_LANDING_SENSOR=on` (the Docker deployment) starts it RUNNING; setting
`SCP_ODATA_BASE_URL` starts the OData sensor RUNNING. Either can be started in the UI.

A delivery the landing sensor rejects (no table or day in its name, an unreadable header) is
sent to the alert channels (`SCP_ALERT_*`): no run fails for it, so the run-failure alerts
would never say that a day is missing.
"""

import json
import os
from datetime import UTC, date, datetime

import dagster as dg

from pipelines.alerts import (
    AlertConfigError,
    AlertDeliveryError,
    AlertSettings,
    rejection_alert,
    send_alert,
)
from pipelines.ingest.assets import raw_asset_key
from pipelines.ingest.landing import (
    DELTA_FEEDS,
    INCOMING,
    LandingCursor,
    RunPlan,
    TickPlan,
    commit_tick,
    extract_feed,
    landing_store,
    plan_tick,
    ready_files,
    split_available,
    write_delta_files,
)
from pipelines.ingest.odata import ODataRetryLater
from pipelines.ingest.specs import TABLE_SPECS
from pipelines.partitions import daily_partitions
from resources.dagster_resources import LandingZone, WarehouseResource, number_setting
from resources.odata import SapODataResource
from resources.warehouse import is_lock_conflict

LANDING_SENSOR_INTERVAL = int(os.getenv("SCP_LANDING_SENSOR_INTERVAL", "30"))
ODATA_SENSOR_INTERVAL = int(os.getenv("SCP_ODATA_SENSOR_INTERVAL", "300"))
ODATA_FEEDS = os.getenv("SCP_ODATA_FEEDS", "A_SalesOrder,A_Product")
#: First delta cursor when the sensor has none (ISO 8601); unset means a full first read.
ODATA_DELTA_SINCE = os.getenv("SCP_ODATA_DELTA_SINCE") or None
#: Days of material documents re-read in full every day, to catch postings entered late.
ODATA_LOOKBACK_DAYS = number_setting("SCP_ODATA_LOOKBACK_DAYS", 3, int, 1)
RAW_KEYS = [raw_asset_key(table) for table in TABLE_SPECS]


def _status(enabled: bool) -> dg.DefaultSensorStatus:
    return dg.DefaultSensorStatus.RUNNING if enabled else dg.DefaultSensorStatus.STOPPED


def run_request(run: RunPlan) -> dg.RunRequest:
    """The raw asset of one table, for one day, a contiguous range of days, or master data."""
    tags = {"scp/trigger": "landing_sensor"}
    if run.is_range:
        tags["dagster/asset_partition_range_start"] = str(run.first_day)
        tags["dagster/asset_partition_range_end"] = str(run.last_day)
    return dg.RunRequest(
        run_key=run.run_key,
        asset_selection=[raw_asset_key(run.table)],
        partition_key=run.partition_key,
        tags=tags,
    )


def _last_partition_day() -> date | None:
    key = daily_partitions.get_last_partition_key()
    return date.fromisoformat(key) if key else None


def _alert_rejected(context: dg.SensorEvaluationContext, plan: TickPlan) -> None:
    """Send this tick's rejected deliveries to the alert channels. A delivery failure is logged,
    not raised: the tick has already moved the files, and its run requests must still go out."""
    rejected = [(d.file_name, d.reason) for d in plan.decisions if d.status == "rejected"]
    if not rejected:
        return
    try:
        settings = AlertSettings.from_env()
        if settings.channels:
            delivered = send_alert(settings, rejection_alert(rejected))
            context.log.info(f"Rejected deliveries sent via {', '.join(delivered)}")
    except (AlertConfigError, AlertDeliveryError) as exc:
        context.log.warning(f"Rejected deliveries not alerted: {exc}")


def _log(context: dg.SensorEvaluationContext, plan: TickPlan) -> None:
    for decision in plan.decisions:
        where = decision.canonical_name or decision.file_name
        if decision.status == "rejected":
            context.log.warning(f"Rejected {decision.file_name!r}: {decision.reason}")
        elif decision.status == "duplicate":
            context.log.info(f"{decision.file_name}: {decision.reason}; archived, not loaded")
        elif decision.status == "split":
            context.log.info(f"{decision.file_name}: {decision.reason}")
        else:
            replaced = "replaces the previous delivery" if decision.replaces else "is new"
            context.log.info(f"{decision.file_name} -> {where} ({replaced})")


@dg.sensor(
    name="landing_sensor",
    minimum_interval_seconds=LANDING_SENSOR_INTERVAL,
    default_status=_status(os.getenv("SCP_LANDING_SENSOR", "").lower() in ("on", "1", "true")),
    target=dg.AssetSelection.assets(*RAW_KEYS),
    description=(
        "Takes SAP extracts from <landing>/incoming/ once stable (unchanged over two ticks, or "
        "with a <name>.done marker), archives the file they replace, records them in "
        "raw.landing_manifest and runs the raw partitions they touch."
    ),
)
def landing_sensor(
    context: dg.SensorEvaluationContext, landing: LandingZone, warehouse: WarehouseResource
) -> dg.SensorResult:
    store = landing_store(landing.path)
    state = LandingCursor.from_json(context.cursor)
    ready, seen = ready_files(store.list(INCOMING), state.seen)
    runs: list[RunPlan] = []
    if ready:
        now = datetime.now(UTC).replace(tzinfo=None)
        plan = plan_tick(store, ready, now, first_day=daily_partitions.start.date())
        try:
            # A tick never queues behind a run holding the DuckDB file: it retries next tick.
            commit_tick(store, warehouse.open(lock_wait_seconds=0), plan)
        except Exception as exc:
            if not is_lock_conflict(exc):
                raise
            busy = LandingCursor(seen=seen, deferred=state.deferred).to_json()
            return dg.SensorResult(
                skip_reason=f"Warehouse busy ({exc}); {len(ready)} files wait for the next tick",
                cursor=busy,
            )
        _log(context, plan)
        _alert_rejected(context, plan)
        runs = plan.runs
        for entry in ready:  # taken: a later file of the same name must prove stable again
            seen.pop(entry.name, None)
    requested, deferred = split_available([*state.deferred, *runs], _last_partition_day())
    for run in deferred:
        context.log.info(f"{run.table} {run.first_day}..{run.last_day}: waits for its partition")
    cursor = LandingCursor(seen=seen, deferred=deferred).to_json()
    if not requested:
        waiting = len(seen)
        return dg.SensorResult(
            skip_reason=f"No new deliveries ({waiting} files in incoming/ not yet stable)",
            cursor=cursor,
        )
    for run in requested:
        days = f" {run.first_day}..{run.last_day}" if run.first_day else ""
        context.log.info(f"Requesting raw/{run.table.lower()}{days}: {len(run.files)} files")
    return dg.SensorResult(run_requests=[run_request(run) for run in requested], cursor=cursor)


def odata_feeds() -> list[str]:
    names = [name.strip() for name in ODATA_FEEDS.split(",") if name.strip()]
    unknown = [name for name in names if name not in DELTA_FEEDS]
    if unknown:
        raise ValueError(
            f"SCP_ODATA_FEEDS has unknown entity sets {unknown}; known: {sorted(DELTA_FEEDS)}"
        )
    return names


@dg.sensor(
    name="sap_odata_delta_sensor",
    minimum_interval_seconds=ODATA_SENSOR_INTERVAL,
    default_status=_status(bool(os.getenv("SCP_ODATA_BASE_URL"))),
    description=(
        "Reads S/4HANA OData (LastChangeDateTime deltas; daily snapshots of product plants and "
        "stock; material documents by posting day) and writes the changed table-days as "
        "landing files into <landing>/incoming/, where landing_sensor (SCP_LANDING_SENSOR=on) "
        "takes them."
    ),
)
def sap_odata_delta_sensor(
    context: dg.SensorEvaluationContext, sap_odata: SapODataResource, landing: LandingZone
) -> dg.SensorResult:
    """Within `tick_budget_s`: a read the server throttles past it stops with a skip reason
    saying so, and the feed's cursor stays where it was, so the next tick reads it again."""
    cursors: dict[str, str | None] = json.loads(context.cursor) if context.cursor else {}
    store = landing_store(landing.path)
    client = sap_odata.get_client()
    day = _last_partition_day()
    written: list[str] = []
    stopped: str | None = None
    try:
        with client.deadline(sap_odata.tick_budget_s):
            for name in odata_feeds():
                extract = extract_feed(
                    client,
                    DELTA_FEEDS[name],
                    cursors.get(name),
                    day,
                    ODATA_LOOKBACK_DAYS,
                    since=ODATA_DELTA_SINCE,
                )
                if extract is None:
                    continue
                if extract.undated:
                    context.log.warning(
                        f"{name}: {extract.undated} changed rows without a date skipped"
                    )
                written += write_delta_files(store, extract)
                cursors[name] = extract.cursor
    except ODataRetryLater as exc:
        stopped = (
            f"OData read of {name} stopped within this tick's {sap_odata.tick_budget_s:g} s "
            f"budget (SCP_ODATA_TICK_BUDGET): {exc}. Its cursor is kept; the next tick retries"
        )
        context.log.warning(stopped)
    finally:
        client.close()
    cursor = json.dumps(cursors, sort_keys=True)
    if written:
        context.log.info(f"Wrote {len(written)} landing files: {', '.join(written)}")
        reason = f"Wrote {len(written)} files into incoming/; landing_sensor loads them"
    else:
        reason = "No changed rows"
    return dg.SensorResult(
        skip_reason=f"{stopped} ({reason})" if stopped else reason, cursor=cursor
    )


ingest_sensors: list[dg.SensorDefinition] = [landing_sensor, sap_odata_delta_sensor]
