{{ config(post_hook="{{ pg_index(['plant_id', 'month_start']) }}") }}

-- Service level per material x plant x month of the requested delivery date, over items due by
-- the last day with goods movements (later items cannot be judged yet).
-- Fill rate = delivered / ordered quantity; OTIF rate = share of items delivered in full by
-- their requested date. Sum the quantity and count columns before dividing when aggregating.
with

as_of as (
    select max(posting_date) as as_of_date from {{ ref('fct_goods_movements') }}
),

due as (
    select fulfilment.*
    from {{ ref('fct_sales_order_fulfilment') }} as fulfilment
    cross join as_of
    where fulfilment.due_date <= as_of.as_of_date
),

monthly as (
    select
        material_id,
        plant_id,
        cast({{ dbt.date_trunc('month', 'due_date') }} as date) as month_start,
        count(*) as order_lines,
        cast(sum(case when is_otif then 1 else 0 end) as {{ dbt.type_bigint() }})
            as otif_lines,
        cast(sum(case when is_delivered_in_full then 1 else 0 end) as {{ dbt.type_bigint() }})
            as in_full_lines,
        sum(order_qty) as ordered_qty,
        sum(delivered_qty) as delivered_qty,
        sum(delivered_on_time_qty) as delivered_on_time_qty
    from due
    group by material_id, plant_id, cast({{ dbt.date_trunc('month', 'due_date') }} as date)
)

select
    *,
    delivered_qty / nullif(ordered_qty, 0) as fill_rate,
    delivered_on_time_qty / nullif(ordered_qty, 0) as on_time_fill_rate,
    cast(otif_lines as {{ type_double() }}) / nullif(order_lines, 0) as otif_rate
from monthly
