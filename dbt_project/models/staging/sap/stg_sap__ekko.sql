-- A view per SAP day: built with the daily partition that fills it.
{{ config(tags=['partitioned'], meta={'partition_column': 'order_date'}) }}
-- The order date (partition column) never changes for a PO, so it joins the dedup key:
-- filters on it are pushed below the window function.
with

source as (
    {{ latest_per_key(source('sap', 'ekko'), ['ebeln', 'bedat']) }}
),

renamed as (
    select
        ebeln as purchase_order_id,
        bsart as document_type,
        lifnr as vendor_id,
        ekorg as purchasing_org_id,
        bedat as order_date,
        waers as currency_code
    from source
)

select * from renamed
