{{
    config(post_hook=[
        "{{ pg_index(['order_date']) }}",
        "{{ pg_index(['material_id', 'plant_id']) }}",
        "{{ pg_index(['vendor_id']) }}",
    ])
}}

-- One row per purchase order item: ordered vs received quantity and promised vs actual
-- receipt date. Promised date is the last schedule line's delivery date (EKET.EINDT); actual
-- receipt date is the last standing goods receipt's posting date (EKBE.BUDAT, movement 101,
-- see int_purchase_order_receipts). Received quantity is net of reversals (102). Quantities
-- are in the material's base unit (EKET and EKBE count in the order unit: converted here).
with

items as (
    select * from {{ ref('stg_sap__ekpo') }}
),

headers as (
    select * from {{ ref('stg_sap__ekko') }}
),

schedule as (
    select
        purchase_order_id,
        purchase_order_item,
        count(*) as schedule_lines,
        min(promised_delivery_date) as first_promised_date,
        max(promised_delivery_date) as promised_date,
        sum(scheduled_qty) as scheduled_qty
    from {{ ref('stg_sap__eket') }}
    group by purchase_order_id, purchase_order_item
),

received as (
    select
        purchase_order_id,
        purchase_order_item,
        sum(quantity) as received_qty
    from {{ ref('stg_sap__ekbe') }}
    where transaction_type = '1'
    group by purchase_order_id, purchase_order_item
),

receipts as (
    select
        purchase_order_id,
        purchase_order_item,
        count(*) as goods_receipts,
        min(posting_date) as first_receipt_date,
        max(posting_date) as actual_receipt_date
    from {{ ref('int_purchase_order_receipts') }}
    group by purchase_order_id, purchase_order_item
),

joined as (
    select
        items.purchase_order_id,
        items.purchase_order_item,
        headers.vendor_id,
        items.material_id,
        items.plant_id,
        headers.purchasing_org_id,
        headers.document_type,
        headers.order_date,
        items.ordered_qty,
        items.base_unit,
        items.ordered_qty_order_unit,
        items.order_unit,
        items.net_price,
        items.price_unit,
        cast(items.ordered_qty_order_unit * items.net_price as {{ type_double() }})
            / nullif(items.price_unit, 0) as order_value,
        headers.currency_code,
        schedule.schedule_lines,
        schedule.first_promised_date,
        schedule.promised_date,
        coalesce(received.received_qty, 0) * items.base_qty_per_order_unit as received_qty,
        coalesce(receipts.goods_receipts, 0) as goods_receipts,
        receipts.first_receipt_date,
        receipts.actual_receipt_date
    from items
    inner join headers
        on items.purchase_order_id = headers.purchase_order_id
    left join schedule
        on items.purchase_order_id = schedule.purchase_order_id
        and items.purchase_order_item = schedule.purchase_order_item
    left join received
        on items.purchase_order_id = received.purchase_order_id
        and items.purchase_order_item = received.purchase_order_item
    left join receipts
        on items.purchase_order_id = receipts.purchase_order_id
        and items.purchase_order_item = receipts.purchase_order_item
)

select
    *,
    received_qty < ordered_qty as is_open,
    received_qty >= ordered_qty as is_received_in_full,
    {{ dbt.datediff('promised_date', 'actual_receipt_date', 'day') }} as receipt_delay_days,
    actual_receipt_date <= promised_date as is_received_on_time,
    {{ dbt.datediff('order_date', 'promised_date', 'day') }} as promised_lead_time_days,
    {{ dbt.datediff('order_date', 'actual_receipt_date', 'day') }} as actual_lead_time_days
from joined
