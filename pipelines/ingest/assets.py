"""One raw asset per SAP table, built from its spec: daily partitions for transactional data."""

from datetime import date

import dagster as dg

from pipelines.ingest.landing import CURRENT, landing_store, local_files
from pipelines.ingest.load import (
    LoadReport,
    ensure_raw_tables,
    landing_file_name,
    load_table,
    raw_table_columns,
    window_file_names,
)
from pipelines.ingest.quality import QualityRules
from pipelines.ingest.reader import ReaderSettings
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


def _check_results(spec: TableSpec, report: LoadReport) -> list[dg.AssetCheckResult]:
    """Fails when the loader refused a file (unreadable, or too many rejects: a share pooled
    over a range would let one broken day pass among good ones) or when the load's pooled
    share passes the threshold (many small files with a rejected row each)."""
    worst = max((f.quarantined_share for f in report.file_loads), default=0.0)
    return [
        dg.AssetCheckResult(
            check_name="quarantine_share_below_threshold",
            passed=not report.refused and report.quarantined_share <= report.threshold,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "quarantined_share": dg.FloatMetadataValue(round(report.quarantined_share, 6)),
                "worst_file_share": dg.FloatMetadataValue(round(worst, 6)),
                "threshold": dg.FloatMetadataValue(report.threshold),
                "rows_quarantined": report.rows_quarantined,
                "refused_files": dg.JsonMetadataValue(
                    {f.name: f.refusal(report.threshold) for f in report.refused}
                ),
            },
        )
    ]


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
        check_specs=[
            dg.AssetCheckSpec(
                "quarantine_share_below_threshold",
                asset=raw_asset_key(spec.name),
                blocking=True,
                description="Share of rejected rows stays under SCP_QUARANTINE_THRESHOLD.",
            )
        ],
    )
    def raw_table(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, landing: LandingZone
    ) -> dg.MaterializeResult:
        window = partition_window(context) if partitioned else None
        store = landing_store(landing.path)
        present = {entry.name for entry in store.list(CURRENT)}
        names = [name for name in window_file_names(spec, window) if name in present]
        if not partitioned and not names and spec.optional:
            ensure_raw_tables(warehouse.open())
            context.log.warning(f"No {landing_file_name(spec)} delivered; {spec.name} kept as is")
            return dg.MaterializeResult(
                metadata={"delivered": False},
                check_results=_check_results(
                    spec,
                    LoadReport(
                        f"raw.{spec.raw_table}", threshold=QualityRules.from_env().threshold
                    ),
                ),
            )
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
        missing = sorted(set(window_file_names(spec, window)) - set(names))
        if missing:
            context.log.info(  # days without postings are common (weekends)
                f"{len(missing)} day(s) of the window have no {spec.name} file and keep their "
                f"rows, e.g. {', '.join(missing[:3])}"
            )
        for load in report.refused:
            context.log.error(
                f"{load.name} refused: {load.refusal(report.threshold)}. Its day keeps the "
                "previous rows; the rows the reader rejected are in quarantine.rejected_rows"
            )
        metadata = {
            "dagster/row_count": report.rows_loaded,
            "rows_read": report.rows_read,
            "rows_quarantined": report.rows_quarantined,
            "files": len(report.files),
            "files_refused": len(report.refused),
            "days_without_file": len(missing),
            "detected_format": dg.JsonMetadataValue(next(iter(report.formats.values()), {})),
        }
        if len(report.files) <= MAX_CHECKSUMS_IN_METADATA:
            metadata["sha256"] = dg.JsonMetadataValue(report.checksums)
        return dg.MaterializeResult(
            metadata=metadata,
            check_results=_check_results(spec, report),
        )

    return raw_table


raw_assets = [build_raw_asset(spec) for spec in TABLE_SPECS.values()]
