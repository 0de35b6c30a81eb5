"""When things run, and who hears when a run fails.

- Schedules start the outside-world cadences: master data at 01:00, yesterday's transactions at
  02:00, the weekly forecast vintage and plans on Monday at 05:00 (all in `SCP_TIMEZONE`).
  They refer to the jobs of `pipelines/jobs.py` by name, so this module loads without the
  asset modules.
- `automation_sensor` evaluates the assets' `AutomationCondition`s (asset-to-asset updates).
- `run_failure_alerts` sends every failed run to the channels configured in `SCP_ALERT_*`.
- `with_freshness_policies` gives marts a daily and forecasts/plans a weekly freshness window.

Schedules start stopped unless `SCP_SCHEDULES=running` (set by docker-compose), so a laptop
running the demo does not re-ingest at night; sensors start running.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime, timedelta

import dagster as dg
from dagster_shared.error import SerializableErrorInfo

from pipelines.alerts import Alert, AlertSettings, failure_alert, send_alert
from pipelines.partitions import TIMEZONE, daily_partitions, weekly_partitions

#: Runs carrying this tag share the run-concurrency limits of docker/dagster.yaml.
WORKLOAD_TAG = "scp/workload"

INGEST_DAILY_JOB = "ingest_daily"
REFRESH_MASTER_DATA_JOB = "refresh_master_data"
PLAN_WEEKLY_JOB = "plan_weekly"

MASTER_DATA_CRON = "0 1 * * *"
INGEST_DAILY_CRON = "0 2 * * *"
PLAN_WEEKLY_CRON = "0 5 * * 1"

#: Run tag the instance's `tag_concurrency_limits` use (docker/dagster.yaml): one planning run
#: at a time, since forecasting already fans out over every core.


def schedule_default_status(value: str | None = None) -> dg.DefaultScheduleStatus:
    """`SCP_SCHEDULES` is `running` or `stopped` (default)."""
    value = (os.getenv("SCP_SCHEDULES", "stopped") if value is None else value).strip().lower()
    if value not in ("running", "stopped"):
        raise ValueError(f"SCP_SCHEDULES must be 'running' or 'stopped', got {value!r}")
    return (
        dg.DefaultScheduleStatus.RUNNING if value == "running" else dg.DefaultScheduleStatus.STOPPED
    )


SCHEDULE_STATUS = schedule_default_status()


def last_complete_partition(
    partitions: dg.TimeWindowPartitionsDefinition, tick: datetime
) -> str | None:
    """The newest partition whose window has ended at `tick`: yesterday, or last week."""
    with dg.partition_loading_context(effective_dt=tick):
        return partitions.get_last_partition_key()


def request_last_complete_partition(
    context: dg.ScheduleEvaluationContext,
    partitions: dg.TimeWindowPartitionsDefinition,
    workload: str,
) -> dg.RunRequest | dg.SkipReason:
    """One run for the partition that ended before this tick, keyed by it so a tick runs once."""
    key = last_complete_partition(partitions, context.scheduled_execution_time)
    if key is None:
        return dg.SkipReason("No complete partition since SCP_HISTORY_START yet.")
    return dg.RunRequest(run_key=key, partition_key=key, tags={WORKLOAD_TAG: workload})


@dg.schedule(
    name="refresh_master_data_daily",
    job_name=REFRESH_MASTER_DATA_JOB,
    cron_schedule=MASTER_DATA_CRON,
    execution_timezone=TIMEZONE,
    default_status=SCHEDULE_STATUS,
    tags={WORKLOAD_TAG: "master_data"},
    description="Reload SAP master data before the day's transactions are ingested.",
)
def refresh_master_data_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return dg.RunRequest(run_key=context.scheduled_execution_time.date().isoformat())


@dg.schedule(
    name="ingest_daily_schedule",
    job_name=INGEST_DAILY_JOB,
    cron_schedule=INGEST_DAILY_CRON,
    execution_timezone=TIMEZONE,
    default_status=SCHEDULE_STATUS,
    description="Ingest yesterday's SAP transactions (the partition that ended at midnight).",
)
def ingest_daily_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    return request_last_complete_partition(context, daily_partitions, workload="ingest")


#: The schedule is the guarantee when automation is off; with it on, the forecast's
#: `weekly_vintage` condition usually made the vintage already and the schedule skips.
VINTAGE_KEY = dg.AssetKey(["planning", "demand_forecast"])


@dg.schedule(
    name="plan_weekly_schedule",
    job_name=PLAN_WEEKLY_JOB,
    cron_schedule=PLAN_WEEKLY_CRON,
    execution_timezone=TIMEZONE,
    default_status=SCHEDULE_STATUS,
    description="Forecast and plan from last week's actuals (the vintage that ended Sunday).",
)
def plan_weekly_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    request = request_last_complete_partition(context, weekly_partitions, workload="planning")
    if isinstance(request, dg.RunRequest) and request.partition_key in (
        context.instance.get_materialized_partitions(VINTAGE_KEY)
    ):
        return dg.SkipReason(
            f"Vintage {request.partition_key} was already made (by the automation condition)."
        )
    return request


#: Evaluated on the code server, not in the daemon: `RanBeforeItsInputs` is a condition in
#: Python, which the daemon cannot load. Dagster then caps a sensor at 500 assets and checks
#: that have automation conditions.
automation_sensor = dg.AutomationConditionSensorDefinition(
    "automation_sensor",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    use_user_code_server=True,
    description="Evaluates every asset's AutomationCondition (dbt follows raw, plans follow "
    "forecasts).",
)


def root_cause_message(error: SerializableErrorInfo) -> str:
    """Dagster wraps user errors in `DagsterExecutionStepExecutionError`; the cause says why."""
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


def failed_check_reasons(instance: dg.DagsterInstance, run_id: str) -> list[tuple[str, str]]:
    """Why the run's failed checks failed, as (check, its `failed_because`), each reason once:
    Dagster's failure message names a failed blocking check, not the reason."""
    reasons: dict[tuple[str, str], None] = {}
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = entry.dagster_event.event_specific_data if entry.dagster_event else None
        because = None if evaluation is None else evaluation.metadata.get("failed_because")
        if evaluation is None or evaluation.passed or because is None:
            continue
        key = evaluation.asset_check_key
        values = because.value if isinstance(because.value, list) else [because.value]
        for value in values:
            reasons[(f"{key.asset_key.to_user_string()} {key.name}", str(value))] = None
    return list(reasons)


def alert_from_context(context: dg.RunFailureSensorContext, settings: AlertSettings) -> Alert:
    """The run's failure message plus each failed step's root error and each failed check's
    reason, with a link to the run."""
    run = context.dagster_run
    step_errors = [
        (event.step_key or "run", root_cause_message(error))
        for event in context.get_step_failure_events()
        if (error := getattr(event.event_specific_data, "error", None)) is not None
    ] + failed_check_reasons(context.instance, run.run_id)
    message = context.failure_event.message or ""
    if run.tags.get("dagster/will_retry") == "true":
        message += " Dagster will retry it automatically."
    return failure_alert(
        job_name=run.job_name,
        run_id=run.run_id,
        run_message=message,
        step_errors=step_errors,
        partition=run.tags.get("dagster/partition", ""),
        url=settings.run_url(run.run_id),
    )


@dg.run_failure_sensor(
    name="run_failure_alerts",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Sends each failed run to Slack, e-mail and/or a webhook (SCP_ALERT_*).",
)
def run_failure_alerts(context: dg.RunFailureSensorContext) -> None:
    settings = AlertSettings.from_env()
    if not settings.channels:
        context.log.info("No alert channel configured (SCP_ALERT_*); not alerting.")
        return
    delivered = send_alert(settings, alert_from_context(context, settings))
    context.log.info(f"Alert for run {context.dagster_run.run_id} sent via {', '.join(delivered)}.")


# -- freshness -------------------------------------------------------------------------------

#: Marts are rebuilt every night: warn after a missed night, fail after a day and a half.
DAILY_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=36), warn_window=timedelta(hours=26)
)
#: Forecasts and plans are made each Monday: warn when a Monday run is late, fail when missed.
WEEKLY_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(days=8), warn_window=timedelta(days=7, hours=6)
)

FRESHNESS_BY_CADENCE = {"daily": DAILY_FRESHNESS, "weekly": WEEKLY_FRESHNESS}
#: Which window an asset gets, by the first part of its key (its warehouse schema).
FRESHNESS_BY_SCHEMA = {"marts": DAILY_FRESHNESS, "planning": WEEKLY_FRESHNESS}


def freshness_policy(cadence: str) -> dg.FreshnessPolicy:
    """The freshness window for a `daily` or `weekly` asset."""
    try:
        return FRESHNESS_BY_CADENCE[cadence]
    except KeyError:
        raise ValueError(f"cadence must be 'daily' or 'weekly', got {cadence!r}") from None


def with_freshness_policy(spec: dg.AssetSpec) -> dg.AssetSpec:
    """Daily freshness for `marts/*`, weekly for `planning/*` (forecasts and plans); none for
    assets nothing keeps up to date (on-demand what-if scenarios have no automation)."""
    policy = FRESHNESS_BY_SCHEMA.get(spec.key.path[0])
    if policy is None or spec.automation_condition is None:
        return spec
    return dg.apply_freshness_policy(spec, policy)


def with_freshness_policies(
    assets: Iterable[dg.AssetsDefinition | dg.AssetSpec],
) -> list[dg.AssetsDefinition | dg.AssetSpec]:
    """`assets` with `with_freshness_policy` applied to each spec (dbt multi-assets included)."""
    return list(dg.map_asset_specs(with_freshness_policy, assets))


schedules = [refresh_master_data_schedule, ingest_daily_schedule, plan_weekly_schedule]
sensors = [automation_sensor, run_failure_alerts]
