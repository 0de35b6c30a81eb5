"""Asset checks that run each raw table's Great Expectations suite (`pipelines.ingest.quality`).

One check per raw table. Transactional tables get a check partitioned like their asset, so a
run (or a single-run backfill) checks exactly the partition window it loaded; master tables
are checked whole. Checks of critical tables are blocking with ERROR severity: when the
quarantined share passes `SCP_QUARANTINE_THRESHOLD`, downstream assets of the run do not
start. The others warn. A check that needs plants depends on `raw/t001w`, so a run that loads
both loads the plants first.

Partitioned asset checks are a preview feature of Dagster 1.13 (`partitions_def` on
`@asset_check`); its PreviewWarning is silenced here because the choice is deliberate.
"""

import warnings
from collections.abc import Iterator

import dagster as dg

from pipelines.ingest.assets import partition_check_evaluations, raw_asset_key
from pipelines.ingest.quality import (
    CRITICAL_TABLES,
    QualityReport,
    QualityRules,
    run_table_quality,
    table_rules,
    uses_plants,
)
from pipelines.ingest.specs import TABLE_SPECS, TableSpec
from pipelines.partitions import daily_partitions
from resources.dagster_resources import WAREHOUSE_POOL, WarehouseResource

CHECK_NAME = "quality_suite"
#: Rejected-row reasons shown in a check's metadata; all of them are in quarantine.
MAX_LISTED = 20


def _metadata(report: QualityReport) -> dict[str, object]:
    failing = {label: n for label, n in report.unexpected.items() if n}
    return {
        "rows_checked": report.rows_checked,
        "rows_rejected": report.rows_rejected,
        "rows_quarantined_before": report.rows_quarantined_before,
        "quarantined_share": dg.FloatMetadataValue(round(report.quarantined_share, 6)),
        "files_over_threshold": dg.JsonMetadataValue(
            {name: round(share, 6) for name, share in report.files_over_threshold.items()}
        ),
        "threshold": dg.FloatMetadataValue(report.threshold),
        "expectations": len(report.rules),
        "unexpected_by_expectation": dg.JsonMetadataValue(failing),
        "rejected_by_rule": dg.JsonMetadataValue(report.rejects_by_rule),
        "problems": dg.JsonMetadataValue(report.problems[:MAX_LISTED]),
        "chunks": report.chunks,
        "seconds": dg.FloatMetadataValue(round(report.seconds, 3)),
    }


def build_quality_check(spec: TableSpec) -> dg.AssetChecksDefinition:
    """The quality check of one raw table, read from its spec."""
    critical = spec.name in CRITICAL_TABLES
    partitioned = spec.is_partitioned
    rules = [
        rule.label for rule in table_rules(spec, QualityRules.from_env().with_plants(()), None)
    ]
    description = (
        f"Great Expectations suite on raw.{spec.raw_table}: keys, required values, numeric "
        "columns, partition dates, allowed codes, units and plants. Failing rows move to "
        "quarantine.rejected_rows; the check fails when the quarantined share of the "
        f"{'partition window' if partitioned else 'table'} exceeds SCP_QUARANTINE_THRESHOLD."
    )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)

        @dg.asset_check(
            asset=raw_asset_key(spec.name),
            name=CHECK_NAME,
            description=description,
            blocking=critical,
            additional_deps=[raw_asset_key("T001W")] if uses_plants(spec) else None,
            partitions_def=daily_partitions if partitioned else None,
            pool=WAREHOUSE_POOL,
            metadata={"critical": critical, "rules": ", ".join(rules)},
        )
        def quality_suite(
            context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
        ) -> Iterator[dg.AssetCheckResult | dg.AssetCheckEvaluation | dg.Output]:
            window = None
            if partitioned:
                time_window = context.partition_time_window
                window = (time_window.start.date(), time_window.end.date())
            report = run_table_quality(warehouse.open(), spec, window, context.run.run_id)
            context.log.info(
                f"{spec.name}: {report.rows_checked} rows checked, {report.rows_rejected} moved "
                f"to quarantine, share {report.quarantined_share:.4%} "
                f"(threshold {report.threshold:.2%})"
            )
            severity = dg.AssetCheckSeverity.ERROR if critical else dg.AssetCheckSeverity.WARN
            if not partitioned:
                yield dg.AssetCheckResult(
                    passed=report.passed, severity=severity, metadata=_metadata(report)
                )
                return
            yield from partition_check_evaluations(
                context,
                raw_asset_key(spec.name),
                CHECK_NAME,
                report.failures(),
                _metadata(report),
                blocking=critical,
                severity=severity,
            )

    return quality_suite


raw_quality_checks: list[dg.AssetChecksDefinition] = [
    build_quality_check(spec) for spec in TABLE_SPECS.values()
]
