"""Automation conditions: how a new or corrected raw partition flows downstream by itself.

Sensors only watch the outside world (landing files, SAP, failures); asset-to-asset re-runs
are declared here and evaluated by the automation condition sensor.
"""

from __future__ import annotations

import dagster as dg

from pipelines.partitions import TIMEZONE

#: A new vintage is due from Monday 00:00; `on_cron` then waits until every input has
#: updated since (Sunday's data arrives with the daily ingestion), so it never uses stale data.
WEEKLY_PLANNING_CRON = "0 0 * * 1"


#: Materializations read per page while looking for updates.
PAGE = 1_000


class RanBeforeItsInputs(dg.AutomationCondition[dg.AssetKey]):
    """Partitions updated by a run that started before another run updated one of their inputs,
    until automation requests them or a later run updates them.

    `since_last_handled` counts a target's own update as handled, so a correction that lands
    while the target's run is already reading the old rows was never run downstream. Each
    tick looks only at the target's updates since the previous tick, with one query per run
    and input; an input's updates by the same run (a job that runs both) do not count.
    """

    @property
    def name(self) -> str:
        return "ran_before_its_inputs"

    def evaluate(self, context: dg.AutomationContext) -> dg.AutomationResult:
        view = context.asset_graph_view
        key = context.key
        empty = context.get_empty_subset()
        if context.previous_max_storage_id is None:  # first tick: nothing to compare with
            return dg.AutomationResult(context=context, true_subset=empty)
        instance = view.instance
        stale: set[str | None] = set()
        fresh: set[str | None] = set()
        for run_id, partitions in _updates_by_run(instance, key, context).items():
            started = _run_start(instance, run_id)
            behind = {
                partition
                for parent in context.asset_graph.get(key).parent_keys
                if view.asset_graph.has(parent)
                for partition in _partitions_behind(view, key, parent, partitions, run_id, started)
            }
            stale |= behind
            fresh |= partitions - behind

        def subset(partitions: set[str | None]):
            return _subset(view, key, partitions)

        still_due = (
            (context.previous_true_subset or empty)
            .compute_difference(context.get_previous_requested_subset(key) or empty)
            .compute_difference(subset(fresh))
        )
        return dg.AutomationResult(
            context=context, true_subset=still_due.compute_union(subset(stale))
        )


def _subset(view, key: dg.AssetKey, partitions: set[str | None]):
    """The asset's subset of `partitions` (None: the unpartitioned asset itself)."""
    partitions_def = view.asset_graph.get(key).partitions_def
    if partitions_def is None:
        return view.get_full_subset(key=key) if partitions else view.get_empty_subset(key=key)
    keys = {partition for partition in partitions if partition is not None}
    return view.get_subset_from_partition_keys(key, partitions_def, keys)


def _records(instance: dg.DagsterInstance, filter_: dg.AssetRecordsFilter):
    """Every materialization the filter selects, page by page."""
    cursor = None
    while True:
        page = instance.fetch_materializations(filter_, limit=PAGE, cursor=cursor)
        yield from page.records
        if not page.has_more:
            return
        cursor = page.cursor


def _updates_by_run(
    instance: dg.DagsterInstance, key: dg.AssetKey, context: dg.AutomationContext
) -> dict[str, set[str | None]]:
    """The target's partitions updated since the previous tick, by the run that updated them
    last (a partition updated twice counts for its latest run only)."""
    filter_ = dg.AssetRecordsFilter(
        asset_key=key,
        after_storage_id=context.previous_max_storage_id,
        before_storage_id=None if context.max_storage_id is None else context.max_storage_id + 1,
    )
    latest: dict[str | None, str] = {}
    for record in _records(instance, filter_):  # newest first
        latest.setdefault(record.partition_key, record.run_id)
    by_run: dict[str, set[str | None]] = {}
    for partition, run_id in latest.items():
        by_run.setdefault(run_id, set()).add(partition)
    return by_run


def _run_start(instance: dg.DagsterInstance, run_id: str) -> float:
    """When the run started; its creation where no start was recorded (a re-run is then the
    safe side). A run no longer stored counts as having started at the epoch."""
    record = instance.get_run_record_by_id(run_id)
    if record is None:
        return 0.0
    return record.start_time or record.create_timestamp.timestamp()


def _partitions_behind(
    view,
    key: dg.AssetKey,
    parent: dg.AssetKey,
    partitions: set[str | None],
    run_id: str,
    started: float,
) -> set[str | None]:
    """Those of `partitions` (updated by `run_id`) whose input `parent` another run updated
    after `run_id` started."""
    target_partitioned = None not in partitions
    if target_partitioned and view.asset_graph.get(parent).partitions_def is None:
        return set()  # master data, joined as of each day's run (`partitioned_deps_updated`)
    filter_ = dg.AssetRecordsFilter(asset_key=parent, after_timestamp=started)
    updated = {r.partition_key for r in _records(view.instance, filter_) if r.run_id != run_id}
    if not updated or not target_partitioned:  # an unpartitioned target: any update counts
        return set(partitions) if updated else set()
    parent_subset = _subset(view, parent, updated)
    affected = view.compute_child_subset(key, parent_subset).expensively_compute_partition_keys()
    return partitions & set(affected)


class Partitioned(dg.AutomationCondition):
    """Every partition of a partitioned asset; nothing of an unpartitioned one."""

    @property
    def name(self) -> str:
        return "partitioned"

    def evaluate(self, context: dg.AutomationContext) -> dg.AutomationResult:
        partitioned = context.partitions_def is not None
        true_subset = context.candidate_subset if partitioned else context.get_empty_subset()
        return dg.AutomationResult(context=context, true_subset=true_subset)


def partitioned_deps_updated() -> dg.AutomationCondition:
    """`any_deps_updated`, counting partitioned dependencies only. A day's facts join master
    data as it is when the day runs; the nightly master-data refresh re-ran every day of
    history, where it should reach only the days loaded after it."""
    return dg.AutomationCondition.any_deps_match(
        (
            (
                dg.AutomationCondition.newly_updated()
                & ~dg.AutomationCondition.executed_with_root_target()
            )
            | dg.AutomationCondition.will_be_requested()
        )
        & Partitioned()
    ).with_label("any_partitioned_deps_updated")


def follow_any_partition() -> dg.AutomationCondition:
    """Like `eager`, but for every partition, not only the latest one, and only on updates of
    partitioned inputs (`partitioned_deps_updated`).

    A late correction to a day months ago re-runs exactly that day of the facts. Partitions
    that were never run are not back-filled by automation (that is what backfills are for);
    nor are days after a master-data correction that should restate them (backfill them).
    """
    return (
        (partitioned_deps_updated().since_last_handled() | RanBeforeItsInputs())
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
            | RanBeforeItsInputs()
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
