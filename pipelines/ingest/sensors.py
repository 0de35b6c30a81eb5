"""Sensors for the outside world: SAP files landing in `incoming/`, and S/4HANA OData changes.

`landing_sensor` takes stable deliveries from `<landing>/incoming/`, puts them in place (the
replaced file goes to the archive), records them in `raw.landing_manifest` and requests a run
of exactly the raw partitions they touch; downstream partitions follow through their
automation conditions. `sap_odata_delta_sensor` turns OData reads into landing files, so
both sources share one load path, one archive and one manifest: it only writes into
`incoming/`, and `landing_sensor` must run to load what it writes. The job
`sap_odata_full_read` makes the reads a tick's budget cannot hold (a first full read) with the
same functions, and the OData sensor continues each feed from where it ended.

Both are STOPPED by default. On a laptop `make demo` writes extracts straight into the
landing root and materializes them itself, so a running landing sensor would only tick over
an empty folder and, with a DuckDB warehouse, compete with runs for the file's single-writer
lock. `SCP_LANDING_SENSOR=on` (the Docker deployment) starts it RUNNING; setting
`SCP_ODATA_BASE_URL` starts the OData sensor RUNNING. Either can be started in the UI.

A delivery the landing sensor rejects (no table or day in its name, an unreadable header) is
sent to the alert channels (`SCP_ALERT_*`): no run fails for it, so the run-failure alerts
would never say that a day is missing.
"""

import logging
import os
from collections.abc import Sequence
from datetime import UTC, date, datetime

import dagster as dg
from pydantic import Field, field_validator

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
    DeltaExtract,
    LandingCursor,
    LandingStore,
    ODataCursor,
    RunPlan,
    TickPlan,
    Watermark,
    catch_up,
    commit_tick,
    extract_feed,
    landing_store,
    next_start,
    plan_tick,
    read_watermark,
    ready_files,
    split_available,
    write_delta_files,
    write_watermark,
)
from pipelines.ingest.odata import ODataRetryLater, format_cursor, parse_cursor
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


def _feed_names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def odata_feeds(names: Sequence[str] | None = None, setting: str = "SCP_ODATA_FEEDS") -> list[str]:
    """`names` (SCP_ODATA_FEEDS when None); an unknown one is an error naming `setting`."""
    names = _feed_names(ODATA_FEEDS) if names is None else list(names)
    unknown = [name for name in names if name not in DELTA_FEEDS]
    if unknown:
        raise ValueError(
            f"{setting} has unknown entity sets {unknown}; known: {sorted(DELTA_FEEDS)}"
        )
    return names


def _missed_days_warning(name: str, days: Sequence[date]) -> str:
    span = str(days[0]) if len(days) == 1 else f"{days[0]}..{days[-1]} ({len(days)} days)"
    return (
        f"{name}: no stock snapshot for {span}: the API serves the current stock only, so a "
        "day no read was made on has none, now or later. Nothing fills the gap in: raw.mard "
        "and fct_inventory_daily have no rows for those days, fct_demand_daily marks them "
        "is_stock_observed = false (not stockouts), and replenishment starts from the latest "
        "snapshot before its plan date"
    )


def _land_extract(
    log: logging.Logger, store: LandingStore, name: str, extract: DeltaExtract
) -> list[str]:
    """Write an extract's landing files (the sensor and the full read alike), warning of what
    the files cannot hold: rows without a date, days of stock that have no snapshot."""
    if extract.undated:
        log.warning(f"{name}: {extract.undated} changed rows without a date skipped")
    if extract.missed_days:
        log.warning(_missed_days_warning(name, extract.missed_days))
    return write_delta_files(store, extract)


@dg.sensor(
    name="sap_odata_delta_sensor",
    minimum_interval_seconds=ODATA_SENSOR_INTERVAL,
    default_status=_status(bool(os.getenv("SCP_ODATA_BASE_URL"))),
    description=(
        "Reads S/4HANA OData (LastChangeDateTime deltas; daily snapshots of product plants and "
        "stock; material documents by posting day) and writes the changed table-days as "
        "landing files into <landing>/incoming/, where landing_sensor (SCP_LANDING_SENSOR=on) "
        "takes them. A feed without a cursor continues where sap_odata_full_read ended."
    ),
)
def sap_odata_delta_sensor(
    context: dg.SensorEvaluationContext, sap_odata: SapODataResource, landing: LandingZone
) -> dg.SensorResult:
    """Within `tick_budget_s`: a read the server throttles past it stops with a skip reason
    saying so, and the feed's cursor stays where it was, so a later tick reads it again. The
    tick's first feed moves on (`next_start`), so a read that never fits the budget does not
    keep the feeds after it from being read."""
    state = ODataCursor.from_json(context.cursor)
    store = landing_store(landing.path)
    order = state.order(odata_feeds())
    for name in order:
        if state.feeds.get(name) is None and (mark := read_watermark(store, name)):
            state.feeds[name] = mark.cursor
            context.log.info(
                f"{name}: continues from {mark.cursor}, where sap_odata_full_read ended "
                f"(run {mark.run_id})"
            )
    client = sap_odata.get_client()
    day = _last_partition_day()
    written: list[str] = []
    reason: str | None = None
    try:
        with client.deadline(sap_odata.tick_budget_s):
            for name in order:
                extract = extract_feed(
                    client,
                    DELTA_FEEDS[name],
                    state.feeds.get(name),
                    day,
                    ODATA_LOOKBACK_DAYS,
                    since=ODATA_DELTA_SINCE,
                )
                if extract is not None:
                    written += _land_extract(context.log, store, name, extract)
                    state.feeds[name] = extract.cursor
        state.start = None
    except ODataRetryLater as exc:
        state.start = next_start(order, name)
        reason = (
            f"OData read of {name} stopped within this tick's {sap_odata.tick_budget_s:g} s "
            f"budget (SCP_ODATA_TICK_BUDGET): {exc}. Its cursor is kept; the next tick "
            f"retries, starting with {state.start}"
        )
        context.log.warning(reason)
    finally:
        client.close()
    if written:
        context.log.info(f"Wrote {len(written)} landing files: {', '.join(written)}")
        done = f"Wrote {len(written)} files into incoming/; landing_sensor loads them"
    else:
        done = "No changed rows"
    return dg.SensorResult(
        skip_reason=f"{reason} ({done})" if reason else done, cursor=state.to_json()
    )


class ODataFullReadConfig(dg.Config):
    """The feeds to read in full, and from when."""

    feeds: list[str] = Field(
        default=_feed_names(ODATA_FEEDS),
        description="OData entity sets to read, any of those SCP_ODATA_FEEDS takes (default: it)",
    )
    since: str | None = Field(
        default=None,
        description=(
            "ISO 8601: read what changed after it, and material documents posted from its day "
            "on. Unset: everything, and material documents of the last SCP_ODATA_LOOKBACK_DAYS "
            "days only. Snapshots (product plants, stock) are read as they are now."
        ),
    )

    @field_validator("since")
    @classmethod
    def _iso(cls, since: str | None) -> str | None:
        return None if since is None else format_cursor(parse_cursor(since))


@dg.op
def read_odata_feeds_in_full(
    context: dg.OpExecutionContext,
    config: ODataFullReadConfig,
    sap_odata: SapODataResource,
    landing: LandingZone,
) -> None:
    """Each feed is read until it has caught up and its watermark is written as soon as it
    is done, so a run that fails part way keeps the feeds it finished."""
    names = odata_feeds(config.feeds, setting="feeds")
    store = landing_store(landing.path)
    client = sap_odata.get_client()
    day = _last_partition_day()
    for name in names:
        cursor: str | None = None
        written: list[str] = []
        for extract in catch_up(client, DELTA_FEEDS[name], day, ODATA_LOOKBACK_DAYS, config.since):
            written += _land_extract(context.log, store, name, extract)
            cursor = extract.cursor
        if cursor is not None:
            write_watermark(store, name, Watermark(cursor, context.run_id))
        context.log.info(
            f"{name}: read to {cursor}, {len(written)} landing files written"
            + (f" ({', '.join(written)})" if written else "")
        )


@dg.job(
    description=(
        "Reads OData feeds in full, without the sensor's tick budget, into landing files in "
        "<landing>/incoming/ (as sap_odata_delta_sensor writes them); the sensor continues "
        "each feed from where this read ended."
    ),
)
def sap_odata_full_read() -> None:
    """The first full read, or a fresh one, of S/4HANA OData feeds, launched from the UI.

    A run cannot set a sensor's cursor cleanly: Dagster keeps it in the sensor's instigator
    state, which only the sensor's own ticks (and an operator, `dagster sensor cursor`)
    write, and a tick running meanwhile would overwrite it with the cursor it started from.
    So the run leaves, per feed, the cursor its read reached in `<landing>/odata/<feed>.json`
    (`write_watermark`), and the sensor takes it for a feed it has no cursor for (a first
    read that never fitted a tick). A feed the sensor already has a cursor for keeps it:
    reading from there again only re-reads rows, which the idempotent loads absorb, whereas
    jumping to the run's cursor could skip changes the run did not read (a later `since`).
    """
    read_odata_feeds_in_full()


ingest_sensors: list[dg.SensorDefinition] = [landing_sensor, sap_odata_delta_sensor]
ingest_jobs: list[dg.JobDefinition] = [sap_odata_full_read]
