{{ config(post_hook="{{ pg_index(['forecast_origin']) }}") }}

-- Inventory investment against service (planning.service_frontier): per vintage, one row per
-- service target applied to every item, with the planned safety stock and inventory value, the
-- fill rate the plan expects and what replaying it on actual demand achieved. Adds what one
-- more point of target costs over the next lower target. Empty until the first backtest. Each
-- row covers all items of the vintage: compare rows, do not sum them.
{%- set frontier_source = source('planning', 'service_frontier') %}
{%- set frontier_table = existing_relation(frontier_source) %}
{%- set double = type_double() %}
{%- set text = dbt.type_string() %}
{%- set bigint = dbt.type_bigint() %}

with

frontier as (
    {{ typed_rows(frontier_table, [
        ['forecast_origin', 'date'],
        ['target_type', text],
        ['service_target', double],
        ['safety_stock_value', double],
        ['planned_inventory_value', double],
        ['expected_fill_rate', double],
        ['achieved_fill_rate', double],
        ['achieved_csl', double],
        ['simulated_inventory_value', double],
        ['orders', bigint],
        ['stockout_days', bigint],
    ]) }}
),

latest as (
    select max(forecast_origin) as forecast_origin from frontier
),

steps as (
    select
        frontier.*,
        lag(service_target) over vintage_curve as lower_service_target,
        lag(planned_inventory_value) over vintage_curve as lower_planned_inventory_value
    from frontier
    window vintage_curve as (partition by forecast_origin, target_type order by service_target)
)

select
    steps.forecast_origin,
    steps.target_type,
    steps.service_target,
    steps.safety_stock_value,
    steps.planned_inventory_value,
    steps.expected_fill_rate,
    steps.achieved_fill_rate,
    steps.achieved_csl,
    steps.simulated_inventory_value,
    steps.orders,
    steps.stockout_days,
    steps.achieved_fill_rate - steps.expected_fill_rate as fill_rate_delta,
    (steps.planned_inventory_value - steps.lower_planned_inventory_value)
        / nullif(100 * (steps.service_target - steps.lower_service_target), 0)
        as inventory_value_per_point,
    steps.forecast_origin = latest.forecast_origin as is_latest_vintage
from steps
cross join latest
