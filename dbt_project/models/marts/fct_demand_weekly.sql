{{ config(post_hook="{{ pg_index(['material_id', 'plant_id', 'week_start']) }}") }}

-- Weekly demand per material x plant (weeks start on Monday), from the zero-filled daily demand.
-- Edge weeks of the history have fewer than seven days: is_complete_week tells them apart.
with

daily as (
    select
        *,
        cast({{ dbt.date_trunc('week', 'demand_date') }} as date) as week_start
    from {{ ref('fct_demand_daily') }}
)

select
    material_id,
    plant_id,
    week_start,
    sum(demand_qty) as demand_qty,
    cast(sum(order_lines) as {{ dbt.type_bigint() }}) as order_lines,
    count(*) as days_in_week,
    count(*) = 7 as is_complete_week,
    cast(sum(case when is_stock_observed then 1 else 0 end) as {{ dbt.type_bigint() }})
        as stock_observed_days,
    cast(sum(case when is_stockout then 1 else 0 end) as {{ dbt.type_bigint() }})
        as stockout_days,
    sum(case when is_stockout then 1 else 0 end) > 0 as has_stockout
from daily
group by material_id, plant_id, week_start
