-- A view per SAP day: built with the daily partition that fills it.
{{ config(tags=['partitioned'], meta={'partition_column': 'order_date'}) }}
-- Partitioned by the schedule line's order date, which never changes: it joins the dedup key.
with

source as (
    {{ latest_per_key(source('sap', 'eket'), ['ebeln', 'ebelp', 'etenr', 'bedat']) }}
),

renamed as (
    select
        ebeln as purchase_order_id,
        ebelp as purchase_order_item,
        etenr as schedule_line_id,
        eindt as promised_delivery_date,
        menge as scheduled_qty,
        wemng as received_qty,
        bedat as order_date
    from source
)

select * from renamed
