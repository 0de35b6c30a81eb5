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
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

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
    READ_FROM_START,
    RUN_REQUEST_GRACE,
    DeltaExtract,
    LandingCursor,
    LandingEntry,
    LandingStore,
    ODataCursor,
    RunPlan,
    TickPlan,
    Watermark,
    WatermarkError,
    catch_up,
    commit_tick,
    existing_landing_store,
    extract_feed,
    headers_before,
    held_snapshot,
    next_start,
    orphan_markers,
    plan_tick,
    plants_in_flight,
    read_watermark,
    ready_files,
    received_run_keys,
    received_runs,
    split_available,
    watermark_file,
    write_delta_files,
    write_watermark,
)
from pipelines.ingest.odata import (
    CLOCK_AHEAD,
    ODataAuthError,
    ODataError,
    ODataRetryLater,
    ODataUnavailable,
    format_cursor,
    past_cursor,
)
from pipelines.ingest.quality import uses_plants
from pipelines.ingest.specs import TABLE_SPECS
from pipelines.partitions import daily_partitions
from resources.dagster_resources import (
    LandingZone,
    WarehouseResource,
    number_setting,
    switch_setting,
)
from resources.odata import SapODataResource
from resources.warehouse import Warehouse, is_lock_conflict

T = TypeVar("T")
LANDING_SENSOR_INTERVAL = number_setting("SCP_LANDING_SENSOR_INTERVAL", 30, int, 1)
#: How long a file without a marker must look unchanged before it is taken (seconds): one
#: unchanged look alone takes a file whose writer paused longer than the sensor's interval.
LANDING_QUIET = timedelta(seconds=number_setting("SCP_LANDING_QUIET_SECONDS", 60, int, 0))
ODATA_SENSOR_INTERVAL = number_setting("SCP_ODATA_SENSOR_INTERVAL", 300, int, 1)
ODATA_FEEDS = os.getenv("SCP_ODATA_FEEDS") or "A_SalesOrder,A_Product"


def checked_since(since: str | None, what: str) -> str | None:
    """`since` as a UTC ISO 8601 cursor; not ISO 8601 or later than now is a ValueError naming
    `what`: a cursor in the future would skip every change until then."""
    return None if since is None else format_cursor(past_cursor(since, what))


#: First delta cursor when the sensor has none (ISO 8601); unset means a full first read.
ODATA_DELTA_SINCE = checked_since(
    os.getenv("SCP_ODATA_DELTA_SINCE") or None, "SCP_ODATA_DELTA_SINCE"
)
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


def _remove_orphan_markers(
    context: dg.SensorEvaluationContext, store: LandingStore, entries: Sequence[LandingEntry]
) -> None:
    """Remove the markers this look found without their file (`orphan_markers`): left, one
    would make the next delivery of its name ready while it is still being written."""
    for name in orphan_markers(entries):
        store.remove(INCOMING, name)
        context.log.info(f"Removed {name}: its file is no longer in incoming/")


def _read_unless_busy(
    warehouse: WarehouseResource, read: Callable[[Warehouse, Any], T]
) -> T | None:
    """`read(warehouse, cursor)` in a transaction of its own; None while a run holds the DuckDB
    file: a tick never waits for a run, and looks again at the next one."""
    try:
        opened = warehouse.open(lock_wait_seconds=0)
        with opened.transaction() as cur:
            return read(opened, cur)
    except Exception as exc:
        if not is_lock_conflict(exc):
            raise
        return None


def _hold_for_plants(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource, runs: Sequence[RunPlan]
) -> tuple[list[RunPlan], list[RunPlan]]:
    """The runs to request now, and those of tables checked against raw.t001w's plants that
    wait while a T001W delivery is being loaded (`plants_in_flight`): started first, they
    would refuse the first movements of a plant it introduces. A busy DuckDB file holds
    nothing back: the tick cannot tell, and must not stall the runs."""
    waiting = [run for run in runs if uses_plants(TABLE_SPECS[run.table])]
    if not waiting:
        return list(runs), []
    now = datetime.now(UTC).replace(tzinfo=None)
    if not _read_unless_busy(warehouse, partial(plants_in_flight, now=now)):
        return list(runs), []
    for run in waiting:
        context.log.info(f"{run.table}: waits for the T001W delivery being loaded (new plants)")
    return [run for run in runs if run not in waiting], waiting


#: Runs more for a delivery whose run failed or was cancelled before it loaded (`_lost_runs`).
DELIVERY_RETRIES = 2
_ENDED_UNLOADED = (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


def _runs_of(context: dg.SensorEvaluationContext, run_key: str) -> list[dg.RunRecord]:
    """The runs of a delivery, first to last: its run key's, then those of `key:retry-1`, ...
    (`_lost_runs` and `_dropped_again` request the next one); the newest of each key."""
    records: list[dg.RunRecord] = []
    while True:
        key = f"{run_key}:retry-{len(records)}" if records else run_key
        runs = dg.RunsFilter(tags={"dagster/run_key": key})
        found = context.instance.get_run_records(filters=runs, limit=1)
        if not found:
            return records
        records += found


def _dropped_again(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource, plan: TickPlan
) -> list[RunPlan]:
    """Runs for deliveries dropped again whose current delivery, of the same content, no run
    loaded: its last run failed or was cancelled. Dropping the file again is how an operator
    loads it; a duplicate of a delivery whose run is queued or running stays a duplicate. Its
    run key is the delivery's next `:retry-<n>`, so `_lost_runs` sees it as one of its runs."""
    duplicates = {
        (str(d.canonical_name), str(d.checksum)): d
        for d in plan.decisions
        if d.status == "duplicate" and d.canonical_name and d.checksum
    }
    if not duplicates:
        return []
    keys = _read_unless_busy(warehouse, partial(received_run_keys, deliveries=list(duplicates)))
    if keys is None:
        names = ", ".join(d.file_name for d in duplicates.values())
        context.log.warning(
            f"{names}: archived as the current delivery's duplicates; whether that delivery was "
            "loaded could not be read (the warehouse is busy): if its day stays unloaded, drop "
            "the file again"
        )
        return []
    runs = []
    for delivery, key in keys.items():
        ended = _runs_of(context, key)
        if not ended or ended[-1].dagster_run.status not in _ENDED_UNLOADED:
            continue
        again = duplicates[delivery]
        context.log.warning(
            f"{again.file_name}: same content as the current {delivery[0]}, which no run "
            f"loaded (run {ended[-1].dagster_run.run_id} ended "
            f"{ended[-1].dagster_run.status.value.lower()}): requesting it again"
        )
        key_again = f"{key}:retry-{len(ended)}"
        runs.append(RunPlan(str(again.table), key_again, again.day, again.day, (delivery[0],)))
    return runs


def _lost_runs(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource, known: Sequence[RunPlan]
) -> list[RunPlan]:
    """Runs of deliveries placed long ago and still not loaded (`received_runs`) that no run
    loads and no cursor holds. Requested again: under their own run keys when no run took
    them (their tick died after placing them), so a run the daemon did launch is never
    doubled; under `<key>:retry-<n>` when their last run failed or was cancelled before it
    loaded them (a code server killed mid-run, a run an operator terminated), at most
    DELIVERY_RETRIES times, each RUN_REQUEST_GRACE after that run ended."""
    before = datetime.now(UTC).replace(tzinfo=None) - RUN_REQUEST_GRACE
    candidates = _read_unless_busy(warehouse, partial(received_runs, before=before)) or []
    keys = [run.run_key for run in known]
    lost = []
    for run in candidates:
        if any(key == run.run_key or key.startswith(f"{run.run_key}:") for key in keys):
            continue
        where = f"{run.table} {run.first_day or ''}..{run.last_day or ''} ({run.files[0]}...)"
        runs = _runs_of(context, run.run_key)
        if not runs:
            context.log.warning(
                f"{where}: placed, but its run was never requested (the tick that placed it "
                "did not end); requesting it now"
            )
            lost.append(run)
            continue
        last = runs[-1]
        ended = last.end_time is not None and last.end_time < before.replace(tzinfo=UTC).timestamp()
        if last.dagster_run.status not in _ENDED_UNLOADED or not ended:
            continue
        if len(runs) > DELIVERY_RETRIES:
            continue  # each failure was alerted; dropping the file again loads it
        status = last.dagster_run.status.value.lower()
        context.log.warning(
            f"{where}: not loaded; its run {last.dagster_run.run_id} ended {status}: "
            f"requesting it again ({len(runs)} of {DELIVERY_RETRIES})"
        )
        lost.append(replace(run, run_key=f"{run.run_key}:retry-{len(runs)}"))
    return lost


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
    default_status=_status(switch_setting("SCP_LANDING_SENSOR")),
    target=dg.AssetSelection.assets(*RAW_KEYS),
    description=(
        "Takes SAP extracts from <landing>/incoming/ once stable (unchanged over two ticks and "
        "SCP_LANDING_QUIET_SECONDS, or with a <name>.done marker), archives the file they "
        "replace, records them in raw.landing_manifest and runs the raw partitions they touch."
    ),
)
def landing_sensor(
    context: dg.SensorEvaluationContext, landing: LandingZone, warehouse: WarehouseResource
) -> dg.SensorResult:
    store = existing_landing_store(landing.path)
    state = LandingCursor.from_json(context.cursor)
    entries = store.list(INCOMING)
    if nested := store.folders(INCOMING):  # a drop into a subfolder is never read: say so
        context.log.warning(_nested_warning(nested))
    ready, seen = ready_files(entries, state.seen, quiet=LANDING_QUIET)
    _remove_orphan_markers(context, store, entries)
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
        runs = [*plan.runs, *_dropped_again(context, warehouse, plan)]
        for entry in ready:  # taken: a later file of the same name must prove stable again
            seen.pop(entry.name, None)
    runs += _lost_runs(context, warehouse, [*state.deferred, *runs])
    requested, deferred = split_available([*state.deferred, *runs], _last_partition_day())
    for run in deferred:
        context.log.info(f"{run.table} {run.first_day}..{run.last_day}: waits for its partition")
    requested, held = _hold_for_plants(context, warehouse, requested)
    cursor = LandingCursor(seen=seen, deferred=[*deferred, *held]).to_json()
    if not requested:
        waiting = len(seen)
        reason = f"No new deliveries ({waiting} files in incoming/ not yet stable)"
        return dg.SensorResult(
            skip_reason=reason + (f". {_nested_warning(nested)}" if nested else ""),
            cursor=cursor,
        )
    for run in requested:
        days = f" {run.first_day}..{run.last_day}" if run.first_day else ""
        context.log.info(f"Requesting raw/{run.table.lower()}{days}: {len(run.files)} files")
    return dg.SensorResult(run_requests=[run_request(run) for run in requested], cursor=cursor)


def _nested_warning(folders: Sequence[str]) -> str:
    shown = ", ".join(f"incoming/{name}/" for name in folders)
    return (
        f"{shown}: not read, the landing zone takes only files placed directly in incoming/; "
        "move the files up"
    )


def _feed_names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def odata_feeds(names: Sequence[str] | None = None, setting: str = "SCP_ODATA_FEEDS") -> list[str]:
    """`names` (SCP_ODATA_FEEDS when None), each once; none, or an unknown one, is an error
    naming `setting`."""
    names = list(dict.fromkeys(_feed_names(ODATA_FEEDS) if names is None else names))
    unknown = [name for name in names if name not in DELTA_FEEDS]
    if unknown or not names:
        problem = f"has unknown entity sets {unknown}" if unknown else "is empty: no feeds to read"
        raise ValueError(f"{setting} {problem}; known: {sorted(DELTA_FEEDS)}")
    return names


odata_feeds()  # a mistyped SCP_ODATA_FEEDS fails loading the definitions, naming it


#: What a feed's read raises for a fault of that feed (the server's answer to it, its rows, its
#: cursor): it fails that feed alone, and the other feeds are read.
FEED_ERRORS = (ODataError, ValueError)


def files_summary(names: Sequence[str], shown: int = 3) -> str:
    """`12 landing files (A, B, C and 9 more)`: a log line, not a listing."""
    if not names:
        return "0 landing files"
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return f"{len(names)} landing files ({', '.join(names[:shown])}{more})"


def feed_errors(failed: Mapping[str, Exception]) -> str:
    """`A_Product: <error>; A_SalesOrder: <error>`. The client's errors carry no secret."""
    return "; ".join(f"{name}: {exc}" for name, exc in failed.items())


#: Credentials SAP refused (`SapODataResource.credentials_key`) and when (time.monotonic()),
#: in the code server's memory, where sensor ticks run: each tick trying them again would
#: lock SAP's user after five ticks (login/fails_to_user_lock). New credentials reach the
#: process with a reload of the code location, which starts afresh.
_REFUSED_LOGONS: dict[str, float] = {}
#: How long refused credentials are not tried again (an administrator may unlock the user or
#: reset the password to the same one meanwhile).
REFUSED_LOGON_PAUSE_S = 3600.0


def _refused_logon_error(elapsed_s: float) -> ODataAuthError:
    return ODataAuthError(
        f"SAP refused these credentials {elapsed_s / 60:.0f} min ago: not tried again for "
        f"another {(REFUSED_LOGON_PAUSE_S - elapsed_s) / 60:.0f} min, so that ticks do not lock "
        "the user (login/fails_to_user_lock). Fix the credentials and reload the code location "
        "to try at once"
    )


def tick_fails(read: Sequence[str], failed: Mapping[str, Exception]) -> bool:
    """Whether a tick should raise: no feed was read, and one failed for a reason waiting will
    not cure (credentials, permissions, a bad URL or payload). Then saving the cursor would
    keep nothing, and Dagster shows the sensor failing. With a feed read, raising would drop
    its cursor; with only the server's "later" (429/5xx through every retry, the budget), the
    next tick may well succeed: both end the tick with a skip reason instead."""
    return not read and any(not isinstance(exc, ODataUnavailable) for exc in failed.values())


def _missed_days_warning(name: str, days: Sequence[date]) -> str:
    span = str(days[0]) if len(days) == 1 else f"{days[0]}..{days[-1]} ({len(days)} days)"
    return (
        f"{name}: no stock snapshot for {span}: the API serves the current stock only, so a "
        "day no read was made on has none, now or later. Nothing fills the gap in: raw.mard "
        "and fct_inventory_daily have no rows for those days, fct_demand_daily marks them "
        "is_stock_observed = false (not stockouts), and replenishment starts from the latest "
        "snapshot before its plan date"
    )


def _ahead_warning(name: str, extract: DeltaExtract) -> str:
    minutes = int(CLOCK_AHEAD.total_seconds() // 60)
    return (
        f"{name}: {extract.ahead} rows stamped LastChangeDateTime more than {minutes} minutes "
        "after this machine's clock. A clock ahead (an application server's) or local time "
        "written as UTC? Deltas read them only once their time comes; correct the clock or "
        "the stamps"
    )


def _land_extract(
    log: logging.Logger,
    store: LandingStore,
    open_warehouse: Callable[[], Warehouse],
    name: str,
    extract: DeltaExtract,
) -> list[str]:
    """Write an extract's landing files (the sensor and the full read alike), warning of what
    the files cannot hold: rows without a date, days of stock that have no snapshot, rows
    stamped in the future (read only once their time comes). A day of stock that has its snapshot
    keeps it, whether its file is still there or only the manifest (`open_warehouse`)
    remembers it."""
    if extract.undated:
        log.warning(f"{name}: {extract.undated} changed rows without a date skipped")
    if extract.missed_days:
        log.warning(_missed_days_warning(name, extract.missed_days))
    if extract.ahead:
        log.warning(_ahead_warning(name, extract))
    first_day = daily_partitions.start.date()
    if early := headers_before(extract, first_day):
        log.info(
            f"{name}: {early} {extract.header_table} rows dated before the first partition day "
            f"{first_day} "
            "(SCP_HISTORY_START) not written: no partition holds them"
        )
    if held := held_snapshot(store, extract, open_warehouse):
        log.info(
            f"{name}: stock of {extract.days[0]} not written: {held} already holds that day's "
            "snapshot, and this reading, later, is not the stock at the end of that day"
        )
        return []
    return write_delta_files(store, extract, first_day)


def _watermark(
    log: logging.Logger | None, store: LandingStore, where: str, name: str, day: date | None
) -> Watermark | None:
    """`name`'s watermark, or None, with a warning (to `log`, None for a feed that goes on from
    its own cursor), when its file is unusable: a feed without one starts as it would had
    sap_odata_full_read never run, and the others are unaffected."""
    try:
        return read_watermark(store, name, day)
    except WatermarkError as exc:
        if log is None:
            return None
        log.warning(
            f"{name}: watermark {where.rstrip('/')}/{watermark_file(name)} ignored: {exc}. "
            f"{name} starts as it would without one (from SCP_ODATA_DELTA_SINCE when set, else "
            "with the sensor's first read of it); fix or delete the file"
        )
        return None


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
    context: dg.SensorEvaluationContext,
    sap_odata: SapODataResource,
    landing: LandingZone,
    warehouse: WarehouseResource,
) -> dg.SensorResult:
    """Reads the feeds in turn within `tick_budget_s`. A read the budget cannot hold ends the
    tick with a skip reason saying so; the feed's cursor stays where it was, and `next_start`
    picks the feed the next tick starts with, so one that never fits does not keep the others
    from being read. A feed whose read fails otherwise (refused, the server failing through
    every retry, rows that do not map) is skipped for this tick, its error logged and given in
    the skip reason, and the next feed is read; the tick raises only as `tick_fails` says.

    The warehouse is opened only to ask the manifest whether a day of stock has its snapshot.
    Like landing_sensor, a tick never waits for a run holding the DuckDB file: that feed keeps
    its cursor and is read again at the next tick."""
    state = ODataCursor.from_json(context.cursor)
    now = datetime.now(UTC)
    store = existing_landing_store(landing.path)
    open_warehouse = partial(warehouse.open, lock_wait_seconds=0)
    order = state.order(odata_feeds())
    day = _last_partition_day()
    for name in order:
        current, feed = state.feeds.get(name), DELTA_FEEDS[name]
        if current is not None and feed.kind != "delta":
            continue  # a watermark only starts a daily feed
        mark = _watermark(context.log if current is None else None, store, landing.path, name, day)
        if mark and (current is None or mark.supersedes(feed, current)):
            state.feeds[name] = mark.cursor
            context.log.info(
                f"{name}: continues from {mark.cursor}, where sap_odata_full_read ended"
                + (f" (run {mark.run_id})" if mark.run_id else "")
            )
    signed_in = sap_odata.credentials_key()
    if (refused_at := _REFUSED_LOGONS.get(signed_in)) is not None:
        elapsed_s = time.monotonic() - refused_at
        if elapsed_s < REFUSED_LOGON_PAUSE_S:
            raise _refused_logon_error(elapsed_s)
    client = sap_odata.get_client()
    written: list[str] = []
    read: list[str] = []
    failed: dict[str, Exception] = {}
    busy: dict[str, Exception] = {}
    stopped: tuple[str, ODataRetryLater] | None = None
    waiting = {name: until for name in order if (until := state.waiting(name, now))}
    try:
        with client.deadline(sap_odata.tick_budget_s):
            for name in order:
                if name in waiting:
                    continue
                try:
                    extract = extract_feed(
                        client,
                        DELTA_FEEDS[name],
                        state.feeds.get(name),
                        day,
                        ODATA_LOOKBACK_DAYS,
                        since=ODATA_DELTA_SINCE,
                    )
                    if extract is not None:
                        written += _land_extract(context.log, store, open_warehouse, name, extract)
                        state.feeds[name] = extract.cursor
                        read.append(name)
                    state.not_before.pop(name, None)
                except ODataRetryLater as exc:
                    stopped = name, exc
                    if exc.retry_after:  # SAP's wait holds across ticks, from its answer on
                        until = datetime.now(UTC) + timedelta(seconds=exc.retry_after)
                        state.not_before[name] = until.isoformat()
                    break
                except ODataAuthError as exc:
                    # The feeds share the credentials: trying them on every feed would lock
                    # SAP's technical user (login/fails_to_user_lock, 5 by default) in one tick.
                    _REFUSED_LOGONS[signed_in] = time.monotonic()
                    failed[name] = exc
                    context.log.error(f"{name}: {exc}; no further feed tried this tick")
                    break
                except FEED_ERRORS as exc:
                    failed[name] = exc
                    context.log.warning(f"{name}: not read this tick: {exc}")
                except Exception as exc:
                    if not is_lock_conflict(exc):
                        raise
                    busy[name] = exc
    finally:
        client.close()
    if read:
        _REFUSED_LOGONS.pop(signed_in, None)
    if tick_fails(read, failed):
        raise ODataError(f"No OData feed could be read: {feed_errors(failed)}")
    state.start = next_start(order, stopped[0] if stopped else None)
    reasons = []
    if waiting:
        shown = ", ".join(f"{name} before {until}" for name, until in waiting.items())
        reasons.append(f"Not read, as SAP asked (Retry-After): {shown}")
    if stopped:
        reasons.append(
            f"OData read of {stopped[0]} stopped within this tick's "
            f"{sap_odata.tick_budget_s:g} s budget (SCP_ODATA_TICK_BUDGET): {stopped[1]}. Its "
            f"cursor is kept; the next tick retries, starting with {state.start}"
        )
        context.log.warning(reasons[-1])
    if failed:
        reasons.append(f"Not read this tick, tried again at the next: {feed_errors(failed)}")
    if busy:
        reasons.append(
            "Warehouse busy, so whether a day of stock has its snapshot is not known; read again "
            f"at the next tick: {feed_errors(busy)}"
        )
        context.log.info(reasons[-1])
    if written:
        context.log.info(f"Wrote {files_summary(written)}")
        reasons.append(f"Wrote {len(written)} files into incoming/; landing_sensor loads them")
    elif not reasons:
        reasons.append("No changed rows")
    return dg.SensorResult(skip_reason=". ".join(reasons), cursor=state.to_json())


class ODataFullReadConfig(dg.Config):
    """The feeds to read in full, and from when."""

    feeds: list[str] = Field(
        default=_feed_names(ODATA_FEEDS),
        validate_default=True,
        description="OData entity sets to read, any of those SCP_ODATA_FEEDS takes (default: it)",
    )
    since: str | None = Field(
        default=None,
        description=(
            "ISO 8601, not later than now: read what changed after it, and material documents "
            "posted from its day on. Unset: everything, and material documents of the last "
            "SCP_ODATA_LOOKBACK_DAYS days only. Snapshots (product plants, stock) are read as "
            "they are now."
        ),
    )

    @field_validator("feeds")
    @classmethod
    def _known(cls, feeds: list[str]) -> list[str]:
        return odata_feeds(feeds, setting="feeds")

    @field_validator("since")
    @classmethod
    def _iso(cls, since: str | None) -> str | None:
        return checked_since(since, "since")


@dg.op
def read_odata_feeds_in_full(
    context: dg.OpExecutionContext,
    config: ODataFullReadConfig,
    sap_odata: SapODataResource,
    landing: LandingZone,
    warehouse: WarehouseResource,
) -> None:
    """Each feed is read until it has caught up and its watermark is written as soon as it
    is done, so a run that fails part way keeps the feeds it finished. A feed whose read
    fails does not keep the others from being read; the run fails at the end, naming it."""
    store = existing_landing_store(landing.path)
    client = sap_odata.get_client()
    day = _last_partition_day()
    failed: dict[str, Exception] = {}
    for name in config.feeds:
        cursor: str | None = None
        written: list[str] = []
        try:
            for extract in catch_up(
                client, DELTA_FEEDS[name], day, ODATA_LOOKBACK_DAYS, config.since
            ):
                written += _land_extract(context.log, store, warehouse.open, name, extract)
                cursor = extract.cursor
        except ODataAuthError as exc:  # shared credentials: one refusal per feed locks SAP's user
            failed[name] = exc
            context.log.error(f"{name}: {exc}; no further feed tried")
            break
        except FEED_ERRORS as exc:
            failed[name] = exc
            context.log.error(
                f"{name}: not read to the end ({files_summary(written)} written, no watermark): "
                f"{exc}"
            )
            continue
        if cursor is not None:
            read_from = config.since or READ_FROM_START
            write_watermark(store, name, Watermark(cursor, context.run_id, read_from))
        context.log.info(f"{name}: read to {cursor}, {files_summary(written)} written")
    if failed:
        raise dg.Failure(f"Feeds not read: {feed_errors(failed)}")


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
    read that never fitted a tick), and for a delta feed whose cursor the run's read began at
    or before and ended after (a mass change no tick can hold: `Watermark.supersedes`). Any
    other cursor is kept: jumping to the run's could skip changes it did not read (a later
    `since`).

    What the run writes over the sensor's files is harmless for most feeds: an order, product
    or material-document file is written only where its rows differ from the file it
    replaces, and product plants are master data, current when read. Stock is not: a day's
    snapshot is the stock read at the first tick after that day, and a run reads the stock of
    its own moment. So a day of stock that already has a snapshot (the current file, one
    waiting in incoming/, or one the landing manifest says was received, its file gone from
    current/ since) keeps it, and the run writes stock only for a day that has none.
    """
    read_odata_feeds_in_full()


ingest_sensors: list[dg.SensorDefinition] = [landing_sensor, sap_odata_delta_sensor]
ingest_jobs: list[dg.JobDefinition] = [sap_odata_full_read]
