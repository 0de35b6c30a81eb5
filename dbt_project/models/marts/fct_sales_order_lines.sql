{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['sales_order_id', 'sales_order_item'],
        on_schema_change='append_new_columns',
        tags=['partitioned'],
        meta={'partition_column': 'order_date'},
        pre_hook="{{ delete_partition_window('order_date') }}",
        post_hook=[
            "{{ pg_index(['order_date']) }}",
            "{{ pg_index(['material_id', 'plant_id']) }}",
        ],
    )
}}

-- One row per sales order item (VBAP) with its header (VBAK). Partitioned by the item's
-- creation date (VBAP.ERDAT), the day the demand arose.
with

items as (
    select * from {{ ref('stg_sap__vbap') }}
    where {{ in_partition_window('created_on') }}
),

headers as (
    select * from {{ ref('stg_sap__vbak') }}
)

select
    items.sales_order_id,
    items.sales_order_item,
    items.material_id,
    items.plant_id,
    headers.customer_id,
    headers.order_type,
    headers.sales_org_id,
    items.created_on as order_date,
    headers.requested_delivery_date,
    items.order_qty,
    items.base_unit,
    items.order_qty_sales_unit,
    items.sales_unit,
    items.net_value,
    items.currency_code,
    items.rejection_reason
from items
left join headers
    on items.sales_order_id = headers.sales_order_id
