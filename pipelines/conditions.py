"""Automation conditions: how a new or corrected raw partition flows downstream by itself.

Sensors only watch the outside world (landing files, SAP, failures); asset-to-asset re-runs
are declared here and evaluated by the automation condition sensor.
"""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
from dagster._core.definitions.events import AssetKeyPartitionKey

from pipelines.partitions import TIMEZONE

#: A new vintage is due from Monday 00:00; `on_cron` then waits until every input has
#: updated since (Sunday's data arrives with the daily ingestion), so it never uses stale data.
WEEKLY_PLANNING_CRON = "0 0 * * 1"


#: More materializations of one input during one run than this are not looked at.
MAX_INPUT_UPDATES_PER_RUN = 10_000


class RanBeforeItsInputs(dg.AutomationCondition[dg.AssetKey]):
    """Partitions just updated by a run that started before one of their inputs was updated.

    `since_last_handled` counts a target's own update as handled, so a correction that lands
    while the target's run is already reading the old rows was never run downstream. Only
    partitions updated since the previous tick are looked at, and an input's updates by the
    same run (a job that runs both) do not count.
    """

    @property
    def name(self) -> str:
        return "ran_before_its_inputs"

    def evaluate(self, context: dg.AutomationContext) -> dg.AutomationResult:
        view = context.asset_graph_view
        stale = set()
        if context.previous_max_storage_id is not None:
            instance = view.instance
            parents = context.asset_graph.get(context.key).parent_keys
            for update in _updates(instance, context.key, context.previous_max_storage_id):
                run = instance.get_run_record_by_id(update.run_id)
                if run is None or run.start_time is None:
                    continue
                partition = update.partition_key
                own = view.get_asset_subset_from_asset_partitions(
                    context.key, {AssetKeyPartitionKey(context.key, partition)}
                )
                if any(
                    _updated_during(instance, view.compute_parent_subset(parent, own), run)
                    for parent in parents
                    if view.asset_graph.has(parent)
                ):
                    stale.add(AssetKeyPartitionKey(context.key, partition))
        true_subset = view.get_asset_subset_from_asset_partitions(context.key, stale)
        return dg.AutomationResult(context=context, true_subset=true_subset)


def _updates(
    instance: dg.DagsterInstance, key: dg.AssetKey, after_storage_id: int
) -> Iterator[dg.EventLogRecord]:
    """The target's materializations since the previous tick, the latest per partition."""
    latest: dict[str | None, dg.EventLogRecord] = {}
    filter_ = dg.AssetRecordsFilter(asset_key=key, after_storage_id=after_storage_id)
    for record in instance.fetch_materializations(filter_, limit=MAX_INPUT_UPDATES_PER_RUN).records:
        latest.setdefault(record.partition_key, record)
    yield from latest.values()


def _updated_during(instance: dg.DagsterInstance, parent_subset, run: dg.RunRecord) -> bool:
    """Whether another run updated any of these input partitions after `run` started."""
    if parent_subset.is_empty:
        return False
    filter_ = dg.AssetRecordsFilter(asset_key=parent_subset.key, after_timestamp=run.start_time)
    records = instance.fetch_materializations(filter_, limit=MAX_INPUT_UPDATES_PER_RUN).records
    others = [r for r in records if r.run_id != run.dagster_run.run_id]
    if not others or not parent_subset.is_partitioned:
        return bool(others)
    keys = parent_subset.expensively_compute_partition_keys()
    return any(r.partition_key in keys for r in others)


def follow_any_partition() -> dg.AutomationCondition:
    """Like `eager`, but for every partition, not only the latest one.

    A late correction to a day months ago re-runs exactly that day of the facts. Partitions
    that were never run are not back-filled by automation (that is what backfills are for).
    """
    return (
        (
            dg.AutomationCondition.any_deps_updated().since_last_handled()
            | RanBeforeItsInputs().since(dg.AutomationCondition.newly_requested())
        )
        & ~dg.AutomationCondition.any_deps_missing()
        & dg.AutomationCondition.all_deps_blocking_checks_passed()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label("follow_any_partition")


def follow_upstream() -> dg.AutomationCondition:
    """`eager`, held back while an upstream blocking check fails, and run once more when an
    input was updated during its run (`RanBeforeItsInputs`).

    `eager` also waits while any upstream partition is missing; a mart over daily facts would
    then never run when history starts later than SCP_HISTORY_START, so that clause is dropped.
    """
    return (
        dg.AutomationCondition.in_latest_time_window()
        & (
            (
                dg.AutomationCondition.newly_missing() | dg.AutomationCondition.any_deps_updated()
            ).since_last_handled()
            | RanBeforeItsInputs().since(dg.AutomationCondition.newly_requested())
        )
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
        & dg.AutomationCondition.all_deps_blocking_checks_passed()
    ).with_label("eager_when_checks_pass")


def weekly_vintage() -> dg.AutomationCondition:
    """A weekly vintage: once per cron tick, after every dependency has updated since it."""
    return (
        dg.AutomationCondition.on_cron(WEEKLY_PLANNING_CRON, TIMEZONE)
        & dg.AutomationCondition.all_deps_blocking_checks_passed()
    ).with_label("weekly_vintage")
