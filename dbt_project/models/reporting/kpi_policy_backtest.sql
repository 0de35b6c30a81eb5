{{ config(post_hook="{{ pg_index(['forecast_origin', 'plant_id']) }}") }}

-- Inventory policies replayed on actual daily demand and lead times (planning.policy_backtest,
-- one row per material x plant) summed per vintage x plant x ABC / XYZ class x policy type:
-- achieved against targeted fill rate and cycle service level, inventory value, orders and
-- stockout days. The classes are the vintage's own (planning.inventory_policy, the policies
-- the backtest replays), so rows line up with kpi_inventory_policy. Empty until the first
-- backtest. Only sums and counts re-aggregate: sum them before dividing. The ratios are the
-- ones summarise_kpis (pipelines/planning/simulation.py) reports on the Dagster asset.
{%- set backtest_source = source('planning', 'policy_backtest') %}
{%- set backtest_table = existing_relation(backtest_source) %}
{%- set policy_source = source('planning', 'inventory_policy') %}
{%- set policy_table = existing_relation(policy_source) %}
{%- set within_points = 0.02 %}
{%- set double = type_double() %}
{%- set text = dbt.type_string() %}
{%- set bigint = dbt.type_bigint() %}

with

backtests as (
    {{ typed_rows(backtest_table, [
        ['forecast_origin', 'date'],
        ['material_id', text],
        ['plant_id', text],
        ['policy_type', text],
        ['days_measured', bigint],
        ['total_demand', double],
        ['filled_demand', double],
        ['fill_rate_target', double],
        ['cycles', bigint],
        ['cycle_service_level', double],
        ['csl_target', double],
        ['service_delta', double],
        ['avg_inventory_value', double],
        ['expected_avg_inventory', double],
        ['unit_cost', double],
        ['orders', bigint],
        ['expected_orders', double],
        ['stockout_days', bigint],
    ]) }}
),

classes as (
    {{ typed_rows(policy_table, [
        ['forecast_origin', 'date'],
        ['material_id', text],
        ['plant_id', text],
        ['abc_class', text],
        ['xyz_class', text],
    ]) }}
),

latest as (
    select max(forecast_origin) as forecast_origin from backtests
),

summary as (
    select
        backtests.forecast_origin,
        backtests.plant_id,
        classes.abc_class,
        classes.xyz_class,
        backtests.policy_type,
        cast(count(*) as {{ bigint }}) as series,
        cast(count(backtests.service_delta) as {{ bigint }}) as series_with_target,
        cast(sum(case when abs(backtests.service_delta) <= {{ within_points }} then 1 else 0 end)
            as {{ bigint }}) as series_within_2_points,
        cast(sum(backtests.days_measured) as {{ bigint }}) as days_measured,
        sum(backtests.total_demand) as total_demand,
        sum(backtests.filled_demand) as filled_demand,
        sum(backtests.fill_rate_target * backtests.total_demand) as target_filled_demand,
        cast(sum(backtests.cycles) as {{ bigint }}) as cycles,
        cast(sum(round(backtests.cycle_service_level * backtests.cycles)) as {{ bigint }})
            as ok_cycles,
        sum(backtests.csl_target * backtests.cycles) as target_ok_cycles,
        sum(backtests.avg_inventory_value) as avg_inventory_value,
        sum(backtests.expected_avg_inventory * backtests.unit_cost)
            as expected_avg_inventory_value,
        cast(sum(backtests.orders) as {{ bigint }}) as orders,
        sum(backtests.expected_orders) as expected_orders,
        cast(sum(backtests.stockout_days) as {{ bigint }}) as stockout_days
    from backtests
    left join classes
        on classes.forecast_origin = backtests.forecast_origin
        and classes.material_id = backtests.material_id
        and classes.plant_id = backtests.plant_id
    group by
        backtests.forecast_origin,
        backtests.plant_id,
        classes.abc_class,
        classes.xyz_class,
        backtests.policy_type
),

ratios as (
    select
        summary.*,
        summary.filled_demand / nullif(summary.total_demand, 0) as fill_rate,
        summary.target_filled_demand / nullif(summary.total_demand, 0) as fill_rate_target,
        cast(summary.ok_cycles as {{ double }}) / nullif(summary.cycles, 0)
            as cycle_service_level,
        summary.target_ok_cycles / nullif(summary.cycles, 0) as csl_target,
        cast(summary.series_within_2_points as {{ double }})
            / nullif(summary.series_with_target, 0) as share_within_2_points
    from summary
)

select
    ratios.*,
    ratios.fill_rate - ratios.fill_rate_target as fill_rate_delta,
    ratios.cycle_service_level - ratios.csl_target as csl_delta,
    ratios.forecast_origin = latest.forecast_origin as is_latest_vintage
from ratios
cross join latest
