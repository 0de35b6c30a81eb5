"""Automation conditions: an input updated while its downstream runs reaches it once more."""

from __future__ import annotations

import threading

import dagster as dg
import pytest

from pipelines.conditions import follow_any_partition, follow_upstream
from pipelines.partitions import daily_partitions

DAY = "2025-03-04"
#: Set by a downstream run once it has started; the run then waits for `FINISH`.
STARTED, FINISH = threading.Event(), threading.Event()


def _read_the_old_rows() -> None:
    STARTED.set()
    assert FINISH.wait(timeout=60)


@dg.asset(partitions_def=daily_partitions)
def raw_day() -> None:
    """Stands in for a raw table loaded by the landing sensor's runs."""


@dg.asset
def master_data() -> None:
    """Stands in for the master staging views the daily facts join (refresh_master_data)."""


@dg.asset(
    deps=[raw_day, master_data],
    partitions_def=daily_partitions,
    automation_condition=follow_any_partition(),
)
def facts_day() -> None:
    """Stands in for the dbt facts over that day."""
    _read_the_old_rows()


@dg.asset
def master() -> None:
    """Stands in for unpartitioned master data."""


@dg.asset(deps=[master], automation_condition=follow_upstream())
def plan() -> None:
    """Stands in for a mart or plan that follows its upstream."""
    _read_the_old_rows()


DEFS = dg.Definitions(assets=[raw_day, master_data, facts_day, master, plan])
CASES = [(raw_day, facts_day, DAY), (master, plan, None)]


class Ticks:
    """The automation sensor's ticks, one cursor carried from each to the next, on an
    instance that holds the master data already."""

    def __init__(self, instance: dg.DagsterInstance) -> None:
        _materialize([master_data], instance, None)
        self.instance = instance
        self.cursor = None

    def requested(self, target: dg.AssetsDefinition) -> int:
        result = dg.evaluate_automation_conditions(
            defs=DEFS, instance=self.instance, cursor=self.cursor
        )
        self.cursor = result.cursor
        return result.get_num_requested(target.key)


def _materialize(assets: list, instance: dg.DagsterInstance, partition: str | None) -> None:
    assert dg.materialize(assets, instance=instance, partition_key=partition).success


class HeldRun:
    """A downstream run that holds in its body (it has read its inputs) until released."""

    def __init__(self, asset: dg.AssetsDefinition, instance, partition: str | None) -> None:
        STARTED.clear()
        FINISH.clear()
        self.thread = threading.Thread(target=_materialize, args=([asset], instance, partition))
        self.thread.start()
        assert STARTED.wait(timeout=60)

    def finish(self) -> None:
        FINISH.set()
        self.thread.join()


@pytest.mark.parametrize(("upstream", "downstream", "partition"), CASES)
def test_an_input_corrected_during_the_downstream_run_is_run_again(
    upstream: dg.AssetsDefinition, downstream: dg.AssetsDefinition, partition: str | None
) -> None:
    """The downstream's run has read the old rows when the correction lands; it finishes
    after. `since_last_handled` counted that run as having handled the correction, and the
    downstream kept the old rows until the next change."""
    instance = dg.DagsterInstance.ephemeral()
    ticks = Ticks(instance)
    ticks.requested(downstream)
    _materialize([upstream], instance, partition)
    assert ticks.requested(downstream) == 1
    run = HeldRun(downstream, instance, partition)
    _materialize([upstream], instance, partition)  # the correction, while the run reads
    assert ticks.requested(downstream) == 0  # the downstream is still running
    run.finish()
    assert ticks.requested(downstream) == 1
    assert ticks.requested(downstream) == 0  # once, not at every tick


@pytest.mark.parametrize(("upstream", "downstream", "partition"), CASES)
def test_a_stale_partition_a_later_run_refreshed_is_not_run_again(
    upstream: dg.AssetsDefinition, downstream: dg.AssetsDefinition, partition: str | None
) -> None:
    """The stale partition is found while another run, started after the correction, builds
    it; once that run has finished, nothing is left to do."""
    instance = dg.DagsterInstance.ephemeral()
    ticks = Ticks(instance)
    ticks.requested(downstream)
    _materialize([upstream], instance, partition)
    assert ticks.requested(downstream) == 1
    assert ticks.requested(downstream) == 0  # requested above
    stale = HeldRun(downstream, instance, partition)
    _materialize([upstream], instance, partition)
    stale.finish()
    fresh = HeldRun(downstream, instance, partition)  # a manual run, after the correction
    assert ticks.requested(downstream) == 0  # due, but held while it runs
    fresh.finish()
    assert ticks.requested(downstream) == 0
    assert ticks.requested(downstream) == 0


@pytest.mark.parametrize(("upstream", "downstream", "partition"), CASES)
def test_inputs_updated_before_the_run_or_by_it_trigger_nothing_more(
    upstream: dg.AssetsDefinition, downstream: dg.AssetsDefinition, partition: str | None
) -> None:
    """A downstream run that started after its input's update, or a run that updates both
    (`make demo`, a backfill of both), leaves nothing for automation to do."""
    instance = dg.DagsterInstance.ephemeral()
    ticks = Ticks(instance)
    ticks.requested(downstream)
    FINISH.set()
    _materialize([upstream], instance, partition)
    assert ticks.requested(downstream) == 1
    _materialize([downstream], instance, partition)
    assert ticks.requested(downstream) == 0
    _materialize([upstream, downstream], instance, partition)
    assert ticks.requested(downstream) == 0


def test_a_master_data_refresh_reruns_no_day_of_history() -> None:
    """The nightly refresh_master_data run updates the master staging views every day; any
    dependency's update re-requested every day of the facts, a full history rebuild a night.
    Master data reaches the days loaded after it, also when it lands during a day's run."""
    instance = dg.DagsterInstance.ephemeral()
    ticks = Ticks(instance)
    ticks.requested(facts_day)
    _materialize([raw_day], instance, DAY)
    assert ticks.requested(facts_day) == 1
    FINISH.set()  # the requested run, not held
    _materialize([facts_day], instance, DAY)
    assert ticks.requested(facts_day) == 0
    _materialize([master_data], instance, None)  # the nightly refresh
    assert ticks.requested(facts_day) == 0
    run = HeldRun(facts_day, instance, DAY)
    _materialize([master_data], instance, None)  # a refresh during the day's run
    run.finish()
    assert ticks.requested(facts_day) == 0
    _materialize([raw_day], instance, DAY)  # a correction of the day still re-runs it
    assert ticks.requested(facts_day) == 1
