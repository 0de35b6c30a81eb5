"""Automation conditions: how a new or corrected raw partition flows downstream by itself.

Sensors only watch the outside world (landing files, SAP, failures); asset-to-asset re-runs
are declared here and evaluated by the automation condition sensor.
"""

import dagster as dg

from pipelines.partitions import TIMEZONE

#: A new vintage is due from Monday 00:00; `on_cron` then waits until every input has
#: updated since (Sunday's data arrives with the daily ingestion), so it never uses stale data.
WEEKLY_PLANNING_CRON = "0 0 * * 1"


def follow_any_partition() -> dg.AutomationCondition:
    """Like `eager`, but for every partition, not only the latest one.

    A late correction to a day months ago re-runs exactly that day of the facts. Partitions
    that were never run are not back-filled by automation (that is what backfills are for).
    """
    return (
        dg.AutomationCondition.any_deps_updated().since_last_handled()
        & ~dg.AutomationCondition.any_deps_missing()
        & dg.AutomationCondition.all_deps_blocking_checks_passed()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label("follow_any_partition")


def follow_upstream() -> dg.AutomationCondition:
    """`eager`, held back while an upstream blocking check fails.

    `eager` also waits while any upstream partition is missing; a mart over daily facts would
    then never run when history starts later than SCP_HISTORY_START, so that clause is dropped.
    """
    return (
        dg.AutomationCondition.eager().without(~dg.AutomationCondition.any_deps_missing())
        & dg.AutomationCondition.all_deps_blocking_checks_passed()
    ).with_label("eager_when_checks_pass")


def weekly_vintage() -> dg.AutomationCondition:
    """A weekly vintage: once per cron tick, after every dependency has updated since it."""
    return (
        dg.AutomationCondition.on_cron(WEEKLY_PLANNING_CRON, TIMEZONE)
        & dg.AutomationCondition.all_deps_blocking_checks_passed()
    ).with_label("weekly_vintage")
