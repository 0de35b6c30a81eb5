"""Schedules, freshness policies and sensor wiring."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from pipelines.automation import (
    DAILY_FRESHNESS,
    WEEKLY_FRESHNESS,
    automation_sensor,
    freshness_policy,
    ingest_daily_schedule,
    plan_weekly_schedule,
    refresh_master_data_schedule,
    run_failure_alerts,
    schedule_default_status,
    schedules,
    with_freshness_policies,
)
from pipelines.partitions import weekly_partitions
from resources.paths import PROJECT_ROOT


def tick(*args: int, instance: dg.DagsterInstance | None = None) -> dg.ScheduleEvaluationContext:
    """A schedule tick; the weekly plan needs an instance (it skips vintages already made)."""
    return dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=datetime(*args, tzinfo=UTC),
    )


def test_daily_ingest_requests_yesterday():
    request = ingest_daily_schedule(tick(2024, 3, 5, 2))
    assert (request.partition_key, request.run_key) == ("2024-03-04", "2024-03-04")
    assert request.tags["scp/workload"] == "ingest"


def test_weekly_plan_requests_the_week_that_ended_sunday():
    with dg.instance_for_test() as instance:
        request = plan_weekly_schedule(tick(2024, 3, 11, 5, instance=instance))  # a Monday
    assert request.partition_key == "2024-03-04"  # Monday..Sunday 2024-03-04..10
    assert request.tags["scp/workload"] == "planning"


def test_weekly_plan_before_history_skips():
    assert isinstance(plan_weekly_schedule(tick(2023, 6, 5, 5)), dg.SkipReason)


def test_master_data_runs_once_a_day():
    assert refresh_master_data_schedule(tick(2024, 3, 5, 1)).run_key == "2024-03-05"


def test_schedule_crons_jobs_and_default_status():
    assert {(s.name, s.cron_schedule, s.job_name) for s in schedules} == {
        ("refresh_master_data_daily", "0 1 * * *", "refresh_master_data"),
        ("ingest_daily_schedule", "0 2 * * *", "ingest_daily"),
        ("plan_weekly_schedule", "0 5 * * 1", "plan_weekly"),
    }
    assert {s.default_status for s in schedules} == {dg.DefaultScheduleStatus.STOPPED}
    assert schedule_default_status("running") == dg.DefaultScheduleStatus.RUNNING
    with pytest.raises(ValueError, match="SCP_SCHEDULES"):
        schedule_default_status("on")


def test_weekly_plan_skips_a_vintage_automation_already_made():
    @dg.asset(key=["planning", "demand_forecast"], partitions_def=weekly_partitions)
    def demand_forecast():
        return None

    with dg.instance_for_test() as instance:
        assert isinstance(
            plan_weekly_schedule(tick(2024, 3, 11, 5, instance=instance)), dg.RunRequest
        )
        dg.materialize([demand_forecast], instance=instance, partition_key="2024-03-04")
        skipped = plan_weekly_schedule(tick(2024, 3, 11, 5, instance=instance))
        assert isinstance(skipped, dg.SkipReason)


def test_timezone_comes_from_the_environment():
    code = (
        "from pipelines.automation import schedules; "
        "print({s.execution_timezone for s in schedules})"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env={"SCP_TIMEZONE": "Europe/Berlin", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "{'Europe/Berlin'}"


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        ("SCP_TIMEZONE", "Europe/Berlinn", "SCP_TIMEZONE must be an IANA time zone"),
        ("SCP_HISTORY_START", "2024/01/01", "SCP_HISTORY_START must be a date like 2024-01-01"),
        ("SCP_PG_PORT", "abc", "SCP_PG_PORT must be a port number, got 'abc'"),
    ],
)
def test_a_mistyped_setting_fails_loading_naming_it(setting: str, value: str, named: str):
    """They failed with a bare ZoneInfoNotFoundError, a strptime format or int()'s message."""
    code = "from resources.warehouse import WarehouseSettings as W; import pipelines.partitions; "
    loaded = subprocess.run(
        [sys.executable, "-c", code + "W.from_env()"],
        cwd=PROJECT_ROOT,
        env={setting: value, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert loaded.returncode == 1
    assert (
        loaded.stderr.strip().splitlines()[-1] == f"ValueError: {named}" or named in loaded.stderr
    )


def test_sensors_start_running():
    assert automation_sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert run_failure_alerts.default_status == dg.DefaultSensorStatus.RUNNING


def test_automation_sensor_evaluates_every_condition_on_the_code_server():
    """`RanBeforeItsInputs` is Python, which the daemon cannot load, so the sensor runs on the
    code server, where Dagster refuses a sensor over 500 assets and checks with automation
    conditions: this fails when the graph outgrows one sensor, not in production."""
    from pipelines.definitions import defs

    assert automation_sensor.sensor_type.value == "AUTOMATION"
    context = dg.build_sensor_context(
        instance=dg.DagsterInstance.ephemeral(),
        repository_def=defs().get_repository_def(),
        sensor_name=automation_sensor.name,
    )
    assert automation_sensor.evaluate_tick(context).run_requests == []  # an empty instance


def test_freshness_windows():
    assert freshness_policy("daily") is DAILY_FRESHNESS
    assert WEEKLY_FRESHNESS.fail_window.to_timedelta() == timedelta(days=8)
    with pytest.raises(ValueError, match="cadence"):
        freshness_policy("hourly")


def test_freshness_policies_follow_key_prefixes_for_kept_up_assets():
    kept_up = dg.AutomationCondition.eager()

    @dg.asset(key=["marts", "fct_demand_daily"], automation_condition=kept_up)
    def mart(): ...

    @dg.asset(key=["planning", "demand_forecast"], automation_condition=kept_up)
    def forecast(): ...

    @dg.asset(key=["planning", "demand_forecast_scenario"])
    def on_demand_scenario(): ...

    @dg.asset(key=["raw", "mara"])
    def raw(): ...

    assets = with_freshness_policies([mart, forecast, on_demand_scenario, raw])
    graph = dg.Definitions(assets=assets).resolve_asset_graph()
    policy = {k.to_user_string(): graph.get(k).freshness_policy for k in graph.get_all_asset_keys()}
    assert policy == {
        "marts/fct_demand_daily": DAILY_FRESHNESS,
        "planning/demand_forecast": WEEKLY_FRESHNESS,
        "planning/demand_forecast_scenario": None,
        "raw/mara": None,
    }
