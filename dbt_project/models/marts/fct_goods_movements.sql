{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['material_document_id', 'material_document_year', 'material_document_item'],
        on_schema_change='append_new_columns',
        tags=['partitioned'],
        meta={'partition_column': 'posting_date'},
        pre_hook="{{ delete_partition_window('posting_date') }}",
        post_hook=[
            "{{ pg_index(['posting_date']) }}",
            "{{ pg_index(['material_id', 'plant_id', 'posting_date']) }}",
        ],
    )
}}

-- One row per material document item (MSEG), signed as in MB51 (receipts positive, issues
-- negative). issued_qty / issued_value count goods issues to customers (601) and to
-- consumption (261) net of their reversals (602, 262), as positive numbers.
with

movements as (
    select * from {{ ref('stg_sap__mseg') }}
    where {{ in_partition_window('posting_date') }}
),

categorised as (
    select
        *,
        case
            when movement_type in ('101', '102') then 'goods_receipt'
            when movement_type in ('261', '262') then 'consumption'
            when movement_type in ('601', '602') then 'delivery'
            when movement_type in ('551', '552') then 'scrapping'
            when movement_type = '561' then 'initial_stock'
            else 'other'
        end as movement_category
    from movements
)

select
    material_document_id,
    material_document_year,
    material_document_item,
    posting_date,
    movement_type,
    movement_category,
    movement_type in ('102', '262', '602', '552') as is_reversal,
    material_id,
    plant_id,
    storage_location_id,
    quantity,
    base_unit,
    amount_local,
    currency_code,
    case
        when movement_category in ('consumption', 'delivery') then -quantity else 0
    end as issued_qty,
    case
        when movement_category in ('consumption', 'delivery') then -amount_local else 0
    end as issued_value,
    vendor_id,
    customer_id,
    purchase_order_id,
    sales_order_id
from categorised
