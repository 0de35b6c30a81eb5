{{ config(meta={'dagster': {'ref': {'name': 'fct_demand_daily'}}}) }}

-- Every ordered quantity (VBAP) lands in fct_demand_daily on its creation date, exactly once,
-- and the zero fill adds nothing. Checked inside the partition window when one is given, else
-- on the days already built (a partial backfill is not a failure). One row per mismatch.
with

built_days as (
    select distinct demand_date
    from {{ ref('fct_demand_daily') }}
    where {{ in_partition_window('demand_date') }}
),

ordered as (
    select
        orders.material_id,
        orders.plant_id,
        orders.created_on as demand_date,
        sum(orders.order_qty) as qty
    from {{ ref('stg_sap__vbap') }} as orders
    {%- set window = partition_window() %}
    {%- if window.min_date is none and window.max_date is none %}
    inner join built_days
        on orders.created_on = built_days.demand_date
    {%- endif %}
    where {{ in_partition_window('orders.created_on') }}
    group by orders.material_id, orders.plant_id, orders.created_on
),

demand as (
    select material_id, plant_id, demand_date, sum(demand_qty) as qty
    from {{ ref('fct_demand_daily') }}
    where {{ in_partition_window('demand_date') }}
    group by material_id, plant_id, demand_date
)

select
    coalesce(ordered.material_id, demand.material_id) as material_id,
    coalesce(ordered.plant_id, demand.plant_id) as plant_id,
    coalesce(ordered.demand_date, demand.demand_date) as demand_date,
    ordered.qty as ordered_qty,
    demand.qty as demand_qty
from ordered
full outer join demand
    on ordered.material_id = demand.material_id
    and ordered.plant_id = demand.plant_id
    and ordered.demand_date = demand.demand_date
where abs(coalesce(ordered.qty, 0) - coalesce(demand.qty, 0))
    > 1e-6 * greatest(1, abs(coalesce(ordered.qty, 0)))
