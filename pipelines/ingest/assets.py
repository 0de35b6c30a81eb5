"""One raw asset per SAP table, built from its spec: daily partitions for transactional data."""

import warnings
from collections.abc import Iterator, Mapping
from datetime import date

import dagster as dg

from pipelines.alerts import (
    AlertConfigError,
    AlertDeliveryError,
    AlertSettings,
    refusal_alert,
    send_alert,
)
from pipelines.ingest.landing import CURRENT, landing_store, local_files, redeliver
from pipelines.ingest.load import (
    LoadReport,
    ensure_raw_tables,
    landing_file_name,
    load_table,
    raw_table_columns,
    window_file_names,
)
from pipelines.ingest.quality import QualityRules
from pipelines.ingest.reader import EXTRA_COLUMN, ReaderSettings
from pipelines.ingest.specs import TABLE_SPECS, TableSpec
from pipelines.partitions import daily_partitions
from resources.dagster_resources import WAREHOUSE_POOL, LandingZone, WarehouseResource

#: A backfill over years has thousands of files; their checksums stay in raw.landing_manifest.
MAX_CHECKSUMS_IN_METADATA = 31


def raw_asset_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", table.lower()])


def partition_window(context: dg.AssetExecutionContext) -> tuple[date, date]:
    window = context.partition_time_window
    return window.start.date(), window.end.date()


def _column_schema(spec: TableSpec) -> dg.TableSchema:
    types = raw_table_columns(spec)
    return dg.TableSchema(
        columns=[
            dg.TableColumn(col.sql_name, types[col.sql_name], description=col.description)
            for col in spec.columns
        ]
    )


LOADER_CHECK = "quarantine_share_below_threshold"


def _loader_metadata(report: LoadReport) -> dict[str, object]:
    worst = max((f.quarantined_share for f in report.file_loads), default=0.0)
    return {
        "quarantined_share": dg.FloatMetadataValue(round(report.quarantined_share, 6)),
        "worst_file_share": dg.FloatMetadataValue(round(worst, 6)),
        "threshold": dg.FloatMetadataValue(report.threshold),
        "rows_quarantined": report.rows_quarantined,
        "refused_files": dg.JsonMetadataValue(
            {f.name: f.refusal(report.threshold) for f in report.refused}
        ),
    }


def _check_results(report: LoadReport) -> list[dg.AssetCheckResult]:
    """The loader's check of a master table: fails the run when the loader refused the file
    (unreadable, or too many rejects; the table keeps its rows) or the rejected share passes
    the threshold."""
    return [
        dg.AssetCheckResult(
            check_name=LOADER_CHECK,
            passed=not report.failures(),
            severity=dg.AssetCheckSeverity.ERROR,
            metadata=_loader_metadata(report),
        )
    ]


#: A run tag: "run" records one verdict per check for the whole run instead of one per day.
#: `pipelines.materialize` sets it, whose command runs the downstream steps itself: per-day
#: verdicts cost an event each (about 20 ms on SQLite, 5 min for `make demo`'s 730 days).
CHECK_VERDICTS_TAG = "scp/check_verdicts"


def partition_check_evaluations(
    context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext,
    asset_key: dg.AssetKey,
    check_name: str,
    failures: Mapping[str | None, str],
    metadata: Mapping[str, object],
    blocking: bool,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
) -> Iterator[dg.AssetCheckEvaluation | dg.AssetCheckResult | dg.Output]:
    """A check's verdict on each partition of the run, each on its partition's latest
    materialization. Dagster records one result on a partition range as on no partition, so a
    range run's days would never count as checked (their downstream never runs), and a
    verdict on the whole range would let one broken day hold back the good ones.
    `failures`: reasons by partition key; None fails every partition."""
    from dagster._core.definitions.asset_checks.asset_check_evaluation import (
        AssetCheckEvaluationTargetMaterializationData,
    )

    if context.run.tags.get(CHECK_VERDICTS_TAG) == "run":
        reasons = sorted(set(failures.values()))
        yield dg.AssetCheckResult(
            asset_key=asset_key,
            check_name=check_name,
            passed=not failures,
            metadata={**metadata, **({"failed_because": reasons} if reasons else {})},
            severity=severity,
        )
        return
    keys = context.partition_keys
    stray = [reason for key, reason in failures.items() if key is not None and key not in keys]
    if stray:  # a file of another day whose rows are dated in the run's window
        failures = {**failures, None: failures.get(None) or stray[0]}
    latest: dict[str, dg.EventLogRecord] = {}
    cursor = None
    while len(latest) < len(keys):  # newest first: usually one page, this run's records
        page = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=keys),
            limit=len(keys),
            cursor=cursor,
        )
        for record in page.records:
            latest.setdefault(str(record.partition_key), record)
        if not page.has_more:
            break
        cursor = page.cursor
    for key in keys:
        target = None
        if key in latest:
            target = AssetCheckEvaluationTargetMaterializationData(
                run_id=latest[key].event_log_entry.run_id,
                storage_id=latest[key].storage_id,
                timestamp=latest[key].timestamp,
            )
        reason = failures.get(key) or failures.get(None)
        yield dg.AssetCheckEvaluation(
            asset_key=asset_key,
            check_name=check_name,
            passed=reason is None,
            partition=key,
            metadata={**metadata, **({"failed_because": reason} if reason else {})},
            severity=severity,
            blocking=blocking,
            target_materialization_data=target,
        )
    check_key = dg.AssetCheckKey(asset_key, check_name)
    assets_def = context.op_execution_context.assets_def
    # the step's output for the check, which Dagster requires; the verdicts are the above
    yield dg.Output(None, output_name=assets_def.get_output_name_for_asset_check_key(check_key))


def build_raw_asset(spec: TableSpec) -> dg.AssetsDefinition:
    partitioned = spec.is_partitioned

    @dg.asset(
        key=raw_asset_key(spec.name),
        group_name="raw",
        description=(
            f"SAP {spec.name}: {spec.description}. Loaded from the current landing-zone "
            "extracts; each load completes its files' rows in raw.landing_manifest."
        ),
        partitions_def=daily_partitions if partitioned else None,
        backfill_policy=dg.BackfillPolicy.single_run() if partitioned else None,
        pool=WAREHOUSE_POOL,
        kinds={"sap", "csv"},
        metadata={
            "dagster/column_schema": _column_schema(spec),
            "primary_key": ", ".join(spec.key),
            "partition_column": spec.partition_column or "",
        },
        check_specs=[_loader_check_spec(spec)],
    )
    def raw_table(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, landing: LandingZone
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckEvaluation | dg.Output]:
        window = partition_window(context) if partitioned else None
        store = landing_store(landing.path)
        present = {entry.name for entry in store.list(CURRENT)}
        names = [name for name in window_file_names(spec, window) if name in present]
        if not partitioned and not names and spec.optional:
            ensure_raw_tables(warehouse.open())
            context.log.warning(f"No {landing_file_name(spec)} delivered; {spec.name} kept as is")
            empty = LoadReport(f"raw.{spec.raw_table}", threshold=QualityRules.from_env().threshold)
            yield dg.MaterializeResult(
                metadata={"delivered": False}, check_results=_check_results(empty)
            )
            return
        if not partitioned and not names:
            raise FileNotFoundError(
                f"No extract for master table {spec.name}: expected "
                f"{landing.path.rstrip('/')}/{landing_file_name(spec)}"
            )
        with local_files(store, CURRENT, names) as files:
            settings = ReaderSettings.from_env()
            report = load_table(warehouse.open(), spec, files, window, context.run_id, settings)
        context.log.info(
            f"{spec.name}: {report.rows_loaded} rows loaded, {report.rows_quarantined} "
            f"quarantined from {len(report.files)} files"
        )
        absent = sorted(set(window_file_names(spec, window)) - set(names))
        if absent:
            context.log.info(  # days without postings are common (weekends)
                f"{len(absent)} day(s) of the window have no {spec.name} file and keep their "
                f"rows, e.g. {', '.join(absent[:3])}"
            )
        extras_went = (
            f"kept in raw.{spec.raw_table}.{EXTRA_COLUMN}"
            if settings.extra_columns == "keep"
            else "not loaded"
        )
        for load in report.file_loads:
            extra = load.detected_format.get("extra_columns", "none")
            missing = load.detected_format.get("missing_columns", "none")
            if extra != "none" or missing != "none":
                context.log.warning(
                    f"{load.name}: columns {spec.name} does not know, {extras_went}: {extra}; "
                    f"columns missing, loaded as NULL: {missing}"
                )
        kept = "Its day keeps its" if partitioned else f"raw.{spec.raw_table} keeps its"
        for load in report.refused:
            context.log.error(
                f"{load.name} refused: {load.refusal(report.threshold)}. {kept} previous rows; "
                "the rows the reader rejected are in quarantine.rejected_rows"
            )
            predecessor = load.restored_delivery
            # a master extract keeps the dated name it came under; a day, its day's name
            name = load.name if partitioned else load.restored_name or load.name
            if predecessor is not None and not redeliver(store, predecessor, name):
                context.log.warning(
                    f"archive/{predecessor} not dropped again: incoming/ holds a newer "
                    f"delivery of {load.name}"
                )
        if pooled := report.pooled_failure():
            context.log.error(
                f"{spec.name}: {pooled}: the load is kept, its checks fail, and downstream "
                "waits for a corrected delivery (the rejected rows are in quarantine.rejected_rows)"
            )
        metadata = {
            "dagster/row_count": report.rows_loaded,
            "rows_read": report.rows_read,
            "rows_quarantined": report.rows_quarantined,
            "files": len(report.files),
            "files_refused": len(report.refused),
            "days_without_file": len(absent),
            "detected_format": dg.JsonMetadataValue(next(iter(report.formats.values()), {})),
        }
        if len(report.files) <= MAX_CHECKSUMS_IN_METADATA:
            metadata["sha256"] = dg.JsonMetadataValue(report.checksums)
        if not partitioned:
            yield dg.MaterializeResult(metadata=metadata, check_results=_check_results(report))
            return
        yield dg.MaterializeResult(metadata=metadata)  # its materializations are stored first
        failures = report.failures()
        # A refused day fails its own check without failing the run: raw kept that day's rows,
        # and the run's other days must reach their checks and downstream. It is alerted, and
        # automation holds that day back (the check is blocking). Rows loaded with too large
        # a rejected share (None) fail the run.
        yield from partition_check_evaluations(
            context,
            raw_asset_key(spec.name),
            LOADER_CHECK,
            failures,
            _loader_metadata(report),
            blocking=None in failures,
        )
        _alert_refused(context, spec, report)

    return raw_table


def _alert_refused(context: dg.AssetExecutionContext, spec: TableSpec, report: LoadReport) -> None:
    """Send the refused day files to the alert channels; a delivery failure is logged, as the
    load has committed."""
    if not report.refused:
        return
    refused = [(f.name, str(f.refusal(report.threshold))) for f in report.refused]
    try:
        settings = AlertSettings.from_env()
        if settings.channels:
            alert = refusal_alert(
                spec.name, refused, context.run_id, settings.run_url(context.run_id)
            )
            delivered = send_alert(settings, alert)
            context.log.info(f"Refused files sent via {', '.join(delivered)}")
    except (AlertConfigError, AlertDeliveryError) as exc:
        context.log.warning(f"Refused files not alerted: {exc}")


def _loader_check_spec(spec: TableSpec) -> dg.AssetCheckSpec:
    """The loader's blocking check; a transactional table's is partitioned like its asset, so
    a refused day fails that day only (partitioned checks are a preview of Dagster 1.13)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return dg.AssetCheckSpec(
            LOADER_CHECK,
            asset=raw_asset_key(spec.name),
            blocking=True,
            description="Share of rejected rows stays under SCP_QUARANTINE_THRESHOLD.",
            partitions_def=daily_partitions if spec.is_partitioned else None,
        )


raw_assets = [build_raw_asset(spec) for spec in TABLE_SPECS.values()]
