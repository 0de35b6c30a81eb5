{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['material_id', 'plant_id', 'demand_date'],
        on_schema_change='append_new_columns',
        tags=['partitioned'],
        meta={'partition_column': 'demand_date'},
        pre_hook="{{ delete_partition_window('demand_date') }}",
        post_hook=[
            "{{ pg_index(['demand_date']) }}",
            "{{ pg_index(['material_id', 'plant_id', 'demand_date']) }}",
        ],
    )
}}

-- Daily demand per material x plant, zero-filled: one row for every day of the window and
-- every active material x plant (from the material's creation date on), plus any day with
-- sales order items. Demand is the ordered quantity of sales order items (VBAP) on their
-- creation date. A day whose end-of-day unrestricted stock is zero is a stockout day: demand
-- seen on it is censored.
-- depends_on: {{ ref('stg_sap__mard') }} (read only when a side of the window is open)
{% set window = partition_window() %}

with

demand as (
    select
        material_id,
        plant_id,
        created_on as demand_date,
        sum(order_qty) as demand_qty,
        count(*) as order_lines
    from {{ ref('stg_sap__vbap') }}
    where {{ in_partition_window('created_on') }}
    group by material_id, plant_id, created_on
),

{%- if window.min_date is none or window.max_date is none %}

-- Without a window (or one side of it), zero-fill up to the first / last day with data.
data_bounds as (
    select
        min(data_date) as first_date,
        max(data_date) as last_date
    from (
        select created_on as data_date from {{ ref('stg_sap__vbap') }}
        union all
        select snapshot_date as data_date from {{ ref('stg_sap__mard') }}
    ) as data_dates
),
{%- endif %}

days as (
    select dates.date_day
    from {{ ref('dim_date') }} as dates
    {%- if window.min_date is none or window.max_date is none %}
    cross join data_bounds
    {%- endif %}
    where {{ in_partition_window('dates.date_day') }}
    {%- if window.min_date is none %}
      and dates.date_day >= data_bounds.first_date
    {%- endif %}
    {%- if window.max_date is none %}
      and dates.date_day <= data_bounds.last_date
    {%- endif %}
),

series_days as (
    select
        material_plants.material_id,
        material_plants.plant_id,
        days.date_day as demand_date
    from {{ ref('int_material_plants') }} as material_plants
    cross join days
    where material_plants.material_created_on is null
       or days.date_day >= material_plants.material_created_on
    union
    select material_id, plant_id, demand_date from demand
),

stock as (
    select * from {{ ref('fct_inventory_daily') }}
    where {{ in_partition_window('snapshot_date') }}
)

select
    series_days.material_id,
    series_days.plant_id,
    series_days.demand_date,
    coalesce(demand.demand_qty, 0) as demand_qty,
    coalesce(demand.order_lines, 0) as order_lines,
    stock.unrestricted_qty as end_of_day_unrestricted_qty,
    stock.snapshot_date is not null as is_stock_observed,
    coalesce(stock.unrestricted_qty <= 0, false) as is_stockout
from series_days
left join demand
    on series_days.material_id = demand.material_id
    and series_days.plant_id = demand.plant_id
    and series_days.demand_date = demand.demand_date
left join stock
    on series_days.material_id = stock.material_id
    and series_days.plant_id = stock.plant_id
    and series_days.demand_date = stock.snapshot_date
