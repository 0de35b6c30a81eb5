{{ config(post_hook="{{ pg_index(['forecast_origin', 'plant_id']) }}") }}

-- Inventory policies (planning.inventory_policy) summed per vintage x plant x ABC / XYZ class x
-- policy type: how many items, what service they target, what the safety stock and the
-- expected stock cost (at the policy's unit cost, the valuation currency). Empty until the
-- first weekly planning run. Sum values and counts before dividing when aggregating.
{%- set policy_source = source('planning', 'inventory_policy') %}
{%- set policy_table = existing_relation(policy_source) %}
{%- set double = type_double() %}
{%- set text = dbt.type_string() %}

with

policies as (
    {{ typed_rows(policy_table, [
        ['forecast_origin', 'date'],
        ['plant_id', text],
        ['abc_class', text],
        ['xyz_class', text],
        ['policy_type', text],
        ['service_target', double],
        ['mean_weekly_demand', double],
        ['safety_stock', double],
        ['reorder_point', double],
        ['unit_cost', double],
        ['expected_fill_rate', double],
        ['expected_avg_inventory', double],
        ['expected_orders_per_year', double],
    ]) }}
),

latest as (
    select max(forecast_origin) as forecast_origin from policies
),

summary as (
    select
        forecast_origin,
        plant_id,
        abc_class,
        xyz_class,
        policy_type,
        count(*) as policies,
        avg(service_target) as avg_service_target,
        sum(mean_weekly_demand) as mean_weekly_demand,
        sum(safety_stock * unit_cost) as safety_stock_value,
        sum(reorder_point * unit_cost) as reorder_point_value,
        sum(expected_avg_inventory * unit_cost) as expected_avg_inventory_value,
        sum(expected_orders_per_year) as expected_orders_per_year,
        sum(expected_fill_rate * mean_weekly_demand) as fill_rate_weighted_demand
    from policies
    group by forecast_origin, plant_id, abc_class, xyz_class, policy_type
)

select
    summary.*,
    summary.forecast_origin = latest.forecast_origin as is_latest_vintage,
    summary.fill_rate_weighted_demand / nullif(summary.mean_weekly_demand, 0)
        as expected_fill_rate
from summary
cross join latest
