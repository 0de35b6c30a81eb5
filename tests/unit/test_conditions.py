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


@dg.asset(
    deps=[raw_day], partitions_def=daily_partitions, automation_condition=follow_any_partition()
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


DEFS = dg.Definitions(assets=[raw_day, facts_day, master, plan])
CASES = [(raw_day, facts_day, DAY), (master, plan, None)]


class Ticks:
    """The automation sensor's ticks, one cursor carried from each to the next."""

    def __init__(self, instance: dg.DagsterInstance) -> None:
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
