-- A view per SAP day: built with the daily partition that fills it.
{{ config(tags=['partitioned'], meta={'partition_column': 'order_date'}) }}
-- Partitioned by creation date, which never changes: it joins the dedup key.
with

source as (
    {{ latest_per_key(source('sap', 'vbak'), ['vbeln', 'erdat']) }}
),

renamed as (
    select
        vbeln as sales_order_id,
        auart as order_type,
        erdat as order_date,
        kunnr as customer_id,
        vkorg as sales_org_id,
        vdatu as requested_delivery_date,
        waerk as currency_code
    from source
)

select * from renamed
