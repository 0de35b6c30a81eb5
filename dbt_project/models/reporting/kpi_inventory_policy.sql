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
{%- if policy_table is none %}
    select
        cast(null as date) as forecast_origin,
        cast(null as {{ text }}) as plant_id,
        cast(null as {{ text }}) as abc_class,
        cast(null as {{ text }}) as xyz_class,
        cast(null as {{ text }}) as policy_type,
        cast(null as {{ double }}) as service_target,
        cast(null as {{ double }}) as mean_weekly_demand,
        cast(null as {{ double }}) as safety_stock,
        cast(null as {{ double }}) as reorder_point,
        cast(null as {{ double }}) as unit_cost,
        cast(null as {{ double }}) as expected_fill_rate,
        cast(null as {{ double }}) as expected_avg_inventory,
        cast(null as {{ double }}) as expected_orders_per_year
    where 1 = 0
{%- else %}
    select
        cast(forecast_origin as date) as forecast_origin,
        cast(plant_id as {{ text }}) as plant_id,
        cast(abc_class as {{ text }}) as abc_class,
        cast(xyz_class as {{ text }}) as xyz_class,
        cast(policy_type as {{ text }}) as policy_type,
        cast(service_target as {{ double }}) as service_target,
        cast(mean_weekly_demand as {{ double }}) as mean_weekly_demand,
        cast(safety_stock as {{ double }}) as safety_stock,
        cast(reorder_point as {{ double }}) as reorder_point,
        cast(unit_cost as {{ double }}) as unit_cost,
        cast(expected_fill_rate as {{ double }}) as expected_fill_rate,
        cast(expected_avg_inventory as {{ double }}) as expected_avg_inventory,
        cast(expected_orders_per_year as {{ double }}) as expected_orders_per_year
    from {{ policy_table }}
{%- endif %}
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
