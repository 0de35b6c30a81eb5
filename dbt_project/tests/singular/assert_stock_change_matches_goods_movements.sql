{{ config(meta={'dagster': {'ref': {'name': 'fct_inventory_daily'}}}) }}

-- The day-over-day change of total stock (MARD snapshot, all storage locations and stock
-- types) equals the sum of that day's signed goods movements (MSEG), per material x plant.
-- Only days whose previous day also has a snapshot can be checked. One row per mismatch.
{%- set window = partition_window() %}

with

stock as (
    select material_id, plant_id, snapshot_date, stock_qty
    from {{ ref('fct_inventory_daily') }}
    where 1 = 1
    {%- if window.min_date is not none %}
      and snapshot_date
        >= cast({{ dbt.dateadd('day', -1, "cast('" ~ window.min_date ~ "' as date)") }} as date)
    {%- endif %}
    {%- if window.max_date is not none %}
      and snapshot_date < cast('{{ window.max_date }}' as date)
    {%- endif %}
),

checked_days as (
    select
        today.material_id,
        today.plant_id,
        today.snapshot_date,
        today.stock_qty - yesterday.stock_qty as stock_change
    from stock as today
    inner join stock as yesterday
        on today.material_id = yesterday.material_id
        and today.plant_id = yesterday.plant_id
        and yesterday.snapshot_date
            = cast({{ dbt.dateadd('day', -1, 'today.snapshot_date') }} as date)
    where {{ in_partition_window('today.snapshot_date') }}
),

movements as (
    select material_id, plant_id, posting_date, sum(quantity) as moved_qty
    from {{ ref('fct_goods_movements') }}
    where {{ in_partition_window('posting_date') }}
    group by material_id, plant_id, posting_date
)

select
    checked_days.material_id,
    checked_days.plant_id,
    checked_days.snapshot_date,
    checked_days.stock_change,
    coalesce(movements.moved_qty, 0) as moved_qty
from checked_days
left join movements
    on checked_days.material_id = movements.material_id
    and checked_days.plant_id = movements.plant_id
    and checked_days.snapshot_date = movements.posting_date
where abs(checked_days.stock_change - coalesce(movements.moved_qty, 0))
    > 1e-6 * greatest(1, abs(checked_days.stock_change))
