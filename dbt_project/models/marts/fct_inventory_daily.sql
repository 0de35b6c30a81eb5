{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['material_id', 'plant_id', 'snapshot_date'],
        on_schema_change='append_new_columns',
        tags=['partitioned'],
        meta={'partition_column': 'snapshot_date'},
        pre_hook="{{ delete_partition_window('snapshot_date') }}",
        post_hook=[
            "{{ pg_index(['snapshot_date']) }}",
            "{{ pg_index(['material_id', 'plant_id', 'snapshot_date']) }}",
        ],
    )
}}

-- End-of-day stock per material x plant x day (MARD summed over storage locations), valued at
-- the MBEW price valid at the end of that day (from the snapshot; the current price when the
-- snapshot has no version yet).
with

stock as (
    select
        material_id,
        plant_id,
        snapshot_date,
        count(*) as storage_locations,
        sum(unrestricted_qty) as unrestricted_qty,
        sum(quality_inspection_qty) as quality_inspection_qty,
        sum(blocked_qty) as blocked_qty
    from {{ ref('stg_sap__mard') }}
    where {{ in_partition_window('snapshot_date') }}
    group by material_id, plant_id, snapshot_date
),

historical_prices as (
    select * from {{ ref('int_material_prices_valid') }}
),

current_prices as (
    select * from {{ ref('stg_sap__mbew') }}
),

priced as (
    select
        stock.material_id,
        stock.plant_id,
        stock.snapshot_date,
        stock.storage_locations,
        stock.unrestricted_qty,
        stock.quality_inspection_qty,
        stock.blocked_qty,
        stock.unrestricted_qty + stock.quality_inspection_qty + stock.blocked_qty
            as stock_qty,
        coalesce(historical_prices.unit_price, current_prices.unit_price) as unit_price,
        coalesce(historical_prices.currency_code, current_prices.currency_code)
            as currency_code
    from stock
    left join historical_prices
        on stock.material_id = historical_prices.material_id
        and stock.plant_id = historical_prices.plant_id
        and (
            historical_prices.valid_from is null
            or historical_prices.valid_from
                <= {{ dbt.dateadd('day', 1, 'cast(stock.snapshot_date as timestamp)') }}
        )
        and (
            historical_prices.valid_to is null
            or historical_prices.valid_to
                > {{ dbt.dateadd('day', 1, 'cast(stock.snapshot_date as timestamp)') }}
        )
    left join current_prices
        on stock.material_id = current_prices.material_id
        and stock.plant_id = current_prices.plant_id
)

select
    *,
    unrestricted_qty * unit_price as unrestricted_value,
    stock_qty * unit_price as stock_value
from priced
